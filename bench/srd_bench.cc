// srd-bench: the named workloads W1..W10 (docs/performance.md), each run in its own
// process several times; prints the median of each figure beside the original
// engine's measured figure and the goal.
//
//   srd-bench [--workloads=W1,W5,...] [--runs=3] [--n=1000000] [--dir=build/bench-data]
//   srd-bench --quick            (N = 100000, one run: a smoke test)
//
// Internally the parent re-executes itself as "srd-bench --child=<id> ..." for every
// run; a child prints one "ROW" line per figure, and the parent reads the child's
// peak resident set size from wait4().
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "srd_workloads.h"
#include "workload_spec.h"

namespace {

using srd_bench::Row;

// The original's figures on this kind of machine (shared/reference/baseline-original.md)
// and the goals. `higher_is_better` is false for times.
struct Reference {
  const char* row;
  const char* unit;
  double original;
  double goal;
  bool higher_is_better;
};

constexpr Reference kReferences[] = {
    {"W1 single writes", "M ops/s", 0.149, 2.0, true},
    {"W2 batched writes", "M ops/s", 3.05, 6.0, true},
    {"W3 reopen", "ms", 200, 10, false},
    {"W3 reopen, no snapshot", "ms", 200, 10, false},
    {"W4 sequential reads", "M ops/s", 2.2, 5.0, true},
    {"W5 random reads", "M ops/s", 1.51, 3.0, true},
    {"W6 batch reads", "M ops/s", 2.97, 10.0, true},
    {"W7 iterate, 1 thread", "M ops/s", 4.3, 45.0, true},
    {"W7 iterate, parallel", "M ops/s", 11.2, 0, true},  // goal: >= 1.8 x one thread
    {"W8 write 1 MiB values", "MiB/s", 564, 3000, true},
    {"W8 read + sum", "MiB/s", 2843, 7500, true},
    {"W9 2 threads, random reads", "M ops/s", 1.46, 5.0, true},
    {"W10 compact", "s", 8.71, 0.08, false},
};

const Reference* reference_for(const std::string& row) {
  for (const Reference& reference : kReferences) {
    if (row == reference.row) return &reference;
  }
  return nullptr;
}

double figure(const Row& row, const Reference& reference) {
  const std::string unit = reference.unit;
  if (unit == "M ops/s") return row.amount / row.seconds / 1e6;
  if (unit == "MiB/s") return row.amount / row.seconds;
  if (unit == "ms") return row.seconds * 1e3;
  return row.seconds;
}

struct Options {
  std::vector<std::string> workloads = {"W1", "W2", "W3", "W3-rebuild", "W4", "W5",
                                        "W6", "W7", "W8", "W9", "W10"};
  int runs = 3;
  std::uint64_t n = srd_bench::kDefaultN;
  std::filesystem::path dir = "build/bench-data";
  std::string child;
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* name) -> std::string {
      const std::string prefix = std::string(name) + "=";
      return arg.rfind(prefix, 0) == 0 ? arg.substr(prefix.size()) : std::string();
    };
    if (arg == "--quick") {
      options.n = 100'000;
      options.runs = 1;
    } else if (auto v = value("--workloads"); !v.empty()) {
      options.workloads.clear();
      std::stringstream list(v);
      for (std::string item; std::getline(list, item, ',');) options.workloads.push_back(item);
    } else if (auto r = value("--runs"); !r.empty()) {
      options.runs = std::max(1, std::atoi(r.c_str()));
    } else if (auto n = value("--n"); !n.empty()) {
      options.n = std::strtoull(n.c_str(), nullptr, 10);
    } else if (auto d = value("--dir"); !d.empty()) {
      options.dir = d;
    } else if (auto c = value("--child"); !c.empty()) {
      options.child = c;
    } else {
      std::fprintf(stderr, "srd-bench: unknown argument '%s'\n", arg.c_str());
      std::exit(2);
    }
  }
  return options;
}

int run_child(const Options& options) {
  if (options.child == "prepare") {
    srd_bench::prepare_w2_store(options.dir, options.n);
    return 0;
  }
  for (const Row& row : srd_bench::run_workload(options.child, options.dir, options.n)) {
    std::printf("ROW\t%s\t%.9f\t%.3f\t%d\t%s\n", row.name.c_str(), row.seconds, row.amount, row.verified ? 1 : 0,
                row.note.c_str());
  }
  return 0;
}

struct ChildResult {
  std::vector<Row> rows;
  double peak_rss_mib = 0;
  bool ok = false;
};

ChildResult spawn(const char* self, const Options& options, const std::string& id) {
  ChildResult result;
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return result;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    const std::string child = "--child=" + id;
    const std::string n = "--n=" + std::to_string(options.n);
    const std::string dir = "--dir=" + options.dir.string();
    ::execl(self, self, child.c_str(), n.c_str(), dir.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  ::close(pipe_fds[1]);
  std::string output;
  char buffer[4096];
  for (ssize_t got; (got = ::read(pipe_fds[0], buffer, sizeof(buffer))) > 0;) output.append(buffer, got);
  ::close(pipe_fds[0]);
  int status = 0;
  struct rusage usage {};
  ::wait4(pid, &status, 0, &usage);
  result.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  result.peak_rss_mib = usage.ru_maxrss / 1024.0;
  std::stringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> fields;
    std::stringstream parts(line);
    for (std::string field; std::getline(parts, field, '\t');) fields.push_back(field);
    if (fields.size() < 5 || fields[0] != "ROW") continue;
    Row row;
    row.name = fields[1];
    row.seconds = std::stod(fields[2]);
    row.amount = std::stod(fields[3]);
    row.verified = fields[4] == "1";
    row.note = fields.size() > 5 ? fields[5] : "";
    result.rows.push_back(row);
  }
  return result;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  if (!options.child.empty()) return run_child(options);

  std::filesystem::create_directories(options.dir);
  const std::string self = std::filesystem::canonical("/proc/self/exe").string();
  std::printf("srd-bench: N = %llu, %d run(s) per workload, each in its own process; data in %s\n",
              static_cast<unsigned long long>(options.n), options.runs, options.dir.c_str());
  if (!spawn(self.c_str(), options, "prepare").ok) {
    std::fprintf(stderr, "srd-bench: preparing the W2 store failed\n");
    return 1;
  }

  struct Collected {
    std::vector<double> figures;
    std::vector<double> rss;
    std::string note;
    bool verified = true;
  };
  std::map<std::string, Collected> collected;
  std::vector<std::string> order;
  bool all_ok = true;
  for (const std::string& id : options.workloads) {
    for (int run = 0; run < options.runs; ++run) {
      ::sync();  // start each run without a backlog of dirty pages from the last
      const ChildResult result = spawn(self.c_str(), options, id);
      if (!result.ok || result.rows.empty()) {
        std::fprintf(stderr, "srd-bench: workload %s failed (run %d)\n", id.c_str(), run + 1);
        all_ok = false;
        break;
      }
      for (const Row& row : result.rows) {
        const Reference* reference = reference_for(row.name);
        if (!reference) continue;
        if (!collected.count(row.name)) order.push_back(row.name);
        Collected& c = collected[row.name];
        c.figures.push_back(figure(row, *reference));
        c.rss.push_back(result.peak_rss_mib);
        c.note = row.note;
        c.verified = c.verified && row.verified;
        all_ok = all_ok && row.verified;
      }
    }
  }

  std::printf("\n| workload | ours (median) | min - max | unit | peak RSS MiB | original | x original | goal | meets goal | notes |\n");
  std::printf("|---|---:|---:|---|---:|---:|---:|---:|:-:|---|\n");
  double one_thread = 0;
  for (const std::string& name : order) {
    const Collected& c = collected[name];
    const Reference& reference = *reference_for(name);
    const double ours = median(c.figures);
    const auto [low, high] = std::minmax_element(c.figures.begin(), c.figures.end());
    const double versus = reference.higher_is_better ? ours / reference.original : reference.original / ours;
    if (name == "W7 iterate, 1 thread") one_thread = ours;
    double goal = reference.goal;
    std::string goal_text;
    if (name == "W7 iterate, parallel") {
      goal = 1.8 * one_thread;
      goal_text = ">= 1.8 x 1 thread";
    } else {
      char text[32];
      std::snprintf(text, sizeof(text), "%s %g", reference.higher_is_better ? ">=" : "<=", goal);
      goal_text = text;
    }
    const bool meets = reference.higher_is_better ? ours >= goal : ours <= goal;
    std::printf("| %s | %.3g | %.3g - %.3g | %s | %.0f | %g | %.1fx | %s | %s | %s%s |\n", name.c_str(), ours, *low,
                *high, reference.unit, median(c.rss), reference.original, versus, goal_text.c_str(),
                meets ? "yes" : "no", c.verified ? "" : "VERIFICATION FAILED; ", c.note.c_str());
  }
  std::printf("\nx original: how many times better than the original's figure (higher is better).\n");
  return all_ok ? 0 : 1;
}

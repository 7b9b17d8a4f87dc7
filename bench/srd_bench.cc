// srd-bench: the named workloads W1..W10 and the durability rows D1..D4
// (durability_workloads.h) over our store and the peer stores, in the style of
// leveldb's db_bench. Every (store, workload, run) runs in a fresh
// child process (this binary re-executed with --child), so no run inherits
// another's caches, heap or mappings, and each one's peak RSS is its own. The
// report (Markdown on stdout, JSON in a file) gives the medians beside the
// original engine's figures and the goals. See bench/README.md.
//
//   srd-bench [--stores=srd,lmdb,...] [--workloads=W1,W5,D1,...|W|D] [--runs=3]
//             [--n=1000000] [--dir=<build>/bench-data] [--json=<build>/bench-results.json]
//             [--pause-ms=200] [--keep-data] [--no-warmup]
//   srd-bench --quick      N = 100,000 and one run: a smoke test
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend_registry.h"
#include "memory_warmup.h"
#include "report.h"
#include "subprocess.h"
#include "workload_spec.h"
#include "workloads.h"

namespace {

namespace fs = std::filesystem;
using namespace srd_bench;

// A child that hangs (a store deadlocking) is killed by SIGALRM after this long;
// the slowest full-size run takes about 15 s.
constexpr unsigned kChildTimeLimitSeconds = 600;

struct Options {
  std::vector<std::string> stores = known_stores();
  std::vector<std::string> workloads = all_workloads();
  int runs = 3;
  std::uint64_t n = kDefaultN;
  fs::path dir;   // default: <build>/bench-data
  fs::path json;  // default: <build>/bench-results.json
  int pause_ms = 200;
  bool keep_data = false;
  bool warmup = true;  // memory_warmup.h
  // Child mode: run `child` ("prepare" or a workload) for one store, print JSON.
  std::string child;
  std::string store;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "srd-bench: %s\n(see the comment at the top of bench/srd_bench.cc)\n", message.c_str());
  std::exit(2);
}

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> items;
  std::stringstream stream(list);
  for (std::string item; std::getline(stream, item, ',');) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    if (name == "--quick") {
      options.n = 100'000;
      options.runs = 1;
    } else if (name == "--stores") {
      options.stores = split(value);
      for (const std::string& store : options.stores) {
        if (std::find(known_stores().begin(), known_stores().end(), store) == known_stores().end()) {
          usage_error("unknown store '" + store + "'");
        }
      }
    } else if (name == "--workloads") {
      options.workloads.clear();
      for (const std::string& workload : split(value)) {
        // "W" and "D" name a whole group: --workloads=D runs the durability rows.
        if (const auto group = workload_group(workload); !group.empty()) {
          options.workloads.insert(options.workloads.end(), group.begin(), group.end());
        } else if (is_workload(workload)) {
          options.workloads.push_back(workload);
        } else {
          usage_error("unknown workload '" + workload + "'");
        }
      }
    } else if (name == "--runs") {
      options.runs = std::max(1, std::atoi(value.c_str()));
    } else if (name == "--n") {
      options.n = std::strtoull(value.c_str(), nullptr, 10);
      if (options.n < kBatch) usage_error("--n must be at least " + std::to_string(kBatch));
    } else if (name == "--dir") {
      options.dir = value;
    } else if (name == "--json") {
      options.json = value;
    } else if (name == "--pause-ms") {
      options.pause_ms = std::max(0, std::atoi(value.c_str()));
    } else if (name == "--keep-data") {
      options.keep_data = true;
    } else if (name == "--no-warmup") {
      options.warmup = false;
    } else if (name == "--warmup") {
      options.warmup = value != "0";
    } else if (name == "--child") {
      options.child = value;
    } else if (name == "--store") {
      options.store = value;
    } else {
      usage_error("unknown argument '" + arg + "'");
    }
  }
  if (options.stores.empty()) usage_error("no store selected");
  if (options.workloads.empty()) usage_error("no workload selected");
  return options;
}

// ---- child mode ---------------------------------------------------------------

int run_child(const Options& options) {
  ::alarm(kChildTimeLimitSeconds);
  enable_memory_reserves(options.warmup);
  nlohmann::json report;
  try {
    auto backend = make_backend(options.store);
    if (!backend) throw std::runtime_error("store " + options.store + " is not built in");
    const fs::path store_dir = options.dir / options.store;
    if (options.child == "prepare") {
      report["prepare_seconds"] = prepare_store(*backend, store_dir, options.n);
    } else {
      nlohmann::json figures = nlohmann::json::array();
      for (const Figure& figure : run_workload(options.child, *backend, store_dir, options.n)) {
        figures.push_back(to_json(figure));
      }
      report["figures"] = figures;
    }
  } catch (const std::exception& error) {
    report = {{"error", error.what()}};
  }
  std::cout << report.dump() << std::endl;
  return report.contains("error") ? 1 : 0;
}

// ---- parent mode --------------------------------------------------------------

// The child's report: the last stdout line that parses as JSON (a store could
// print something of its own before it).
nlohmann::json child_report(const std::string& output) {
  std::istringstream lines(output);
  nlohmann::json last;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.front() != '{') continue;
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    if (!parsed.is_discarded()) last = std::move(parsed);
  }
  return last;
}

class Parent {
 public:
  Parent(const Options& options, fs::path self) : options_(options), self_(std::move(self)) {}

  ChildOutcome spawn(const std::string& what, const std::string& store, nlohmann::json& report) {
    ::sync();  // start without the previous process's dirty pages being written back
    if (options_.pause_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(options_.pause_ms));
    const ChildOutcome outcome = run_child_process({self_.string(), "--child=" + what, "--store=" + store,
                                                    "--n=" + std::to_string(options_.n),
                                                    "--dir=" + options_.dir.string(),
                                                    std::string("--warmup=") + (options_.warmup ? "1" : "0")});
    report = child_report(outcome.output);
    return outcome;
  }

  static std::string failure(const ChildOutcome& outcome, const nlohmann::json& report) {
    if (report.contains("error")) return report["error"].get<std::string>();
    if (!outcome.succeeded) return "child " + outcome.status;
    return "child printed no report";
  }

 private:
  const Options& options_;
  fs::path self_;
};

std::string progress(const RunRecord& record) {
  std::ostringstream line;
  line << "[run " << record.run << "] " << record.workload << ' ' << record.store << ':';
  if (!record.ok) {
    line << " FAILED (" << record.error << ')';
  } else {
    for (const Figure& figure : record.figures) {
      const FigureSpec* spec = find_figure(figure.id);
      char value[64];
      std::snprintf(value, sizeof(value), " %s %.3g %s%s,", figure.id.c_str(),
                    spec ? figure.value(spec->unit) : figure.seconds, spec ? unit_name(spec->unit).data() : "s",
                    figure.verified ? "" : " (BAD VALUES)");
      line << value;
    }
    char tail[64];
    std::snprintf(tail, sizeof(tail), " rss %.0f MiB, process %.1f s", record.peak_rss_mib, record.wall_seconds);
    line << tail;
  }
  return line.str();
}

int run_parent(Options options) {
  const auto started = std::chrono::steady_clock::now();
  const fs::path self = fs::canonical("/proc/self/exe");
  // Defaults beside the binary's build tree: build/bin/srd-bench -> build/...
  const fs::path build_dir = self.parent_path().parent_path();
  if (options.dir.empty()) options.dir = build_dir / "bench-data";
  if (options.json.empty()) options.json = build_dir / "bench-results.json";
  options.dir = fs::absolute(options.dir);
  fs::create_directories(options.dir);

  ReportInput input;
  input.n = options.n;
  input.runs = options.runs;
  input.stores = options.stores;
  input.workloads = options.workloads;
  for (const std::string& store : options.stores) input.built[store] = make_backend(store) != nullptr;

  std::fprintf(stderr, "srd-bench: N = %llu, %d run(s), stores %s; scratch in %s\n",
               static_cast<unsigned long long>(options.n), options.runs, nlohmann::json(options.stores).dump().c_str(),
               options.dir.c_str());
  Parent parent(options, self);

  bool need_prepared = false;
  for (const std::string& workload : options.workloads) need_prepared = need_prepared || needs_prepared_store(workload);
  if (need_prepared) {
    for (const std::string& store : options.stores) {
      if (!input.built[store]) continue;
      nlohmann::json report;
      const ChildOutcome outcome = parent.spawn("prepare", store, report);
      if (outcome.succeeded && report.contains("prepare_seconds")) {
        input.prepare_seconds[store] = report["prepare_seconds"].get<double>();
        std::fprintf(stderr, "[prepare] %s: W2 store written and reopened in %.1f s\n", store.c_str(),
                     input.prepare_seconds[store]);
      } else {
        input.prepare_errors[store] = Parent::failure(outcome, report);
        std::fprintf(stderr, "[prepare] %s FAILED: %s\n", store.c_str(), input.prepare_errors[store].c_str());
      }
    }
  }

  // Rounds: every workload of every store once, then again; spreading a cell's
  // runs over the whole session evens out the noise of this shared machine. Each
  // round starts the stores at a different one, so that no store always runs
  // right after the same neighbour.
  for (int run = 1; run <= options.runs; ++run) {
    std::vector<std::string> order = options.stores;
    std::rotate(order.begin(), order.begin() + (run - 1) % static_cast<int>(order.size()), order.end());
    for (const std::string& workload : options.workloads) {
      for (const std::string& store : order) {
        const auto backend = make_backend(store);
        if (!backend || !workload_applies(workload, *backend)) continue;
        if (needs_prepared_store(workload) && input.prepare_errors.count(store)) continue;
        RunRecord record;
        record.store = store;
        record.workload = workload;
        record.run = run;
        nlohmann::json report;
        const ChildOutcome outcome = parent.spawn(workload, store, report);
        record.peak_rss_mib = outcome.peak_rss_mib;
        record.wall_seconds = outcome.wall_seconds;
        record.ok = outcome.succeeded && report.contains("figures");
        if (record.ok) {
          for (const auto& figure : report["figures"]) record.figures.push_back(figure_from_json(figure));
        } else {
          record.error = Parent::failure(outcome, report);
        }
        std::fprintf(stderr, "%s\n", progress(record).c_str());
        input.records.push_back(std::move(record));
      }
    }
  }

  if (!options.keep_data) {
    for (const std::string& store : options.stores) fs::remove_all(options.dir / store);
  }
  input.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << '\n' << render_report(input) << std::flush;
  if (!options.json.parent_path().empty()) fs::create_directories(options.json.parent_path());
  std::ofstream(options.json) << report_json(input).dump(2) << '\n';
  std::fprintf(stderr, "srd-bench: results in %s\n", options.json.c_str());
  return all_passed(input) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  if (!options.child.empty()) return run_child(options);
  try {
    return run_parent(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "srd-bench: %s\n", error.what());
    return 1;
  }
}

#include "report.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <sstream>

#include "workloads.h"

namespace srd_bench {
namespace {

constexpr const char* kOurs = "srd";

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof(text), pattern, value);
  return text;
}

// Three significant digits or so, without exponents.
std::string number(double value) {
  if (value >= 100) return format("%.0f", value);
  if (value >= 10) return format("%.1f", value);
  if (value >= 1) return format("%.2f", value);
  if (value >= 0.01) return format("%.3f", value);
  return format("%.2g", value);
}

std::string ratio(double value) {
  if (value >= 10) return format("%.0fx", value);
  if (value >= 0.1) return format("%.1fx", value);
  return format("%.2gx", value);  // two significant digits: W3 against a 0.2 ms open is ~0.002x
}

std::string mib(double bytes) { return number(bytes / (1 << 20)); }

// How many times better `ours` is than `other`: a rate ratio or an inverted time
// ratio, so above 1 always means ours is faster.
double speedup(double ours, double other, Unit unit) { return higher_is_better(unit) ? ours / other : other / ours; }

// All runs of one store on one table row.
struct Cell {
  enum class State { kNotBuilt, kNotApplicable, kFailed, kMeasured } state = State::kNotApplicable;
  std::vector<double> values;  // in the row's unit
  std::vector<const Figure*> figures;
  bool verified = true;
  std::string error;

  double middle() const { return median(values); }
};

class Aggregate {
 public:
  explicit Aggregate(const ReportInput& input) : input_(input) {}

  Cell cell(const std::string& store, const FigureSpec& spec) const {
    Cell cell;
    if (!input_.built.at(store)) {
      cell.state = Cell::State::kNotBuilt;
      return cell;
    }
    for (const RunRecord& record : input_.records) {
      if (record.store != store || record.workload != spec.workload) continue;
      if (!record.ok) {
        cell.state = Cell::State::kFailed;
        cell.error = record.error;
        return cell;
      }
      for (const Figure& figure : record.figures) {
        if (figure.id != spec.id) continue;
        cell.values.push_back(figure.value(spec.unit));
        cell.figures.push_back(&figure);
        cell.verified = cell.verified && figure.verified;
      }
    }
    if (auto failed = input_.prepare_errors.find(store);
        failed != input_.prepare_errors.end() && needs_prepared_store(spec.workload)) {
      cell.state = Cell::State::kFailed;
      cell.error = "prepare: " + failed->second;
      return cell;
    }
    // Rows exist only for selected workloads, so a store without a run of one
    // is a store it does not apply to (W3-rebuild without an index cache).
    cell.state = cell.values.empty() ? Cell::State::kNotApplicable : Cell::State::kMeasured;
    return cell;
  }

  // Median of an extra figure over the runs of (store, workload figure).
  std::optional<double> extra(const std::string& store, std::string_view figure_id, const std::string& key) const {
    std::vector<double> values;
    for (const RunRecord& record : input_.records) {
      if (record.store != store || !record.ok) continue;
      for (const Figure& figure : record.figures) {
        if (figure.id == figure_id && figure.extra.contains(key)) values.push_back(figure.extra[key].get<double>());
      }
    }
    if (values.empty()) return std::nullopt;
    return median(values);
  }

  std::optional<double> rss(const std::string& store, const std::string& workload) const {
    std::vector<double> values;
    for (const RunRecord& record : input_.records) {
      if (record.store == store && record.workload == workload && record.ok) values.push_back(record.peak_rss_mib);
    }
    if (values.empty()) return std::nullopt;
    return median(values);
  }

  bool workload_selected(std::string_view id) const {
    return std::find(input_.workloads.begin(), input_.workloads.end(), id) != input_.workloads.end();
  }

 private:
  const ReportInput& input_;
};

std::string cell_text(const Cell& cell) {
  switch (cell.state) {
    case Cell::State::kNotBuilt: return "n/a";
    case Cell::State::kNotApplicable: return "-";
    case Cell::State::kFailed: return "FAIL";
    case Cell::State::kMeasured: return number(cell.middle()) + (cell.verified ? "" : " BAD");
  }
  return "?";
}

// The fastest peer on a row, among those measured with every value verified (a
// wrong read does not make a store the one to beat).
struct BestPeer {
  std::string store;
  double value;
};
std::optional<BestPeer> best_peer(const Aggregate& aggregate, const std::vector<std::string>& peers,
                                  const FigureSpec& spec) {
  std::optional<BestPeer> best;
  for (const std::string& peer : peers) {
    const Cell cell = aggregate.cell(peer, spec);
    if (cell.state != Cell::State::kMeasured || !cell.verified) continue;
    const double value = cell.middle();
    if (!best || (higher_is_better(spec.unit) ? value > best->value : value < best->value)) {
      best = BestPeer{peer, value};
    }
  }
  return best;
}

void comparison_table(std::ostringstream& out, const ReportInput& input, const Aggregate& aggregate) {
  const bool ours_selected = std::find(input.stores.begin(), input.stores.end(), kOurs) != input.stores.end();
  std::vector<std::string> peers;
  for (const std::string& store : input.stores) {
    if (store != kOurs) peers.push_back(store);
  }

  // "ours vs best peer" needs both sides, so it only exists when both were selected.
  const bool compare_best = ours_selected && !peers.empty();
  out << "| figure | unit | original | goal |";
  if (ours_selected) out << " ours (srd) | ours min-max | ours vs original | goal met |";
  if (compare_best) out << " ours vs best peer |";
  for (const std::string& peer : peers) out << ' ' << peer << " |";
  out << "\n|---|---|---:|---:|";
  if (ours_selected) out << "---:|---:|---:|:-:|";
  if (compare_best) out << "---:|";
  for (std::size_t i = 0; i < peers.size(); ++i) out << "---:|";
  out << '\n';

  std::optional<double> ours_one_thread;  // W7's goal for the parallel row
  for (const FigureSpec& spec : figure_specs()) {
    if (!aggregate.workload_selected(spec.workload)) continue;
    const Cell ours = ours_selected ? aggregate.cell(kOurs, spec) : Cell{};
    const bool have_ours = ours.state == Cell::State::kMeasured;
    if (spec.id == "W7" && have_ours) ours_one_thread = ours.middle();

    const char* sense = higher_is_better(spec.unit) ? ">= " : "<= ";
    std::string goal_text = "-";
    std::optional<double> goal;
    if (spec.goal > 0) {
      goal = spec.goal;
      goal_text = sense + number(spec.goal);
    } else if (spec.id == "W7 parallel") {
      goal_text = ">= 1.8x 1 thread";
      if (ours_one_thread) goal = 1.8 * *ours_one_thread;
    }

    const bool has_original = spec.original > 0;
    out << "| " << spec.label << " | " << unit_name(spec.unit) << " | " << (has_original ? number(spec.original) : "-")
        << " | " << goal_text << " |";
    if (ours_selected) {
      out << ' ' << cell_text(ours) << " |";
      if (have_ours) {
        const auto [low, high] = std::minmax_element(ours.values.begin(), ours.values.end());
        const double value = ours.middle();
        const bool met = higher_is_better(spec.unit) ? value >= goal.value_or(0) : value <= goal.value_or(0);
        out << ' ' << number(*low) << " - " << number(*high) << " | "
            << (has_original ? ratio(speedup(value, spec.original, spec.unit)) : "-") << " | "
            << (goal ? (met ? "yes" : "no") : "-") << " |";
      } else {
        out << " | | |";
      }
    }
    if (compare_best) {
      const auto best = best_peer(aggregate, peers, spec);
      out << ' ';
      if (have_ours && best) out << ratio(speedup(ours.middle(), best->value, spec.unit)) << " (" << best->store << ')';
      else out << '-';
      out << " |";
    }
    for (const std::string& peer : peers) {
      const Cell cell = aggregate.cell(peer, spec);
      out << ' ' << cell_text(cell);
      if (cell.state == Cell::State::kMeasured && have_ours) {
        out << " (" << ratio(speedup(ours.middle(), cell.middle(), spec.unit)) << ')';
      }
      out << " |";
    }
    out << '\n';
  }
}

void rss_table(std::ostringstream& out, const ReportInput& input, const Aggregate& aggregate) {
  out << "| workload |";
  for (const std::string& store : input.stores) out << ' ' << store << " |";
  out << "\n|---|";
  for (std::size_t i = 0; i < input.stores.size(); ++i) out << "---:|";
  out << '\n';
  for (const std::string& workload : input.workloads) {
    out << "| " << workload << " |";
    for (const std::string& store : input.stores) {
      const auto value = aggregate.rss(store, workload);
      out << ' ' << (value ? number(*value) : (input.built.at(store) ? "-" : "n/a")) << " |";
    }
    out << '\n';
  }
}

// Sizes, close times and the D rows' sync probe, from the workloads' extra figures.
void details_table(std::ostringstream& out, const ReportInput& input, const Aggregate& aggregate) {
  enum class Kind { kSize, kCloseMs, kProbeUs };
  struct Row {
    const char* label;
    const char* figure;
    const char* prefix;  // of the extra keys (sizes)
    Kind kind;
  };
  const Row rows[] = {
      {"W1 files after close, MiB", "W1", "", Kind::kSize},
      {"W1 close, ms", "W1", "", Kind::kCloseMs},
      {"W2 files after close, MiB", "W2", "", Kind::kSize},
      {"W2 close, ms", "W2", "", Kind::kCloseMs},
      {"W8 files after close, MiB", "W8 write", "", Kind::kSize},
      {"W10 files before compact, MiB", "W10 compact", "before_", Kind::kSize},
      {"W10 files after compact, MiB", "W10 compact", "after_", Kind::kSize},
      {"D1 fsync probe before the run, us", "D1", "", Kind::kProbeUs},
      {"D2 fsync probe before the run, us", "D2", "", Kind::kProbeUs},
      {"D3 fsync probe before the run, us", "D3", "", Kind::kProbeUs},
  };
  out << "| |";
  for (const std::string& store : input.stores) out << ' ' << store << " |";
  out << "\n|---|";
  for (std::size_t i = 0; i < input.stores.size(); ++i) out << "---:|";
  out << '\n';
  for (const Row& row : rows) {
    const FigureSpec* spec = find_figure(row.figure);
    if (!spec || !aggregate.workload_selected(spec->workload)) continue;
    out << "| " << row.label << " |";
    for (const std::string& store : input.stores) {
      std::string text = input.built.at(store) ? "-" : "n/a";
      if (row.kind == Kind::kSize) {
        const auto total = aggregate.extra(store, row.figure, std::string(row.prefix) + "bytes_on_disk");
        const auto index = aggregate.extra(store, row.figure, std::string(row.prefix) + "index_cache_bytes");
        if (total) {
          text = mib(*total - index.value_or(0));
          if (index && *index > 0) text += " + " + mib(*index) + " index";
        }
      } else if (row.kind == Kind::kCloseMs) {
        if (const auto close = aggregate.extra(store, row.figure, "close_seconds")) text = number(*close * 1e3);
      } else if (const auto probe = aggregate.extra(store, row.figure, "fsync_probe_seconds")) {
        text = number(*probe * 1e6);
      }
      out << ' ' << text << " |";
    }
    out << '\n';
  }
}

}  // namespace

std::string render_report(const ReportInput& input) {
  const Aggregate aggregate(input);
  std::ostringstream out;
  out << "## srd-bench: N = " << input.n << ", median of " << input.runs
      << " run(s), each workload in its own process\n\n";
  comparison_table(out, input, aggregate);
  out << "\nReading the table:\n"
         "- ours, original, goal and each peer are medians in the row's unit; ours min-max is the spread of our runs.\n"
         "- (Nx) after a peer's figure = how many times faster ours is than that peer: ours/peer for rates,\n"
         "  peer/ours for times. Above 1x ours is faster, below 1x the peer is. Same for \"ours vs original\"\n"
         "  and for \"ours vs best peer\", which compares with the fastest verified peer of the row (named).\n"
         "- original = the Rust original on this machine (bench/BASELINES.md); goal = the project's goal\n"
         "  for the row (docs/performance.md).\n"
         "- D1..D3: every put or batch is durable (synced) when it returns, each store in its documented synced\n"
         "  mode; D4 syncs every 100 ms (bench/durability_workloads.h). The original has no sync modes, and no\n"
         "  goals are set there.\n"
         "- n/a = store not built into this binary; - = not applicable to the store; FAIL = the run failed\n"
         "  (error above); BAD = a value read back did not match (the figure is then meaningless).\n";
  out << "\n### Peak RSS per process, MiB (median)\n\n";
  rss_table(out, input, aggregate);
  out << "\n### Files, close times and sync probes (median)\n\n";
  details_table(out, input, aggregate);
  out << "\nindex = our saved index snapshot (a cache beside the store file, rebuilt if missing).\n"
         "fsync probe = the median of 32 appends + fdatasync to a scratch file just before each D run: how\n"
         "fast the disk was then (other processes' I/O can slow it tenfold), not a figure of the store.\n";

  bool any_failure = false;
  for (const RunRecord& record : input.records) {
    if (!record.ok) {
      if (!any_failure) out << "\n### Failures\n\n";
      any_failure = true;
      out << "- " << record.store << ' ' << record.workload << " run " << record.run << ": " << record.error << '\n';
    }
  }
  for (const auto& [store, error] : input.prepare_errors) out << "- " << store << " prepare: " << error << '\n';
  out << "\nTotal wall time: " << number(input.wall_seconds) << " s\n";
  return out.str();
}

nlohmann::json report_json(const ReportInput& input) {
  const Aggregate aggregate(input);
  nlohmann::json json;
  json["n"] = input.n;
  json["runs"] = input.runs;
  json["stores"] = input.stores;
  json["workloads"] = input.workloads;
  json["built"] = input.built;
  json["prepare_seconds"] = input.prepare_seconds;
  json["prepare_errors"] = input.prepare_errors;
  json["wall_seconds"] = input.wall_seconds;

  nlohmann::json summary = nlohmann::json::array();
  for (const FigureSpec& spec : figure_specs()) {
    if (!aggregate.workload_selected(spec.workload)) continue;
    nlohmann::json row = {{"figure", spec.id},
                          {"label", spec.label},
                          {"unit", unit_name(spec.unit)},
                          {"original", spec.original > 0 ? nlohmann::json(spec.original) : nlohmann::json(nullptr)},
                          {"goal", spec.goal > 0 ? nlohmann::json(spec.goal) : nlohmann::json(nullptr)},
                          {"higher_is_better", higher_is_better(spec.unit)}};
    for (const std::string& store : input.stores) {
      const Cell cell = aggregate.cell(store, spec);
      nlohmann::json entry = {{"state", cell_text(cell)}};
      if (cell.state == Cell::State::kMeasured) {
        entry["median"] = cell.middle();
        entry["values"] = cell.values;
        entry["verified"] = cell.verified;
        if (const auto rss = aggregate.rss(store, std::string(spec.workload))) entry["peak_rss_mib"] = *rss;
      }
      if (!cell.error.empty()) entry["error"] = cell.error;
      row["stores"][store] = entry;
    }
    std::vector<std::string> peers;
    for (const std::string& store : input.stores) {
      if (store != kOurs) peers.push_back(store);
    }
    if (const auto best = best_peer(aggregate, peers, spec)) {
      row["best_peer"] = {{"store", best->store}, {"median", best->value}};
    }
    summary.push_back(row);
  }
  json["summary"] = summary;

  nlohmann::json records = nlohmann::json::array();
  for (const RunRecord& record : input.records) {
    nlohmann::json figures = nlohmann::json::array();
    for (const Figure& figure : record.figures) figures.push_back(to_json(figure));
    records.push_back({{"store", record.store},
                       {"workload", record.workload},
                       {"run", record.run},
                       {"ok", record.ok},
                       {"error", record.error},
                       {"peak_rss_mib", record.peak_rss_mib},
                       {"process_wall_seconds", record.wall_seconds},
                       {"figures", figures}});
  }
  json["records"] = records;
  return json;
}

bool all_passed(const ReportInput& input) {
  if (!input.prepare_errors.empty()) return false;
  for (const RunRecord& record : input.records) {
    if (!record.ok) return false;
    for (const Figure& figure : record.figures) {
      if (!figure.verified) return false;
    }
  }
  return true;
}

}  // namespace srd_bench

// The rows of srd-bench's table: every figure a workload reports, its unit, the
// original engine's figure (bench/BASELINES.md) and the project's goal for it
// (docs/performance.md). Workloads produce Figures by id; the report looks the row up.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace srd_bench {

// Thousands of ops/s are for the synced D rows, which run at a few thousand.
enum class Unit { kMillionOpsPerSecond, kThousandOpsPerSecond, kMiBPerSecond, kMilliseconds, kSeconds };

std::string_view unit_name(Unit unit);
// Rates are better high, times low.
bool higher_is_better(Unit unit);

struct FigureSpec {
  std::string_view id;        // "W8 read"
  std::string_view workload;  // the process that produces it: "W8"
  std::string_view label;     // the table's first column
  Unit unit;
  double original;  // the original engine's figure in `unit`; 0 = none (it has no sync modes)
  double goal;      // the project's goal in `unit`; 0 = none (W7 parallel: see report)
};

const std::vector<FigureSpec>& figure_specs();
const FigureSpec* find_figure(std::string_view id);

// One measured figure of one run, as a child process reports it.
struct Figure {
  std::string id;
  double seconds = 0;   // the measured region only
  double amount = 0;    // operations (or entries), or MiB for W8
  bool verified = true; // every value read matched the expected one
  nlohmann::json extra = nlohmann::json::object();  // sizes, sums, close time

  // The figure in its row's unit (ops/s in millions or thousands, MiB/s, ms or s).
  double value(Unit unit) const;
};

nlohmann::json to_json(const Figure& figure);
Figure figure_from_json(const nlohmann::json& json);

}  // namespace srd_bench

// Turns the runs of one srd-bench invocation into its report: the comparison
// table (ours, the original, the goal, every peer and ours-versus-peer ratios),
// peak RSS and file sizes as Markdown, and everything, raw runs included, as JSON.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "figures.h"

namespace srd_bench {

// One child process: a (store, workload, run).
struct RunRecord {
  std::string store;
  std::string workload;
  int run = 0;      // 1-based
  bool ok = false;  // the child exited normally and reported its figures
  std::string error;
  double peak_rss_mib = 0;
  double wall_seconds = 0;  // the whole process, setup included
  std::vector<Figure> figures;
};

struct ReportInput {
  std::uint64_t n = 0;
  int runs = 0;
  std::vector<std::string> stores;     // selected, in column order ("srd" first)
  std::vector<std::string> workloads;  // selected, in row order
  std::map<std::string, bool> built;   // store -> compiled into this binary
  std::map<std::string, std::string> prepare_errors;  // store -> why its w2 store is missing
  std::map<std::string, double> prepare_seconds;
  std::vector<RunRecord> records;
  double wall_seconds = 0;
};

std::string render_report(const ReportInput& input);
nlohmann::json report_json(const ReportInput& input);

// Whether every run succeeded and verified.
bool all_passed(const ReportInput& input);

}  // namespace srd_bench

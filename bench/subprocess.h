// Runs one child process to completion: its stdout captured, its stderr passed
// through, and its peak resident set size taken from wait4() (the rusage of that
// child alone, so each workload's memory is measured in isolation).
#pragma once

#include <string>
#include <vector>

namespace srd_bench {

struct ChildOutcome {
  bool succeeded = false;   // exited with status 0
  std::string status;       // "exit 1", "signal 9", ... when it did not
  std::string output;       // everything it wrote to stdout
  double peak_rss_mib = 0;  // ru_maxrss
  double wall_seconds = 0;
};

// argv[0] is the program to execute.
ChildOutcome run_child_process(const std::vector<std::string>& argv);

}  // namespace srd_bench

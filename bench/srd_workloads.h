// The named workloads W1..W10 run against SIMD R Drive (this project's engine).
// Each call runs one workload in the current process and returns its figures; the
// driver (srd_bench.cc) runs every call in a fresh child process.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace srd_bench {

struct Row {
  std::string name;        // "W1", "W7 parallel", ...
  double seconds = 0;      // the measured region only
  double amount = 0;       // operations, or MiB for W8
  std::string note;        // extra facts (sizes, sums)
  bool verified = true;    // every read matched its expected value
};

// Creates the W2 store (dir/w2.bin, index snapshot saved on close) used by W3..W7,
// W9 and W10.
void prepare_w2_store(const std::filesystem::path& dir, std::uint64_t n);

// Runs workload `id` ("W1" .. "W10", or "W3-rebuild").
std::vector<Row> run_workload(const std::string& id, const std::filesystem::path& dir, std::uint64_t n);

}  // namespace srd_bench

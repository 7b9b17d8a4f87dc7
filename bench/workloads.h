// The named workloads W1..W10 (definitions in bench/BASELINES.md, the same as
// the reference measurements of the original and the peers), written once
// against the Backend interface so every store runs exactly the same loop.
//
// Each store keeps its files under its own directory `store_dir`:
//   w2-pristine/  the W2 database as its writer closed it (W3 reopens a copy)
//   w2/           a copy reopened once (the LSMs replay their log then), read by
//                 W4..W7 and W9, and copied by W10
//   <workload>/   a workload's scratch database, removed when it ends
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "backend.h"
#include "figures.h"

namespace srd_bench {

// Every workload id in table order: W1 W2 W3 W3-rebuild W4 ... W10, then the
// durability rows D1 ... (durability_workloads.h).
const std::vector<std::string>& all_workloads();
bool is_workload(std::string_view id);
// "W" or "D": every workload of that group, in table order (empty for anything else).
std::vector<std::string> workload_group(std::string_view prefix);
// Whether `id` means anything for this store (W3-rebuild needs an index cache, and
// some D rows a durability mode).
bool workload_applies(std::string_view id, const Backend& backend);
// Whether `id` reads the prepared w2 stores.
bool needs_prepared_store(std::string_view id);

// Builds w2-pristine and w2 under `store_dir` (untimed). Returns the seconds taken.
double prepare_store(Backend& backend, const std::filesystem::path& store_dir, std::uint64_t n);

// W1 (or, batched, W2): n puts into a fresh database in the store's current
// durability mode, plus close. Also D4's measured region.
Figure write_fresh(std::string_view id, Backend& backend, const std::filesystem::path& store_dir, std::uint64_t n,
                   bool batched);

// Runs one workload in this process. Throws on a store error; a wrong value read
// is not an error but a Figure with verified = false.
std::vector<Figure> run_workload(std::string_view id, Backend& backend, const std::filesystem::path& store_dir,
                                 std::uint64_t n);

}  // namespace srd_bench

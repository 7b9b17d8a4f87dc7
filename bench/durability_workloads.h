// The durability rows D1..D4: single and batched writes that sync each write, and
// writes in group commit. W1..W10 run every store without syncing; these
// run each store in its documented synced mode (the Durability of backend.h; each
// backend's comment says which setting that is), where one put costs a device
// flush (fdatasync, ~150 us on the project's VM) rather than a memory copy.
//
//   D1          2,000 puts, one thread, each durable before the next begins
//   D1-group    ours only: D1 in kGroupCommit (one thread: nothing to share)
//   D2          500 batches of 100 puts, one thread, each batch durable when written
//   D3          4 threads x 1,000 puts at once, each durable before it returns; ours
//               in kGroupCommit, the peers in their synced mode (RocksDB and LevelDB
//               group concurrent syncs by themselves, the others do not)
//   D3-each     ours only: D3 in kSyncEachWrite, to show what group commit buys
//   D4          ours only: W1 (N puts + close) in kSyncPeriodically (100 ms)
//
// D1..D3 are sized in operations, not N: at a few thousand syncs per second, each
// run takes about a second. Each writes a fresh database; only its puts are timed
// (each one is durable already, so close adds nothing a writer waits for). Then the
// database is reopened without sync and every key read back.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "backend.h"
#include "figures.h"

namespace srd_bench {

// D1 D1-group D2 D3 D3-each D4, in table order.
const std::vector<std::string>& durability_workloads();
bool is_durability_workload(std::string_view id);
// Whether the store has the mode the row needs.
bool durability_workload_applies(std::string_view id, const Backend& backend);

// Runs one D row in this process (`n` is used by D4 only).
std::vector<Figure> run_durability_workload(std::string_view id, Backend& backend,
                                            const std::filesystem::path& store_dir, std::uint64_t n);

}  // namespace srd_bench

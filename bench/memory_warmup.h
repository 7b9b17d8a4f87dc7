// MemoryReserve: holds page-cache memory the guest already owns until right
// before a measured region, then frees it for the store's allocations.
//
// Why: this machine is a VM whose balloon driver reports free memory to the host
// (free page reporting) within about a second, and touching a reported page again
// costs a host fault, ~7 us per 4 KiB instead of ~0.3. Measured with W8: a store
// writing 1 GiB right after another process freed 1 GiB writes at 3.5-4.5 GB/s;
// after a pause of 1 s or more, at 0.4-0.55 GB/s, every store alike. Without a
// reserve, a figure depends on what ran just before it, not on the store (the
// table's first column was always the cold one). Bare metal has no such cost, so
// the warm state is the one that measures the store.
//
// How: write a deleted scratch file of the given size into the page cache and
// keep it open; release() closes it. A deleted file's dirty pages are dropped,
// not written back, so they are free at once, and the next allocations reuse
// them before the reporting can take them. write() from a small buffer keeps the
// pages out of the process's RSS, so peak RSS figures are unaffected.
#pragma once

#include <cstdint>
#include <filesystem>

namespace srd_bench {

class MemoryReserve {
 public:
  // Reserves `bytes` through a scratch file in `dir`; nothing while reserves
  // are disabled.
  MemoryReserve(const std::filesystem::path& dir, std::uint64_t bytes);
  ~MemoryReserve() { release(); }
  MemoryReserve(const MemoryReserve&) = delete;
  MemoryReserve& operator=(const MemoryReserve&) = delete;

  // Frees the pages: call it right before the measured region.
  void release();

 private:
  int fd_ = -1;
};

// srd-bench --no-warmup turns reserves off (to see the cold figures).
void enable_memory_reserves(bool enabled);

}  // namespace srd_bench

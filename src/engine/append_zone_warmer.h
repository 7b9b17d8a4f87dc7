// Faults the writer's append zone into the store's mapping on a thread of its own,
// ahead of the writes that will fill it.
//
// The kernel zero-fills a page-cache folio in the thread whose access first faults it
// in, and in the modes that take 2 MiB folios (Appender::advise_append_zone) that is
// 2 MiB at once: on a virtual machine whose memory comes back from the host at first
// touch, several milliseconds, during which the write that touched it, and every
// request queued behind that write, waits. Faulting the zone in from another thread
// (MADV_POPULATE_WRITE, the same write fault a store into the page would take) moves
// that cost off the writer: its stores then find the pages mapped and writable.
//
// What it changes: the zone's pages are dirty page-cache pages of zeros before the
// writer fills them, so up to the requested look-ahead may be written back as zeros
// once (a sync writes them; the file's bytes are zeros there either way), and the
// writer's RSS includes that look-ahead. Nothing is written to the file: a fault
// past the file's end (after a truncation) makes madvise fail, never a SIGBUS, and
// the request is dropped. On a kernel without MADV_POPULATE_WRITE (before Linux
// 5.14) the first failure turns warming off; the writer then faults as before.
//
// The same thread also unmaps, from this process's page tables, the pages of a
// mapping that a larger one replaced (io::Mapping::release_resident_pages): for a
// store of 256 MiB that is tens of thousands of page-table entries, 5-7 ms that the
// write which outgrew the mapping would otherwise wait.
//
// Thread-safety: request(), release() and the destructor are for one thread at a time
// (the store's writer); the warming thread touches only what request() and release()
// handed it, under the mutex, and the mappings it holds references to.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace simd_r_drive::io {
class Mapping;
}

namespace simd_r_drive::engine {

class AppendZoneWarmer {
 public:
  AppendZoneWarmer() = default;
  ~AppendZoneWarmer();
  AppendZoneWarmer(const AppendZoneWarmer&) = delete;
  AppendZoneWarmer& operator=(const AppendZoneWarmer&) = delete;

  // Faults in [from, to) of `mapping` (offsets in the mapped file), 2 MiB at a time,
  // on the warming thread (started by the first request). A request replaces one not
  // yet finished: the thread moves to it at its next 2 MiB step.
  void request(std::shared_ptr<const io::Mapping> mapping, std::uint64_t from, std::uint64_t to);
  // Releases `replaced`'s resident pages on the warming thread (started if need be).
  // Readers that still hold it fault its pages back in as they touch them.
  void release(std::shared_ptr<const io::Mapping> replaced);
  // Whether warming still runs (false once the kernel refused the advice).
  bool enabled() const;
  // For tests: waits up to `timeout_ms` for the thread to finish every request and
  // release; true if it did.
  bool wait_until_idle(unsigned timeout_ms) const;

 private:
  void run();
  void start_thread_locked();

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::shared_ptr<const io::Mapping> mapping_;
  std::uint64_t from_ = 0;  // what is left of the current request
  std::uint64_t to_ = 0;
  std::vector<std::shared_ptr<const io::Mapping>> to_release_;
  bool busy_ = false;       // the thread is faulting a step in
  bool stopping_ = false;
  bool disabled_ = false;
  int owner_pid_ = 0;       // a forked child has no warming thread to join
  std::thread thread_;
};

}  // namespace simd_r_drive::engine

// SyncController: when writes reach stable storage, as the durability mode says
// (docs/durability.md): nothing more than the page cache (kFlush), one fdatasync per
// write (kSyncEachWrite), syncs shared by concurrent writers (kGroupCommit), or a
// background sync every interval (kSyncPeriodically); and sync() on demand.
//
// Writes are numbered under the write mutex. A sync records the number of the last
// write it covers; a writer that must be durable waits until a sync that started
// after its write has finished. Only one sync runs at a time (the "leader"); writers
// that finish while it runs wait for it and then share the next one, which is what
// makes kGroupCommit cheaper than kSyncEachWrite under concurrency.
//
// A failed fdatasync leaves the state of the page cache unknown (the kernel may have
// dropped the dirty pages it could not write), so the store stops accepting writes
// after one: every later write throws, and reopening the store is the way out.
//
// Thread-safety: note_write() under the write mutex; the rest from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "simd_r_drive/options.h"

namespace simd_r_drive::engine {

// What a sync does to the store; the writer provides it.
class SyncTarget {
 public:
  virtual ~SyncTarget() = default;
  // The tail that a sync starting now covers.
  virtual std::uint64_t tail_to_sync() const noexcept = 0;
  // fdatasync of the store file; throws on failure.
  virtual void sync_file() = 0;
  // Every byte below `tail` is on stable storage.
  virtual void durable_through(std::uint64_t tail) noexcept = 0;
};

class SyncController {
 public:
  SyncController(Durability durability, std::chrono::milliseconds interval, std::filesystem::path path,
                 SyncTarget& target);
  ~SyncController();
  SyncController(const SyncController&) = delete;
  SyncController& operator=(const SyncController&) = delete;

  Durability durability() const noexcept { return durability_; }
  // Throws Error(kIo) once a sync has failed.
  void require_no_failure() const;
  bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }

  // Writer, under the write mutex: one more write is complete (its tail published).
  void note_write() noexcept {
    // Only the writer bumps it: a plain store, no locked add.
    write_sequence_.store(write_sequence_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  // Ends a write call whose tail was just published: releases `write_lock` unless the
  // mode syncs under it, then waits as the mode requires.
  void finish_write(std::unique_lock<std::mutex>& write_lock);
  // Returns once everything written so far is durable, whatever the mode.
  void sync_all();
  // An fdatasync of the file now, outside the group protocol and without recording
  // anything as durable: for the writer's own ordering needs (Appender's growth). A
  // failure fails the store as a failed group sync does, and throws Error(kIo).
  // Takes none of this controller's locks, so it may run under the writer's.
  void barrier();

  // For compaction, which has synced a new file that replaces the store's: waits for
  // a running sync to end, runs `swap` (which switches the target to the new file),
  // and records every write so far as durable.
  void replace_file(const std::function<void()>& swap);

  // Starts the background thread of kSyncPeriodically (no-op in other modes).
  void start();
  // Stops it; safe to call twice.
  void stop() noexcept;

 private:
  // Returns once a sync that began after write `sequence` has finished (or throws).
  void sync_through(std::uint64_t sequence);

  const Durability durability_;
  const std::chrono::milliseconds interval_;
  const std::filesystem::path path_;
  SyncTarget& target_;

  std::atomic<std::uint64_t> write_sequence_{0};
  std::mutex mutex_;
  std::condition_variable finished_;
  bool running_ = false;             // mutex_
  std::uint64_t synced_sequence_ = 0;  // mutex_
  std::string failure_;              // mutex_: why the first failed sync failed
  std::atomic<bool> failed_{false};  // once true, writes are refused
  std::mutex barrier_mutex_;
  std::string barrier_failure_;      // barrier_mutex_: why a barrier failed
  bool stop_ = false;                // mutex_
  std::thread periodic_;
};

}  // namespace simd_r_drive::engine

#include "engine/sync_controller.h"

#include <algorithm>

#include "engine/logger.h"
#include "simd_r_drive/error.h"

namespace simd_r_drive::engine {

SyncController::SyncController(Durability durability, std::chrono::milliseconds interval, std::filesystem::path path,
                               SyncTarget& target)
    : durability_(durability), interval_(interval), path_(std::move(path)), target_(target) {}

SyncController::~SyncController() { stop(); }

void SyncController::require_no_failure() const {
  if (failed_.load(std::memory_order_acquire)) {
    throw Error(ErrorCode::kIo, "'" + path_.string() +
                                    "' refuses writes since an fdatasync failed (what reached the disk is "
                                    "unknown); reopen the store to recover it.");
  }
}

void SyncController::finish_write(std::unique_lock<std::mutex>& write_lock) {
  const std::uint64_t sequence = write_sequence_.load(std::memory_order_relaxed);
  switch (durability_) {
    case Durability::kFlush:
    case Durability::kSyncPeriodically:
      write_lock.unlock();
      return;
    case Durability::kSyncEachWrite:
      // Synced under the write lock: the next writer waits for this sync.
      sync_through(sequence);
      return;
    case Durability::kGroupCommit:
      // The next writer goes ahead, and may share the sync this one waits for.
      write_lock.unlock();
      sync_through(sequence);
      return;
  }
}

void SyncController::sync_all() { sync_through(write_sequence_.load(std::memory_order_acquire)); }

void SyncController::barrier() {
  require_no_failure();
  try {
    target_.sync_file();
  } catch (const std::exception& error) {
    {
      std::lock_guard lock(barrier_mutex_);
      if (barrier_failure_.empty()) barrier_failure_ = error.what();
    }
    failed_.store(true, std::memory_order_release);
    log_error("'" + path_.string() + "': " + error.what() + "; the store now refuses writes until reopened.");
    throw Error(ErrorCode::kIo, "'" + path_.string() + "': " + error.what() + "; reopen the store.");
  }
}

void SyncController::sync_through(std::uint64_t sequence) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!failure_.empty()) {
      throw Error(ErrorCode::kIo, "'" + path_.string() + "': an earlier fdatasync failed (" + failure_ +
                                      "); reopen the store.");
    }
    if (failed_.load(std::memory_order_acquire)) {
      std::lock_guard barrier_lock(barrier_mutex_);
      throw Error(ErrorCode::kIo, "'" + path_.string() + "': an earlier fdatasync failed (" + barrier_failure_ +
                                      "); reopen the store.");
    }
    if (synced_sequence_ >= sequence) return;
    if (running_) {
      finished_.wait(lock);
      continue;
    }
    // Lead a sync for everything written so far. The file and the tail cannot change
    // identity meanwhile: compaction waits for a running sync before swapping files.
    running_ = true;
    const std::uint64_t covers = write_sequence_.load(std::memory_order_acquire);
    const std::uint64_t tail = target_.tail_to_sync();
    lock.unlock();
    std::string failure;
    try {
      target_.sync_file();
    } catch (const std::exception& error) {
      failure = error.what();
    }
    lock.lock();
    running_ = false;
    if (failure.empty()) {
      synced_sequence_ = std::max(synced_sequence_, covers);
      target_.durable_through(tail);
    } else {
      failure_ = failure;
      failed_.store(true, std::memory_order_release);
      log_error("'" + path_.string() + "': " + failure + "; the store now refuses writes until reopened.");
    }
    finished_.notify_all();
  }
}

void SyncController::replace_file(const std::function<void()>& swap) {
  std::unique_lock lock(mutex_);
  finished_.wait(lock, [this] { return !running_; });
  swap();
  synced_sequence_ = write_sequence_.load(std::memory_order_acquire);
}

void SyncController::start() {
  if (durability_ != Durability::kSyncPeriodically || periodic_.joinable()) return;
  periodic_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stop_) {
      finished_.wait_for(lock, interval_, [this] { return stop_; });
      if (stop_ || !failure_.empty()) continue;
      const std::uint64_t written = write_sequence_.load(std::memory_order_acquire);
      if (written <= synced_sequence_) continue;
      lock.unlock();
      try {
        sync_through(written);
      } catch (const std::exception&) {
        // Logged by sync_through; writers see the failure on their next write.
      }
      lock.lock();
    }
  });
}

void SyncController::stop() noexcept {
  if (!periodic_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  finished_.notify_all();
  periodic_.join();
}

}  // namespace simd_r_drive::engine

// When writes reach stable storage: the durability modes, group commit, sync(), and
// the hand-over of a compacted file (docs/durability.md).
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
#include <string>

#include "engine/data_store_impl.h"
#include "engine/logger.h"
#include "simd_r_drive/error.h"

namespace simd_r_drive {

void DataStore::Impl::require_writable_locked() const {
  if (options_.read_only) {
    throw Error(ErrorCode::kInvalidArgument,
                "'" + path_.string() + "' was opened read-only (OpenOptions::read_only); it cannot be written.");
  }
  if (sync_failed_.load(std::memory_order_acquire)) {
    throw Error(ErrorCode::kIo, "'" + path_.string() +
                                    "' refuses writes since an fdatasync failed (what reached the disk is "
                                    "unknown); reopen the store to recover it.");
  }
}

void DataStore::Impl::publish_tail_locked(std::uint64_t tail) noexcept {
  current_->tail.store(tail, std::memory_order_release);
  if (lock_) lock_->publish_tail(tail);
  // Only the writer (under the write mutex) bumps it: a plain store, no locked add.
  write_sequence_.store(write_sequence_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

std::uint64_t DataStore::Impl::finish_write(std::unique_lock<std::mutex>& write_lock, std::uint64_t tail) {
  const std::uint64_t sequence = write_sequence_.load(std::memory_order_relaxed);
  // kSyncEachWrite syncs under the write lock; the other modes let the next writer in.
  if (options_.durability != Durability::kSyncEachWrite) write_lock.unlock();
  make_durable(sequence);
  return tail;
}

void DataStore::Impl::make_durable(std::uint64_t sequence) {
  switch (options_.durability) {
    case Durability::kFlush:
    case Durability::kSyncPeriodically:
      return;
    case Durability::kSyncEachWrite:
    case Durability::kGroupCommit:
      sync_through(sequence);
      return;
  }
}

void DataStore::Impl::sync_through(std::uint64_t sequence) {
  std::unique_lock lock(sync_mutex_);
  for (;;) {
    if (!sync_failure_.empty()) {
      throw Error(ErrorCode::kIo, "'" + path_.string() + "': an earlier fdatasync failed (" + sync_failure_ +
                                      "); reopen the store.");
    }
    if (synced_sequence_ >= sequence) return;
    if (sync_running_) {
      sync_finished_.wait(lock);
      continue;
    }
    // Lead a sync for everything written so far. The file and the tail cannot change
    // identity meanwhile: compaction waits for a running sync before swapping files.
    sync_running_ = true;
    const std::uint64_t covers = write_sequence_.load(std::memory_order_acquire);
    std::uint64_t tail;
    {
      engine::ReaderRegistry::Guard guard(*readers_);
      tail = published_.load(std::memory_order_seq_cst)->tail.load(std::memory_order_acquire);
    }
    lock.unlock();
    std::string failure;
    try {
      file_.sync_data();
    } catch (const std::exception& error) {
      failure = error.what();
    }
    lock.lock();
    sync_running_ = false;
    if (failure.empty()) {
      synced_sequence_ = std::max(synced_sequence_, covers);
      if (lock_) lock_->publish_durable_tail(tail);
    } else {
      sync_failure_ = failure;
      sync_failed_.store(true, std::memory_order_release);
      engine::log_error("'" + path_.string() + "': " + failure + "; the store now refuses writes until reopened.");
    }
    sync_finished_.notify_all();
  }
}

void DataStore::Impl::sync() {
  if (options_.read_only) return;  // nothing of ours to make durable
  sync_through(write_sequence_.load(std::memory_order_acquire));
}

void DataStore::Impl::start_periodic_sync() {
  periodic_sync_ = std::thread([this] {
    std::unique_lock lock(sync_mutex_);
    while (!stop_periodic_) {
      sync_finished_.wait_for(lock, options_.sync_interval, [this] { return stop_periodic_; });
      if (stop_periodic_ || !sync_failure_.empty()) continue;
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

void DataStore::Impl::stop_periodic_sync() noexcept {
  if (!periodic_sync_.joinable()) return;
  {
    std::lock_guard lock(sync_mutex_);
    stop_periodic_ = true;
  }
  sync_finished_.notify_all();
  periodic_sync_.join();
}

void DataStore::Impl::replace_file_locked(std::shared_ptr<engine::Generation> next, io::FileHandle file,
                                          io::FileHandle file_lock, std::uint64_t physical_size) {
  const std::uint64_t tail = next->tail.load(std::memory_order_relaxed);
  std::unique_lock lock(sync_mutex_);
  sync_finished_.wait(lock, [this] { return !sync_running_; });
  swap_generation_locked(std::move(next), std::move(file), physical_size);
  file_lock_ = std::move(file_lock);
  // Compaction synced the new file before renaming it into place: every write so
  // far is durable in it.
  synced_sequence_ = write_sequence_.load(std::memory_order_acquire);
  if (lock_) {
    lock_->publish_file(identity_, tail);
    lock_->publish_durable_tail(tail);
  }
}

}  // namespace simd_r_drive

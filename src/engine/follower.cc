// Read-only stores that follow a writer in another process (OpenOptions::read_only,
// DataStore::refresh()).
//
// The writer publishes the tail of every completed write in "<store>.lock" (see
// lock_file.h), after the write's bytes are in the page cache that every process
// shares. A follower takes that tail as its candidate end of the store, checks only
// the entries between its own tail and the candidate (their back-links must land
// exactly on its tail, and the newest must match its checksum), and applies them to
// its index. So it never reads past a complete write, and never rescans old data.
//
// Without a live writer (or without a lock file: a store written by the original),
// the candidate is the file's length; a torn write at the end then simply fails the
// check and is not taken in.
//
// When the writer compacts, the path names a new file: refresh() notices the new
// inode and loads the new file from scratch, keeping the old mapping alive for
// handles taken before.
#include <sys/stat.h>

#include <string>

#include "engine/data_store_impl.h"
#include "engine/recovery.h"
#include "simd_r_drive/error.h"

namespace simd_r_drive {

std::uint64_t DataStore::Impl::follower_candidate_tail(std::uint64_t file_len, const io::FileIdentity& identity) const {
  if (!lock_) return file_len;
  const engine::LockFile::State state = lock_->snapshot();
  // A writer that is active, or that crashed (not clean), published the end of its
  // last complete write; the file may extend past it with preallocated zeros or a
  // torn write. After a clean close the file ends at the tail, and anything a later
  // foreign writer appended is only found through the file's length.
  if (state.identity == identity && (state.writer_active || !state.clean)) return std::min(state.tail, file_len);
  return file_len;
}

std::uint64_t DataStore::Impl::refresh() {
  std::lock_guard lock(write_mutex_);
  const std::uint64_t current_tail = current_->tail.load(std::memory_order_relaxed);
  if (!options_.read_only) return current_tail;

  struct stat info {};
  if (::stat(path_.c_str(), &info) != 0) {
    throw Error(ErrorCode::kNotFound, "Storage file '" + path_.string() + "' no longer exists.");
  }
  if (!lock_) lock_ = engine::LockFile::observe(path_);  // a writer may have come since
  const io::FileIdentity on_disk{static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino)};
  if (on_disk != identity_) {
    reopen_follower_locked();  // compacted (or replaced) by the writer
    return current_->tail.load(std::memory_order_relaxed);
  }

  const std::uint64_t candidate = follower_candidate_tail(file_.size(), identity_);
  if (candidate == current_tail) return current_tail;
  if (candidate < current_tail) {
    // Only a writer's recovery shortens a file in place; start over from what is there.
    reopen_follower_locked();
    return current_->tail.load(std::memory_order_relaxed);
  }
  engine::Generation& generation = *current_;
  if (candidate > generation.mapping.load(std::memory_order_relaxed)->capacity()) {
    generation.publish_mapping(std::make_shared<io::Mapping>(file_.fd(), io::reservation_for(candidate), false));
  }
  const std::byte* base = generation.mapping.load(std::memory_order_relaxed)->data();
  const auto newer = engine::tails_above(base, candidate, current_tail);
  // Not a complete write yet (a foreign writer mid-append): the next refresh retries.
  if (!newer) return current_tail;
  index_appended_locked(*newer);
  generation.tail.store(candidate, std::memory_order_release);
  physical_size_ = candidate;
  reclaim_locked();
  return candidate;
}

void DataStore::Impl::reopen_follower_locked() {
  io::FileHandle file(path_, io::FileHandle::Mode::kReadOnly);
  std::shared_ptr<engine::Generation> previous = std::move(current_);
  io::FileHandle previous_file = std::move(file_);
  const io::FileIdentity previous_identity = identity_;
  try {
    file_ = std::move(file);
    identity_ = file_.identity();
    load_locked(follower_candidate_tail(file_.size(), identity_), std::nullopt);
  } catch (...) {
    current_ = std::move(previous);
    file_ = std::move(previous_file);
    identity_ = previous_identity;
    throw;
  }
  published_.store(current_.get(), std::memory_order_seq_cst);
  retire_locked(std::move(previous));
  reclaim_locked();
}

}  // namespace simd_r_drive

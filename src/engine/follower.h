// Follower: a read-only store that follows a writer in another process
// (OpenOptions::read_only, DataStore::refresh()).
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
//
// Thread-safety: refresh() under the publication's change mutex (it takes it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include "engine/lock_file.h"
#include "engine/publication.h"
#include "io/file_handle.h"
#include "simd_r_drive/options.h"

namespace simd_r_drive::engine {

class Follower {
 public:
  // Opens `path` read-only and installs its first generation in `publication`.
  Follower(const std::filesystem::path& path, const OpenOptions& options, Publication& publication);

  // Takes in what the writer appended since, or the writer's new file after a
  // compaction; returns the new tail.
  std::uint64_t refresh();

  io::FileIdentity identity() const noexcept { return identity_; }
  bool loaded_from_snapshot() const noexcept { return loaded_from_snapshot_; }
  // The file's length now (it may hold more than the store: a write in progress, a
  // writer's preallocation, or a torn tail).
  std::uint64_t file_length() const { return file_.size(); }
  const io::FileHandle& file() const noexcept { return file_; }
  // Whether a writer holds the store's lock right now.
  bool writer_active() const;

 private:
  std::uint64_t candidate_tail(std::uint64_t file_len, const io::FileIdentity& identity) const;
  // Before loading `file` (open_policy.h, refuse_foreign_appends).
  void check_foreign_appends(io::FileHandle& file, std::uint64_t file_len, const io::FileIdentity& identity) const;
  void reopen();

  std::filesystem::path path_;
  OpenOptions options_;
  Publication& publication_;
  io::FileHandle file_;
  io::FileIdentity identity_;
  // The writer's published state, if the store has a lock file.
  std::optional<LockFile> lock_;
  bool loaded_from_snapshot_ = false;
};

}  // namespace simd_r_drive::engine

// Writer: the single writer of a store.
//
// It holds the OS locks that keep other writers out, and turns each write call into
// an append of bytes (Appender), updates of the index (index_upkeep.h), publication
// of the new tail to readers here and, through the lock file, in other processes,
// and the durability the mode asks for (SyncController). compact() (compaction.cc)
// replaces the file under the same lock. On close it hands back the file's
// preallocated space, saves an index snapshot, and marks the close clean.
//
// Thread-safety: every method may be called from any thread; writes serialise on the
// publication's change mutex (the write mutex), reads never wait for them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>

#include "engine/appender.h"
#include "engine/lock_file.h"
#include "engine/publication.h"
#include "engine/sync_controller.h"
#include "io/file_handle.h"
#include "simd_r_drive/data_store.h"
#include "simd_r_drive/options.h"

namespace simd_r_drive::engine {

class Writer final : private SyncTarget {
 public:
  // Opens (or creates) the store for writing, takes its locks, loads it, and installs
  // its first generation in `publication`. Throws kLocked if another writer has it.
  Writer(const std::filesystem::path& path, const OpenOptions& options, Publication& publication);
  // Closes the store; errors are logged, never thrown.
  ~Writer() override;
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  std::uint64_t append(std::span<const PendingEntry> entries);
  std::uint64_t append_stream(std::uint64_t key_hash, const StreamReader& source);
  // Tombstones for the hashes that are live (duplicates once); returns the tail.
  std::uint64_t remove(std::span<const std::uint64_t> key_hashes);
  // Moves a value to a new key in one append (new entry + tombstone).
  std::uint64_t rename(std::uint64_t old_hash, std::uint64_t new_hash);
  void compact();  // compaction.cc
  void sync();

  io::FileIdentity identity() const;
  bool loaded_from_snapshot() const noexcept { return loaded_from_snapshot_; }
  // The file's length, preallocated space included.
  std::uint64_t file_length() const;
  // The space reserved past the tail: the file's length, where the padding record
  // lies (0 if none), and the tail it names.
  struct Reserved {
    std::uint64_t file_length = 0;
    std::uint64_t padding_offset = 0;
    std::uint64_t padding_anchor = 0;
  };
  Reserved reserved_space() const;

 private:
  // Appends, indexes and publishes `entries` (write mutex held); returns the tail.
  std::uint64_t append_locked(std::span<const PendingEntry> entries);
  void publish_tail_locked(std::uint64_t tail) noexcept;
  void require_writable() const;
  void close() noexcept;

  // SyncTarget
  std::uint64_t tail_to_sync() const noexcept override;
  void sync_file() override;
  void durable_through(std::uint64_t tail) noexcept override;

  std::filesystem::path path_;
  OpenOptions options_;
  Publication& publication_;
  io::FileIdentity identity_;     // write mutex
  std::optional<LockFile> lock_;  // "<store>.lock", held exclusively
  io::FileHandle file_lock_;      // holds the store file's own OFD lock (write mutex)
  std::optional<Appender> appender_;
  SyncController sync_;
  bool loaded_from_snapshot_ = false;
  // The tail the snapshot on disk covers, if it matches this store (write mutex).
  std::optional<std::uint64_t> snapshot_covers_;
};

}  // namespace simd_r_drive::engine

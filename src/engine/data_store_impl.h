// DataStore::Impl: the engine behind the public DataStore (pimpl), shared by the
// files of src/engine/ that implement its parts (writes and reads in data_store.cc,
// iteration, compaction, verification).
//
// Thread-safety: see DataStore. Members marked "writer" are guarded by write_mutex_.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/lock_file.h"
#include "engine/reader_registry.h"
#include "engine/store_state.h"
#include "io/file_handle.h"
#include "simd_r_drive/data_store.h"

namespace simd_r_drive {

class DataStore::Impl {
 public:
  // One entry of an append: a value, or a tombstone for key_hash.
  struct PendingEntry {
    std::uint64_t key_hash;
    ByteView payload;  // ignored for tombstones
    bool tombstone;
  };

  Impl(const std::filesystem::path& path, const OpenOptions& options);
  ~Impl();

  // ---- reads (any thread) ----
  std::optional<EntryHandle> read_hash(std::uint64_t key_hash) const;
  std::vector<std::optional<EntryHandle>> read_hashes(std::span<const std::uint64_t> key_hashes) const;
  std::optional<EntryHandle> read_last() const;
  std::uint64_t tail() const noexcept;
  std::size_t live_count() const noexcept;

  // ---- writes (take the write mutex; then make the write durable as the mode says) ----
  std::uint64_t append(std::span<const PendingEntry> entries);
  std::uint64_t append_stream(std::uint64_t key_hash, const StreamReader& source);
  std::uint64_t remove_hashes(std::span<const std::uint64_t> key_hashes);
  std::uint64_t rename(std::uint64_t old_hash, std::uint64_t new_hash);

  // ---- iteration, maintenance (entry_iteration.cc, compaction.cc, verify.cc) ----
  // Builds the current generation's LiveBits if it has none and they would be small
  // (entries averaging at most 4 KiB); iteration then scans them.
  void ensure_live_bits() const;
  EntryRange iterate() const;
  void parallel_iterate(const std::function<void(const EntryHandle&)>& visit) const;
  void compact();
  std::uint64_t compaction_savings() const;
  VerifyReport verify() const;

  // ---- durability and followers (durability.cc, follower.cc) ----
  void sync();
  std::uint64_t refresh();
  bool read_only() const noexcept { return options_.read_only; }

  const std::filesystem::path& path() const noexcept { return path_; }
  bool loaded_from_snapshot() const noexcept { return loaded_from_snapshot_; }
  io::FileIdentity identity() const { return identity_; }

  // A handle for the entry whose record ends at `tail` in `mapping`, or nullopt if
  // the record is malformed, or is a tombstone and `allow_tombstone` is false.
  static std::optional<EntryHandle> handle_at(io::Mapping& mapping, std::uint64_t tail, bool allow_tombstone);

  // What a handle holds to keep `mapping` alive: this thread's lease on it. Every
  // handle pinning the mapping directly would make all reading threads bump one
  // shared reference count, whose cache line then bounces between cores (W9 ran 30%
  // slower). A lease is a reference to the mapping with a control block of its own;
  // each thread keeps one, for the mapping it read from last. So a thread keeps the
  // last mapping it read from (address space; for a deleted file, its pages) until
  // it reads from another mapping or exits, even after the store is closed.
  static std::shared_ptr<const void> pin(io::Mapping& mapping);

  // Builds a generation over `mapping` from (key hash, tail) pairs, newest first;
  // a tail of kDeletedTail records a deleted key.
  static std::shared_ptr<engine::Generation> build_generation(std::shared_ptr<io::Mapping> mapping,
                                                              std::uint64_t tail,
                                                              std::span<const std::pair<std::uint64_t, std::uint64_t>> newest_first);

 private:
  // Loads the store from file_ (whose first `file_len` bytes are the candidate
  // store) into current_. `previous` is what the last writer left in the lock file.
  void load_locked(std::uint64_t file_len, const std::optional<engine::LockFile::State>& previous);
  bool open_from_snapshot(std::shared_ptr<io::Mapping>& mapping, std::uint64_t file_len);
  void open_by_recovery(std::shared_ptr<io::Mapping> mapping, std::uint64_t file_len,
                        const std::optional<engine::LockFile::State>& previous);
  void remove_stale_compaction_files() const noexcept;
  void close_locked();

  // Durability (durability.cc).
  void require_writable_locked() const;
  // Ends a write call that appended up to `tail` (the last write number is the one
  // to make durable): releases `write_lock` unless the mode syncs under it, waits as
  // the mode requires, and returns `tail`.
  std::uint64_t finish_write(std::unique_lock<std::mutex>& write_lock, std::uint64_t tail);
  // After a write that ended write number `sequence`: what the mode requires before
  // the write may return. kSyncEachWrite calls it with the write mutex held.
  void make_durable(std::uint64_t sequence);
  // Returns once a sync that began after write `sequence` finished (or failed: throws).
  void sync_through(std::uint64_t sequence);
  void start_periodic_sync();
  void stop_periodic_sync() noexcept;
  // Compaction: the new file is synced and replaces the old one (write mutex held).
  void replace_file_locked(std::shared_ptr<engine::Generation> next, io::FileHandle file, io::FileHandle file_lock,
                           std::uint64_t physical_size);
  // Publishes a completed write's tail to readers here and in other processes.
  void publish_tail_locked(std::uint64_t tail) noexcept;

  // Followers (follower.cc).
  std::uint64_t follower_candidate_tail(std::uint64_t file_len, const io::FileIdentity& identity) const;
  void reopen_follower_locked();

  // Writer helpers (write_mutex_ held).
  std::uint64_t append_locked(std::span<const PendingEntry> entries);
  void reserve_locked(std::uint64_t needed_tail);
  // Advises huge folios for the part of `mapping` past `tail` (see the definition).
  void advise_append_zone(const io::Mapping& mapping, std::uint64_t tail) const noexcept;
  void rollback_locked(std::uint64_t tail) noexcept;
  void index_locked(std::uint64_t key_hash, std::uint64_t tail, bool tombstone);
  // Indexes entries found appended to the current mapping (tails newest first, as
  // tails_above returns them), oldest first so that the later of two writes wins.
  void index_appended_locked(std::span<const std::uint64_t> tails_newest_first);
  void ensure_live_bits_locked() const;
  void retire_locked(std::shared_ptr<const void> object) const;
  void reclaim_locked() noexcept;
  void swap_generation_locked(std::shared_ptr<engine::Generation> next, io::FileHandle file, std::uint64_t physical_size);

  std::filesystem::path path_;
  OpenOptions options_;
  io::FileIdentity identity_;
  bool loaded_from_snapshot_ = false;
  // The tail the snapshot on disk covers, if it matches this store (writer).
  std::optional<std::uint64_t> snapshot_covers_;

  mutable std::mutex write_mutex_;
  io::FileHandle file_;                              // writer
  io::FileHandle file_lock_;                         // writer: holds the store file's OFD lock
  std::uint64_t physical_size_ = 0;                  // writer: file length incl. preallocation
  // writer; mutable because building LiveBits (a cache) is allowed from const reads.
  mutable std::shared_ptr<engine::Generation> current_;
  mutable std::vector<std::shared_ptr<const void>> retired_; // writer
  // writer: scratch reused by every append, so a single write allocates nothing.
  std::vector<std::array<std::byte, kMetadataSize>> scratch_records_;
  std::vector<std::uint64_t> scratch_tails_;

  std::atomic<engine::Generation*> published_{nullptr};

  // The writer's lock (writable stores), or the writer's published state as observed
  // by a read-only store (if the store has a lock file).
  std::optional<engine::LockFile> lock_;

  // Durability. Writes are numbered (under the write mutex); synced_sequence_ is the
  // number of the last write a finished sync covered.
  std::atomic<std::uint64_t> write_sequence_{0};
  std::mutex sync_mutex_;
  std::condition_variable sync_finished_;
  bool sync_running_ = false;                  // sync_mutex_
  std::uint64_t synced_sequence_ = 0;          // sync_mutex_
  std::string sync_failure_;                   // sync_mutex_: why the first failed sync failed
  std::atomic<bool> sync_failed_{false};       // once true, writes are refused
  bool stop_periodic_ = false;                 // sync_mutex_
  std::thread periodic_sync_;
  std::shared_ptr<engine::ReaderRegistry> readers_ = std::make_shared<engine::ReaderRegistry>();

  friend class detail::IterationState;
};

}  // namespace simd_r_drive

// Options for opening a DataStore.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace simd_r_drive {

// When a write's bytes are forced to stable storage (docs/durability.md).
enum class Durability {
  // Each write reaches the operating system (its page cache) before it returns: it
  // survives a crash of the process, not a power loss or kernel crash. The
  // original's behaviour and the default.
  kFlush,
  // fdatasync before each write or batch returns: an acknowledged write survives
  // power loss. One sync per write, taken under the write lock.
  kSyncEachWrite,
  // Like kSyncEachWrite (nothing acknowledged is lost on power loss), but writers
  // that finish while a sync is running share the next one (group commit), so
  // concurrent writers pay for far fewer syncs.
  kGroupCommit,
  // A background thread syncs every OpenOptions::sync_interval when something was
  // written. On power loss, writes acknowledged in the last interval (plus the time
  // one sync takes) may be lost; a process crash loses nothing.
  kSyncPeriodically,
};

struct OpenOptions {
  // Fail with ErrorCode::kNotFound unless the file already exists (open_existing
  // sets this). Without it, open creates an empty store.
  bool must_exist = false;

  // A non-empty file in which recovery finds no complete entry at all is either not
  // a store or a store whose very first write was torn. By default open refuses it
  // with ErrorCode::kCorruption and leaves the file untouched. With this flag set,
  // open empties the file and returns an empty store.
  bool repair_unrecoverable = false;

  // On close, a store with at least this many live keys saves its index beside the
  // file ("<path>.index"), so the next open loads it instead of rebuilding it entry
  // by entry. The snapshot is only a cache, checked against the store before use.
  // 0 saves one always; SIZE_MAX never uses one (and removes a stale one on close).
  std::size_t index_snapshot_min_keys = 65536;

  Durability durability = Durability::kFlush;
  // The period of Durability::kSyncPeriodically.
  std::chrono::milliseconds sync_interval{100};

  // Opens the store for reading only, without the writer's lock, so any number of
  // processes can read while one process writes. Writes throw kInvalidArgument.
  // DataStore::refresh() picks up what the writer appended since. The file must
  // exist (kNotFound otherwise) and is never modified, not even a torn tail.
  bool read_only = false;

  // The address space, in bytes, that the store maps at open for its file to grow
  // into (rounded up to 2 MiB; a file over half of it gets twice its size). Address
  // space is not memory: nothing is allocated for the part past the file. The file
  // grows under an unchanged mapping until it outgrows this; then the store maps
  // twice the file anew, and the writes and reads right after that fault every page
  // they touch into the new mapping once more (a stall of milliseconds to tens of
  // milliseconds at hundreds of MiB). Where the address space is limited (RLIMIT_AS)
  // and the reservation is refused, the store maps twice the file instead.
  std::uint64_t address_space_reservation = std::uint64_t{4} << 30;
};

}  // namespace simd_r_drive

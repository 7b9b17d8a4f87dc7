// Options for opening a DataStore.
#pragma once

#include <cstddef>

namespace simd_r_drive {

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
};

}  // namespace simd_r_drive

// Options for opening a DataStore.
#pragma once

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
};

}  // namespace simd_r_drive

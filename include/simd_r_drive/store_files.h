// The files that belong to a store: the one place that names them.
//
// A store is one file, but while it is used other files live beside it:
//   "<store>.lock"   the writer's OS lock, and the state followers read (always kept);
//   "<store>.index"  a snapshot of the key index, saved on close for fast reopening
//                    (a cache: deleting it only makes the next open slower);
// and, for the moment they exist, temporaries of compaction ("<store>.compact-*.tmp")
// and of the index snapshot ("<store>.index.tmp-*"). Copying or moving a store needs
// only the store file itself.
//
// Paths are built from the store's path as given; DataStore::path() is the resolved
// one (symbolic links followed), beside which the engine keeps these files.
//
// Thread-safety: a value type.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "simd_r_drive/export.h"

namespace simd_r_drive {

struct SRD_API StoreFiles {
  std::filesystem::path store;
  std::filesystem::path lock;
  std::filesystem::path index_snapshot;

  static StoreFiles of(const std::filesystem::path& store);

  // Which of the store's temporaries a file name in its directory is, if any.
  enum class Temporary { kNone, kCompaction, kIndexSnapshot };

  // Whether `path`, a file in the store's directory, is the store, one of its
  // companions, or one of its temporaries.
  bool owns(const std::filesystem::path& path) const;
  // The one rule for the temporaries' names: "<name>.compact-<suffix>.tmp" and
  // "<name>.index.tmp-<suffix>", the suffix not empty.
  Temporary temporary_named(std::string_view file_name) const;
  // Prefixes of the temporaries' file names ("<name>.compact-", "<name>.index.tmp-").
  std::string compaction_temporary_prefix() const;
  std::string index_snapshot_temporary_prefix() const;
};

}  // namespace simd_r_drive

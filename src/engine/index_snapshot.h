// Index snapshots: the key index saved beside the store, so that opening a large
// store does not rebuild it entry by entry.
//
// "<store>.index" holds a 4 KiB header and then the index table's slots exactly as
// they lie in memory. On open the table is used in place, from a read-only mapping
// of the file, so loading costs one checksum pass rather than one insert per entry;
// the writer copies it into memory of its own before its first change. The
// snapshot is a cache: whenever anything fails to match, it is ignored and
// the index is rebuilt from the store, which stays the only source of truth. The
// store file itself is never changed by this, so the Rust original reads it as ever.
//
// A snapshot is accepted only if its header and body checksums match, and if the
// store still holds, at the offset the snapshot covers, the same 20-byte record and
// the same first 64 KiB. Entries appended after that offset are then validated and
// applied on top (recovery.h, tails_above).
//
// Thread-safety: called by the store's writer (open, close, compact) only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

#include "engine/key_index.h"
#include "engine/live_bits.h"

namespace simd_r_drive::engine {

std::filesystem::path snapshot_path(const std::filesystem::path& store);

struct LoadedSnapshot {
  std::unique_ptr<IndexTable> table;
  std::unique_ptr<LiveBits> live_bits;  // nullptr if the store had none
  std::uint64_t covered_tail = 0;
  std::uint64_t live_count = 0;
};

// The snapshot beside `store`, if there is one and it matches the store's bytes
// `file` (its first `file_len` bytes).
std::optional<LoadedSnapshot> load_snapshot(const std::filesystem::path& store, const std::byte* file,
                                            std::uint64_t file_len);

// Saves `table` (and `live_bits`, if given) as covering [0, tail) of `file`. Best
// effort: a failure is logged and leaves no snapshot behind, which only makes the
// next open slower.
void save_snapshot(const std::filesystem::path& store, const IndexTable& table, const LiveBits* live_bits,
                   std::uint64_t live_count, const std::byte* file, std::uint64_t tail) noexcept;

void remove_snapshot(const std::filesystem::path& store) noexcept;

}  // namespace simd_r_drive::engine

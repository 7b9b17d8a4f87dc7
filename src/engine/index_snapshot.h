// Index snapshots: the key index saved beside the store, so that opening a large
// store does not rebuild it entry by entry.
//
// "<store>.index" (format version 4) holds a 4 KiB header, the index table's slots
// exactly as they lie in memory, the LiveBits, and a CRC-32 per 32 KiB block of
// slots. On open the table is used in place, from a read-only mapping of the file,
// and nothing proportional to the number of keys is read: each block of slots is
// checked by the first reader that probes it (key_index.h), and the LiveBits are
// read and checked when first needed (an iteration, or the writer's first change).
// The writer copies the table into memory of its own, checking every block, before
// its first change. The snapshot is a cache: whenever anything fails to match, it
// is ignored, or (a block found damaged after open) answers come from an index
// rebuilt from the store, which stays the only source of truth. The store file
// itself is never changed by this, so the Rust original reads it as ever.
//
// Open accepts a snapshot only if its header checksum matches, the checksum of its
// block checksums matches, the file is long enough for everything the header
// describes, and the store still holds, at the offset the snapshot covers, the same
// 20-byte record and the same first 64 KiB. Entries appended after that offset are
// then validated and applied on top (recovery.h, tails_above).
//
// Limits: the mapping is shared with the file, as the store's own mapping is, so a
// snapshot truncated by another program while mapped faults its readers (SIGBUS),
// and one rewritten in place after a block was checked is read as rewritten. This
// engine never does either: a snapshot is written under a temporary name and
// renamed over the old one, which leaves the mapped file untouched.
//
// Thread-safety: called by the store's writer (open, close, compact) only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "engine/key_index.h"
#include "engine/live_bits.h"

namespace simd_r_drive::engine {

std::filesystem::path snapshot_path(const std::filesystem::path& store);

struct LoadedSnapshot {
  std::unique_ptr<IndexTable> table;  // mapped, checked lazily
  // Reads and checks the saved LiveBits: nullptr if they fail their checksum.
  // Empty if the store had none, or if they do not cover the file.
  std::function<std::unique_ptr<LiveBits>()> load_live_bits;
  std::uint64_t covered_tail = 0;
  std::uint64_t live_count = 0;
};

// Builds the index of the store's first `covered_tail` bytes from the store itself:
// what a snapshot table answers with once one of its blocks fails its checksum.
using IndexRebuild = std::function<std::unique_ptr<IndexTable>(std::uint64_t covered_tail)>;

// The snapshot beside `store`, if there is one and it matches the store's bytes
// `file` (its first `file_len` bytes).
std::optional<LoadedSnapshot> load_snapshot(const std::filesystem::path& store, const std::byte* file,
                                            std::uint64_t file_len, IndexRebuild rebuild);

// Saves `table` (its settled slots: key_index.h) (and `live_bits`, if given) as covering [0, tail) of `file`. Best
// effort: a failure is logged and leaves no snapshot behind, which only makes the
// next open slower.
void save_snapshot(const std::filesystem::path& store, const IndexTable& table, const LiveBits* live_bits,
                   std::uint64_t live_count, const std::byte* file, std::uint64_t tail) noexcept;

void remove_snapshot(const std::filesystem::path& store) noexcept;

}  // namespace simd_r_drive::engine

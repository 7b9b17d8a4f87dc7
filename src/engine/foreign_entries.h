// Moving entries another writer appended after a swallowing record (recovery.h,
// recover_store) down onto the end of this engine's own chain: open's repair and
// DataStore::salvage lay them out the same way.
//
// Each entry keeps its key hash, its payload bytes and its stored checksum (so a
// damaged payload stays detectable), and gets the pre-pad and back-link of its new
// place, as if it had been appended there.
//
// Thread-safety: pure; the caller owns the bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "simd_r_drive/format.h"

namespace simd_r_drive::engine {

struct MovedEntries {
  // What to write at `start`, in order (pre-pads, payloads viewed in the source,
  // records); valid while the source bytes and this object live.
  std::vector<std::span<const std::byte>> pieces;
  std::uint64_t start = 0;
  std::uint64_t end = 0;  // the tail after the last moved entry
  // The moved entries' new tails, newest first (the order recovery lists tails in).
  std::vector<std::uint64_t> tails_newest_first;
  std::vector<std::array<std::byte, kMetadataSize>> records;  // what the record pieces view
};

// Lays out the entries whose tails in `file` are `tails_newest_first` (each decodes
// as a record there) one after another from `start`, oldest first.
MovedEntries lay_out_moved_entries(const std::byte* file, std::span<const std::uint64_t> tails_newest_first,
                                   std::uint64_t start);

}  // namespace simd_r_drive::engine

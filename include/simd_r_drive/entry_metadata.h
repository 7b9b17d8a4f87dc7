// EntryMetadata: the decoded 20-byte record that ends every entry.
//
// Thread-safety: a value type.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "simd_r_drive/export.h"
#include "simd_r_drive/format.h"

namespace simd_r_drive {

struct SRD_API EntryMetadata {
  std::uint64_t key_hash = 0;     // XXH3-64 of the key (or the hash the caller supplied)
  std::uint64_t prev_offset = 0;  // file length before this entry (before its pre-pad)
  std::uint32_t checksum = 0;     // CRC-32 of the payload

  // The on-disk bytes, little endian.
  std::array<std::byte, kMetadataSize> serialize() const noexcept;
  // Decodes the first 20 bytes; throws Error(kInvalidArgument) if there are fewer.
  static EntryMetadata deserialize(std::span<const std::byte> bytes);

  friend bool operator==(const EntryMetadata&, const EntryMetadata&) = default;
};

}  // namespace simd_r_drive

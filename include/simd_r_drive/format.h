// Facts of the on-disk format that users of the public API may rely on.
// docs/format.md describes the file byte by byte.
#pragma once

#include <cstddef>
#include <cstdint>

namespace simd_r_drive {

// Every entry ends with a 20-byte metadata record:
// key hash (u64 LE) | previous tail (u64 LE) | CRC-32 of the payload (u32 LE).
inline constexpr std::size_t kMetadataSize = 20;
// Payloads of live entries start on a multiple of this many bytes.
inline constexpr std::size_t kPayloadAlignment = 64;
// A delete writes this single byte as the payload, with no pre-pad.
inline constexpr std::byte kTombstoneByte{0x00};

// The key hash of the padding record (docs/format.md, "The padding record"): while a
// store is open for writing, its file ends with space reserved past the tail, and
// the last 20 bytes of that space are a record under this hash whose back-link is
// the tail. The store never holds an entry under it: writes with it are refused, and
// open removes the padding. It is XXH3-64 of kPaddingKeyName.
inline constexpr char kPaddingKeyName[] = "simd-r-drive: padding past the tail";
inline constexpr std::uint64_t kPaddingKeyHash = 0x78df9b2970da84ecull;

}  // namespace simd_r_drive

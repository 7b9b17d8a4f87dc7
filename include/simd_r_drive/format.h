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

}  // namespace simd_r_drive

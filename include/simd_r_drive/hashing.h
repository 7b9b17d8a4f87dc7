// The key hash and payload checksum, as the original engine computes them, and the
// 16-byte namespaced keys of NamespaceHasher.
//
// Thread-safety: all functions are pure; NamespaceHasher is immutable after
// construction and may be shared between threads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "simd_r_drive/export.h"
#include "simd_r_drive/byte_view.h"

namespace simd_r_drive {

// XXH3-64 with seed 0 of the key bytes: the only form in which a key is stored.
SRD_API std::uint64_t compute_hash(ByteView key) noexcept;

// compute_hash of each key, in the order given.
SRD_API std::vector<std::uint64_t> compute_hash_batch(std::span<const ByteView> keys);

// CRC-32 (IEEE 802.3 / zlib polynomial) of a payload. Note: not CRC-32C, whatever the
// original's documentation says; its code and its files use this one.
SRD_API std::uint32_t compute_checksum(ByteView payload) noexcept;

// Builds keys that live in a namespace: 8 bytes of compute_hash(prefix), little
// endian, then 8 bytes of compute_hash(key). The result is an ordinary 16-byte key.
class SRD_API NamespaceHasher {
 public:
  explicit NamespaceHasher(ByteView prefix) noexcept;
  std::array<std::byte, 16> namespace_key(ByteView key) const noexcept;
  std::uint64_t prefix_hash() const noexcept { return prefix_hash_; }

 private:
  std::uint64_t prefix_hash_;
};

}  // namespace simd_r_drive

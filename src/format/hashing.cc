#include "simd_r_drive/hashing.h"

// Debian's xxhash.h compiled into this file (XXH_INLINE_ALL) instead of called in
// libxxhash.so: a key hash is a few nanoseconds of work, and the call through the PLT
// and the library's generic entry point was a fair share of it.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "format/checksum.h"
#include "format/coding.h"

namespace simd_r_drive {

std::uint64_t compute_hash(ByteView key) noexcept {
  return XXH3_64bits(key.data(), key.size());
}

std::vector<std::uint64_t> compute_hash_batch(std::span<const ByteView> keys) {
  std::vector<std::uint64_t> hashes;
  hashes.reserve(keys.size());
  for (ByteView key : keys) hashes.push_back(compute_hash(key));
  return hashes;
}

std::uint32_t compute_checksum(ByteView payload) noexcept {
  return format::crc32_extend(0, payload.data(), payload.size());
}

NamespaceHasher::NamespaceHasher(ByteView prefix) noexcept : prefix_hash_(compute_hash(prefix)) {}

std::array<std::byte, 16> NamespaceHasher::namespace_key(ByteView key) const noexcept {
  std::array<std::byte, 16> out{};
  format::store_u64_le(out.data(), prefix_hash_);
  format::store_u64_le(out.data() + 8, compute_hash(key));
  return out;
}

}  // namespace simd_r_drive

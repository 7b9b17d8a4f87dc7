// Little-endian encoding of the fixed-width integers in the file format.
//
// The metadata record is not aligned (it follows a payload of any length), so the
// fields are always copied with memcpy, never read through a cast pointer.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace simd_r_drive::format {

inline std::uint64_t load_u64_le(const void* source) noexcept {
  std::uint64_t value;
  std::memcpy(&value, source, sizeof(value));
  if constexpr (std::endian::native == std::endian::big) value = __builtin_bswap64(value);
  return value;
}

inline std::uint32_t load_u32_le(const void* source) noexcept {
  std::uint32_t value;
  std::memcpy(&value, source, sizeof(value));
  if constexpr (std::endian::native == std::endian::big) value = __builtin_bswap32(value);
  return value;
}

inline void store_u64_le(void* target, std::uint64_t value) noexcept {
  if constexpr (std::endian::native == std::endian::big) value = __builtin_bswap64(value);
  std::memcpy(target, &value, sizeof(value));
}

inline void store_u32_le(void* target, std::uint32_t value) noexcept {
  if constexpr (std::endian::native == std::endian::big) value = __builtin_bswap32(value);
  std::memcpy(target, &value, sizeof(value));
}

}  // namespace simd_r_drive::format

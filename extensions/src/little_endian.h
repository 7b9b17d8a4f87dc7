// Little-endian loads and stores of the fixed-width fields the extensions write.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace simd_r_drive::extensions::internal {

inline std::uint64_t load_u64_le(const std::byte* data) noexcept {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<std::uint64_t>(data[i]);
  return value;
}

inline std::uint32_t load_u32_le(const std::byte* data) noexcept {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<std::uint32_t>(data[i]);
  return value;
}

inline void store_u64_le(std::uint64_t value, std::byte* out) noexcept {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>(value >> (8 * i));
}

inline void store_u32_le(std::uint32_t value, std::byte* out) noexcept {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::byte>(value >> (8 * i));
}

inline std::array<std::byte, 8> u64_le(std::uint64_t value) noexcept {
  std::array<std::byte, 8> bytes{};
  store_u64_le(value, bytes.data());
  return bytes;
}

}  // namespace simd_r_drive::extensions::internal

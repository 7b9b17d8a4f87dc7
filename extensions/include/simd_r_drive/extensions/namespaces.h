// Namespaced keys, as the original's extensions build them (docs/extensions.md, "Keys").
//
// A namespaced key is 16 bytes: the 8 bytes of XXH3-64(namespace), little endian, then
// the 8 bytes of XXH3-64(key), little endian (NamespaceHasher in the core). The store
// hashes those 16 bytes once more, like any key. The features of this library keep
// their values in namespaces of their own, whose names are the original's byte for
// byte, so a key written here is the key the original writes:
//
//   optional values   F7 'o' 'p' 't' 'i' 'o' 'n' FD
//   TTL values        F7 't' 't' 'l' FD
//
// and one the original does not have: the TTL registry (ttl_cache.h), under
// F7 't' 't' 'l' '-' 'r' 'e' 'g' FD.
//
// Thread-safety: pure functions and constants.
#pragma once

#include <array>
#include <cstddef>

#include <simd_r_drive/byte_view.h>

#include "simd_r_drive/extensions/export.h"

namespace simd_r_drive::extensions {

// A key in a namespace: an ordinary 16-byte key to the store.
using NamespacedKey = std::array<std::byte, 16>;

namespace detail {
// F7 ‖ name ‖ FD: how the original frames the names of its features' namespaces.
template <std::size_t N>
consteval std::array<std::byte, N + 1> feature_prefix(const char (&name)[N]) {
  std::array<std::byte, N + 1> prefix{};
  prefix[0] = std::byte{0xF7};
  for (std::size_t i = 0; i + 1 < N; ++i) prefix[i + 1] = static_cast<std::byte>(static_cast<unsigned char>(name[i]));
  prefix[N] = std::byte{0xFD};
  return prefix;
}
}  // namespace detail

inline constexpr std::array<std::byte, 8> kOptionPrefix = detail::feature_prefix("option");
inline constexpr std::array<std::byte, 5> kTtlPrefix = detail::feature_prefix("ttl");
inline constexpr std::array<std::byte, 9> kTtlRegistryPrefix = detail::feature_prefix("ttl-reg");

// NamespaceHasher(name_space).namespace_key(key).
SRD_EXT_API NamespacedKey namespaced_key(ByteView name_space, ByteView key) noexcept;
// The key an optional value of `key` is stored under (write_option, read_option).
SRD_EXT_API NamespacedKey option_key(ByteView key) noexcept;
// The key a TTL value of `key` is stored under (write_with_ttl, read_with_ttl).
SRD_EXT_API NamespacedKey ttl_key(ByteView key) noexcept;

}  // namespace simd_r_drive::extensions

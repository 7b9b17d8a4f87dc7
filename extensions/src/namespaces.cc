#include "simd_r_drive/extensions/namespaces.h"

#include <simd_r_drive/hashing.h>

namespace simd_r_drive::extensions {

NamespacedKey namespaced_key(ByteView name_space, ByteView key) noexcept {
  return NamespaceHasher(name_space).namespace_key(key);
}

NamespacedKey option_key(ByteView key) noexcept {
  static const NamespaceHasher hasher{ByteView(kOptionPrefix)};
  return hasher.namespace_key(key);
}

NamespacedKey ttl_key(ByteView key) noexcept {
  static const NamespaceHasher hasher{ByteView(kTtlPrefix)};
  return hasher.namespace_key(key);
}

}  // namespace simd_r_drive::extensions

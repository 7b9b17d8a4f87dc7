// The shared-secret check of hello (docs/security.md).
//
// Thread-safety: pure.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace simd_r_drive::net::server {

// Whether `given` is the token. Both are hashed (SHA-256) and the digests compared
// with CRYPTO_memcmp, so the time taken depends on neither the token's length nor
// how many leading bytes of a guess are right.
bool token_matches(std::string_view token, std::span<const std::byte> given);

}  // namespace simd_r_drive::net::server

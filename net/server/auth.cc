#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>

namespace simd_r_drive::net::server {
namespace {

bool sha256(const void* data, std::size_t size, std::array<unsigned char, 32>& digest) {
  unsigned int length = 0;
  return EVP_Digest(data, size, digest.data(), &length, EVP_sha256(), nullptr) == 1 && length == digest.size();
}

}  // namespace

bool token_matches(std::string_view token, std::span<const std::byte> given) {
  if (token.empty()) return false;
  std::array<unsigned char, 32> expected{};
  std::array<unsigned char, 32> actual{};
  if (!sha256(token.data(), token.size(), expected) || !sha256(given.data(), given.size(), actual)) return false;
  return CRYPTO_memcmp(expected.data(), actual.data(), expected.size()) == 0;
}

}  // namespace simd_r_drive::net::server

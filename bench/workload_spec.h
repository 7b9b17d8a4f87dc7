// The fixed definitions the named workloads share with the reference measurements
// (bench/BASELINES.md): keys, values, the random sequence, the W8
// blob generator and a fast byte sum. Changing any of them makes the figures
// incomparable with the original's and the peers'.
#pragma once

#include <bit>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace srd_bench {

inline constexpr std::uint64_t kDefaultN = 1'000'000;
inline constexpr std::uint64_t kBatch = 1'000;
inline constexpr std::uint64_t kBlobCount = 1'000;
inline constexpr std::size_t kBlobSize = 1u << 20;

// splitmix64: index = next() % N. Seed 42 for W5; 1000 and 1001 for W9's threads.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

// "key{i}" or "blob{j}", formatted into a caller's buffer (no allocation).
class KeyBuffer {
 public:
  explicit KeyBuffer(std::string_view prefix) : length_(prefix.size()) { std::memcpy(text_, prefix.data(), length_); }
  std::string_view format(std::uint64_t i) {
    char* end = std::to_chars(text_ + length_, text_ + sizeof(text_), i).ptr;
    return {text_, static_cast<std::size_t>(end - text_)};
  }

 private:
  char text_[32];
  std::size_t length_;
};

// Values are u64 little-endian; the harness copies native u64s to and from them.
static_assert(std::endian::native == std::endian::little, "the harness assumes a little-endian host");

inline std::uint64_t load_u64(const std::byte* bytes) {
  std::uint64_t value;
  std::memcpy(&value, bytes, 8);
  return value;
}

// W8 writes 1,000 blobs at the full N; a smaller N (--quick) scales the count down
// with it, so that a smoke test stays quick.
inline std::uint64_t blob_count(std::uint64_t n) {
  if (n >= kDefaultN) return kBlobCount;
  return n / 1000 < 10 ? 10 : n / 1000;
}

// W8 value j: byte[i] = ((i*31 + 1048576) mod 251) + 1, then bytes 0..8 = u64 LE j.
inline void fill_blob(std::byte* out, std::uint64_t j) {
  for (std::size_t i = 0; i < kBlobSize; ++i) out[i] = static_cast<std::byte>(((i * 31 + kBlobSize) % 251) + 1);
  std::memcpy(out, &j, 8);
}

// The sum of every byte of blobs 0..count-1: 132,119,644,180 for 1,000 blobs.
inline std::uint64_t expected_blob_sum(std::uint64_t count) {
  std::uint64_t pattern_tail = 0;  // the bytes every blob shares (all but the first 8)
  for (std::size_t i = 8; i < kBlobSize; ++i) pattern_tail += ((i * 31 + kBlobSize) % 251) + 1;
  std::uint64_t total = 0;
  for (std::uint64_t j = 0; j < count; ++j) {
    total += pattern_tail;
    for (int b = 0; b < 8; ++b) total += (j >> (8 * b)) & 0xFF;
  }
  return total;
}

// Sum of all bytes, at memory speed (SSE2's sum of absolute differences against 0).
inline std::uint64_t sum_bytes(const std::byte* data, std::size_t size) {
  std::uint64_t total = 0;
  std::size_t i = 0;
#if defined(__SSE2__)
  __m128i acc = _mm_setzero_si128();
  const __m128i zero = _mm_setzero_si128();
  for (; i + 64 <= size; i += 64) {
    const auto* p = reinterpret_cast<const __m128i*>(data + i);
    acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadu_si128(p), zero));
    acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadu_si128(p + 1), zero));
    acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadu_si128(p + 2), zero));
    acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadu_si128(p + 3), zero));
  }
  std::uint64_t lanes[2];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(lanes), acc);
  total = lanes[0] + lanes[1];
#endif
  for (; i < size; ++i) total += std::to_integer<std::uint64_t>(data[i]);
  return total;
}

}  // namespace srd_bench

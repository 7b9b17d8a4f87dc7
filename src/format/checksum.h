// CRC-32 (IEEE, reflected polynomial 0xEDB88320) over payload bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace simd_r_drive::format {

// crc32_extend(0, ...) is the CRC of the bytes; pass a previous result to continue.
std::uint32_t crc32_extend(std::uint32_t crc, const std::byte* data, std::size_t size) noexcept;

// crc32_shift(crc(A), n) == crc(A || B) ^ crc(B) for any B of n bytes: the effect of
// n more bytes on a CRC, in O(log n). With it, the CRC of any range follows from two
// prefix CRCs: crc([a, b)) == prefix(b) ^ crc32_shift(prefix(a), b - a). Recovery
// uses this to check many candidate entries without re-reading their payloads.
std::uint32_t crc32_shift(std::uint32_t crc, std::uint64_t length) noexcept;

// The CRC-32 of `length` zero bytes, in O(log length).
std::uint32_t crc32_of_zeros(std::uint64_t length) noexcept;

// The CRC-32 of a run of zero bytes that gets shorter from its front: the payload of
// the padding record (entry_layout.h), which starts at the tail's next multiple of 64
// and ends at a fixed place, shrinks as the tail moves up. Dropping a multiple of 64
// bytes below 4 KiB costs a few table lookups per set bit of (dropped / 64), so the
// writer can keep the record's checksum right on every append; anything else falls
// back to O(log n) multiplications.
class ZeroRunCrc {
 public:
  ZeroRunCrc() noexcept = default;
  explicit ZeroRunCrc(std::uint64_t length) noexcept { reset(length); }
  void reset(std::uint64_t length) noexcept;
  // The run loses its first `bytes` bytes (at most its length). Inline for what every
  // append of a small value does: a multiple of 64 bytes below 4 KiB.
  void drop_front(std::uint64_t bytes) noexcept {
    if (bytes % 64 != 0 || bytes >= (64u << kTabledSteps) || bytes > length_) {
      drop_front_slowly(bytes);
      return;
    }
    length_ -= bytes;
    for (std::size_t k = 0, steps = bytes / 64; steps != 0; ++k, steps >>= 1) {
      if (steps & 1u) {
        const std::uint32_t s = state_;
        state_ = kDropTable[k][0][s & 0xFF] ^ kDropTable[k][1][(s >> 8) & 0xFF] ^ kDropTable[k][2][(s >> 16) & 0xFF] ^
                 kDropTable[k][3][s >> 24];
      }
    }
  }
  std::uint64_t length() const noexcept { return length_; }
  std::uint32_t value() const noexcept { return ~state_; }

  static constexpr std::size_t kTabledSteps = 6;  // tables for 64 * 2^k bytes, k < 6
  struct DropTables;

 private:
  // Dropping 64 * 2^k zero bytes: multiplication by x^-(512 * 2^k), as four lookups.
  static const std::uint32_t (&kDropTable)[kTabledSteps][4][256];
  void drop_front_slowly(std::uint64_t bytes) noexcept;

  std::uint32_t state_ = 0xFFFFFFFFu;  // the CRC register after the run (before the final inversion)
  std::uint64_t length_ = 0;
};

// The CRC of bytes that lie in a shared file mapping. For large ranges it hands each
// piece's pages back to the page cache once read (madvise MADV_DONTNEED, which on a
// shared file mapping only unmaps them: the data stays in the page cache), so that
// checking a multi-GiB value does not raise the process's resident size by as much.
std::uint32_t crc32_of_mapped(const std::byte* data, std::size_t size) noexcept;

}  // namespace simd_r_drive::format

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
  // The run loses its first `bytes` bytes (at most its length).
  void drop_front(std::uint64_t bytes) noexcept;
  std::uint64_t length() const noexcept { return length_; }
  std::uint32_t value() const noexcept { return ~state_; }

 private:
  std::uint32_t state_ = 0xFFFFFFFFu;  // the CRC register after the run (before the final inversion)
  std::uint64_t length_ = 0;
};

// The CRC of bytes that lie in a shared file mapping. For large ranges it hands each
// piece's pages back to the page cache once read (madvise MADV_DONTNEED, which on a
// shared file mapping only unmaps them: the data stays in the page cache), so that
// checking a multi-GiB value does not raise the process's resident size by as much.
std::uint32_t crc32_of_mapped(const std::byte* data, std::size_t size) noexcept;

}  // namespace simd_r_drive::format

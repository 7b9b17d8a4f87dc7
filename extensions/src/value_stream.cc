#include "simd_r_drive/extensions/value_stream.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace simd_r_drive::extensions {

namespace {

// Pages are given back in runs of at least this much, so that a reader taking small
// chunks does not pay a system call per chunk.
constexpr std::size_t kReleaseStep = std::size_t{1} << 20;

std::uintptr_t page_size() noexcept {
  static const std::uintptr_t size = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

std::size_t ValueStream::read(std::span<std::byte> out) noexcept {
  const std::size_t count = std::min(out.size(), remaining());
  if (count != 0) std::memcpy(out.data(), handle_.data() + position_, count);
  position_ += count;
  if (release_read_pages_ && (position_ - released_ >= kReleaseStep || eof())) release_pages_before(position_);
  return count;
}

// Gives back the whole pages of the payload in [released_, end): only pages that lie
// entirely inside this value, so no other entry's page is touched. The mapping is a
// shared file mapping (a store's), so a page given back is only unmapped from this
// process: the next access maps it again from the page cache, with the same bytes.
void ValueStream::release_pages_before(std::size_t end) noexcept {
  const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(handle_.data());
  const std::uintptr_t page = page_size();
  const std::uintptr_t from = (base + released_ + page - 1) / page * page;
  const std::uintptr_t to = (base + end) / page * page;
  if (to > from) {
    // Failure only means the pages stay resident: nothing to report.
    (void)::madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
    released_ = static_cast<std::size_t>(to - base);  // the page holding `end` goes next time
  }
}

}  // namespace simd_r_drive::extensions

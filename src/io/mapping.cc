#include "io/mapping.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "simd_r_drive/error.h"

namespace simd_r_drive::io {

Mapping::Mapping(int fd, std::uint64_t capacity, bool writable) : capacity_(capacity) {
  if (capacity == 0) return;
  const int protection = writable ? (PROT_READ | PROT_WRITE) : PROT_READ;
  void* base = ::mmap(nullptr, capacity, protection, MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (base == MAP_FAILED) {
    throw Error(ErrorCode::kIo, "mmap of " + std::to_string(capacity) + " bytes failed: " + std::strerror(errno));
  }
  base_ = static_cast<std::byte*>(base);
}

Mapping::Mapping(const std::byte* borrowed, std::uint64_t size, std::shared_ptr<const void> owner) noexcept
    : base_(const_cast<std::byte*>(borrowed)), capacity_(size), owner_(std::move(owner)), borrowed_(true) {}

Mapping::~Mapping() {
  if (base_ != nullptr && !borrowed_) ::munmap(base_, capacity_);
}

void Mapping::advise_huge_page_ranges(std::uint64_t from, std::uint64_t to, int advice) const noexcept {
  const std::uint64_t first = whole_huge_pages(from);
  const std::uint64_t last = std::min(to, capacity_) / kHugePageSize * kHugePageSize;
  if (base_ == nullptr || borrowed_ || first >= last) return;
  // Advice only: failure (EINVAL for MADV_HUGEPAGE on a kernel without THP) leaves
  // the pages as they were.
  (void)::madvise(base_ + first, last - first, advice);
}

void Mapping::prefer_huge_pages(std::uint64_t from, std::uint64_t to) const noexcept {
  advise_huge_page_ranges(from, to, MADV_HUGEPAGE);
}

void Mapping::advise_written_range(std::uint64_t tail) const noexcept {
  static const std::uint64_t physical_memory =
      static_cast<std::uint64_t>(std::max(0L, ::sysconf(_SC_PHYS_PAGES))) * page_size();
  if (written_data_wants_huge_folios(tail, physical_memory)) prefer_huge_pages(0, tail);
}

void Mapping::advise_append_zone(std::uint64_t offset) const noexcept {
  advise_huge_page_ranges(offset, capacity_, MADV_HUGEPAGE);
  advise_huge_page_ranges(offset, capacity_, MADV_RANDOM);
}

void Mapping::release_resident_pages() const noexcept {
  if (base_ == nullptr || borrowed_) return;
  // MAP_SHARED file pages: MADV_DONTNEED drops this mapping's page-table entries
  // only, never data (dirty pages stay dirty in the page cache).
  (void)::madvise(base_, capacity_, MADV_DONTNEED);
}

WindowMapping::WindowMapping(int fd, std::uint64_t offset, std::uint64_t length) : offset_(offset), length_(length) {
  void* base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(offset));
  if (base == MAP_FAILED) {
    throw Error(ErrorCode::kIo, "mmap of " + std::to_string(length) + " bytes at offset " + std::to_string(offset) +
                                    " failed: " + std::strerror(errno));
  }
  base_ = static_cast<std::byte*>(base);
}

WindowMapping::~WindowMapping() {
  if (base_ != nullptr) ::munmap(base_, length_);
}

WindowMapping::WindowMapping(WindowMapping&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)), offset_(other.offset_), length_(other.length_) {}

WindowMapping& WindowMapping::operator=(WindowMapping&& other) noexcept {
  if (this != &other) {
    if (base_ != nullptr) ::munmap(base_, length_);
    base_ = std::exchange(other.base_, nullptr);
    offset_ = other.offset_;
    length_ = other.length_;
  }
  return *this;
}

std::uint64_t page_size() noexcept {
  static const std::uint64_t size = [] {
    const long page = ::sysconf(_SC_PAGESIZE);
    return std::max<std::uint64_t>(4096, page > 0 ? static_cast<std::uint64_t>(page) : 4096);
  }();
  return size;
}

int populate_for_writing(void* address, std::size_t bytes) noexcept {
#ifndef MADV_POPULATE_WRITE
  constexpr int MADV_POPULATE_WRITE = 23;  // Linux 5.14; older headers lack the name
#endif
  return ::madvise(address, bytes, MADV_POPULATE_WRITE) == 0 ? 0 : errno;
}

std::uint64_t reservation_for(std::uint64_t needed, std::uint64_t minimum) noexcept {
  // Past 2^62 the doubling would wrap; such a mapping fails either way.
  const std::uint64_t doubled = needed > (std::uint64_t{1} << 62) ? needed : needed * 2;
  const std::uint64_t want = std::max({doubled, minimum, kHugePageSize});
  return want > UINT64_MAX - kHugePageSize ? want : whole_huge_pages(want);
}

std::shared_ptr<Mapping> map_with_room(int fd, std::uint64_t needed, std::uint64_t minimum, bool writable) {
  const std::uint64_t preferred = reservation_for(needed, minimum);
  const std::uint64_t least = reservation_for(needed, 0);
  if (preferred == least) return std::make_shared<Mapping>(fd, preferred, writable);
  try {
    return std::make_shared<Mapping>(fd, preferred, writable);
  } catch (const Error&) {
    // Address space is what ran out; the smaller mapping only remaps sooner.
    return std::make_shared<Mapping>(fd, least, writable);
  }
}

}  // namespace simd_r_drive::io

// A shared, writable memory mapping of a store file, reserved larger than the file
// (or a view of memory mapped elsewhere, for a store nested in another's value).
//
// Linux lets a MAP_SHARED mapping extend past the end of its file: pages inside the
// file are readable and writable, pages past it must not be touched. Reserving
// address space ahead of the file is what lets the store append without remapping:
// the file grows underneath an unchanged mapping. Only when the file outgrows the
// reservation does the store map a larger one; the old mapping lives on for as long
// as EntryHandles pin it.
//
// Thread-safety: immutable after construction; readers share it freely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace simd_r_drive::io {

// The size of a transparent huge page and of a PMD-sized page-cache folio on x86-64
// and most arm64 kernels: the unit of the huge-page advice below, of the address
// space reservation, and of the writer's file growth.
inline constexpr std::uint64_t kHugePageSize = 2ull << 20;
// `bytes` rounded up to a multiple of kHugePageSize.
inline constexpr std::uint64_t whole_huge_pages(std::uint64_t bytes) noexcept {
  return (bytes + kHugePageSize - 1) / kHugePageSize * kHugePageSize;
}

class Mapping : public std::enable_shared_from_this<Mapping> {
 public:
  // Maps `capacity` bytes of the file `fd` from offset 0 (0 capacity: no mapping).
  Mapping(int fd, std::uint64_t capacity, bool writable);
  // Views `size` bytes that something else maps (a value of another store, for a
  // nested store), keeping `owner` alive instead of unmapping anything. Read-only:
  // nothing may write through data().
  Mapping(const std::byte* borrowed, std::uint64_t size, std::shared_ptr<const void> owner) noexcept;
  ~Mapping();
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  std::byte* data() const noexcept { return base_; }
  std::uint64_t capacity() const noexcept { return capacity_; }

  // Asks the kernel to back the file pages of the 2 MiB ranges that lie wholly inside
  // [from, to) with 2 MiB page-cache folios when they are first touched. Pages there
  // are then mapped with one TLB entry per 2 MiB, in this process and in every later
  // one that maps the file, which saves random reads a page walk. Pages already in the
  // page cache keep their size. Advice only: a kernel or filesystem without large
  // folios ignores it.
  void prefer_huge_pages(std::uint64_t from, std::uint64_t to) const noexcept;
  // prefer_huge_pages(offset, capacity()), and no readahead on a fault in that range:
  // each fault there brings in one folio. For the writer's append zone, whose pages the
  // file holds but nothing has written yet: a fault there reads ahead as far as the
  // disk's read_ahead_kb (several MiB on some virtual disks), and the kernel
  // zero-fills every page of that window in the faulting thread, so one small write
  // would stall for all of it. One 2 MiB folio per fault spreads the same zeroing
  // evenly over the writes. The advice stays with the range after it is written, in
  // this mapping only: a scan through it while its pages are out of the page cache
  // reads one folio per fault.
  void advise_append_zone(std::uint64_t offset) const noexcept;
  // prefer_huge_pages(0, tail), for data already written, when
  // written_data_wants_huge_folios(tail) says so. Nothing writes below the tail again,
  // so the advice changes no write. What it changes is a read that misses the page
  // cache: the range comes back in as 2 MiB folios (the kernel reads 2 to 4 MiB per
  // fault), mapped with one TLB entry each, as the writer made them in the modes with
  // huge folios. Without it, a store read back from disk (after a reboot, or once the
  // page cache dropped it) stays in 4 KiB pages for every later process: on a virtual
  // machine where each page's first touch costs a host fault, a scan over it then ran
  // at a third of the speed, and random reads at two thirds.
  void advise_written_range(std::uint64_t tail) const noexcept;
  // Unmaps the pages this process touched through the mapping from its page tables,
  // for a mapping a newer one replaced: the file's pages stay in the page cache, and
  // a later access (a handle still pinning this mapping) faults them back in with the
  // same bytes. Otherwise a page read through several generations of the store's
  // mapping is held, and counted in RSS, once per mapping.
  void release_resident_pages() const noexcept;

 private:
  // madvise(`advice`) over the 2 MiB ranges that lie wholly inside [from, to) of an
  // owned mapping.
  void advise_huge_page_ranges(std::uint64_t from, std::uint64_t to, int advice) const noexcept;

  std::byte* base_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::shared_ptr<const void> owner_;  // what keeps a borrowed view's bytes alive
  bool borrowed_ = false;              // a borrowed view unmaps nothing
};

// A writable shared mapping of one window [offset, offset + length) of a file (offset
// a multiple of the page size), which may lie past the file's end until the file
// grows over it. The writer keeps its padding record's page in one, apart from the
// store's mapping, so that the store's mapping never gets a page table for the 2 MiB
// range that page will later lie in: a range first touched then through it is mapped
// with one 2 MiB entry.
class WindowMapping {
 public:
  WindowMapping() = default;
  WindowMapping(int fd, std::uint64_t offset, std::uint64_t length);
  ~WindowMapping();
  WindowMapping(WindowMapping&& other) noexcept;
  WindowMapping& operator=(WindowMapping&& other) noexcept;
  WindowMapping(const WindowMapping&) = delete;
  WindowMapping& operator=(const WindowMapping&) = delete;

  std::byte* data() const noexcept { return base_; }
  std::uint64_t offset() const noexcept { return offset_; }
  std::uint64_t length() const noexcept { return length_; }
  explicit operator bool() const noexcept { return base_ != nullptr; }

 private:
  std::byte* base_ = nullptr;
  std::uint64_t offset_ = 0;
  std::uint64_t length_ = 0;
};

// Whether a file of `file_size` bytes, on a machine with `physical_memory` bytes,
// should be read in 2 MiB folios (Mapping::advise_written_range): when the page
// cache can hold it whole, at most half the memory. A larger file keeps ordinary
// readahead, because there most random reads miss the page cache, and each miss
// would read 2 to 4 MiB instead of the disk's readahead window.
inline constexpr bool written_data_wants_huge_folios(std::uint64_t file_size, std::uint64_t physical_memory) noexcept {
  return file_size <= physical_memory / 2;
}

// The system's page size, and never less than 4 KiB.
std::uint64_t page_size() noexcept;

// Write-faults [address, address + bytes) in now (madvise MADV_POPULATE_WRITE, Linux
// 5.14): each page arrives zeroed and writable, or as the file's page-cache page for
// a file mapping. Returns 0, or the errno (EINVAL or EPERM: the kernel lacks the
// advice; the pages then fault in as they are touched, as without it).
int populate_for_writing(void* address, std::size_t bytes) noexcept;

// How much address space to reserve for a file of `needed` bytes: twice the need,
// and at least `minimum` (OpenOptions::address_space_reservation) and 2 MiB, rounded
// up to 2 MiB, so growth remaps O(log size) times.
std::uint64_t reservation_for(std::uint64_t needed, std::uint64_t minimum) noexcept;

// A mapping of `fd` (see Mapping) of reservation_for(needed, minimum) bytes, or, when
// that much address space is refused (RLIMIT_AS; a sanitizer's smaller address
// space), of reservation_for(needed, 0). Throws Error(kIo) when neither fits.
std::shared_ptr<Mapping> map_with_room(int fd, std::uint64_t needed, std::uint64_t minimum, bool writable);

}  // namespace simd_r_drive::io

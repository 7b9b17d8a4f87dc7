// ValueStream: reads a stored value in chunks, in bounded memory.
//
// A handle views its value in the store's memory mapping, and every page of it that is
// read stays mapped, so reading a 1 GiB value through the mapping leaves 1 GiB resident
// in the process. A ValueStream made by open_file_stream (file_import.h) gives each
// page of the mapping back once it has been read (madvise(MADV_DONTNEED): the page
// leaves this process; the data stays in the file and the page cache), so resident
// memory stays near one chunk however large the value.
//
// A ValueStream made from any other handle (the public constructor) only copies: a
// handle made by EntryHandle::from_owned_bytes views heap memory, which giving back
// would erase.
//
// Thread-safety: one stream belongs to one thread; the handle it reads may be shared.
#pragma once

#include <cstddef>
#include <span>
#include <utility>

#include <simd_r_drive/entry_handle.h>

#include "simd_r_drive/extensions/export.h"

namespace simd_r_drive::extensions {

namespace detail {
struct ValueStreamAccess;
}

class SRD_EXT_API ValueStream {
 public:
  explicit ValueStream(EntryHandle handle) noexcept : handle_(std::move(handle)) {}

  // Copies up to out.size() bytes and returns how many; 0 means the end.
  std::size_t read(std::span<std::byte> out) noexcept;
  std::size_t remaining() const noexcept { return handle_.size() - position_; }
  std::size_t position() const noexcept { return position_; }
  bool eof() const noexcept { return remaining() == 0; }
  const EntryHandle& handle() const noexcept { return handle_; }

 private:
  friend struct detail::ValueStreamAccess;
  ValueStream(EntryHandle handle, bool release_read_pages) noexcept
      : handle_(std::move(handle)), release_read_pages_(release_read_pages) {}
  void release_pages_before(std::size_t end) noexcept;

  EntryHandle handle_;
  std::size_t position_ = 0;
  std::size_t released_ = 0;  // the payload before this offset has been given back
  bool release_read_pages_ = false;
};

}  // namespace simd_r_drive::extensions

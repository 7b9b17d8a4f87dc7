// EntryStream: reads an EntryHandle's payload in chunks, for callers that want a
// std::istream-like pull interface (and for write_stream, which can take one as its
// source). It copies into the caller's buffer; as_slice() is the zero-copy path.
//
// Thread-safety: not thread-safe; one stream per thread. The handle it reads is
// shared safely.
#pragma once

#include <cstddef>
#include <span>

#include "simd_r_drive/export.h"
#include "simd_r_drive/entry_handle.h"

namespace simd_r_drive {

class SRD_API EntryStream {
 public:
  explicit EntryStream(EntryHandle handle) noexcept : handle_(std::move(handle)) {}

  // Copies up to out.size() bytes and returns how many; 0 means the end.
  std::size_t read(std::span<std::byte> out) noexcept;
  std::size_t remaining() const noexcept { return handle_.size() - position_; }
  bool eof() const noexcept { return remaining() == 0; }
  const EntryHandle& handle() const noexcept { return handle_; }

 private:
  EntryHandle handle_;
  std::size_t position_ = 0;
};

}  // namespace simd_r_drive

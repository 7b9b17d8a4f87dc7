// EntryValue: the value part of a stored entry, in place.
//
// Optional and TTL values carry bytes of their own in front of the value (an escape,
// an 8-byte expiry). An EntryValue is the entry's handle and the offset where the
// value starts: it views the bytes in the store's mapping and keeps that mapping
// alive, like the EntryHandle it holds, so reading a value copies nothing.
//
// Thread-safety: immutable; any number of threads may read one EntryValue.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simd_r_drive/byte_view.h>
#include <simd_r_drive/entry_handle.h>
#include <simd_r_drive/error.h>

namespace simd_r_drive::extensions {

class EntryValue {
 public:
  // Throws Error(kInvalidArgument) if `offset` is past the end of the payload.
  EntryValue(EntryHandle handle, std::size_t offset) : handle_(std::move(handle)), offset_(offset) {
    if (offset_ > handle_.size()) {
      throw Error(ErrorCode::kInvalidArgument, "a value cannot start past the end of its entry");
    }
  }

  // The value's bytes, in the mapping; valid while this object (or its handle) lives.
  std::span<const std::byte> bytes() const noexcept { return handle_.as_slice().subspan(offset_); }
  ByteView view() const noexcept { return ByteView(data(), size()); }
  std::string_view as_string_view() const noexcept {
    return {reinterpret_cast<const char*>(data()), size()};
  }
  const std::byte* data() const noexcept { return handle_.data() + offset_; }
  std::size_t size() const noexcept { return handle_.size() - offset_; }
  bool empty() const noexcept { return size() == 0; }

  // Owned copies, for callers that keep a value beyond the handle.
  std::vector<std::byte> to_bytes() const { return {bytes().begin(), bytes().end()}; }
  std::string to_string() const { return std::string(as_string_view()); }

  // The whole entry, and where in its payload the value starts.
  const EntryHandle& handle() const noexcept { return handle_; }
  std::size_t offset() const noexcept { return offset_; }

  friend bool operator==(const EntryValue& value, ByteView bytes) noexcept { return value.view() == bytes; }

 private:
  EntryHandle handle_;
  std::size_t offset_;
};

}  // namespace simd_r_drive::extensions

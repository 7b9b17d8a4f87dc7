// EntryHandle: a zero-copy view of one stored value.
//
// A handle points straight into the store's memory mapping and keeps that mapping
// alive (it "pins" it) for as long as the handle, or any copy of it, exists. It
// stays valid after later writes, after the mapping grows, after compact(), and
// after the DataStore itself is destroyed. Copying a handle copies a reference,
// never the bytes.
//
// Thread-safety: a handle is immutable; any number of threads may read the same
// handle, or copies of it, concurrently.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "simd_r_drive/export.h"
#include "simd_r_drive/byte_view.h"
#include "simd_r_drive/entry_metadata.h"
#include "simd_r_drive/error.h"

namespace simd_r_drive {

class DataStore;

class SRD_API EntryHandle {
 public:
  // Wraps a copy of `bytes` in a handle that belongs to no file (offsets start at
  // 0, checksum computed). For tests and for back ends without a file.
  static EntryHandle from_owned_bytes(ByteView bytes, std::uint64_t key_hash);

  // The payload bytes, in place.
  std::span<const std::byte> as_slice() const noexcept { return {data_, size_}; }
  std::string_view as_string_view() const noexcept {
    return {reinterpret_cast<const char*>(data_), size_};
  }
  const std::byte* data() const noexcept { return data_; }

  // The payload viewed as an array of T, in place. Throws Error(kInvalidArgument)
  // unless the size is a multiple of sizeof(T) and the address is aligned for T.
  // Live payloads start on 64-byte boundaries, so every scalar type up to 64 bytes
  // of alignment fits when the size does.
  template <class T>
  std::span<const T> as_span() const {
    static_assert(std::is_trivially_copyable_v<T>, "as_span needs a trivially copyable type");
    check_view(sizeof(T), alignof(T));
    return {reinterpret_cast<const T*>(data_), size_ / sizeof(T)};
  }

  std::size_t size() const noexcept { return size_; }
  // Payload plus metadata (pre-pad not counted), as the original reports it.
  std::uint64_t file_size() const noexcept { return size_ + kMetadataSize; }
  std::uint64_t key_hash() const noexcept { return metadata_.key_hash; }
  std::uint32_t checksum() const noexcept { return metadata_.checksum; }
  std::array<std::byte, 4> raw_checksum() const noexcept;
  // Recomputes the CRC-32 of the payload and compares it with the stored one.
  bool is_valid_checksum() const noexcept;
  // True for a delete marker (only read_last_entry can return one).
  bool is_tombstone() const noexcept;

  // Absolute file offsets of the payload: [start_offset, end_offset).
  std::uint64_t start_offset() const noexcept { return start_offset_; }
  std::uint64_t end_offset() const noexcept { return start_offset_ + size_; }
  std::pair<std::uint64_t, std::uint64_t> offset_range() const noexcept {
    return {start_offset(), end_offset()};
  }
  // The payload's address range in this process, valid while the handle lives.
  std::pair<std::uintptr_t, std::uintptr_t> address_range() const noexcept {
    auto begin = reinterpret_cast<std::uintptr_t>(data_);
    return {begin, begin + size_};
  }
  const EntryMetadata& metadata() const noexcept { return metadata_; }

  friend bool operator==(const EntryHandle& handle, ByteView bytes) noexcept {
    return ByteView(handle.data_, handle.size_) == bytes;
  }

 private:
  // Handles are made by the engine only (it reaches this through DataStore):
  // `pin` keeps `data` alive.
  friend class DataStore;
  EntryHandle(std::shared_ptr<const void> pin, const std::byte* data, std::size_t size,
              std::uint64_t start_offset, const EntryMetadata& metadata) noexcept
      : pin_(std::move(pin)), data_(data), size_(size), start_offset_(start_offset), metadata_(metadata) {}
  void check_view(std::size_t element_size, std::size_t alignment) const;

  std::shared_ptr<const void> pin_;
  const std::byte* data_;
  std::size_t size_;
  std::uint64_t start_offset_;
  EntryMetadata metadata_;
};

}  // namespace simd_r_drive

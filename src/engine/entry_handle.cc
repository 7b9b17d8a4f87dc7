#include <cstring>
#include <new>
#include <string>

#include "format/checksum.h"
#include "format/coding.h"
#include "simd_r_drive/entry_handle.h"
#include "simd_r_drive/entry_stream.h"
#include "simd_r_drive/hashing.h"

namespace simd_r_drive {

EntryHandle EntryHandle::from_owned_bytes(ByteView bytes, std::uint64_t key_hash) {
  // Aligned like a stored payload, so typed views behave the same as on a file.
  const std::size_t size = bytes.size();
  std::shared_ptr<std::byte> buffer(
      static_cast<std::byte*>(::operator new(size == 0 ? 1 : size, std::align_val_t{kPayloadAlignment})),
      [](std::byte* memory) { ::operator delete(memory, std::align_val_t{kPayloadAlignment}); });
  if (size != 0) std::memcpy(buffer.get(), bytes.data(), size);
  const std::byte* data = buffer.get();
  return EntryHandle(std::move(buffer), data, size, 0, EntryMetadata{key_hash, 0, compute_checksum(bytes)});
}

std::array<std::byte, 4> EntryHandle::raw_checksum() const noexcept {
  std::array<std::byte, 4> out{};
  format::store_u32_le(out.data(), metadata_.checksum);
  return out;
}

bool EntryHandle::is_valid_checksum() const noexcept {
  return format::crc32_extend(0, data_, size_) == metadata_.checksum;
}

bool EntryHandle::is_tombstone() const noexcept { return size_ == 1 && data_[0] == kTombstoneByte; }

void EntryHandle::check_view(std::size_t element_size, std::size_t alignment) const {
  if (size_ % element_size != 0) {
    throw Error(ErrorCode::kInvalidArgument, "payload of " + std::to_string(size_) +
                                                 " bytes is not a whole number of " + std::to_string(element_size) +
                                                 "-byte elements");
  }
  if (reinterpret_cast<std::uintptr_t>(data_) % alignment != 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "payload address is not aligned to " + std::to_string(alignment) + " bytes");
  }
}

std::size_t EntryStream::read(std::span<std::byte> out) noexcept {
  const std::size_t count = std::min(out.size(), remaining());
  if (count != 0) std::memcpy(out.data(), handle_.data() + position_, count);
  position_ += count;
  return count;
}

}  // namespace simd_r_drive

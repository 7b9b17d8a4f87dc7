#include "simd_r_drive/entry_metadata.h"

#include <string>

#include "format/entry_layout.h"
#include "simd_r_drive/error.h"

namespace simd_r_drive {

std::array<std::byte, kMetadataSize> EntryMetadata::serialize() const noexcept {
  std::array<std::byte, kMetadataSize> out{};
  format::encode_metadata(out.data(), *this);
  return out;
}

EntryMetadata EntryMetadata::deserialize(std::span<const std::byte> bytes) {
  if (bytes.size() < kMetadataSize) {
    throw Error(ErrorCode::kInvalidArgument, "EntryMetadata needs " + std::to_string(kMetadataSize) +
                                                 " bytes, got " + std::to_string(bytes.size()));
  }
  return format::decode_metadata(bytes.data());
}

}  // namespace simd_r_drive

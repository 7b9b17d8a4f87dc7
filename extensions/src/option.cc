#include "simd_r_drive/extensions/option.h"

#include <algorithm>

#include <simd_r_drive/error.h>

namespace simd_r_drive::extensions {

namespace {

bool begins_with_marker(const std::byte* data, std::size_t size) noexcept {
  return size >= kNoneMarker.size() && data[0] == kNoneMarker[0] && data[1] == kNoneMarker[1];
}

// A Some that would read back as something else unescaped: one that begins with the
// marker (exactly the marker would read as None), or the lone 00 byte, which the
// store takes for a delete.
bool needs_escape(const std::byte* data, std::size_t size) noexcept {
  return begins_with_marker(data, size) || (size == 1 && data[0] == std::byte{0});
}

}  // namespace

void escape_option_value(std::vector<std::byte>& out, std::size_t start) {
  if (start > out.size()) throw Error(ErrorCode::kInvalidArgument, "escape_option_value: start is past the end");
  if (needs_escape(out.data() + start, out.size() - start)) {
    out.insert(out.begin() + static_cast<std::ptrdiff_t>(start), kNoneMarker.begin(), kNoneMarker.end());
  }
}

std::vector<std::byte> encode_option(std::optional<ByteView> value) {
  if (!value) return {kNoneMarker.begin(), kNoneMarker.end()};
  std::vector<std::byte> out;
  out.reserve(value->size() + kNoneMarker.size());
  out.insert(out.end(), value->data(), value->data() + value->size());
  escape_option_value(out, 0);
  return out;
}

std::optional<ByteView> decode_option(ByteView stored) noexcept {
  if (!begins_with_marker(stored.data(), stored.size())) return stored;
  if (stored.size() == kNoneMarker.size()) return std::nullopt;
  return ByteView(stored.data() + kNoneMarker.size(), stored.size() - kNoneMarker.size());
}

std::uint64_t write_option(DataStore& store, ByteView key, std::optional<ByteView> value) {
  if (value && value->empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "write_option cannot store a Some of zero bytes: a store holds no empty value");
  }
  return store.write(option_key(key), encode_option(value));
}

std::optional<std::optional<EntryValue>> read_option(const DataStore& store, ByteView key) {
  std::optional<EntryHandle> entry = store.read(option_key(key));
  if (!entry) return std::nullopt;
  const ByteView stored(entry->data(), entry->size());
  const std::optional<ByteView> value = decode_option(stored);
  if (!value) return std::optional<EntryValue>();
  return std::optional<EntryValue>(EntryValue(std::move(*entry), static_cast<std::size_t>(value->data() - stored.data())));
}

}  // namespace simd_r_drive::extensions

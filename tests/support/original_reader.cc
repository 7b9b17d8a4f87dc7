#include "original_reader.h"

#include <array>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace srd_test {

namespace {

constexpr std::uint64_t kRecord = 20;  // METADATA_SIZE
constexpr std::uint64_t kAlign = 64;   // PAYLOAD_ALIGNMENT

std::uint64_t load_u64(const std::byte* at) noexcept {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | std::to_integer<std::uint64_t>(at[i]);
  return value;
}

void store_le(std::vector<std::byte>& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::byte>((value >> (8 * i)) & 0xFF));
}

// (A - P mod A) & (A - 1), in wrapping u64 arithmetic as the original's release build.
std::uint64_t pad(std::uint64_t prev) noexcept { return (kAlign - prev % kAlign) & (kAlign - 1); }

// §1.7 steps 1-3: the payload start of the record at `metadata_offset`.
std::uint64_t derived_start(std::span<const std::byte> file, std::uint64_t metadata_offset, std::uint64_t prev) {
  const std::uint64_t end = metadata_offset;
  if (end > prev && end - prev == 1 && file[prev] == std::byte{0}) return prev;
  return prev + pad(prev);  // may wrap for a garbage prev, as in the original's release build
}

}  // namespace

std::uint32_t reference_crc32(std::span<const std::byte> bytes) noexcept {
  // CRC-32 (IEEE, reflected), a byte at a time from a table built here from the
  // polynomial: independent of the engine's libdeflate, and fast enough for the
  // tests that check multi-megabyte payloads in the sanitizer builds.
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int bit = 0; bit < 8; ++bit) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::byte b : bytes) crc = (crc >> 8) ^ table[(crc ^ std::to_integer<std::uint32_t>(b)) & 0xFFu];
  return ~crc;
}

std::uint64_t original_recovered_length(std::span<const std::byte> file) {
  const std::uint64_t file_len = file.size();
  if (file_len < kRecord) return 0;
  for (std::uint64_t cursor = file_len; cursor >= kRecord; --cursor) {
    const std::uint64_t metadata_offset = cursor - kRecord;
    const std::uint64_t prev = load_u64(file.data() + metadata_offset + 8);
    const std::uint64_t start = derived_start(file, metadata_offset, prev);
    if (start >= metadata_offset) continue;
    // Walk back from the candidate's prev to 0, summing payload + record sizes.
    std::uint64_t total = (metadata_offset - start) + kRecord;
    std::uint64_t back = prev;
    bool valid = true;
    while (back != 0) {
      if (back < kRecord || back > file_len) {
        valid = false;
        break;
      }
      const std::uint64_t at = back - kRecord;
      const std::uint64_t its_prev = load_u64(file.data() + at + 8);
      const std::uint64_t its_start = derived_start(file, at, its_prev);
      if (its_start >= at || its_prev >= at) {
        valid = false;
        break;
      }
      total += (at - its_start) + kRecord;
      back = its_prev;
    }
    if (valid && total <= file_len) return cursor;
  }
  return 0;
}

OriginalStore::OriginalStore(std::vector<std::byte> file) : file_(std::move(file)) {
  recovered_length_ = original_recovered_length(file_);
  file_.resize(recovered_length_);  // the original truncates what it did not accept
  build_index();
}

OriginalStore OriginalStore::open(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::vector<std::byte> bytes(std::filesystem::file_size(path));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return OriginalStore(std::move(bytes));
}

void OriginalStore::save(const std::filesystem::path& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(file_.data()), static_cast<std::streamsize>(file_.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

void OriginalStore::build_index() {
  index_.clear();
  std::uint64_t cursor = file_.size();
  while (cursor >= kRecord) {
    const std::uint64_t metadata_offset = cursor - kRecord;
    const std::uint64_t key_hash = load_u64(file_.data() + metadata_offset);
    const std::uint64_t prev = load_u64(file_.data() + metadata_offset + 8);
    index_.try_emplace(key_hash, metadata_offset);  // newest first: the first seen wins
    if (prev == 0) break;
    cursor = prev;
  }
}

std::optional<OriginalStore::Range> OriginalStore::range_at(std::uint64_t metadata_offset) const {
  if (metadata_offset + kRecord > file_.size()) return std::nullopt;
  const std::uint64_t prev = load_u64(file_.data() + metadata_offset + 8);
  const std::uint64_t start = derived_start(file_, metadata_offset, prev);
  if (start >= metadata_offset) return std::nullopt;
  return Range{start, metadata_offset};
}

std::optional<std::span<const std::byte>> OriginalStore::read(std::uint64_t key_hash) const {
  const auto it = index_.find(key_hash);
  if (it == index_.end()) return std::nullopt;
  const std::optional<Range> range = range_at(it->second);
  if (!range) return std::nullopt;
  if (range->end - range->start == 1 && file_[range->start] == std::byte{0}) return std::nullopt;  // tombstone
  return std::span<const std::byte>(file_.data() + range->start, range->end - range->start);
}

std::optional<bool> OriginalStore::checksum_matches(std::uint64_t key_hash) const {
  const auto it = index_.find(key_hash);
  if (it == index_.end()) return std::nullopt;
  const std::optional<Range> range = range_at(it->second);
  if (!range) return false;
  std::uint32_t stored = 0;
  for (int i = 3; i >= 0; --i) stored = (stored << 8) | std::to_integer<std::uint32_t>(file_[it->second + 16 + i]);
  return stored == reference_crc32(std::span<const std::byte>(file_.data() + range->start, range->end - range->start));
}

std::uint64_t OriginalStore::write(std::uint64_t key_hash, std::span<const std::byte> value) {
  if (value.empty() || (value.size() == 1 && value[0] == std::byte{0})) {
    throw std::invalid_argument("the original refuses an empty or NULL-byte payload");
  }
  const std::uint64_t prev = file_.size();
  file_.insert(file_.end(), pad(prev), std::byte{0});
  file_.insert(file_.end(), value.begin(), value.end());
  const std::uint64_t metadata_offset = file_.size();
  store_le(file_, key_hash, 8);
  store_le(file_, prev, 8);
  store_le(file_, reference_crc32(value), 4);
  index_[key_hash] = metadata_offset;
  return file_.size();
}

std::uint64_t OriginalStore::write(std::uint64_t key_hash, std::string_view value) {
  return write(key_hash, std::span<const std::byte>(reinterpret_cast<const std::byte*>(value.data()), value.size()));
}

std::uint64_t OriginalStore::remove(std::uint64_t key_hash) {
  if (!index_.contains(key_hash)) return file_.size();
  const std::uint64_t prev = file_.size();
  file_.push_back(std::byte{0});
  store_le(file_, key_hash, 8);
  store_le(file_, prev, 8);
  store_le(file_, reference_crc32(std::span<const std::byte>(file_.data() + prev, 1)), 4);
  index_.erase(key_hash);
  return file_.size();
}

}  // namespace srd_test

#include "engine/appender.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "engine/logger.h"
#include "format/checksum.h"
#include "format/entry_layout.h"
#include "simd_r_drive/error.h"
#include "simd_r_drive/hashing.h"

namespace simd_r_drive::engine {

namespace {

constexpr std::array<std::byte, kPayloadAlignment> kZeroPad{};
// Chunk size a stream is pulled in: one chunk of memory, however large the value.
constexpr std::size_t kStreamChunkSize = 64 * 1024;

std::uint32_t checksum_of(const PendingEntry& entry) {
  return entry.tombstone ? format::kTombstoneChecksum : compute_checksum(entry.payload);
}

bool all_zero(const std::byte* data, std::size_t size) noexcept {
  return size == 0 || (data[0] == std::byte{0} && std::memcmp(data, data + 1, size - 1) == 0);
}

}  // namespace

Appender::Appender(io::FileHandle file, std::uint64_t physical_size, bool huge_folios)
    : file_(std::move(file)), physical_size_(physical_size), huge_folios_(huge_folios) {}

std::span<const std::uint64_t> Appender::append(Generation& generation, std::span<const PendingEntry> entries) {
  const std::uint64_t old_tail = generation.tail.load(std::memory_order_relaxed);
  // Lay the batch out: every entry's metadata is encoded before any byte is written.
  auto& records = scratch_records_;
  auto& entry_tails = scratch_tails_;
  records.resize(entries.size());
  entry_tails.resize(entries.size());
  std::uint64_t position = old_tail;
  std::uint64_t payload_bytes = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const PendingEntry& entry = entries[i];
    const std::uint64_t prev = position;
    position += entry.tombstone ? 1 : format::prepad(position) + entry.payload.size();
    format::encode_metadata(records[i].data(), {entry.key_hash, prev, checksum_of(entry)});
    position += kMetadataSize;
    entry_tails[i] = position;
    payload_bytes += entry.tombstone ? 1 : entry.payload.size();
  }
  const std::uint64_t new_tail = position;
  reserve(generation, new_tail);

  static constexpr std::byte kTombstonePayload[1] = {kTombstoneByte};
  if (payload_bytes >= kDirectWriteThreshold) {
    std::vector<std::span<const std::byte>> pieces;
    pieces.reserve(entries.size() * 3);
    position = old_tail;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].tombstone) {
        pieces.emplace_back(kTombstonePayload, 1);
      } else {
        pieces.emplace_back(kZeroPad.data(), format::prepad(position));
        pieces.push_back(entries[i].payload.span());
      }
      pieces.emplace_back(records[i]);
      position = entry_tails[i];
    }
    try {
      file_.pwrite_all(old_tail, pieces);
    } catch (...) {
      rollback(old_tail);
      throw;
    }
  } else {
    std::byte* base = generation.mapping.load(std::memory_order_relaxed)->data();
    position = old_tail;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].tombstone) {
        base[position++] = kTombstoneByte;
      } else {
        const std::uint64_t pad = format::prepad(position);
        std::memset(base + position, 0, pad);
        std::memcpy(base + position + pad, entries[i].payload.data(), entries[i].payload.size());
        position += pad + entries[i].payload.size();
      }
      std::memcpy(base + position, records[i].data(), kMetadataSize);
      position += kMetadataSize;
    }
  }
  return entry_tails;
}

std::uint64_t Appender::append_stream(Generation& generation, std::uint64_t key_hash, const StreamReader& source) {
  const std::uint64_t old_tail = generation.tail.load(std::memory_order_relaxed);
  const std::uint64_t start = old_tail + format::prepad(old_tail);
  std::uint64_t position = start;
  std::uint32_t checksum = 0;
  bool only_zero_bytes = true;
  std::vector<std::byte> buffer(kStreamChunkSize);
  try {
    // The pre-pad goes out with the first chunk; space the file already reserved
    // past the tail holds zeros, but writing them keeps this path self-contained.
    std::uint64_t pending_pad = start - old_tail;
    for (;;) {
      const std::size_t got = source(std::span<std::byte>(buffer));
      if (got == 0) break;
      if (got > buffer.size()) throw Error(ErrorCode::kInvalidArgument, "stream reader returned more bytes than asked");
      checksum = format::crc32_extend(checksum, buffer.data(), got);
      only_zero_bytes = only_zero_bytes && all_zero(buffer.data(), got);
      const std::span<const std::byte> pieces[] = {{kZeroPad.data(), pending_pad}, {buffer.data(), got}};
      file_.pwrite_all(position - pending_pad, pieces);
      pending_pad = 0;
      position += got;
      physical_size_ = std::max(physical_size_, position);
    }
    if (position == start) throw Error(ErrorCode::kInvalidArgument, "Payload cannot be empty.");
    if (only_zero_bytes) {
      throw Error(ErrorCode::kInvalidArgument, "NULL-byte-only streams cannot be written directly.");
    }
    std::array<std::byte, kMetadataSize> record{};
    format::encode_metadata(record.data(), {key_hash, old_tail, checksum});
    const std::span<const std::byte> pieces[] = {record};
    file_.pwrite_all(position, pieces);
    position += kMetadataSize;
    physical_size_ = std::max(physical_size_, position);
    reserve(generation, position);
  } catch (...) {
    rollback(old_tail);
    throw;
  }
  return position;
}

void Appender::reserve(Generation& generation, std::uint64_t needed_tail) {
  if (needed_tail > physical_size_) {
    // Grow in steps of an eighth of the file (2 MiB to 64 MiB), so that appends
    // reserve space rarely and the file never holds much unused space. The end is
    // kept on a 2 MiB boundary: the kernel only gives a 2 MiB page-cache folio to a
    // range that lies wholly inside the file (see advise_append_zone).
    constexpr std::uint64_t kGrowthGranule = io::kHugePageSize;
    const std::uint64_t step = std::clamp<std::uint64_t>(physical_size_ / 8, kGrowthGranule, 64u << 20);
    std::uint64_t target = std::max(needed_tail, physical_size_ + step);
    target = (target + kGrowthGranule - 1) / kGrowthGranule * kGrowthGranule;
    try {
      file_.allocate(target);
    } catch (...) {
      physical_size_ = file_.size();
      throw;
    }
    physical_size_ = target;
  }
  if (needed_tail > generation.mapping.load(std::memory_order_relaxed)->capacity()) {
    auto mapping = std::make_shared<io::Mapping>(file_.fd(), io::reservation_for(needed_tail), true);
    advise_append_zone(*mapping, generation.tail.load(std::memory_order_relaxed));
    generation.publish_mapping(std::move(mapping));
  }
}

void Appender::advise_append_zone(const io::Mapping& mapping, std::uint64_t tail) const noexcept {
  // Huge folios make random reads of appended data cheaper (one TLB entry per 2 MiB),
  // but the kernel tracks a folio's dirtiness as a whole, so a sync after a small
  // write would write back up to 2 MiB: only the modes that do not sync per write
  // take them. Below the tail the pages keep whatever size the page cache gave them.
  if (huge_folios_) mapping.prefer_huge_pages_from(tail);
}

void Appender::replace_file(io::FileHandle file, std::uint64_t physical_size) noexcept {
  file_ = std::move(file);
  physical_size_ = physical_size;
}

void Appender::truncate(std::uint64_t tail) {
  file_.truncate(tail);
  physical_size_ = tail;
}

void Appender::rollback(std::uint64_t tail) noexcept {
  // Nothing past `tail` was published. Cut it off so that no stray bytes remain for
  // recovery to sort out after a crash.
  try {
    truncate(tail);
  } catch (const std::exception& error) {
    log_warning(std::string("rolling back a failed write: ") + error.what());
  }
}

}  // namespace simd_r_drive::engine

#include "engine/verify.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "engine/follower.h"
#include "engine/writer.h"
#include "format/checksum.h"
#include "format/entry_layout.h"

namespace simd_r_drive::engine {

namespace {

void check_chain(const std::byte* base, std::uint64_t tail, VerifyReport& report) {
  std::uint64_t cursor = tail;
  while (cursor != 0) {
    if (cursor < format::kMinEntryTail) {
      report.chain_intact = false;
      report.chain_error = "back-link to offset " + std::to_string(cursor) + ", inside the first entry";
      return;
    }
    const std::uint64_t metadata_offset = cursor - kMetadataSize;
    const std::optional<format::Record> record = format::decode_record(base, cursor, cursor);
    if (!record) {
      report.chain_intact = false;
      report.chain_error = "malformed record at offset " + std::to_string(metadata_offset) + " (prev offset " +
                           std::to_string(format::decode_metadata(base + metadata_offset).prev_offset) + ")";
      return;
    }
    const EntryMetadata& metadata = record->metadata;
    const format::PayloadRange& range = record->payload;
    ++report.entries;
    if (range.tombstone) ++report.tombstones;
    const std::uint32_t computed = format::crc32_of_mapped(base + range.start, range.size());
    report.bytes_checked += range.size();
    if (computed != metadata.checksum) {
      report.corrupt_entries.push_back(
          {metadata_offset, range.start, range.size(), metadata.key_hash, metadata.checksum, computed});
    }
    cursor = metadata.prev_offset;
  }
}

// Whether anything but zeros lies in [from, to) of the file.
bool holds_non_zero(const io::FileHandle& file, std::uint64_t from, std::uint64_t to) {
  std::vector<std::byte> buffer(1 << 20);
  for (std::uint64_t offset = from; offset < to;) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), to - offset));
    const std::size_t got = file.pread_some(offset, std::span<std::byte>(buffer.data(), want));
    if (got == 0) return false;  // the file shrank meanwhile
    if (std::any_of(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(got),
                    [](std::byte b) { return b != std::byte{0}; })) {
      return true;
    }
    offset += got;
  }
  return false;
}

}  // namespace

VerifyReport verify(const DataStore::Impl& store) {
  std::shared_ptr<Generation> generation;
  std::shared_ptr<io::Mapping> mapping;
  {
    ReaderRegistry::Guard guard(store.publication().readers());
    generation = store.publication().published()->shared_from_this();
    mapping = generation->mapping.load(std::memory_order_acquire)->shared_from_this();
  }
  VerifyReport report;
  const std::uint64_t tail = generation->tail.load(std::memory_order_acquire);
  report.file_size = tail;
  report.live_keys = generation->live_count.load(std::memory_order_acquire);
  check_chain(mapping->data(), tail, report);

  if (const Writer* writer = store.writer()) {
    // Our own preallocated space (or a write that started after `tail` was read).
    report.writer_active = true;
    const Writer::Reserved reserved = writer->reserved_space();
    report.trailing_bytes = reserved.file_length > tail ? reserved.file_length - tail : 0;
    report.padding_record_offset = reserved.padding_offset;
    report.padding_record_names_tail = reserved.padding_offset != 0 ? reserved.padding_anchor : 0;
  } else if (const Follower* follower = store.follower()) {
    const std::uint64_t length = follower->file_length();
    report.trailing_bytes = length > tail ? length - tail : 0;
    report.writer_active = follower->writer_active();
    std::uint64_t judged_end = length;
    if (report.trailing_bytes >= kMetadataSize) {
      // A crashed writer's reserved space ends with its padding record.
      std::array<std::byte, kMetadataSize> last{};
      if (follower->file().pread_some(length - kMetadataSize, last) == last.size()) {
        const EntryMetadata metadata = format::decode_metadata(last.data());
        if (format::is_padding(metadata) && metadata.prev_offset < length - kMetadataSize) {
          report.padding_record_offset = length - kMetadataSize;
          report.padding_record_names_tail = metadata.prev_offset;
          judged_end = length - kMetadataSize;
        }
      }
    }
    if (report.trailing_bytes != 0 && !report.writer_active) {
      report.trailing_bytes_damaged = holds_non_zero(follower->file(), tail, judged_end);
    }
  }
  return report;
}

}  // namespace simd_r_drive::engine

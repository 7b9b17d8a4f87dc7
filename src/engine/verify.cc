// verify(): a read-only check of the whole chain and of every entry's checksum.
#include <string>

#include "engine/data_store_impl.h"
#include "format/checksum.h"
#include "format/entry_layout.h"

namespace simd_r_drive {

VerifyReport DataStore::Impl::verify() const {
  std::shared_ptr<engine::Generation> generation;
  std::shared_ptr<io::Mapping> mapping;
  {
    engine::ReaderRegistry::Guard guard(*readers_);
    generation = published_.load(std::memory_order_seq_cst)->shared_from_this();
    mapping = generation->mapping.load(std::memory_order_acquire)->shared_from_this();
  }
  VerifyReport report;
  const std::uint64_t tail = generation->tail.load(std::memory_order_acquire);
  report.file_size = tail;
  report.live_keys = generation->live_count.load(std::memory_order_acquire);
  const std::byte* base = mapping->data();

  std::uint64_t cursor = tail;
  while (cursor != 0) {
    if (cursor < format::kMinEntryTail) {
      report.chain_intact = false;
      report.chain_error = "back-link to offset " + std::to_string(cursor) + ", inside the first entry";
      break;
    }
    const std::uint64_t metadata_offset = cursor - kMetadataSize;
    const std::optional<format::Record> record = format::decode_record(base, cursor, cursor);
    if (!record) {
      report.chain_intact = false;
      report.chain_error = "malformed record at offset " + std::to_string(metadata_offset) + " (prev offset " +
                           std::to_string(format::decode_metadata(base + metadata_offset).prev_offset) + ")";
      break;
    }
    const EntryMetadata& metadata = record->metadata;
    const format::PayloadRange* range = &record->payload;
    ++report.entries;
    if (range->tombstone) ++report.tombstones;
    const std::uint32_t computed = format::crc32_of_mapped(base + range->start, range->size());
    report.bytes_checked += range->size();
    if (computed != metadata.checksum) {
      report.corrupt_entries.push_back(
          {metadata_offset, range->start, range->size(), metadata.key_hash, metadata.checksum, computed});
    }
    cursor = metadata.prev_offset;
  }
  return report;
}

}  // namespace simd_r_drive

#include "engine/foreign_entries.h"

#include <optional>

#include "format/entry_layout.h"

namespace simd_r_drive::engine {

namespace {

constexpr std::array<std::byte, kPayloadAlignment> kZeroPad{};
constexpr std::byte kTombstonePayload[1] = {kTombstoneByte};

}  // namespace

MovedEntries lay_out_moved_entries(const std::byte* file, std::span<const std::uint64_t> tails_newest_first,
                                   std::uint64_t start) {
  MovedEntries moved;
  moved.start = start;
  moved.records.resize(tails_newest_first.size());  // never reallocated: pieces view it
  moved.pieces.reserve(tails_newest_first.size() * 3);
  moved.tails_newest_first.resize(tails_newest_first.size());
  std::uint64_t position = start;
  for (std::size_t i = tails_newest_first.size(); i-- > 0;) {
    const std::uint64_t tail = tails_newest_first[i];
    const std::optional<format::Record> record = format::decode_record(file, tail, tail);
    if (!record) continue;  // recovery decoded every tail it returned; never taken
    const std::uint64_t prev = position;
    if (record->payload.tombstone) {
      // A tombstone has no pre-pad, and its byte is 0x00 (a damaged one, which
      // only its position made a tombstone, is written as what it stands for).
      moved.pieces.emplace_back(kTombstonePayload, 1);
      position += 1;
    } else {
      const std::uint64_t pad = format::prepad(position);
      moved.pieces.emplace_back(kZeroPad.data(), pad);
      moved.pieces.emplace_back(file + record->payload.start, record->payload.size());
      position += pad + record->payload.size();
    }
    EntryMetadata metadata = record->metadata;
    metadata.prev_offset = prev;
    format::encode_metadata(moved.records[i].data(), metadata);
    moved.pieces.emplace_back(moved.records[i]);
    position += kMetadataSize;
    moved.tails_newest_first[i] = position;
  }
  moved.end = position;
  return moved;
}

}  // namespace simd_r_drive::engine

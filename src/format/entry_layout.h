// The layout of one entry, and how a reader finds an entry's payload from the
// position of its metadata record. Pure functions over bytes: no I/O, no state.
//
//   normal entry, appended at tail P:
//     +---------------------+-----------------+------------------------------------+
//     | pre-pad: zeros      | payload (>= 1)  | key_hash u64 | prev u64 | crc u32   |
//     | prepad(P) bytes     | starts at a     | LE           | LE (= P) | LE        |
//     | (0..63)             | multiple of 64  |<------------ 20 bytes ------------>|
//     +---------------------+-----------------+------------------------------------+
//     P                     P + prepad(P)     M = metadata offset          tail = M+20
//
//   tombstone (delete), appended at tail P: one 0x00 byte at P, no pre-pad, then the
//   metadata at P + 1 (crc = CRC-32 of that byte = 0xD202EF8D).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "format/coding.h"
#include "simd_r_drive/entry_metadata.h"
#include "simd_r_drive/format.h"

namespace simd_r_drive::format {

// Offsets of the three fields inside the 20-byte record.
inline constexpr std::size_t kKeyHashField = 0;
inline constexpr std::size_t kPrevOffsetField = 8;
inline constexpr std::size_t kChecksumField = 16;
static_assert(kChecksumField + 4 == kMetadataSize);

// CRC-32 of the single byte 0x00: the checksum every tombstone carries.
inline constexpr std::uint32_t kTombstoneChecksum = 0xD202EF8Du;
// The smallest possible tail: one payload byte plus metadata.
inline constexpr std::uint64_t kMinEntryTail = 1 + kMetadataSize;

// Zero bytes written before a payload appended at `tail`, so that it starts on a
// multiple of kPayloadAlignment.
constexpr std::uint64_t prepad(std::uint64_t tail) noexcept {
  return (kPayloadAlignment - tail % kPayloadAlignment) & (kPayloadAlignment - 1);
}

inline EntryMetadata decode_metadata(const std::byte* record) noexcept {
  return {load_u64_le(record + kKeyHashField), load_u64_le(record + kPrevOffsetField),
          load_u32_le(record + kChecksumField)};
}

inline void encode_metadata(std::byte* record, const EntryMetadata& metadata) noexcept {
  store_u64_le(record + kKeyHashField, metadata.key_hash);
  store_u64_le(record + kPrevOffsetField, metadata.prev_offset);
  store_u32_le(record + kChecksumField, metadata.checksum);
}

// Where one entry's payload lies, derived from its metadata.
struct PayloadRange {
  std::uint64_t start;  // first payload byte
  std::uint64_t end;    // one past the last payload byte == metadata offset
  bool tombstone;
  std::uint64_t size() const noexcept { return end - start; }
};

// One entry of the chain, decoded from the 20-byte record that ends at `tail`.
struct Record {
  std::uint64_t tail;  // one past the record: the file length right after this entry
  EntryMetadata metadata;
  PayloadRange payload;
  std::uint64_t metadata_offset() const noexcept { return tail - kMetadataSize; }
};

namespace detail {

// The payload range rule, on its own so the tests can probe it byte by byte.
inline std::optional<PayloadRange> payload_range(const std::byte* file, std::uint64_t metadata_offset,
                                                 std::uint64_t prev) noexcept {
  // A back-link is either the start of the file or another entry's tail.
  if (prev >= metadata_offset || (prev != 0 && prev < kMinEntryTail)) return std::nullopt;
  if (metadata_offset - prev == 1 && (file[prev] == kTombstoneByte || prepad(prev) != 0)) {
    // One byte right after an unaligned tail can only be a tombstone: a value there
    // would have been pre-padded. So it stays one even if that byte was damaged
    // (its checksum then fails, and verify() reports it); otherwise the chain would
    // break at it and cost every entry written after it.
    return PayloadRange{prev, metadata_offset, true};
  }
  const std::uint64_t start = prev + prepad(prev);  // prev < metadata_offset: no overflow
  if (start >= metadata_offset) return std::nullopt;
  // A pre-padded single 0x00 byte is a tombstone too (the original's readers accept it).
  const bool tombstone = metadata_offset - start == 1 && file[start] == kTombstoneByte;
  return PayloadRange{start, metadata_offset, tombstone};
}

}  // namespace detail

// THE decoder of the chain: every part of the engine that reads an entry from its
// position goes through it. Decodes the entry whose record ends at `tail` in a file
// whose first `file_len` bytes are `file`. Returns nullopt when no well-formed entry
// can end there: the record does not fit, its back-link is not below it (or points
// inside the first entry), or the payload it implies is empty. Checks structure
// only, never the checksum. Never reads outside [0, min(tail, file_len)).
inline std::optional<Record> decode_record(const std::byte* file, std::uint64_t file_len,
                                           std::uint64_t tail) noexcept {
  if (tail < kMinEntryTail || tail > file_len) return std::nullopt;
  const std::uint64_t metadata_offset = tail - kMetadataSize;
  const EntryMetadata metadata = decode_metadata(file + metadata_offset);
  const std::optional<PayloadRange> payload = detail::payload_range(file, metadata_offset, metadata.prev_offset);
  if (!payload) return std::nullopt;
  return Record{tail, metadata, *payload};
}

// ---- The padding record (docs/format.md, "The padding record") -------------------
//
// While a writer has a store open, the file is longer than the store: space is
// reserved past the tail. Its last 20 bytes are a record under kPaddingKeyHash whose
// back-link is the tail (or, in the modes that sync each write, the tail the last
// sync covered), so that a reader walking back from the end of the file, as the Rust
// original does after a crash, lands on the real entries:
//
//     ... last entry | zeros (and any write in progress) ....... | hash | prev | crc |
//                    ^ tail = prev        payload: from the next multiple of 64 ^ M
//
// Read as an entry, its payload runs from prev + prepad(prev) to M and is at least
// 2 bytes, so that it can never be taken for a tombstone; its checksum is that of
// zeros (right unless a write was in progress). This engine never keeps it: open
// removes it, and writes under its hash are refused.

// The room past `tail` a padding record needs: pre-pad, two payload bytes, record.
constexpr std::uint64_t padding_room(std::uint64_t tail) noexcept { return prepad(tail) + 2 + kMetadataSize; }
inline constexpr std::uint64_t kMaxPaddingRoom = (kPayloadAlignment - 1) + 2 + kMetadataSize;

inline bool is_padding(const EntryMetadata& metadata) noexcept { return metadata.key_hash == kPaddingKeyHash; }

// A record whose 20 bytes are all zero: what zero-filled space reads as. It is a
// well-formed entry (key hash 0, back-link 0) whose payload runs from offset 0 to it.
inline bool is_zero_record(const EntryMetadata& metadata) noexcept {
  return metadata.key_hash == 0 && metadata.prev_offset == 0 && metadata.checksum == 0;
}

}  // namespace simd_r_drive::format

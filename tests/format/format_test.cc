// Unit tests of the pure format layer: pre-pad math, the metadata codec, CRC-32
// helpers and payload-range derivation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "format/checksum.h"
#include "format/entry_layout.h"
#include "simd_r_drive/entry_metadata.h"
#include "simd_r_drive/error.h"
#include "simd_r_drive/hashing.h"
#include "test_support.h"

namespace simd_r_drive {
namespace {

using srd_test::bytes_of;

TEST(Format, PrepadAlignsToSixtyFour) {
  EXPECT_EQ(format::prepad(0), 0u);
  EXPECT_EQ(format::prepad(1), 63u);
  EXPECT_EQ(format::prepad(25), 39u);
  EXPECT_EQ(format::prepad(63), 1u);
  EXPECT_EQ(format::prepad(64), 0u);
  for (std::uint64_t tail = 0; tail < 1000; ++tail) {
    EXPECT_EQ((tail + format::prepad(tail)) % 64, 0u) << tail;
    EXPECT_LT(format::prepad(tail), 64u);
  }
}

TEST(Format, MetadataRoundTripsLittleEndian) {
  const EntryMetadata metadata{0x0102030405060708ull, 0x1112131415161718ull, 0xA1B2C3D4u};
  const auto bytes = metadata.serialize();
  EXPECT_EQ(srd_test::to_hex(bytes), "0807060504030201" "1817161514131211" "d4c3b2a1");
  EXPECT_EQ(EntryMetadata::deserialize(bytes), metadata);
}

TEST(Format, DeserializeRejectsShortInput) {
  const std::byte short_record[19]{};
  try {
    EntryMetadata::deserialize(short_record);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
  }
}

TEST(Format, ChecksumMatchesKnownVectors) {
  EXPECT_EQ(compute_checksum("123456789"), 0xCBF43926u);  // the CRC-32 check value
  EXPECT_EQ(compute_checksum("hello"), 0x3610A686u);
  const std::byte zero[1] = {std::byte{0}};
  EXPECT_EQ(compute_checksum(zero), format::kTombstoneChecksum);
  EXPECT_EQ(compute_checksum(""), 0u);
}

TEST(Format, ChecksumExtendChains) {
  const auto data = srd_test::pattern_bytes(10000);
  const std::uint32_t whole = format::crc32_extend(0, data.data(), data.size());
  const std::uint32_t first = format::crc32_extend(0, data.data(), 3333);
  EXPECT_EQ(format::crc32_extend(first, data.data() + 3333, data.size() - 3333), whole);
}

TEST(Format, ChecksumShiftGivesRangeChecksumsFromPrefixes) {
  std::mt19937_64 random(7);
  std::vector<std::byte> data(5000);
  for (auto& b : data) b = static_cast<std::byte>(random());
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t a = random() % data.size();
    const std::size_t b = a + random() % (data.size() - a);
    const std::uint32_t prefix_a = format::crc32_extend(0, data.data(), a);
    const std::uint32_t prefix_b = format::crc32_extend(0, data.data(), b);
    const std::uint32_t direct = format::crc32_extend(0, data.data() + a, b - a);
    EXPECT_EQ(prefix_b ^ format::crc32_shift(prefix_a, b - a), direct) << a << ".." << b;
  }
  EXPECT_EQ(format::crc32_shift(0x12345678u, 0), 0x12345678u);
}

// The padding record's checksum (entry_layout.h): the CRC of a run of zeros, kept
// up to date as the run loses multiples of 64 bytes from its front (the table path)
// or any other number of bytes (the multiplication path).
TEST(Format, ZeroRunChecksumMatchesTheBytes) {
  const std::vector<std::byte> zeros(70000);
  auto direct = [&](std::uint64_t length) { return format::crc32_extend(0, zeros.data(), length); };
  for (std::uint64_t length : {0ull, 1ull, 2ull, 63ull, 64ull, 4096ull, 65535ull, 69999ull}) {
    EXPECT_EQ(format::crc32_of_zeros(length), direct(length)) << length;
  }
  format::ZeroRunCrc run(69999);
  EXPECT_EQ(run.value(), direct(69999));
  std::uint64_t length = 69999;
  for (std::uint64_t drop : {64ull, 128ull, 192ull, 4032ull, 64ull * 63, 4096ull, 8192ull, 1ull, 7ull, 100ull, 65ull}) {
    run.drop_front(drop);
    length -= drop;
    ASSERT_EQ(run.length(), length);
    EXPECT_EQ(run.value(), direct(length)) << "after dropping " << drop;
  }
  run.drop_front(1u << 20);  // more than it holds: an empty run
  EXPECT_EQ(run.length(), 0u);
  EXPECT_EQ(run.value(), direct(0));
}

// The reserved key hash is the one the header says it is derived from.
TEST(Format, PaddingKeyHashIsXxh3OfItsName) {
  EXPECT_EQ(simd_r_drive::compute_hash(simd_r_drive::kPaddingKeyName), simd_r_drive::kPaddingKeyHash);
  // Two payload bytes at least: never a tombstone, whatever the tail.
  for (std::uint64_t tail = 0; tail < 200; ++tail) {
    EXPECT_GE(format::padding_room(tail), format::prepad(tail) + 2 + simd_r_drive::kMetadataSize);
    EXPECT_LE(format::padding_room(tail), format::kMaxPaddingRoom);
  }
}

TEST(RecordDecoder, DecodesNormalEntryAndTombstone) {
  // "hello" at 0..5 (metadata 5..25), then a tombstone at 25 (metadata 26..46).
  std::vector<std::byte> file(46);
  std::memcpy(file.data(), "hello", 5);
  format::encode_metadata(file.data() + 5, {1, 0, compute_checksum("hello")});
  file[25] = std::byte{0};
  format::encode_metadata(file.data() + 26, {1, 25, format::kTombstoneChecksum});

  auto first = format::decode_record(file.data(), file.size(), 25);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->tail, 25u);
  EXPECT_EQ(first->metadata_offset(), 5u);
  EXPECT_EQ(first->metadata.key_hash, 1u);
  EXPECT_EQ(first->metadata.prev_offset, 0u);
  EXPECT_EQ(first->metadata.checksum, compute_checksum("hello"));
  EXPECT_EQ(first->payload.start, 0u);
  EXPECT_EQ(first->payload.end, 5u);
  EXPECT_FALSE(first->payload.tombstone);

  auto second = format::decode_record(file.data(), file.size(), 46);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->payload.start, 25u);
  EXPECT_EQ(second->payload.size(), 1u);
  EXPECT_TRUE(second->payload.tombstone);
}

TEST(RecordDecoder, PayloadStartsAtTheNextMultipleOf64) {
  // An entry appended at tail 25 is pre-padded to 64.
  std::vector<std::byte> file(64 + 3 + kMetadataSize);
  std::memcpy(file.data() + 64, "abc", 3);
  format::encode_metadata(file.data() + 67, {7, 25, compute_checksum("abc")});
  auto record = format::decode_record(file.data(), file.size(), file.size());
  ASSERT_TRUE(record);
  EXPECT_EQ(record->payload.start, 64u);
  EXPECT_EQ(record->payload.size(), 3u);
  EXPECT_FALSE(record->payload.tombstone);
}

TEST(RecordDecoder, PrePaddedZeroByteIsATombstone) {
  // The original's readers take a pre-padded single 0x00 for a delete too.
  std::vector<std::byte> file(64 + 1 + kMetadataSize);
  format::encode_metadata(file.data() + 65, {7, 0, format::kTombstoneChecksum});
  auto record = format::decode_record(file.data(), file.size(), file.size());
  ASSERT_TRUE(record);
  EXPECT_EQ(record->payload.start, 0u);  // prev 0 is aligned: no pre-pad
  EXPECT_EQ(record->payload.size(), 65u);
  EXPECT_FALSE(record->payload.tombstone);

  std::vector<std::byte> aligned(64 + 1 + kMetadataSize);
  format::encode_metadata(aligned.data() + 44, {1, 0, 0});   // an entry 0..44: its tail is 64
  format::encode_metadata(aligned.data() + 65, {7, 64, format::kTombstoneChecksum});
  auto tombstone = format::decode_record(aligned.data(), aligned.size(), aligned.size());
  ASSERT_TRUE(tombstone);
  EXPECT_EQ(tombstone->payload.start, 64u);
  EXPECT_TRUE(tombstone->payload.tombstone);
}

TEST(RecordDecoder, DamagedTombstoneAfterAnUnalignedTailStaysATombstone) {
  // One byte right after an unaligned tail can only be a tombstone, whatever the
  // byte holds: decoding it as anything else would break the chain there.
  std::vector<std::byte> file(46);
  std::memcpy(file.data(), "hello", 5);
  format::encode_metadata(file.data() + 5, {1, 0, compute_checksum("hello")});
  file[25] = std::byte{0x40};  // a flipped bit in the tombstone's byte
  format::encode_metadata(file.data() + 26, {1, 25, format::kTombstoneChecksum});
  auto record = format::decode_record(file.data(), file.size(), 46);
  ASSERT_TRUE(record);
  EXPECT_EQ(record->payload.start, 25u);
  EXPECT_TRUE(record->payload.tombstone);
}

TEST(RecordDecoder, RejectsMalformedRecords) {
  std::vector<std::byte> file(200);
  const auto with_prev = [&](std::uint64_t metadata_offset, std::uint64_t prev) {
    std::fill(file.begin(), file.end(), std::byte{0xAB});
    format::encode_metadata(file.data() + metadata_offset, {1, prev, 0});
    return format::decode_record(file.data(), file.size(), metadata_offset + kMetadataSize);
  };
  // prev at or past the record, or near 2^64: no overflow, no read out of bounds.
  EXPECT_FALSE(with_prev(100, 100));
  EXPECT_FALSE(with_prev(100, 150));
  EXPECT_FALSE(with_prev(100, ~0ull));
  // A pre-pad that swallows the whole payload: prev 65 pads to 128 > 100.
  EXPECT_FALSE(with_prev(100, 65));
  // A back-link into the first entry: no entry can end before offset 21.
  EXPECT_FALSE(with_prev(100, 20));
  EXPECT_FALSE(with_prev(100, 1));
  EXPECT_TRUE(with_prev(100, 0));
  EXPECT_TRUE(with_prev(100, 21));
  // A tail past the bytes given, or too small for any entry.
  EXPECT_FALSE(format::decode_record(file.data(), file.size(), 201));
  EXPECT_FALSE(format::decode_record(file.data(), 150, 170));
  EXPECT_FALSE(format::decode_record(file.data(), file.size(), 20));
  EXPECT_FALSE(format::decode_record(file.data(), file.size(), 0));
}

TEST(RecordDecoder, ReadsNothingOutsideTheRecordAndItsPayload) {
  // Exactly `tail` bytes, each tail tried: under ASan any read past the end fails.
  std::vector<std::byte> bytes(64 + 5 + kMetadataSize, std::byte{0x11});
  for (std::uint64_t prev : {0ull, 21ull, 63ull, 64ull}) {
    format::encode_metadata(bytes.data() + 69, {3, prev, 0});
    auto exact = std::make_unique<std::byte[]>(bytes.size());
    std::memcpy(exact.get(), bytes.data(), bytes.size());
    for (std::uint64_t tail = 0; tail <= bytes.size(); ++tail) {
      (void)format::decode_record(exact.get(), bytes.size(), tail);
    }
    const auto record = format::decode_record(exact.get(), bytes.size(), bytes.size());
    ASSERT_TRUE(record) << prev;
    EXPECT_EQ(record->payload.start, prev + format::prepad(prev)) << prev;
  }
}

}  // namespace
}  // namespace simd_r_drive

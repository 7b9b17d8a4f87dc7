// Unit tests of the pure format layer: pre-pad math, the metadata codec, CRC-32
// helpers and payload-range derivation.
#include <gtest/gtest.h>

#include <random>

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

TEST(Format, DeriveRangeOfNormalEntryAndTombstone) {
  // "hello" at 0..5 (metadata 5..25), then a tombstone at 25 (metadata 26..46).
  std::vector<std::byte> file(46);
  std::memcpy(file.data(), "hello", 5);
  format::encode_metadata(file.data() + 5, {1, 0, compute_checksum("hello")});
  file[25] = std::byte{0};
  format::encode_metadata(file.data() + 26, {1, 25, format::kTombstoneChecksum});

  auto first = format::derive_payload_range(file.data(), file.size(), 5, 0);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->start, 0u);
  EXPECT_EQ(first->end, 5u);
  EXPECT_FALSE(first->tombstone);

  auto second = format::derive_payload_range(file.data(), file.size(), 26, 25);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->start, 25u);
  EXPECT_TRUE(second->tombstone);
}

TEST(Format, DeriveRangeRejectsMalformedLinks) {
  std::vector<std::byte> file(200);
  // prev at or past the record, or near 2^64: no overflow, no read out of bounds.
  EXPECT_FALSE(format::derive_payload_range(file.data(), file.size(), 100, 100));
  EXPECT_FALSE(format::derive_payload_range(file.data(), file.size(), 100, 150));
  EXPECT_FALSE(format::derive_payload_range(file.data(), file.size(), 100, ~0ull));
  // A pre-pad that swallows the whole payload: prev 65 pads to 128 > 100.
  EXPECT_FALSE(format::derive_payload_range(file.data(), file.size(), 100, 65));
  // A record past the end of the file.
  EXPECT_FALSE(format::derive_payload_range(file.data(), file.size(), 190, 0));
}

}  // namespace
}  // namespace simd_r_drive

// Single-key writes, reads, deletes and existence checks: catalogue 9.3, plus the
// decided input rules (empty and NUL payloads, empty and binary keys) and the
// "every write returns the tail" convention.
#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simd_r_drive/simd_r_drive.h>

#include "test_support.h"

namespace {

using srd_test::code_of;
using srd_test::message_of;
using srd_test::kInvalidArgument;
using srd_test::kNotFound;

using simd_r_drive::ByteView;
using simd_r_drive::compute_checksum;
using simd_r_drive::compute_hash;
using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using simd_r_drive::Error;


std::vector<std::byte> bytes_of(const EntryHandle& handle) {
  auto view = handle.as_slice();
  return {view.begin(), view.end()};
}

std::uint64_t align_up(std::uint64_t offset) { return (offset + 63) / 64 * 64; }

class BasicOps : public ::testing::Test {
 protected:
  std::filesystem::path path() const { return dir_.file("store.bin"); }
  DataStore open() const { return DataStore::open(path()); }

  srd_test::TempDir dir_;
};

// ---- catalogue 9.3 ----

TEST_F(BasicOps, EmptinessCheck) {
  DataStore store = open();
  EXPECT_TRUE(store.is_empty());
  EXPECT_EQ(store.len(), 0u);
  EXPECT_EQ(store.file_size(), 0u);
  store.write("key", "value");
  EXPECT_FALSE(store.is_empty());
  EXPECT_EQ(store.len(), 1u);
}

TEST_F(BasicOps, ExistsChecksKeyPresence) {
  DataStore store = open();
  EXPECT_FALSE(store.exists("present"));
  store.write("present", "here");
  EXPECT_TRUE(store.exists("present"));
  EXPECT_FALSE(store.exists("absent"));
  store.remove("present");
  EXPECT_FALSE(store.exists("present"));
  EXPECT_FALSE(store.read("present").has_value());
  EXPECT_EQ(store.len(), 0u);
}

TEST_F(BasicOps, DeletedKeyStaysDeletedAfterReopen) {
  {
    DataStore store = open();
    store.write("gone", "soon");
    store.write("kept", "stays");
    store.remove("gone");
  }
  DataStore store = open();
  EXPECT_FALSE(store.exists("gone"));
  EXPECT_TRUE(store.exists("kept"));
  EXPECT_EQ(store.len(), 1u);  // the original counted the deleted key here (bug 2.5)
  // Removing it again writes nothing: the key is known to be gone.
  const std::uint64_t tail = store.file_size();
  EXPECT_EQ(store.remove("gone"), tail);
  EXPECT_EQ(store.file_size(), tail);
}

TEST_F(BasicOps, AppendAndReadLastEntry) {
  DataStore store = open();
  EXPECT_FALSE(store.read_last_entry().has_value());
  store.write("only", "the payload");
  auto last = store.read_last_entry();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->as_string_view(), "the payload");
  EXPECT_EQ(last->key_hash(), compute_hash("only"));
  EXPECT_FALSE(last->is_tombstone());
}

TEST_F(BasicOps, MultipleAppendsAndReads) {
  DataStore store = open();
  store.write("k1", "first");
  store.write("k2", "second");
  store.write("k3", "third");
  auto last = store.read_last_entry();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->as_string_view(), "third");
  EXPECT_EQ(store.read("k1")->as_string_view(), "first");
  EXPECT_EQ(store.read("k2")->as_string_view(), "second");
  EXPECT_EQ(store.len(), 3u);
}

TEST_F(BasicOps, VaryingPayloadSizes) {
  DataStore store = open();
  const auto small = srd_test::pattern_bytes(10);
  const auto medium = srd_test::pattern_bytes(1024);
  const auto large = srd_test::pattern_bytes(4096);
  store.write("small", small);
  store.write("medium", medium);
  store.write("large", large);
  auto last = store.read_last_entry();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->size(), 4096u);
  EXPECT_EQ(bytes_of(*last), large);
  EXPECT_EQ(bytes_of(*store.read("small")), small);
  EXPECT_EQ(bytes_of(*store.read("medium")), medium);
  EXPECT_EQ(bytes_of(*store.read("large")), large);
}

TEST_F(BasicOps, RetrieveEntryByKey) {
  DataStore store = open();
  store.write("retrieve_me", "payload for key");
  auto entry = store.read("retrieve_me");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->as_string_view(), "payload for key");
  EXPECT_FALSE(store.read("not_written").has_value());
}

TEST_F(BasicOps, UpdateEntriesWithVaryingLengths) {
  DataStore store = open();
  store.write("a", "initial");
  store.write("b", "untouched value");
  store.write("a", "a considerably longer replacement value");
  EXPECT_EQ(store.read("a")->as_string_view(), "a considerably longer replacement value");
  store.write("a", "short");
  EXPECT_EQ(store.read("a")->as_string_view(), "short");
  EXPECT_EQ(store.read("b")->as_string_view(), "untouched value");
  EXPECT_EQ(store.len(), 2u);
}

TEST_F(BasicOps, OpenExistingStorage) {
  { DataStore created = open(); created.write("before", "reopen"); }
  DataStore store = DataStore::open_existing(path());
  EXPECT_EQ(store.read("before")->as_string_view(), "reopen");
  store.write("after", "written through open_existing");
  EXPECT_EQ(store.read("after")->as_string_view(), "written through open_existing");
  EXPECT_EQ(store.len(), 2u);
}

TEST_F(BasicOps, OpenExistingFailsForMissingFile) {
  const auto missing = dir_.file("does_not_exist.bin");
  EXPECT_EQ(code_of([&] { DataStore::open_existing(missing); }), kNotFound);
  EXPECT_NE(message_of([&] { DataStore::open_existing(missing); }).find("does not exist"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(missing));  // and it was not created
}

TEST_F(BasicOps, WriteNullByteFails) {
  DataStore store = open();
  store.write("existing", "value");
  const std::uint64_t tail = store.file_size();
  const std::array<std::byte, 1> nul{std::byte{0x00}};
  EXPECT_EQ(code_of([&] { store.write("nul", nul); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { store.write_with_key_hash(compute_hash("nul"), nul); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { store.write("nul", std::string_view("\0", 1)); }), kInvalidArgument);
  EXPECT_EQ(message_of([&] { store.write("nul", nul); }), "NULL-byte payloads cannot be written directly.");
  EXPECT_EQ(store.file_size(), tail);
  EXPECT_EQ(store.len(), 1u);
  EXPECT_FALSE(store.exists("nul"));
  EXPECT_EQ(store.read("existing")->as_string_view(), "value");
}

TEST_F(BasicOps, ReadWithKeyHash) {
  DataStore store = open();
  store.write("hashed", "found by hash");
  auto entry = store.read_with_key_hash(compute_hash("hashed"));
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->as_string_view(), "found by hash");
  EXPECT_FALSE(store.read_with_key_hash(0x123456789abcdefULL).has_value());
}

TEST_F(BasicOps, ExistsWithKeyHash) {
  DataStore store = open();
  store.write("k", "v");
  EXPECT_TRUE(store.exists_with_key_hash(compute_hash("k")));
  EXPECT_FALSE(store.exists_with_key_hash(compute_hash("other")));
}

TEST_F(BasicOps, ExistsWithKeyHashAfterDeletion) {
  DataStore store = open();
  store.write("k", "v");
  const std::uint64_t hash = compute_hash("k");
  EXPECT_TRUE(store.exists_with_key_hash(hash));
  store.remove("k");
  EXPECT_FALSE(store.exists_with_key_hash(hash));
  EXPECT_FALSE(store.read_with_key_hash(hash).has_value());
}

// ---- decided input rules ----

TEST_F(BasicOps, EmptyPayloadIsRejectedAndNothingWritten) {
  DataStore store = open();
  store.write("existing", "value");
  const std::uint64_t tail = store.file_size();
  EXPECT_EQ(code_of([&] { store.write("empty", ""); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { store.write("empty", std::vector<std::byte>{}); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { store.write_with_key_hash(42, ByteView()); }), kInvalidArgument);
  EXPECT_EQ(message_of([&] { store.write("empty", ""); }), "Payload cannot be empty.");
  EXPECT_EQ(store.file_size(), tail);
  EXPECT_EQ(store.len(), 1u);
  EXPECT_FALSE(store.exists("empty"));
  // The store still works and the next entry lands at the old tail.
  const std::uint64_t next = store.write("after", "ok");
  auto after = store.read("after");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->metadata().prev_offset, tail);
  EXPECT_EQ(after->start_offset(), align_up(tail));
  EXPECT_EQ(next, align_up(tail) + 2 + simd_r_drive::kMetadataSize);
}

TEST_F(BasicOps, RejectedWriteOnEmptyStoreLeavesFileEmpty) {
  {
    DataStore store = open();
    EXPECT_EQ(code_of([&] { store.write("k", ""); }), kInvalidArgument);
    EXPECT_EQ(code_of([&] { store.write("k", std::string_view("\0", 1)); }), kInvalidArgument);
    EXPECT_EQ(store.file_size(), 0u);
    EXPECT_TRUE(store.is_empty());
  }
  EXPECT_EQ(std::filesystem::file_size(path()), 0u);
}

TEST_F(BasicOps, TwoNulBytesAreAnOrdinaryPayload) {
  const std::array<std::byte, 2> two_nuls{std::byte{0}, std::byte{0}};
  {
    DataStore store = open();
    const std::uint64_t tail = store.write("nuls", two_nuls);
    EXPECT_EQ(tail, store.file_size());
    auto entry = store.read("nuls");
    ASSERT_TRUE(entry.has_value());
    EXPECT_EQ(entry->size(), 2u);
    EXPECT_TRUE(*entry == ByteView(two_nuls));
    EXPECT_FALSE(entry->is_tombstone());
    EXPECT_EQ(store.len(), 1u);
  }
  DataStore store = open();
  auto entry = store.read("nuls");
  ASSERT_TRUE(entry.has_value());
  EXPECT_TRUE(*entry == ByteView(two_nuls));
  EXPECT_EQ(store.len(), 1u);
}

TEST_F(BasicOps, EmptyKeyIsAllowed) {
  EXPECT_EQ(DataStore::hash_key(""), 0x2d06800538d394c2ULL);
  {
    DataStore store = open();
    store.write("", "value under the empty key");
    EXPECT_TRUE(store.exists(""));
    EXPECT_TRUE(store.exists_with_key_hash(0x2d06800538d394c2ULL));
    auto entry = store.read(ByteView());
    ASSERT_TRUE(entry.has_value());
    EXPECT_EQ(entry->as_string_view(), "value under the empty key");
    EXPECT_EQ(entry->key_hash(), 0x2d06800538d394c2ULL);
  }
  DataStore store = open();
  EXPECT_EQ(store.read("")->as_string_view(), "value under the empty key");
  store.remove("");
  EXPECT_FALSE(store.exists(""));
}

TEST_F(BasicOps, KeysAndValuesWithEmbeddedNulBytes) {
  const std::string key_ab("a\0b", 3);
  const std::string key_ac("a\0c", 3);
  const std::string key_a("a");
  std::vector<std::byte> binary(256);
  for (std::size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<std::byte>(255 - i);
  const std::string nul_text("x\0y\0\0z", 6);
  {
    DataStore store = open();
    store.write(key_ab, std::span<const std::byte>(binary));
    store.write(key_ac, nul_text);
    store.write(key_a, "plain");
    EXPECT_EQ(store.len(), 3u);
    EXPECT_NE(compute_hash(key_ab), compute_hash(key_a));
    EXPECT_EQ(bytes_of(*store.read(key_ab)), binary);
    EXPECT_EQ(store.read(key_ac)->as_string_view(), nul_text);
    EXPECT_EQ(store.read(key_a)->as_string_view(), "plain");
    EXPECT_EQ(store.read(key_ab)->key_hash(), compute_hash(key_ab));
  }
  DataStore store = open();
  EXPECT_EQ(bytes_of(*store.read(key_ab)), binary);
  EXPECT_EQ(store.read(key_ac)->as_string_view(), nul_text);
  EXPECT_EQ(store.read(key_a)->as_string_view(), "plain");
  // A key of binary bytes given as std::span<const std::byte>.
  const std::vector<std::byte> binary_key = srd_test::from_hex("00ff00fe7f80");
  store.write(std::span<const std::byte>(binary_key), "binary key");
  EXPECT_EQ(store.read(binary_key)->as_string_view(), "binary key");
  EXPECT_EQ(store.read(binary_key)->key_hash(), compute_hash(binary_key));
}

// ---- return values: every write returns the tail after it ----

TEST_F(BasicOps, WritesReturnTheTailGoldenExample) {
  // Inventory 1.9: "hello" then "world!" (pre-padded to 64) then a tombstone.
  {
    DataStore store = open();
    EXPECT_EQ(store.write("alice", "hello"), 25u);
    EXPECT_EQ(store.file_size(), 25u);
    EXPECT_EQ(store.write("bob", "world!"), 90u);
    EXPECT_EQ(store.file_size(), 90u);
    EXPECT_EQ(store.remove("alice"), 111u);
    EXPECT_EQ(store.file_size(), 111u);
    EXPECT_EQ(store.len(), 1u);
  }
  const auto expected = srd_test::from_hex(
      "68656c6c6fb016011ad60da14d000000000000000086a61036000000000000000000000000000000"
      "000000000000000000000000000000000000000000000000776f726c6421e5b8490fc4c003141900"
      "000000000000e898847100b016011ad60da14d5a000000000000008def02d2");
  ASSERT_EQ(expected.size(), 111u);
  EXPECT_EQ(srd_test::to_hex(srd_test::read_file(path())), srd_test::to_hex(expected));
  DataStore store = open();
  EXPECT_EQ(store.len(), 1u);
  EXPECT_FALSE(store.exists("alice"));
  EXPECT_EQ(store.read("bob")->as_string_view(), "world!");
  EXPECT_EQ(store.file_size(), 111u);
}

TEST_F(BasicOps, EveryWriteReturnsTheTailAfterIt) {
  DataStore store = open();
  std::uint64_t previous = 0;
  for (std::size_t i = 1; i <= 20; ++i) {
    const auto payload = srd_test::pattern_bytes(i * 7);
    const std::string key = "key" + std::to_string(i % 6);
    const std::uint64_t tail = store.write(key, payload);
    EXPECT_EQ(tail, store.file_size()) << i;
    auto entry = store.read(key);
    ASSERT_TRUE(entry.has_value());
    EXPECT_EQ(entry->metadata().prev_offset, previous) << i;
    EXPECT_EQ(entry->start_offset(), align_up(previous)) << i;
    EXPECT_EQ(entry->end_offset() + simd_r_drive::kMetadataSize, tail) << i;
    EXPECT_EQ(entry->checksum(), compute_checksum(payload)) << i;
    previous = tail;
  }
  EXPECT_EQ(store.len(), 6u);
}

TEST_F(BasicOps, RemoveReturnsTheTailAfterItsTombstone) {
  DataStore store = open();
  const std::uint64_t before = store.write("doomed", "value");
  const std::uint64_t tail = store.remove("doomed");
  EXPECT_EQ(tail, before + 1 + simd_r_drive::kMetadataSize);  // 0x00 byte, no pre-pad
  EXPECT_EQ(tail, store.file_size());
  auto last = store.read_last_entry();
  ASSERT_TRUE(last.has_value());
  EXPECT_TRUE(last->is_tombstone());
  EXPECT_EQ(last->size(), 1u);
  EXPECT_EQ(last->key_hash(), compute_hash("doomed"));
  EXPECT_EQ(last->start_offset(), before);
  EXPECT_EQ(last->metadata().prev_offset, before);
  EXPECT_EQ(last->checksum(), 0xD202EF8Du);
}

TEST_F(BasicOps, RemoveOfMissingKeyWritesNothing) {
  DataStore store = open();
  EXPECT_EQ(store.remove("never_written"), 0u);
  EXPECT_EQ(store.file_size(), 0u);
  const std::uint64_t tail = store.write("k", "v");
  EXPECT_EQ(store.remove("never_written"), tail);
  EXPECT_EQ(store.file_size(), tail);
  EXPECT_EQ(store.len(), 1u);
  store.remove("k");
  const std::uint64_t after_delete = store.file_size();
  EXPECT_EQ(store.remove("k"), after_delete);  // already deleted: no second tombstone
  EXPECT_EQ(store.file_size(), after_delete);
}

TEST_F(BasicOps, ReadMetadata) {
  DataStore store = open();
  store.write("first", "abc");
  const std::uint64_t tail = store.file_size();
  store.write("meta", "hello");
  auto metadata = store.read_metadata("meta");
  ASSERT_TRUE(metadata.has_value());
  EXPECT_EQ(metadata->key_hash, compute_hash("meta"));
  EXPECT_EQ(metadata->prev_offset, tail);
  EXPECT_EQ(metadata->checksum, 0x3610A686u);
  EXPECT_FALSE(store.read_metadata("missing").has_value());
  store.remove("meta");
  EXPECT_FALSE(store.read_metadata("meta").has_value());
}

TEST_F(BasicOps, PathIsAsGiven) {
  DataStore store = open();
  EXPECT_EQ(store.path(), path());
}

}  // namespace

// Batch writes, reads and removes: catalogue 9.4, plus batch atomicity on
// validation, duplicate keys, and tombstones written through the pre-hashed batch
// (including the fix of the original's bug 2.6).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simd_r_drive/simd_r_drive.h>

#include "scripted_injector.h"
#include "test_support.h"

namespace {

using srd_test::code_of;
using srd_test::message_of;
using srd_test::kInvalidArgument;

using simd_r_drive::ByteView;
using simd_r_drive::compute_checksum;
using simd_r_drive::compute_hash;
using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using simd_r_drive::Error;
using simd_r_drive::HashedPayload;


using StringPairs = std::vector<std::pair<std::string, std::string>>;

const std::array<std::byte, 1> kNul{std::byte{0x00}};

class BatchOps : public ::testing::Test {
 protected:
  std::filesystem::path path() const { return dir_.file("batch.bin"); }
  DataStore open() const { return DataStore::open(path()); }

  srd_test::TempDir dir_;
};

// ---- catalogue 9.4 ----

TEST_F(BatchOps, BatchWriteAndIndividualReads) {
  DataStore store = open();
  const StringPairs items{{"key1", "value1"}, {"key2", "value2"}, {"key3", "value3"}};
  const std::uint64_t tail = store.batch_write(items);
  EXPECT_EQ(tail, store.file_size());
  EXPECT_EQ(store.len(), 3u);
  for (const auto& [key, value] : items) {
    auto entry = store.read(key);
    ASSERT_TRUE(entry.has_value()) << key;
    EXPECT_EQ(entry->as_string_view(), value);
    EXPECT_EQ(entry->key_hash(), compute_hash(key));
    EXPECT_EQ(entry->checksum(), compute_checksum(value));
    EXPECT_EQ(entry->start_offset() % simd_r_drive::kPayloadAlignment, 0u);
  }
  EXPECT_EQ(store.read("key1")->checksum(), 0xA2756C5Au);
  EXPECT_EQ(store.read_last_entry()->as_string_view(), "value3");
}

TEST_F(BatchOps, BatchWriteAndBatchRead) {
  DataStore store = open();
  store.batch_write(StringPairs{{"a", "alpha"}, {"b", "beta"}, {"c", "gamma"}});
  const std::vector<std::string> keys{"c", "a", "b", "a"};
  const auto results = store.batch_read(keys);
  ASSERT_EQ(results.size(), keys.size());
  ASSERT_TRUE(results[0] && results[1] && results[2] && results[3]);
  EXPECT_EQ(results[0]->as_string_view(), "gamma");
  EXPECT_EQ(results[1]->as_string_view(), "alpha");
  EXPECT_EQ(results[2]->as_string_view(), "beta");
  EXPECT_EQ(results[3]->as_string_view(), "alpha");
  EXPECT_TRUE(store.batch_read(std::vector<std::string>{}).empty());
}

TEST_F(BatchOps, BatchWriteRejectsNullBytePayload) {
  DataStore store = open();
  std::vector<std::pair<std::string, std::vector<std::byte>>> items;
  items.emplace_back("nul", std::vector<std::byte>(kNul.begin(), kNul.end()));
  EXPECT_EQ(code_of([&] { store.batch_write(items); }), kInvalidArgument);
  const HashedPayload hashed{compute_hash("nul"), kNul};
  EXPECT_EQ(code_of([&] { store.batch_write_with_key_hashes({&hashed, 1}, false); }), kInvalidArgument);
  EXPECT_EQ(store.file_size(), 0u);
  EXPECT_EQ(store.len(), 0u);
  EXPECT_FALSE(store.exists("nul"));
}

TEST_F(BatchOps, BatchWriteRejectsEmptyPayload) {
  DataStore store = open();
  EXPECT_EQ(code_of([&] { store.batch_write(StringPairs{{"empty", ""}}); }), kInvalidArgument);
  // allow_null_bytes does not make an empty payload acceptable.
  const HashedPayload hashed{compute_hash("empty"), ByteView()};
  EXPECT_EQ(code_of([&] { store.batch_write_with_key_hashes({&hashed, 1}, true); }), kInvalidArgument);
  EXPECT_EQ(store.file_size(), 0u);
  EXPECT_EQ(store.len(), 0u);
}

TEST_F(BatchOps, BatchWriteRejectsEmptyPayloadAmongMany) {
  DataStore store = open();
  store.write("earlier", "before the batch");
  const std::uint64_t tail = store.file_size();
  const StringPairs items{{"first", "ok"}, {"middle", ""}, {"last", "also ok"}};
  EXPECT_EQ(code_of([&] { store.batch_write(items); }), kInvalidArgument);
  EXPECT_EQ(message_of([&] { store.batch_write(items); }), "Payload cannot be empty.");
  EXPECT_EQ(store.file_size(), tail);
  EXPECT_EQ(store.len(), 1u);
  EXPECT_FALSE(store.exists("first"));
  EXPECT_FALSE(store.exists("middle"));
  EXPECT_FALSE(store.exists("last"));
  EXPECT_EQ(store.read_last_entry()->as_string_view(), "before the batch");
}

TEST_F(BatchOps, BatchWriteRejectsEmptyPayloadAmongManyOnEmptyStore) {
  {
    DataStore store = open();
    EXPECT_EQ(code_of([&] { store.batch_write(StringPairs{{"k1", "v1"}, {"k2", ""}, {"k3", "v3"}}); }),
              kInvalidArgument);
    EXPECT_EQ(store.len(), 0u);
    EXPECT_EQ(store.file_size(), 0u);
    EXPECT_FALSE(store.exists("k1"));
    EXPECT_FALSE(store.exists("k3"));
  }
  EXPECT_EQ(std::filesystem::file_size(path()), 0u);
  DataStore store = open();
  EXPECT_TRUE(store.is_empty());
}

TEST_F(BatchOps, BatchReadWithMissingKey) {
  DataStore store = open();
  store.batch_write(StringPairs{{"k1", "v1"}, {"k3", "v3"}});
  const auto results = store.batch_read(std::vector<std::string>{"k1", "missing", "k3"});
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0].has_value());
  EXPECT_FALSE(results[1].has_value());
  ASSERT_TRUE(results[2].has_value());
  EXPECT_EQ(results[0]->as_string_view(), "v1");
  EXPECT_EQ(results[2]->as_string_view(), "v3");
}

TEST_F(BatchOps, BatchWriteRejectsNullByteAmongMany) {
  DataStore store = open();
  store.write("earlier", "x");
  const std::uint64_t tail = store.file_size();
  std::vector<std::pair<std::string, std::vector<std::byte>>> items;
  items.emplace_back("first", srd_test::bytes_of("valid"));
  items.emplace_back("nul", std::vector<std::byte>(kNul.begin(), kNul.end()));
  items.emplace_back("last", srd_test::bytes_of("also valid"));
  EXPECT_EQ(code_of([&] { store.batch_write(items); }), kInvalidArgument);
  EXPECT_EQ(message_of([&] { store.batch_write(items); }), "NULL-byte payloads cannot be written directly.");
  EXPECT_EQ(store.file_size(), tail);
  EXPECT_EQ(store.len(), 1u);
  EXPECT_FALSE(store.exists("first"));
  EXPECT_FALSE(store.exists("nul"));
  EXPECT_FALSE(store.exists("last"));
}

TEST_F(BatchOps, BatchReadHashedKeysWithVerification) {
  DataStore store = open();
  store.batch_write(StringPairs{{"alice", "A"}, {"bob", "B"}, {"carol", "C"}});
  const std::vector<ByteView> keys{"alice", "bob", "carol"};
  const std::vector<std::uint64_t> hashes{compute_hash("alice"), compute_hash("bob"), compute_hash("carol")};
  const auto results = store.batch_read_hashed_keys(hashes, keys);
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0] && results[1] && results[2]);
  EXPECT_EQ(results[0]->as_string_view(), "A");
  EXPECT_EQ(results[1]->as_string_view(), "B");
  EXPECT_EQ(results[2]->as_string_view(), "C");
}

TEST_F(BatchOps, BatchReadHashedKeysWithoutVerification) {
  DataStore store = open();
  store.batch_write(StringPairs{{"alice", "A"}, {"bob", "B"}});
  const std::vector<std::uint64_t> hashes{compute_hash("bob"), compute_hash("alice")};
  const auto results = store.batch_read_hashed_keys(hashes);
  ASSERT_EQ(results.size(), 2u);
  ASSERT_TRUE(results[0] && results[1]);
  EXPECT_EQ(results[0]->as_string_view(), "B");
  EXPECT_EQ(results[1]->as_string_view(), "A");
}

TEST_F(BatchOps, BatchReadHashedKeysWithMissingKeys) {
  DataStore store = open();
  store.write("alice", "A");
  const std::vector<std::uint64_t> hashes{compute_hash("alice"), 12345};
  const auto results = store.batch_read_hashed_keys(hashes);
  ASSERT_EQ(results.size(), 2u);
  ASSERT_TRUE(results[0].has_value());
  EXPECT_EQ(results[0]->as_string_view(), "A");
  EXPECT_FALSE(results[1].has_value());
}

TEST_F(BatchOps, BatchReadHashedKeysDetectsCollision) {
  DataStore store = open();
  store.write("alice", "A");
  // The real hash of "alice" given with the wrong key: reads as absent.
  const std::vector<std::uint64_t> hashes{compute_hash("alice")};
  const std::vector<ByteView> keys{"mallory"};
  const auto results = store.batch_read_hashed_keys(hashes, keys);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].has_value());
}

TEST_F(BatchOps, BatchReadHashedKeysMismatchedLengths) {
  DataStore store = open();
  store.write("alice", "A");
  const std::vector<std::uint64_t> hashes{compute_hash("alice"), compute_hash("bob")};
  const std::vector<ByteView> keys{"alice"};
  EXPECT_EQ(code_of([&] { (void)store.batch_read_hashed_keys(hashes, keys); }), kInvalidArgument);
  EXPECT_EQ(message_of([&] { (void)store.batch_read_hashed_keys(hashes, keys); }),
            "Mismatched lengths for hashed and non-hashed keys.");
}

TEST_F(BatchOps, BatchDelete) {
  DataStore store = open();
  store.batch_write(StringPairs{{"k1", "v1"}, {"k2", "v2"}, {"k3", "v3"}, {"k4", "v4"}});
  EXPECT_EQ(store.len(), 4u);
  const std::uint64_t tail = store.batch_remove(std::vector<std::string>{"k2", "k4"});
  EXPECT_EQ(tail, store.file_size());
  EXPECT_EQ(store.len(), 2u);
  EXPECT_FALSE(store.exists("k2"));
  EXPECT_FALSE(store.exists("k4"));
  EXPECT_EQ(store.read("k1")->as_string_view(), "v1");
  EXPECT_EQ(store.read("k3")->as_string_view(), "v3");
}

TEST_F(BatchOps, BatchDeleteWithMissingKeys) {
  DataStore store = open();
  store.write("exists", "yes");
  const std::uint64_t before = store.file_size();
  const std::uint64_t tail = store.batch_remove(std::vector<std::string>{"exists", "missing"});
  EXPECT_TRUE(store.is_empty());
  EXPECT_FALSE(store.exists("exists"));
  // One tombstone only: the missing key is skipped.
  EXPECT_EQ(tail, before + 1 + simd_r_drive::kMetadataSize);
  EXPECT_EQ(tail, store.file_size());
}

TEST_F(BatchOps, BatchDeleteKeyHashes) {
  DataStore store = open();
  store.write("real", "value");
  const std::vector<std::uint64_t> hashes{compute_hash("real"), 0xfeedfacecafebeefULL};
  const std::uint64_t tail = store.batch_remove_key_hashes(hashes);
  EXPECT_EQ(tail, store.file_size());
  EXPECT_TRUE(store.is_empty());
  EXPECT_FALSE(store.exists("real"));
}

TEST_F(BatchOps, BatchRemoveOfOnlyMissingKeysWritesNothing) {
  DataStore store = open();
  EXPECT_EQ(store.batch_remove(std::vector<std::string>{"a", "b"}), 0u);
  EXPECT_EQ(store.file_size(), 0u);
  const std::uint64_t tail = store.write("k", "v");
  EXPECT_EQ(store.batch_remove(std::vector<std::string>{"a", "b"}), tail);
  EXPECT_EQ(store.batch_remove(std::vector<std::string>{}), tail);
  EXPECT_EQ(store.file_size(), tail);
  EXPECT_EQ(store.len(), 1u);
}

// ---- decided behaviours ----

TEST_F(BatchOps, EmptyBatchWritesNothingAndReturnsTail) {
  DataStore store = open();
  EXPECT_EQ(store.batch_write(StringPairs{}), 0u);
  const std::uint64_t tail = store.write("k", "v");
  EXPECT_EQ(store.batch_write(StringPairs{}), tail);
  EXPECT_EQ(store.batch_write_with_key_hashes({}, true), tail);
  EXPECT_EQ(store.file_size(), tail);
  EXPECT_EQ(store.len(), 1u);
}

TEST_F(BatchOps, BatchLaysOutEntriesBackToBack) {
  DataStore store = open();
  store.write("seed", "xyz");
  const std::uint64_t start_tail = store.file_size();
  const StringPairs items{{"a", "1"}, {"b", std::string(100, 'b')}, {"c", "333"}};
  const std::uint64_t tail = store.batch_write(items);
  std::uint64_t previous = start_tail;
  for (const auto& [key, value] : items) {
    auto entry = store.read(key);
    ASSERT_TRUE(entry.has_value());
    EXPECT_EQ(entry->metadata().prev_offset, previous) << key;
    EXPECT_EQ(entry->start_offset(), (previous + 63) / 64 * 64) << key;
    previous = entry->end_offset() + simd_r_drive::kMetadataSize;
  }
  EXPECT_EQ(previous, tail);
}

TEST_F(BatchOps, DuplicateKeysInOneBatchLaterWins) {
  {
    DataStore store = open();
    store.batch_write(StringPairs{{"dup", "first"}, {"other", "o"}, {"dup", "second"}, {"dup", "third"}});
    EXPECT_EQ(store.len(), 2u);
    EXPECT_EQ(store.read("dup")->as_string_view(), "third");
    std::size_t visited = 0;
    for (const EntryHandle& entry : store.iter_entries()) {
      ++visited;
      if (entry.key_hash() == compute_hash("dup")) {
        EXPECT_EQ(entry.as_string_view(), "third");
      }
    }
    EXPECT_EQ(visited, 2u);
  }
  DataStore store = open();
  EXPECT_EQ(store.len(), 2u);
  EXPECT_EQ(store.read("dup")->as_string_view(), "third");
  EXPECT_EQ(store.read("other")->as_string_view(), "o");
}

TEST_F(BatchOps, BinaryKeysAndValuesInBatch) {
  const std::vector<std::byte> key1 = srd_test::from_hex("00");
  const std::vector<std::byte> key2 = srd_test::from_hex("0000");
  const std::vector<std::byte> value1 = srd_test::from_hex("00ff00");
  const std::vector<std::byte> value2 = srd_test::pattern_bytes(5000);
  std::vector<std::pair<std::span<const std::byte>, std::span<const std::byte>>> items{
      {key1, value1}, {key2, value2}};
  DataStore store = open();
  store.batch_write(items);
  EXPECT_EQ(store.read(key1)->key_hash(), 0xc44bdff4074eecdbULL);
  EXPECT_TRUE(*store.read(key1) == ByteView(value1));
  EXPECT_TRUE(*store.read(key2) == ByteView(value2));
  EXPECT_FALSE(store.exists(""));
}

TEST_F(BatchOps, PrehashedNullPayloadWithoutAllowIsRejected) {
  DataStore store = open();
  store.write("k", "v");
  const std::uint64_t tail = store.file_size();
  const std::vector<HashedPayload> items{{compute_hash("x"), ByteView("x")}, {compute_hash("k"), kNul}};
  EXPECT_EQ(code_of([&] { store.batch_write_with_key_hashes(items, false); }), kInvalidArgument);
  EXPECT_EQ(store.file_size(), tail);
  EXPECT_TRUE(store.exists("k"));
  EXPECT_FALSE(store.exists("x"));
}

TEST_F(BatchOps, PrehashedNullPayloadWithAllowWritesTombstone) {
  DataStore store = open();
  store.write("victim", "value");
  store.write("bystander", "stays");
  const std::uint64_t before = store.file_size();
  const HashedPayload tombstone{compute_hash("victim"), kNul};
  const std::uint64_t tail = store.batch_write_with_key_hashes({&tombstone, 1}, true);
  EXPECT_EQ(tail, before + 1 + simd_r_drive::kMetadataSize);
  EXPECT_EQ(tail, store.file_size());
  EXPECT_FALSE(store.exists("victim"));
  EXPECT_FALSE(store.read("victim").has_value());
  EXPECT_EQ(store.len(), 1u);
  auto last = store.read_last_entry();
  ASSERT_TRUE(last.has_value());
  EXPECT_TRUE(last->is_tombstone());
  EXPECT_EQ(last->key_hash(), compute_hash("victim"));
}

TEST_F(BatchOps, WriteThenTombstoneInOneBatchIsAbsent) {
  const std::uint64_t hash = compute_hash("k");
  {
    DataStore store = open();
    const std::vector<HashedPayload> items{{hash, ByteView("live value")}, {hash, kNul}};
    store.batch_write_with_key_hashes(items, true);
    EXPECT_FALSE(store.exists_with_key_hash(hash));
    EXPECT_EQ(store.len(), 0u);
  }
  DataStore store = open();
  EXPECT_FALSE(store.exists_with_key_hash(hash));
  EXPECT_EQ(store.len(), 0u);
}

TEST_F(BatchOps, TombstoneThenWriteInOneBatchIsPresent) {
  // The original removed the key whatever the order (bug 2.6); the later item wins.
  const std::uint64_t hash = compute_hash("k");
  {
    DataStore store = open();
    store.write("k", "old value");
    const std::vector<HashedPayload> items{{hash, kNul}, {hash, ByteView("new value")}};
    store.batch_write_with_key_hashes(items, true);
    auto entry = store.read_with_key_hash(hash);
    ASSERT_TRUE(entry.has_value());
    EXPECT_EQ(entry->as_string_view(), "new value");
    EXPECT_EQ(store.len(), 1u);
  }
  DataStore store = open();
  auto entry = store.read("k");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->as_string_view(), "new value");
  EXPECT_EQ(store.len(), 1u);
}

TEST_F(BatchOps, TombstoneThenWriteOnFreshKeyInOneBatch) {
  const std::uint64_t hash = 0x0123456789abcdefULL;
  DataStore store = open();
  const std::vector<HashedPayload> items{{hash, kNul}, {hash, ByteView("fresh")}};
  store.batch_write_with_key_hashes(items, true);
  auto entry = store.read_with_key_hash(hash);
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->as_string_view(), "fresh");
  EXPECT_EQ(store.len(), 1u);
}

TEST_F(BatchOps, TwoNulBytesInBatchAreAnOrdinaryPayload) {
  DataStore store = open();
  const std::array<std::byte, 2> two{std::byte{0}, std::byte{0}};
  std::vector<std::pair<std::string, std::span<const std::byte>>> items{{"two", two}};
  store.batch_write(items);
  auto entry = store.read("two");
  ASSERT_TRUE(entry.has_value());
  EXPECT_TRUE(*entry == ByteView(two));
}

// ---- the direct-write threshold ----

// In the modes without huge folios, batches of at least 256 KiB of payload go to the
// file with pwritev; smaller ones are copied into the mapping. In the modes with huge
// folios (kFlush here) every batch is copied into the mapping. Both paths must store
// every byte. The injector counts the writes the engine makes to the store file at
// the batch's start, which tells the two paths apart: the mapping path makes none.
TEST_F(BatchOps, BatchesOnBothSidesOfTheDirectWriteThresholdStoreEveryByte) {
  constexpr std::size_t kThreshold = 256 * 1024;
  struct Case {
    std::size_t total;
    simd_r_drive::OpenOptions options;
    bool pwritev;
  };
  const Case cases[] = {{kThreshold - 1, srd_test::pwritev_options(), false},
                        {kThreshold, srd_test::pwritev_options(), true},
                        {kThreshold, simd_r_drive::OpenOptions{}, false},
                        {4 * kThreshold, simd_r_drive::OpenOptions{}, false}};
  for (const auto& [total, options, pwritev] : cases) {
    SCOPED_TRACE("payload bytes " + std::to_string(total) + ", durability " +
                 std::to_string(static_cast<int>(options.durability)));
    srd_test::TempDir dir;
    const auto store_path = dir.file("threshold.bin");
    DataStore store = DataStore::open(store_path, options);
    const std::uint64_t batch_start = store.write("before", "an entry, so that the batch starts at an unaligned tail");
    // Four items whose sizes add up to `total`, none a multiple of 64.
    StringPairs items;
    std::size_t left = total;
    for (int i = 0; i < 4; ++i) {
      const std::size_t size = i < 3 ? 65'531 + static_cast<std::size_t>(i) : left;
      std::string value(size, '\0');
      for (std::size_t b = 0; b < size; ++b) value[b] = static_cast<char>('a' + (b * 7 + static_cast<std::size_t>(i)) % 26);
      left -= size;
      items.emplace_back("item-" + std::to_string(i), std::move(value));
    }
    std::atomic<int> store_writes{0};
    {
      // Writes at the batch's start only: the modes that sync each write also move the
      // padding record with a write at the end of the file.
      srd_test::ScriptedInjector injector([&](auto operation, const std::filesystem::path& written,
                                              std::uint64_t offset, std::uint64_t, std::uint64_t*) {
        if (operation == srd_test::ScriptedInjector::Operation::kWrite && written == store.path() &&
            offset == batch_start) {
          ++store_writes;
        }
        return 0;
      });
      store.batch_write(items);
    }
    EXPECT_EQ(store_writes.load() > 0, pwritev) << store_writes.load() << " pwritev calls";
    for (const auto& [key, value] : items) {
      const auto entry = store.read(key);
      ASSERT_TRUE(entry.has_value()) << key;
      EXPECT_TRUE(entry->as_string_view() == value) << key;
      EXPECT_TRUE(entry->is_valid_checksum());
      EXPECT_EQ(entry->start_offset() % simd_r_drive::kPayloadAlignment, 0u);
    }
    EXPECT_TRUE(store.verify().ok());
    const std::uint64_t tail = store.file_size();
    store = DataStore::open(dir.file("other.bin"));  // closes the first store
    const DataStore reopened = DataStore::open(store_path);
    EXPECT_EQ(reopened.file_size(), tail);
    EXPECT_EQ(reopened.len(), 5u);
    EXPECT_TRUE(reopened.read("item-3")->as_string_view() == items[3].second);
  }
}

// ---- batch_read_views: one pin for the whole batch ----

TEST_F(BatchOps, BatchReadViewsAgreeWithBatchReadOverManyChunks) {
  DataStore store = open();
  StringPairs items;
  for (int i = 0; i < 1000; ++i) items.emplace_back("key-" + std::to_string(i), "value-" + std::to_string(i * 7));
  store.batch_write(items);
  store.remove("key-5");
  store.write("key-6", "rewritten");
  // Present, absent, deleted, rewritten and repeated keys, more than one lookup chunk.
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i) keys.push_back("key-" + std::to_string((i * 37) % 1200));
  keys.push_back("key-5");
  keys.push_back("key-6");
  keys.push_back("key-6");
  const auto handles = store.batch_read(keys);
  const simd_r_drive::ValueBatch views = store.batch_read_views(keys);
  ASSERT_EQ(views.size(), keys.size());
  std::size_t found = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(views.contains(i), handles[i].has_value()) << keys[i];
    if (!handles[i]) {
      EXPECT_FALSE(views[i].has_value());
      EXPECT_TRUE(views.views()[i].empty());
      continue;
    }
    ++found;
    EXPECT_EQ(views[i]->data(), handles[i]->data()) << "a view points at the mapped value itself";
    EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(views[i]->data()), views[i]->size()),
              handles[i]->as_string_view());
  }
  EXPECT_EQ(views.found(), found);
  EXPECT_FALSE(views.contains(300)) << "key-5 was deleted";
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(views[301]->data()), views[301]->size()), "rewritten");
  EXPECT_LT(found, keys.size()) << "keys 1000..1199 were never written";
}

TEST_F(BatchOps, BatchReadViewsOfNothing) {
  DataStore store = open();
  EXPECT_TRUE(store.batch_read_views(std::vector<std::string>{}).empty());
  const auto none = store.batch_read_views(std::vector<std::string>{"a", "b"});
  ASSERT_EQ(none.size(), 2u);
  EXPECT_EQ(none.found(), 0u);
  EXPECT_FALSE(none[0].has_value());
  store.write("a", "1");
  const auto one = store.batch_read_views(std::vector<std::string>{"a", "b"});
  EXPECT_EQ(one.found(), 1u);
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(one[0]->data()), one[0]->size()), "1");
}

TEST_F(BatchOps, BatchReadViewsOutliveGrowthCompactionAndTheStore) {
  std::optional<simd_r_drive::ValueBatch> kept;
  {
    DataStore store = DataStore::open(path(), srd_test::with_reservation(8 << 20));
    store.batch_write(StringPairs{{"first", "first value"}, {"second", "second value"}});
    kept = store.batch_read_views(std::vector<std::string>{"second", "first"});
    // Enough appends to outgrow the 8 MiB mapping, then a compaction that replaces it.
    const std::string big(1 << 20, 'x');
    for (int i = 0; i < 40; ++i) store.write("filler-" + std::to_string(i), big);
    store.compact();
  }
  ASSERT_EQ(kept->found(), 2u);
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>((*kept)[0]->data()), (*kept)[0]->size()), "second value");
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>((*kept)[1]->data()), (*kept)[1]->size()), "first value");
}

}  // namespace

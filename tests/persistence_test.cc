// Persistence: what one session writes, the next one reads (the original's persistence tests), a torn
// or garbage tail is cut back on open (2.3), and len() counts live keys also after
// reopening, unlike the original (2.5, 10.2).

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "simd_r_drive/simd_r_drive.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using srd_test::TempDir;

// The value stored under `key`, or nullopt when the key is absent.
std::optional<std::string> value_of(const DataStore& store, std::string_view key) {
  std::optional<EntryHandle> handle = store.read(key);
  if (!handle) return std::nullopt;
  return std::string(handle->as_string_view());
}

void append_to_file(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good());
}

TEST(Persistence, EntriesSurviveReopen) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  std::uint64_t tail = 0;
  {
    DataStore store = DataStore::open(path);
    store.write("key1", "value1");
    store.write("key2", "value2");
    tail = store.write("key3", "value3");
    EXPECT_EQ(store.file_size(), tail);
  }
  EXPECT_EQ(std::filesystem::file_size(path), tail);

  DataStore store = DataStore::open(path);
  EXPECT_EQ(store.file_size(), tail);
  EXPECT_EQ(store.len(), 3u);
  EXPECT_EQ(value_of(store, "key1"), "value1");
  EXPECT_EQ(value_of(store, "key2"), "value2");
  EXPECT_EQ(value_of(store, "key3"), "value3");
  EXPECT_EQ(value_of(store, "key4"), std::nullopt);
}

TEST(Persistence, BinaryAndPrehashedEntriesSurviveReopen) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  const std::vector<std::byte> big = srd_test::pattern_bytes(200'000);
  const std::vector<std::byte> small = srd_test::pattern_bytes(3);
  const std::uint64_t raw_hash = 0x0123456789abcdefULL;
  {
    DataStore store = DataStore::open(path);
    store.write("big", big);
    store.write_with_key_hash(raw_hash, small);
    std::vector<std::pair<std::string, std::string>> batch = {{"b1", "one"}, {"b2", "two"}};
    store.batch_write(batch);
  }
  DataStore store = DataStore::open(path);
  EXPECT_EQ(store.len(), 4u);
  auto big_handle = store.read("big");
  ASSERT_TRUE(big_handle.has_value());
  EXPECT_TRUE(*big_handle == big);
  EXPECT_EQ(big_handle->start_offset() % simd_r_drive::kPayloadAlignment, 0u);
  auto small_handle = store.read_with_key_hash(raw_hash);
  ASSERT_TRUE(small_handle.has_value());
  EXPECT_TRUE(*small_handle == small);
  EXPECT_EQ(value_of(store, "b1"), "one");
  EXPECT_EQ(value_of(store, "b2"), "two");
}

TEST(Persistence, UpdatesAcrossMultipleReopens) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  {
    DataStore store = DataStore::open(path);
    store.write("a", "a-1");
    store.write("b", "b-1");
    store.write("c", "c-1");
  }
  {
    DataStore store = DataStore::open(path);
    EXPECT_EQ(value_of(store, "a"), "a-1");
    store.write("a", "a-2");
    store.write("b", "b-2");
    store.write("d", "d-2");
  }
  {
    DataStore store = DataStore::open(path);
    EXPECT_EQ(value_of(store, "a"), "a-2");
    EXPECT_EQ(value_of(store, "b"), "b-2");
    EXPECT_EQ(value_of(store, "c"), "c-1");
    EXPECT_EQ(value_of(store, "d"), "d-2");
    EXPECT_EQ(store.len(), 4u);
    store.write("b", "b-3");
    store.remove("c");
  }
  DataStore store = DataStore::open(path);
  EXPECT_EQ(value_of(store, "a"), "a-2");
  EXPECT_EQ(value_of(store, "b"), "b-3");
  EXPECT_EQ(value_of(store, "c"), std::nullopt);
  EXPECT_EQ(value_of(store, "d"), "d-2");
  EXPECT_EQ(store.len(), 3u);
}

TEST(Persistence, GarbageTailIsTruncatedOnReopen) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  std::uint64_t clean_size = 0;
  {
    DataStore store = DataStore::open(path);
    store.write("first", "first value");
    clean_size = store.write("second", "second value");
  }
  ASSERT_EQ(std::filesystem::file_size(path), clean_size);
  const std::vector<std::byte> clean_bytes = srd_test::read_file(path);

  append_to_file(path, "CORRUPT");
  ASSERT_EQ(std::filesystem::file_size(path), clean_size + 7);

  {
    DataStore store = DataStore::open(path);
    EXPECT_EQ(store.file_size(), clean_size);
    EXPECT_EQ(value_of(store, "first"), "first value");
    EXPECT_EQ(value_of(store, "second"), "second value");
    EXPECT_EQ(store.len(), 2u);
  }
  // Opening alone cut the garbage off: the file is the clean file again, byte for byte.
  EXPECT_EQ(std::filesystem::file_size(path), clean_size);
  EXPECT_EQ(srd_test::read_file(path), clean_bytes);

  append_to_file(path, "CORRUPT");
  std::uint64_t tail_after_write = 0;
  {
    DataStore store = DataStore::open(path);
    EXPECT_EQ(store.file_size(), clean_size);
    tail_after_write = store.write("third", "third value");
    EXPECT_GT(tail_after_write, clean_size);
    EXPECT_EQ(value_of(store, "third"), "third value");
  }
  EXPECT_EQ(std::filesystem::file_size(path), tail_after_write);

  DataStore store = DataStore::open(path);
  EXPECT_EQ(store.file_size(), tail_after_write);
  EXPECT_EQ(value_of(store, "first"), "first value");
  EXPECT_EQ(value_of(store, "second"), "second value");
  EXPECT_EQ(value_of(store, "third"), "third value");
  EXPECT_EQ(store.len(), 3u);
  EXPECT_TRUE(store.verify().ok());
}

TEST(Persistence, LenCountsLiveKeysAfterReopen) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  {
    DataStore store = DataStore::open(path);
    for (int i = 0; i < 5; ++i) store.write("key" + std::to_string(i), "value" + std::to_string(i));
    store.remove("key1");
    store.remove("key3");
    EXPECT_EQ(store.len(), 3u);
  }
  {
    DataStore store = DataStore::open(path);
    EXPECT_EQ(store.len(), 3u);
    EXPECT_FALSE(store.is_empty());
    EXPECT_FALSE(store.exists("key1"));
    EXPECT_FALSE(store.exists("key3"));
    EXPECT_TRUE(store.exists("key0"));
    EXPECT_TRUE(store.exists("key2"));
    EXPECT_TRUE(store.exists("key4"));

    // Removing a key that is already deleted writes nothing, also after a reopen
    // (the original wrote a redundant tombstone here).
    const std::uint64_t before = store.file_size();
    EXPECT_EQ(store.remove("key1"), before);
    EXPECT_EQ(store.file_size(), before);
    EXPECT_EQ(store.len(), 3u);

    store.remove("key0");
    store.remove("key2");
    store.remove("key4");
    EXPECT_TRUE(store.is_empty());
  }
  DataStore store = DataStore::open(path);
  EXPECT_EQ(store.len(), 0u);
  EXPECT_TRUE(store.is_empty());
  const std::uint64_t before = store.file_size();
  EXPECT_GT(before, 0u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(store.remove("key" + std::to_string(i)), before) << "key" << i;
  }
  EXPECT_EQ(store.file_size(), before);
}

TEST(Persistence, DeletedThenRewrittenKeyIsLiveAfterReopen) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  {
    DataStore store = DataStore::open(path);
    store.write("k", "old");
    store.remove("k");
    store.write("k", "new");
    store.write("gone", "x1");
    store.remove("gone");
  }
  DataStore store = DataStore::open(path);
  EXPECT_EQ(store.len(), 1u);
  EXPECT_EQ(value_of(store, "k"), "new");
  EXPECT_EQ(value_of(store, "gone"), std::nullopt);
}

TEST(Persistence, ReopenOfUnchangedStoreKeepsFileIdentical) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  {
    DataStore store = DataStore::open(path);
    store.write("a", "1234567");
    store.write("b", srd_test::pattern_bytes(1000));
    store.remove("a");
  }
  const std::string before = srd_test::sha256_hex(path);
  {
    DataStore store = DataStore::open(path);
    EXPECT_EQ(store.len(), 1u);
    (void)store.read("b");
  }
  EXPECT_EQ(srd_test::sha256_hex(path), before);
}

TEST(Persistence, OpenExistingRequiresTheFile) {
  TempDir dir;
  const auto path = dir.file("missing.bin");
  try {
    (void)DataStore::open_existing(path);
    ADD_FAILURE() << "open_existing of a missing file did not throw";
  } catch (const simd_r_drive::Error& error) {
    EXPECT_EQ(error.code(), simd_r_drive::ErrorCode::kNotFound);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  { DataStore::open(path).write("k", "v"); }
  DataStore store = DataStore::open_existing(path);
  EXPECT_EQ(value_of(store, "k"), "v");
}

}  // namespace

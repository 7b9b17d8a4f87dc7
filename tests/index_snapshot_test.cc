// The index snapshot beside a store ("<store>.index") is a cache: when it matches the
// store it is used, and whenever it does not it must be ignored, never trusted.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include "simd_r_drive/simd_r_drive.h"
#include "test_support.h"

namespace simd_r_drive {
namespace {

namespace fs = std::filesystem;

OpenOptions always_snapshot() {
  OpenOptions options;
  options.index_snapshot_min_keys = 0;
  return options;
}

fs::path snapshot_of(const fs::path& store) { return store.string() + ".index"; }

// Writes keys k0..k{n-1} with values "v<i>", deletes every fifth, closes.
void fill(const fs::path& path, int n) {
  auto store = DataStore::open(path, always_snapshot());
  for (int i = 0; i < n; ++i) store.write("k" + std::to_string(i), "v" + std::to_string(i));
  for (int i = 0; i < n; i += 5) store.remove("k" + std::to_string(i));
}

void expect_contents(const DataStore& store, int n) {
  std::size_t live = 0;
  for (int i = 0; i < n; ++i) {
    auto value = store.read("k" + std::to_string(i));
    if (i % 5 == 0) {
      EXPECT_FALSE(value) << i;
    } else {
      ASSERT_TRUE(value) << i;
      EXPECT_EQ(value->as_string_view(), "v" + std::to_string(i));
      ++live;
    }
  }
  EXPECT_EQ(store.len(), live);
}

TEST(IndexSnapshot, SavedOnCloseAndLoadedOnOpen) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  fill(path, 500);
  ASSERT_TRUE(fs::exists(snapshot_of(path)));
  auto store = DataStore::open(path, always_snapshot());
  EXPECT_TRUE(store.index_loaded_from_snapshot());
  expect_contents(store, 500);
  // The loaded table is writable (copy-on-write) and grows like any other.
  for (int i = 500; i < 5000; ++i) store.write("k" + std::to_string(i), "v" + std::to_string(i));
  EXPECT_EQ(store.read("k4999")->as_string_view(), "v4999");
}

TEST(IndexSnapshot, SmallStoresKeepNoSnapshotByDefault) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  fill(path, 50);
  ASSERT_TRUE(fs::exists(snapshot_of(path)));
  { auto store = DataStore::open(path); }  // default threshold: 65536 keys
  EXPECT_FALSE(fs::exists(snapshot_of(path)));
  auto store = DataStore::open(path);
  EXPECT_FALSE(store.index_loaded_from_snapshot());
  expect_contents(store, 50);
}

TEST(IndexSnapshot, EntriesAppendedAfterTheSnapshotAreApplied) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  fill(path, 300);
  fs::copy_file(snapshot_of(path), dir.file("old.index"));
  {
    auto store = DataStore::open(path, always_snapshot());
    store.write("k1", "updated");
    store.remove("k2");
    store.write("k0", "revived");  // was deleted before the snapshot
    store.write("new", "entry");
  }
  // Put the older snapshot back: it covers only a prefix of the store now.
  fs::copy_file(dir.file("old.index"), snapshot_of(path), fs::copy_options::overwrite_existing);
  auto store = DataStore::open(path, always_snapshot());
  EXPECT_TRUE(store.index_loaded_from_snapshot());
  EXPECT_EQ(store.read("k1")->as_string_view(), "updated");
  EXPECT_FALSE(store.exists("k2"));
  EXPECT_EQ(store.read("k0")->as_string_view(), "revived");
  EXPECT_EQ(store.read("new")->as_string_view(), "entry");
  EXPECT_EQ(store.read("k3")->as_string_view(), "v3");
  EXPECT_EQ(store.len(), 300u - 60u - 1u + 1u + 1u);  // 240 live, -k2, +k0, +new
}

TEST(IndexSnapshot, DamagedSnapshotIsIgnored) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  fill(path, 400);
  auto bytes = srd_test::read_file(snapshot_of(path));
  ASSERT_GT(bytes.size(), 4096u + 100u);
  bytes[4096 + 77] ^= std::byte{0x10};  // one bit of one slot
  srd_test::write_file(snapshot_of(path), bytes);
  auto store = DataStore::open(path, always_snapshot());
  EXPECT_FALSE(store.index_loaded_from_snapshot());
  expect_contents(store, 400);
}

TEST(IndexSnapshot, TruncatedSnapshotIsIgnored) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  fill(path, 400);
  fs::resize_file(snapshot_of(path), 5000);
  auto store = DataStore::open(path, always_snapshot());
  EXPECT_FALSE(store.index_loaded_from_snapshot());
  expect_contents(store, 400);
}

TEST(IndexSnapshot, SnapshotOfAnotherStoreIsIgnored) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  const auto other = dir.file("other.bin");
  fill(path, 200);
  {
    auto store = DataStore::open(other, always_snapshot());
    for (int i = 0; i < 200; ++i) store.write("k" + std::to_string(i), "other " + std::to_string(i));
  }
  fs::copy_file(snapshot_of(other), snapshot_of(path), fs::copy_options::overwrite_existing);
  auto store = DataStore::open(path, always_snapshot());
  EXPECT_FALSE(store.index_loaded_from_snapshot());
  expect_contents(store, 200);
}

TEST(IndexSnapshot, StoreCutShorterThanTheSnapshotIgnoresIt) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  std::uint64_t first_tail = 0;
  {
    auto store = DataStore::open(path, always_snapshot());
    first_tail = store.write("a", "first");
    store.write("b", "second");
  }
  fs::resize_file(path, first_tail);
  auto store = DataStore::open(path, always_snapshot());
  EXPECT_FALSE(store.index_loaded_from_snapshot());
  EXPECT_TRUE(store.exists("a"));
  EXPECT_FALSE(store.exists("b"));
  EXPECT_EQ(store.len(), 1u);
}

TEST(IndexSnapshot, GarbageAfterTheStoreFallsBackToRecovery) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  fill(path, 100);
  const auto size = fs::file_size(path);
  {
    auto bytes = srd_test::read_file(path);
    bytes.insert(bytes.end(), {std::byte{0xde}, std::byte{0xad}, std::byte{0xbe}, std::byte{0xef}});
    srd_test::write_file(path, bytes);
  }
  testing::internal::CaptureStderr();
  auto store = DataStore::open(path, always_snapshot());
  testing::internal::GetCapturedStderr();
  EXPECT_FALSE(store.index_loaded_from_snapshot());
  EXPECT_EQ(store.file_size(), size);
  expect_contents(store, 100);
}

TEST(IndexSnapshot, CompactionReplacesTheSnapshot) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  fill(path, 300);
  {
    auto store = DataStore::open(path, always_snapshot());
    store.compact();
    EXPECT_FALSE(fs::exists(snapshot_of(path)));  // the old layout's snapshot is gone at once
    expect_contents(store, 300);
  }
  auto store = DataStore::open(path, always_snapshot());
  EXPECT_TRUE(store.index_loaded_from_snapshot());
  expect_contents(store, 300);
  EXPECT_TRUE(store.verify().ok());
}

}  // namespace
}  // namespace simd_r_drive

namespace simd_r_drive {
namespace {

TEST(IndexSnapshotReuse, ReadOnlySessionLeavesTheSnapshotUntouched) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  const OpenOptions options = always_snapshot();
  {
    auto store = DataStore::open(path, options);
    for (int i = 0; i < 100; ++i) store.write("k" + std::to_string(i), "v");
  }
  const auto snapshot = std::filesystem::path(path.string() + ".index");
  const auto written = std::filesystem::last_write_time(snapshot);
  const std::string before = srd_test::sha256_hex(snapshot);
  std::filesystem::last_write_time(snapshot, written - std::chrono::hours(1));
  {
    auto store = DataStore::open(path, options);
    EXPECT_TRUE(store.index_loaded_from_snapshot());
    EXPECT_TRUE(store.exists("k7"));
  }
  EXPECT_EQ(std::filesystem::last_write_time(snapshot), written - std::chrono::hours(1));  // not rewritten
  EXPECT_EQ(srd_test::sha256_hex(snapshot), before);
  {
    auto store = DataStore::open(path, options);
    store.write("k7", "changed");
  }
  EXPECT_NE(srd_test::sha256_hex(snapshot), before);  // a session that wrote saves anew
  auto store = DataStore::open(path, options);
  EXPECT_TRUE(store.index_loaded_from_snapshot());
  EXPECT_EQ(store.read("k7")->as_string_view(), "changed");
}

TEST(IndexSnapshotReuse, NeverMeansNotLoadedEither) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  const OpenOptions always = always_snapshot();
  { auto store = DataStore::open(path, always); store.write("a", "1"); }
  OpenOptions never;
  never.index_snapshot_min_keys = SIZE_MAX;
  {
    auto store = DataStore::open(path, never);
    EXPECT_FALSE(store.index_loaded_from_snapshot());
    EXPECT_EQ(store.read("a")->as_string_view(), "1");
  }
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".index"));
}

}  // namespace
}  // namespace simd_r_drive

namespace simd_r_drive {
namespace {

std::multiset<std::uint64_t> iterated(const DataStore& store) {
  std::multiset<std::uint64_t> hashes;
  std::uint64_t previous_end = ~0ull;
  for (const auto& entry : store.iter_entries()) {
    EXPECT_LT(entry.end_offset(), previous_end);  // newest first
    previous_end = entry.end_offset();
    hashes.insert(entry.key_hash());
  }
  return hashes;
}

TEST(IndexSnapshotLiveBits, IterationAfterLoadingMatchesReads) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  const OpenOptions options = always_snapshot();
  std::multiset<std::uint64_t> expected;
  {
    auto store = DataStore::open(path, options);
    for (int i = 0; i < 400; ++i) store.write("k" + std::to_string(i % 300), "v" + std::to_string(i));
    for (int i = 0; i < 300; i += 9) store.remove("k" + std::to_string(i));
    expected = iterated(store);
  }
  fs::copy_file(path.string() + ".index", dir.file("old.index"));
  {
    auto store = DataStore::open(path, options);
    ASSERT_TRUE(store.index_loaded_from_snapshot());
    EXPECT_EQ(iterated(store), expected);
    store.write("k1", "after the snapshot");  // k1 moves; its old bit must clear
    store.write("new", "x");
  }
  fs::copy_file(dir.file("old.index"), path.string() + ".index", fs::copy_options::overwrite_existing);
  auto store = DataStore::open(path, options);  // old snapshot + applied suffix
  ASSERT_TRUE(store.index_loaded_from_snapshot());
  expected.insert(DataStore::hash_key("new"));
  EXPECT_EQ(iterated(store), expected);
  std::size_t visited = 0;
  store.par_iter_entries([&](const EntryHandle&) { __atomic_add_fetch(&visited, 1, __ATOMIC_RELAXED); });
  EXPECT_EQ(visited, expected.size());
}

TEST(IndexSnapshotLiveBits, DamagedLiveBitsMakeTheSnapshotIgnored) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  const OpenOptions options = always_snapshot();
  {
    auto store = DataStore::open(path, options);
    for (int i = 0; i < 100; ++i) store.write("k" + std::to_string(i), "v");
  }
  auto bytes = srd_test::read_file(path.string() + ".index");
  bytes[bytes.size() - 3] ^= std::byte{0x04};  // inside the LiveBits, past the table
  srd_test::write_file(path.string() + ".index", bytes);
  auto store = DataStore::open(path, options);
  EXPECT_FALSE(store.index_loaded_from_snapshot());
  EXPECT_EQ(iterated(store).size(), 100u);
}

}  // namespace
}  // namespace simd_r_drive

namespace simd_r_drive {
namespace {

// A loaded table lies in a read-only mapping of the snapshot; the first change
// copies it into memory of the store's own, also when no growth is due.
TEST(IndexSnapshotMapped, FirstChangeWithoutGrowthCopiesTheTable) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  fill(path, 300);  // 240 live keys in a table of 1024 slots: far from crowded
  auto store = DataStore::open(path, always_snapshot());
  ASSERT_TRUE(store.index_loaded_from_snapshot());
  store.write("k1", "changed");
  store.remove("k3");
  store.write("k0", "back");
  EXPECT_EQ(store.read("k1")->as_string_view(), "changed");
  EXPECT_FALSE(store.exists("k3"));
  EXPECT_EQ(store.read("k0")->as_string_view(), "back");
  EXPECT_EQ(store.read("k299")->as_string_view(), "v299");
  EXPECT_EQ(store.len(), 240u);  // -k3, +k0
}

// A follower keeps reading through the table it mapped, after a writer compacted
// the store (which deletes the snapshot) and saved a new snapshot by rename.
TEST(IndexSnapshotMapped, FollowerKeepsItsTableWhenTheSnapshotIsReplaced) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  fill(path, 300);
  OpenOptions follower_options = always_snapshot();
  follower_options.read_only = true;
  auto follower = DataStore::open(path, follower_options);
  ASSERT_TRUE(follower.index_loaded_from_snapshot());
  {
    auto writer = DataStore::open(path, always_snapshot());
    writer.write("k1", "changed");
    writer.compact();
    writer.write("k2", "changed too");
  }
  ASSERT_TRUE(fs::exists(snapshot_of(path)));
  expect_contents(follower, 300);  // what it saw when it opened
  follower.refresh();
  EXPECT_EQ(follower.read("k1")->as_string_view(), "changed");
  EXPECT_EQ(follower.read("k2")->as_string_view(), "changed too");
  EXPECT_EQ(follower.read("k299")->as_string_view(), "v299");
}

}  // namespace
}  // namespace simd_r_drive

// The index snapshot beside a store ("<store>.index") is a cache: when it matches the
// store it is used, and whenever it does not it must be ignored, never trusted.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

// Read-only opens leave a damaged snapshot in place for the next case.
OpenOptions read_only_snapshot() {
  OpenOptions options = always_snapshot();
  options.read_only = true;
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

// The snapshot's layout (src/engine/index_snapshot.cc): a 4 KiB header, the table
// (8-byte slots: tail in bits 0..46, a deleted bit, a 16-bit tag), the LiveBits,
// then a CRC-32 per block of 4,096 slots.
struct SnapshotLayout {
  std::uint64_t capacity = 0;
  std::uint64_t live_words = 0;
  std::uint64_t blocks = 0;
  std::size_t table_offset() const { return 4096; }
  std::size_t slot_offset(std::uint64_t slot) const { return table_offset() + slot * 8; }
  std::size_t live_offset() const { return 4096 + capacity * 8; }
  std::size_t blocks_offset() const { return live_offset() + live_words * 40; }
};

std::uint64_t u64_at(const std::vector<std::byte>& bytes, std::size_t at) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = value << 8 | std::to_integer<std::uint64_t>(bytes[at + i]);
  return value;
}

SnapshotLayout layout_of(const std::vector<std::byte>& bytes) {
  return {u64_at(bytes, 56), u64_at(bytes, 80), u64_at(bytes, 96)};
}

// A damaged slot is found when its block is first read, whichever block it is:
// the answers then come from an index rebuilt from the store, and the writer's
// close replaces the damaged snapshot.
TEST(IndexSnapshot, EveryDamagedBlockIsCaughtBeforeItAnswers) {
  srd_test::TempDir dir;
  const auto pristine = dir.file("pristine.bin");
  constexpr int kKeys = 12000;
  fill(pristine, kKeys);
  const auto good = srd_test::read_file(snapshot_of(pristine));
  const SnapshotLayout layout = layout_of(good);
  ASSERT_GE(layout.blocks, 4u);
  ASSERT_EQ(good.size(), layout.blocks_offset() + layout.blocks * 4);
  for (std::uint64_t block = 0; block < layout.blocks; ++block) {
    const auto path = dir.file("s" + std::to_string(block) + ".bin");
    fs::copy_file(pristine, path);
    auto bytes = good;
    // One bit of the block's 10th slot (of a tail, if the slot is in use).
    bytes[layout.slot_offset(block * 4096 + 10)] ^= std::byte{0x01};
    srd_test::write_file(snapshot_of(path), bytes);
    {
      auto store = DataStore::open(path, always_snapshot());
      EXPECT_TRUE(store.index_loaded_from_snapshot());  // the damage is in a block, found on use
      expect_contents(store, kKeys);
    }
    EXPECT_NE(srd_test::read_file(snapshot_of(path)), bytes) << "block " << block << ": not replaced at close";
    auto reopened = DataStore::open(path, always_snapshot());
    EXPECT_TRUE(reopened.index_loaded_from_snapshot());
    expect_contents(reopened, kKeys);
  }
}

// A snapshot of an older format (version 3 had 16-byte slots) is not read, even
// with a valid header checksum: the index is rebuilt from the store, and the next
// close saves the current version. The same bytes with the current version number
// load, which shows the rewritten header checksum is right.
TEST(IndexSnapshot, OlderFormatVersionIsRebuiltAndReplaced) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  fill(path, 3000);
  const auto good = srd_test::read_file(snapshot_of(path));
  ASSERT_EQ(u64_at(good, 8) & 0xffffffffu, 4u);
  const auto with_version = [&](std::uint32_t version) {
    auto bytes = good;
    for (int i = 0; i < 4; ++i) bytes[8 + i] = static_cast<std::byte>(version >> (8 * i));
    const std::uint32_t crc = compute_checksum(ByteView(bytes.data(), 108));
    for (int i = 0; i < 4; ++i) bytes[108 + i] = static_cast<std::byte>(crc >> (8 * i));
    return bytes;
  };
  srd_test::write_file(snapshot_of(path), with_version(4));
  {
    auto store = DataStore::open(path, read_only_snapshot());
    EXPECT_TRUE(store.index_loaded_from_snapshot());
  }
  srd_test::write_file(snapshot_of(path), with_version(3));
  {
    auto store = DataStore::open(path, always_snapshot());
    EXPECT_FALSE(store.index_loaded_from_snapshot());
    expect_contents(store, 3000);
  }
  EXPECT_EQ(u64_at(srd_test::read_file(snapshot_of(path)), 8) & 0xffffffffu, 4u);
  auto reopened = DataStore::open(path, always_snapshot());
  EXPECT_TRUE(reopened.index_loaded_from_snapshot());
  expect_contents(reopened, 3000);
}

// The block checksums themselves, and the header, are checked at open.
TEST(IndexSnapshot, DamagedBlockChecksumsOrHeaderMakeTheSnapshotIgnored) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  fill(path, 3000);
  const auto good = srd_test::read_file(snapshot_of(path));
  const SnapshotLayout layout = layout_of(good);
  for (const std::size_t at : {std::size_t{20}, std::size_t{57}, std::size_t{97}, layout.blocks_offset() + 1,
                               good.size() - 1}) {
    auto bytes = good;
    bytes[at] ^= std::byte{0x08};
    srd_test::write_file(snapshot_of(path), bytes);
    auto store = DataStore::open(path, read_only_snapshot());
    EXPECT_FALSE(store.index_loaded_from_snapshot()) << "byte " << at;
    expect_contents(store, 3000);
  }
}

// Many readers meeting unchecked blocks at once, one of them damaged: every answer
// is right (run under TSan by the test script).
TEST(IndexSnapshot, ConcurrentReadersDuringLazyChecks) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  constexpr int kKeys = 12000;
  fill(path, kKeys);
  auto bytes = srd_test::read_file(snapshot_of(path));
  const SnapshotLayout layout = layout_of(bytes);
  bytes[layout.slot_offset(2 * 4096 + 100) + 3] ^= std::byte{0x40};
  srd_test::write_file(snapshot_of(path), bytes);
  auto store = DataStore::open(path, read_only_snapshot());
  ASSERT_TRUE(store.index_loaded_from_snapshot());
  std::atomic<int> wrong{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      for (int n = 0; n < kKeys; ++n) {
        const int i = (n + t * 3001) % kKeys;
        const auto value = store.read("k" + std::to_string(i));
        const bool right = i % 5 == 0 ? !value : value && value->as_string_view() == "v" + std::to_string(i);
        if (!right) wrong.fetch_add(1);
      }
    });
  }
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(IndexSnapshot, TruncatedSnapshotIsIgnored) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  fill(path, 400);
  const auto size = fs::file_size(snapshot_of(path));
  // Inside the table; and only the last byte of the block checksums.
  for (const std::uintmax_t cut : {std::uintmax_t{5000}, size - 1}) {
    fs::resize_file(snapshot_of(path), cut);
    auto store = DataStore::open(path, read_only_snapshot());
    EXPECT_FALSE(store.index_loaded_from_snapshot()) << cut;
    expect_contents(store, 400);
  }
}

TEST(IndexSnapshot, ALinkOrAFifoUnderTheNameIsNeverRead) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  fill(path, 400);
  // A valid snapshot, moved aside and linked to: still not followed.
  const fs::path aside = dir.file("elsewhere.index");
  fs::rename(snapshot_of(path), aside);
  fs::create_symlink(aside, snapshot_of(path));
  {
    auto store = DataStore::open(path, read_only_snapshot());
    EXPECT_FALSE(store.index_loaded_from_snapshot());
    expect_contents(store, 400);
  }
  // A FIFO would block an open for reading until a writer came: it is not waited on.
  fs::remove(snapshot_of(path));
  ASSERT_EQ(::mkfifo(snapshot_of(path).c_str(), 0600), 0);
  {
    auto store = DataStore::open(path, read_only_snapshot());
    EXPECT_FALSE(store.index_loaded_from_snapshot());
    expect_contents(store, 400);
  }
  EXPECT_TRUE(fs::is_fifo(snapshot_of(path))) << "a read-only open changes nothing";
}

TEST(IndexSnapshot, LeftoversOfUnfinishedSavesAreRemovedByTheNextWriter) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  fill(path, 400);
  const fs::path save_leftover = dir.file("s.bin.index.tmp-99999");
  const fs::path compaction_leftover = dir.file("s.bin.compact-99999-0.tmp");
  const fs::path unrelated = dir.file("s.bin.index.tmpx");
  for (const fs::path& file : {save_leftover, compaction_leftover, unrelated}) {
    std::ofstream(file) << "left behind";
  }
  {
    auto reader = DataStore::open(path, read_only_snapshot());
    EXPECT_TRUE(fs::exists(save_leftover)) << "a read-only open deletes nothing";
  }
  {
    auto writer = DataStore::open(path, always_snapshot());
    expect_contents(writer, 400);
  }
  EXPECT_FALSE(fs::exists(save_leftover));
  EXPECT_FALSE(fs::exists(compaction_leftover));
  EXPECT_TRUE(fs::exists(unrelated)) << "only names the engine makes are removed";
  EXPECT_TRUE(fs::exists(snapshot_of(path)));
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

// Saved LiveBits are read when first needed, and only if their checksum holds;
// otherwise they are built from the index. Either way iteration is right.
TEST(IndexSnapshotLiveBits, DamagedLiveBitsAreNeverUsed) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  const OpenOptions options = always_snapshot();
  {
    auto store = DataStore::open(path, options);
    for (int i = 0; i < 100; ++i) store.write("k" + std::to_string(i), "v");
  }
  auto bytes = srd_test::read_file(path.string() + ".index");
  const SnapshotLayout layout = layout_of(bytes);
  ASSERT_GT(layout.live_words, 0u);
  // A live bit cleared (the first entry's), then an offset nibble changed.
  for (const std::size_t at : {layout.live_offset(), layout.live_offset() + layout.live_words * 8 + 1}) {
    auto damaged = bytes;
    damaged[at] ^= std::byte{0x02};
    srd_test::write_file(path.string() + ".index", damaged);
    auto store = DataStore::open(path, options);
    EXPECT_TRUE(store.index_loaded_from_snapshot());
    EXPECT_EQ(iterated(store).size(), 100u) << at;
    std::size_t visited = 0;
    store.par_iter_entries([&](const EntryHandle&) { __atomic_add_fetch(&visited, 1, __ATOMIC_RELAXED); });
    EXPECT_EQ(visited, 100u) << at;
  }
}

// LiveBits cost 5 bits per 16 bytes of file. In a store of large values that is far
// more than its entries are worth, so the snapshot leaves them out; iteration after
// the next open walks the store instead, with the same result.
TEST(IndexSnapshotLiveBits, AStoreOfLargeValuesSavesNoLiveBits) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  const OpenOptions options = always_snapshot();
  const std::string large(64 * 1024, 'x');
  std::multiset<std::uint64_t> expected;
  {
    auto store = DataStore::open(path, options);
    for (int i = 0; i < 40; ++i) store.write("k" + std::to_string(i), large + std::to_string(i));
    store.remove("k3");
    expected = iterated(store);
    ASSERT_EQ(expected.size(), 39u);
  }
  const SnapshotLayout layout = layout_of(srd_test::read_file(path.string() + ".index"));
  EXPECT_EQ(layout.live_words, 0u);
  auto store = DataStore::open(path, options);
  ASSERT_TRUE(store.index_loaded_from_snapshot());
  EXPECT_EQ(iterated(store), expected);
  std::size_t visited = 0;
  store.par_iter_entries([&](const EntryHandle&) { __atomic_add_fetch(&visited, 1, __ATOMIC_RELAXED); });
  EXPECT_EQ(visited, expected.size());
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

// Open after the last writer crashed (the lock file says it never closed): checksums
// of entries written after its last sync are checked, and leftovers of a crashed
// compaction are removed.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "crashed_lock.h"
#include "simd_r_drive/data_store.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::OpenOptions;
using srd_test::TempDir;

// A machine crash under a writer whose last sync covered [0, durable_tail).
void mark_crashed(const std::filesystem::path& store, std::uint64_t durable_tail) {
  srd_test::mark_crashed(store, std::filesystem::file_size(store), durable_tail, /*machine_crashed=*/true);
}

struct FiveEntries {
  std::vector<std::uint64_t> tails;       // after each write
  std::vector<std::uint64_t> data_starts;  // payload offsets
};

FiveEntries write_five(const std::filesystem::path& path) {
  FiveEntries layout;
  auto store = DataStore::open(path);
  for (int i = 0; i < 5; ++i) {
    layout.tails.push_back(store.write("k" + std::to_string(i), std::string(100 + i, static_cast<char>('a' + i))));
    layout.data_starts.push_back(store.read("k" + std::to_string(i))->start_offset());
  }
  return layout;
}

void flip_byte(const std::filesystem::path& path, std::uint64_t offset) {
  auto bytes = srd_test::read_file(path);
  bytes[offset] ^= std::byte{0x20};
  srd_test::write_file(path, bytes);
}

// A power loss kept the page of a later entry but not the page that held an earlier
// entry's record, which now reads as zeros: a record with back-link 0 whose payload
// covers everything below it. The chain from the end passes through it, so every entry
// below would be lost; open keeps the chain below it and drops the unsynced entries
// above it, as for any damaged unsynced entry.
TEST(CrashRecovery, ARecordOnALostPageDoesNotSwallowTheSyncedEntries) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  const FiveEntries layout = write_five(path);
  auto bytes = srd_test::read_file(path);
  // k3's record (its payload ends where the record starts, 20 bytes before its tail).
  std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(layout.tails[3] - 20),
            bytes.begin() + static_cast<std::ptrdiff_t>(layout.tails[3]), std::byte{0});
  srd_test::write_file(path, bytes);
  mark_crashed(path, layout.tails[1]);
  srd_test::StderrCapture capture;
  auto store = DataStore::open(path);
  const std::string log = capture.take();
  EXPECT_EQ(store.len(), 3u) << log;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(store.read("k" + std::to_string(i))) << i << "; " << log;
  EXPECT_FALSE(store.read("k4"));
  EXPECT_FALSE(store.read_with_key_hash(0));
  EXPECT_EQ(store.file_size(), layout.tails[2]);
  EXPECT_NE(log.find("reads as zeros"), std::string::npos) << log;
}

TEST(CrashRecovery, DamageAfterTheLastSyncIsCutWithEverythingAfterIt) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  const FiveEntries layout = write_five(path);
  flip_byte(path, layout.data_starts[3] + 10);
  mark_crashed(path, layout.tails[1]);
  srd_test::StderrCapture capture;
  auto store = DataStore::open(path);
  const std::string log = capture.take();
  EXPECT_EQ(store.file_size(), layout.tails[2]);
  EXPECT_EQ(store.len(), 3u);
  EXPECT_FALSE(store.read("k3"));
  EXPECT_FALSE(store.read("k4"));
  EXPECT_TRUE(store.verify().corrupt_entries.empty());
  EXPECT_NE(log.find("after a crash"), std::string::npos) << log;
}

TEST(CrashRecovery, DamageBelowTheLastSyncIsKeptAndReported) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  const FiveEntries layout = write_five(path);
  flip_byte(path, layout.data_starts[1] + 10);
  mark_crashed(path, layout.tails[2]);
  auto store = DataStore::open(path);
  EXPECT_EQ(store.len(), 5u);
  const auto report = store.verify();
  ASSERT_EQ(report.corrupt_entries.size(), 1u);
  EXPECT_FALSE(store.read("k1")->is_valid_checksum());
}

TEST(CrashRecovery, AfterACleanCloseOnlyTheLastEntryIsChecked) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  const FiveEntries layout = write_five(path);  // closed cleanly
  flip_byte(path, layout.data_starts[3] + 10);
  auto store = DataStore::open(path);
  EXPECT_EQ(store.len(), 5u) << "bit rot in an old entry is reported by verify(), not cut";
  EXPECT_EQ(store.verify().corrupt_entries.size(), 1u);
}

TEST(CrashRecovery, ACrashDuringTheFirstWriteLeavesAStoreThatOpensEmpty) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  { DataStore::open(path); }
  // The first write was torn: a pre-pad and part of a payload, then preallocated zeros.
  std::vector<std::byte> torn(4096, std::byte{0});
  for (int i = 0; i < 40; ++i) torn[static_cast<std::size_t>(i)] = std::byte{0x41};
  srd_test::write_file(path, torn);
  mark_crashed(path, 0);
  srd_test::StderrCapture quiet;
  auto store = DataStore::open(path);
  EXPECT_EQ(store.file_size(), 0u);
  store.write("k", std::string("v"));
  EXPECT_EQ(store.read("k")->as_string_view(), "v");
}

TEST(CrashRecovery, ForeignFilesWithoutALockFileAreStillRefusedWhenNotAStore) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  srd_test::write_file(path, std::vector<std::byte>(100, std::byte{0x41}));
  EXPECT_EQ(srd_test::code_of([&] { DataStore::open(path); }), "corruption");
  EXPECT_EQ(std::filesystem::file_size(path), 100u);
}

TEST(CrashRecovery, LeftoversOfACrashedCompactionAreRemovedByTheNextWriter) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  write_five(path);
  const auto leftover = dir.file("s.bin.compact-999999-0.tmp");
  const auto unrelated = dir.file("other.bin.compact-1-0.tmp");
  srd_test::write_file(leftover, srd_test::bytes_of("half a compaction"));
  srd_test::write_file(unrelated, srd_test::bytes_of("another store's"));
  {
    OpenOptions read_only;
    read_only.read_only = true;
    auto reader = DataStore::open(path, read_only);
    EXPECT_TRUE(std::filesystem::exists(leftover)) << "a reader changes nothing";
  }
  srd_test::StderrCapture capture;
  auto store = DataStore::open(path);
  EXPECT_FALSE(std::filesystem::exists(leftover));
  EXPECT_TRUE(std::filesystem::exists(unrelated));
  EXPECT_EQ(store.len(), 5u);
  EXPECT_NE(capture.take().find("compaction that did not finish"), std::string::npos);
}

TEST(CrashRecovery, AfterTheWritersProcessDiedOnlyCompleteWritesAreKept) {
  // Same boot: the tail the writer published is exact, and entries past it (the
  // start of a batch it never finished) are cut although each is complete.
  TempDir dir;
  const auto path = dir.file("s.bin");
  const FiveEntries layout = write_five(path);
  srd_test::mark_crashed(path, layout.tails[2], 0, /*machine_crashed=*/false);
  srd_test::StderrCapture capture;
  auto store = DataStore::open(path);
  EXPECT_EQ(store.file_size(), layout.tails[2]);
  EXPECT_EQ(store.len(), 3u);
  EXPECT_FALSE(store.read("k3"));
  EXPECT_NE(capture.take().find("write in progress"), std::string::npos);
}

TEST(CrashRecovery, APublishedTailOffTheChainIsIgnored) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  const FiveEntries layout = write_five(path);
  srd_test::mark_crashed(path, layout.tails[2] + 3, 0, /*machine_crashed=*/false);
  auto store = DataStore::open(path);
  EXPECT_EQ(store.len(), 5u) << "a tail that is not an entry boundary proves nothing";
}

}  // namespace

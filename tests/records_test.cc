// The records API (iter_records), stats(), StoreFiles, VerifyReport's trailing bytes,
// and what a caller may keep of an iteration.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <simd_r_drive/simd_r_drive.h>

#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using simd_r_drive::OpenOptions;
using simd_r_drive::RecordInfo;
using simd_r_drive::RecordKind;
using simd_r_drive::RecordOrder;
using srd_test::TempDir;

using srd_test::read_only;

// a, b, c written; a written again; b deleted: one record of every kind.
void write_every_kind(DataStore& store) {
  store.write("a", "first a");
  store.write("b", "bee");
  store.write("c", "sea");
  store.write("a", "second a, longer");
  store.remove("b");
}

std::vector<RecordInfo> all_records(const DataStore& store, RecordOrder order) {
  std::vector<RecordInfo> records;
  for (const RecordInfo& record : store.iter_records(order)) records.push_back(record);
  return records;
}

TEST(Records, EveryRecordNewestFirstWithItsKind) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("s.bin"));
  write_every_kind(store);
  const std::vector<RecordInfo> records = all_records(store, RecordOrder::kNewestFirst);
  ASSERT_EQ(records.size(), 5u);
  const std::uint64_t a = DataStore::hash_key("a"), b = DataStore::hash_key("b"), c = DataStore::hash_key("c");
  const std::vector<std::pair<std::uint64_t, RecordKind>> expected = {
      {b, RecordKind::kTombstone}, {a, RecordKind::kLive}, {c, RecordKind::kLive},
      {b, RecordKind::kDeleted},   {a, RecordKind::kSuperseded}};
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].metadata().key_hash, expected[i].first) << i;
    EXPECT_EQ(records[i].kind, expected[i].second) << i;
  }
  // The newest record ends at the tail; each back-link is the next record's tail.
  EXPECT_EQ(records.front().tail, store.file_size());
  for (std::size_t i = 0; i + 1 < records.size(); ++i) {
    EXPECT_EQ(records[i].metadata().prev_offset, records[i + 1].tail) << i;
  }
  EXPECT_EQ(records.back().metadata().prev_offset, 0u);
  // Offsets and bytes agree with what reads return.
  const EntryHandle live_a = *store.read("a");
  EXPECT_EQ(records[1].payload_offset(), live_a.start_offset());
  EXPECT_EQ(records[1].metadata_offset(), live_a.end_offset());
  EXPECT_EQ(records[1].entry.as_string_view(), "second a, longer");
  EXPECT_EQ(records[4].entry.as_string_view(), "first a");
  EXPECT_EQ(records[3].entry.as_string_view(), "bee");
  EXPECT_TRUE(records[0].entry.is_tombstone());
  EXPECT_EQ(records[0].payload_size(), 1u);
  for (const RecordInfo& record : records) EXPECT_TRUE(record.entry.is_valid_checksum());
  EXPECT_EQ(simd_r_drive::to_string(RecordKind::kSuperseded), "superseded");
}

TEST(Records, OldestFirstIsTheReverse) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("s.bin"));
  write_every_kind(store);
  std::vector<RecordInfo> newest = all_records(store, RecordOrder::kNewestFirst);
  const std::vector<RecordInfo> oldest = all_records(store, RecordOrder::kOldestFirst);
  std::reverse(newest.begin(), newest.end());
  ASSERT_EQ(oldest.size(), newest.size());
  for (std::size_t i = 0; i < oldest.size(); ++i) {
    EXPECT_EQ(oldest[i].tail, newest[i].tail);
    EXPECT_EQ(oldest[i].kind, newest[i].kind);
  }
  EXPECT_EQ(oldest.front().payload_offset(), 0u);
}

TEST(Records, EmptyStoreHasNoRecords) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("s.bin"));
  EXPECT_TRUE(all_records(store, RecordOrder::kNewestFirst).empty());
  EXPECT_TRUE(all_records(store, RecordOrder::kOldestFirst).empty());
  const simd_r_drive::StoreStats stats = store.stats();
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.file_size, 0u);
}

TEST(Records, ARangeSurvivesCompactionAndLaterWrites) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("s.bin"));
  write_every_kind(store);
  auto range = store.iter_records();
  auto it = range.begin();
  const RecordInfo first = *it;
  store.compact();
  store.write("d", "new after the range was made");
  std::size_t seen = 1;
  for (++it; it != range.end(); ++it) ++seen;
  EXPECT_EQ(seen, 5u);  // the records of the file the range was made on
  EXPECT_TRUE(first.entry.is_tombstone());
  // The compacted store: live entries only.
  const std::vector<RecordInfo> after = all_records(store, RecordOrder::kNewestFirst);
  ASSERT_EQ(after.size(), 3u);
  for (const RecordInfo& record : after) EXPECT_EQ(record.kind, RecordKind::kLive);
}

TEST(Records, GoldenFilesListTheOriginalsChain) {
  for (const std::string name : {"basic", "alignment", "batch", "prehashed", "stream"}) {
    TempDir dir;
    std::filesystem::copy_file(srd_test::compat_dir() / (name + ".bin"), dir.file("s.bin"));
    DataStore store = DataStore::open(dir.file("s.bin"), read_only());
    std::size_t live = 0;
    std::uint64_t expected_prev = 0;
    for (const RecordInfo& record : store.iter_records(RecordOrder::kOldestFirst)) {
      EXPECT_EQ(record.metadata().prev_offset, expected_prev) << name;
      expected_prev = record.tail;
      if (record.kind == RecordKind::kLive) {
        ++live;
        const auto read = store.read_with_key_hash(record.metadata().key_hash);
        ASSERT_TRUE(read) << name;
        EXPECT_EQ(read->start_offset(), record.payload_offset()) << name;
      }
    }
    EXPECT_EQ(expected_prev, store.file_size()) << name;
    EXPECT_EQ(live, store.len()) << name;
  }
}

TEST(Stats, CountsEveryKindAndWhatCompactionFrees) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("s.bin"));
  write_every_kind(store);
  const simd_r_drive::StoreStats stats = store.stats();
  EXPECT_EQ(stats.file_size, store.file_size());
  EXPECT_EQ(stats.entries, 5u);
  EXPECT_EQ(stats.live_keys, 2u);
  EXPECT_EQ(stats.live_keys, store.len());
  EXPECT_EQ(stats.tombstones, 1u);
  EXPECT_EQ(stats.stale_entries, 2u);
  EXPECT_EQ(stats.live_payload_bytes, std::string("second a, longer").size() + std::string("sea").size());
  EXPECT_EQ(stats.reclaimable_bytes, store.estimate_compaction_savings());
  EXPECT_GT(stats.reclaimable_bytes, 0u);
  store.compact();
  const simd_r_drive::StoreStats after = store.stats();
  EXPECT_EQ(after.entries, 2u);
  EXPECT_EQ(after.tombstones, 0u);
  EXPECT_EQ(after.stale_entries, 0u);
  EXPECT_EQ(after.reclaimable_bytes, 0u);
  EXPECT_EQ(after.file_size, stats.file_size - stats.reclaimable_bytes);
  EXPECT_EQ(after.live_payload_bytes, stats.live_payload_bytes);
}

TEST(StoreFiles, NamesTheStoresCompanions) {
  const auto files = simd_r_drive::StoreFiles::of("/data/s.bin");
  EXPECT_EQ(files.store, "/data/s.bin");
  EXPECT_EQ(files.lock, "/data/s.bin.lock");
  EXPECT_EQ(files.index_snapshot, "/data/s.bin.index");
  EXPECT_TRUE(files.owns("/data/s.bin"));
  EXPECT_TRUE(files.owns("/data/s.bin.lock"));
  EXPECT_TRUE(files.owns("/data/s.bin.index"));
  EXPECT_TRUE(files.owns("/data/s.bin.compact-123-0.tmp"));
  EXPECT_TRUE(files.owns("/data/s.bin.index.tmp-77"));
  EXPECT_FALSE(files.owns("/data/s.bin.compact-123-0"));
  EXPECT_FALSE(files.owns("/data/other.bin"));
  EXPECT_FALSE(files.owns("/elsewhere/s.bin.lock"));
}

TEST(StoreFiles, NamesItsTemporariesByOneRule) {
  using Temporary = simd_r_drive::StoreFiles::Temporary;
  const auto files = simd_r_drive::StoreFiles::of("/data/s.bin");
  EXPECT_EQ(files.temporary_named("s.bin.compact-123-0.tmp"), Temporary::kCompaction);
  EXPECT_EQ(files.temporary_named("s.bin.index.tmp-77"), Temporary::kIndexSnapshot);
  // The suffix must not be empty: these are not names the engine makes.
  EXPECT_EQ(files.temporary_named("s.bin.compact-.tmp"), Temporary::kNone);
  EXPECT_EQ(files.temporary_named("s.bin.index.tmp-"), Temporary::kNone);
  EXPECT_EQ(files.temporary_named("s.bin.compact-123-0"), Temporary::kNone);
  EXPECT_EQ(files.temporary_named("other.bin.compact-1.tmp"), Temporary::kNone);
  EXPECT_EQ(files.temporary_named("s.bin"), Temporary::kNone);
  EXPECT_EQ(files.temporary_named("s.bin.index"), Temporary::kNone);
  EXPECT_FALSE(files.owns("/data/s.bin.compact-.tmp"));
}

TEST(StoreFiles, AreTheFilesTheEngineWrites) {
  TempDir dir;
  OpenOptions options;
  options.index_snapshot_min_keys = 0;  // save a snapshot on close
  { DataStore::open(dir.file("s.bin"), options).write("k", "v"); }
  const auto files = simd_r_drive::StoreFiles::of(dir.file("s.bin"));
  EXPECT_TRUE(std::filesystem::exists(files.lock));
  EXPECT_TRUE(std::filesystem::exists(files.index_snapshot));
  std::size_t others = 0;
  for (const auto& item : std::filesystem::directory_iterator(dir.path())) others += !files.owns(item.path());
  EXPECT_EQ(others, 0u);
}

TEST(VerifyTrailingBytes, ZerosPastTheTailAreHarmlessGarbageIsNot) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  { DataStore::open(path).write("k", "value"); }
  const std::uintmax_t size = std::filesystem::file_size(path);
  {
    DataStore store = DataStore::open(path, read_only());
    const auto report = store.verify();
    EXPECT_EQ(report.trailing_bytes, 0u);
    EXPECT_TRUE(report.ok());
  }
  std::filesystem::resize_file(path, size + 4096);  // zeros, as a preallocation leaves
  {
    DataStore store = DataStore::open(path, read_only());
    const auto report = store.verify();
    EXPECT_EQ(report.trailing_bytes, 4096u);
    EXPECT_FALSE(report.writer_active);
    EXPECT_FALSE(report.trailing_bytes_damaged);
    EXPECT_TRUE(report.ok());
  }
  {
    std::ofstream out(path, std::ios::in | std::ios::out | std::ios::binary);
    out.seekp(static_cast<std::streamoff>(size + 100));
    out.put('\x7f');
  }
  {
    DataStore store = DataStore::open(path, read_only());
    const auto report = store.verify();
    EXPECT_TRUE(report.chain_intact);
    EXPECT_TRUE(report.corrupt_entries.empty());
    EXPECT_TRUE(report.trailing_bytes_damaged);
    EXPECT_FALSE(report.ok());
  }
}

TEST(VerifyTrailingBytes, AWritersPreallocationIsNotJudged) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  DataStore writer = DataStore::open(path);
  writer.write("k", "value");
  const auto own = writer.verify();
  EXPECT_TRUE(own.writer_active);
  EXPECT_GT(own.trailing_bytes, 0u);  // the writer grows the file ahead of its tail
  EXPECT_TRUE(own.ok());
  DataStore reader = DataStore::open(path, read_only());
  const auto seen = reader.verify();
  EXPECT_TRUE(seen.writer_active);
  EXPECT_FALSE(seen.trailing_bytes_damaged);
  EXPECT_TRUE(seen.ok());
}

// entry_iterator.h: *it is re-pointed by ++; a copy of it is the caller's to keep.
TEST(IterationKeeping, ACopyOfTheCurrentEntryOutlivesTheStep) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("s.bin"));
  std::map<std::uint64_t, std::string> written;
  for (int i = 0; i < 50; ++i) {
    const std::string value = "value " + std::to_string(i) + std::string(static_cast<std::size_t>(i), '+');
    store.write("k" + std::to_string(i), value);
    written[DataStore::hash_key("k" + std::to_string(i))] = value;
  }
  std::vector<EntryHandle> kept;
  auto range = store.iter_entries();
  auto it = range.begin();
  ASSERT_FALSE(it == range.end());
  const EntryHandle& reference = *it;  // names the iterator's one handle
  while (!(it == range.end())) {
    kept.push_back(*it);  // a copy: the caller's to keep
    ++it;
    if (it == range.end()) break;
    // The reference now shows the next entry; the copy still shows its own.
    EXPECT_EQ(&*it, &reference);
    EXPECT_NE(reference.key_hash(), kept.back().key_hash());
    EXPECT_EQ(kept.back().as_string_view(), written.at(kept.back().key_hash()));
  }
  store.compact();
  ASSERT_EQ(kept.size(), written.size());
  for (const EntryHandle& entry : kept) EXPECT_EQ(entry.as_string_view(), written.at(entry.key_hash()));
}

}  // namespace

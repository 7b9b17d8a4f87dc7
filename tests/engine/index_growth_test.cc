// Unit tests of IndexGrowth: a key index copied into a larger table on another
// thread while the writer goes on changing it, then brought up to date by replaying
// the writer's changes.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <thread>
#include <vector>

#include "engine/index_growth.h"
#include "engine/key_index.h"
#include "format/coding.h"
#include "format/entry_layout.h"
#include "simd_r_drive/error.h"

namespace simd_r_drive::engine {
namespace {

// A store file reduced to what the index reads of it: the key hash in each record's
// metadata. Round r of the writer writes key k as the record ending at
// tail_of(r, k); records are kRecordBytes apart.
constexpr std::uint64_t kKeySpace = 32768;
constexpr std::uint64_t kRounds = 4;
constexpr std::uint64_t kRecordBytes = 32;
std::uint64_t hash_of(std::uint64_t key) { return key * 0x9E3779B97F4A7C15ull + 1; }
std::uint64_t tail_of(std::uint64_t round, std::uint64_t key) {
  return (round * kKeySpace + key) * kRecordBytes + kMetadataSize;
}

// Written once, before any thread reads it.
const std::vector<std::byte>& file() {
  static const std::vector<std::byte> bytes = [] {
    std::vector<std::byte> made(tail_of(kRounds, 0));
    for (std::uint64_t round = 1; round < kRounds; ++round) {
      for (std::uint64_t key = 0; key < kKeySpace; ++key) {
        format::store_u64_le(made.data() + tail_of(round, key) - kMetadataSize + format::kKeyHashField, hash_of(key));
      }
    }
    return made;
  }();
  return bytes;
}
RecordKeys records_up_to(std::uint64_t tail) { return RecordKeys(file().data(), tail); }
const RecordKeys kAllRecords = records_up_to(tail_of(kRounds, 0));
const std::uint64_t kFirstRoundEnd = tail_of(1, kKeySpace - 1);

constexpr std::uint64_t kFirstKeys = 20000;
constexpr std::uint64_t kNewKeys = 5000;

// A table holding keys [0, kFirstKeys) written in round 1.
std::unique_ptr<IndexTable> first_round() {
  auto table = std::make_unique<IndexTable>(32 * 1024);
  for (std::uint64_t key = 0; key < kFirstKeys; ++key) table->upsert(hash_of(key), tail_of(1, key), false, kAllRecords);
  return table;
}

// Changes every kind of slot while the copy may be running: overwrites, deletes,
// new keys, a deleted key written again, a new key deleted, each listed.
void change_during_growth(IndexTable& table, IndexGrowth& growth) {
  const auto change = [&](std::uint64_t round, std::uint64_t key, bool deleted) {
    table.upsert(hash_of(key), tail_of(round, key), deleted, kAllRecords);
    growth.note(hash_of(key), tail_of(round, key), deleted);
  };
  for (std::uint64_t key = 0; key < 5000; ++key) change(2, key, false);
  for (std::uint64_t key = 5000; key < 8000; ++key) change(2, key, true);
  for (std::uint64_t key = kFirstKeys; key < kFirstKeys + kNewKeys; ++key) change(2, key, false);
  for (std::uint64_t key = 5000; key < 6000; ++key) change(3, key, false);
  for (std::uint64_t key = kFirstKeys; key < kFirstKeys + 1000; ++key) change(3, key, true);
  for (std::uint64_t key = kFirstKeys + 1000; key < kFirstKeys + 2000; ++key) change(3, key, false);
}
constexpr std::size_t kChanges = 5000 + 3000 + kNewKeys + 1000 + 1000 + 1000;

// What change_during_growth leaves for `key`: its tail, or 0 when absent.
std::uint64_t expected_tail(std::uint64_t key) {
  if (key < 5000) return tail_of(2, key);
  if (key < 6000) return tail_of(3, key);
  if (key < 8000) return 0;
  if (key < kFirstKeys) return tail_of(1, key);
  if (key < kFirstKeys + 1000) return 0;
  if (key < kFirstKeys + 2000) return tail_of(3, key);
  if (key < kFirstKeys + kNewKeys) return tail_of(2, key);
  return 0;
}

void expect_answers(const IndexTable& table) {
  std::uint64_t wrong = 0;
  for (std::uint64_t key = 0; key < kFirstKeys + kNewKeys + 100; ++key) {
    const std::uint64_t tail = table.find(hash_of(key), kAllRecords);
    if (tail != expected_tail(key) && ++wrong <= 5) {
      ADD_FAILURE() << "key " << key << ": found " << tail << ", expected " << expected_tail(key);
    }
    if (tail != 0 && !table.holds(hash_of(key), tail)) ADD_FAILURE() << "key " << key << " not held at " << tail;
  }
  EXPECT_EQ(wrong, 0u);
}

bool wait_until_ready(const IndexGrowth& growth) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!growth.ready() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  return growth.ready();
}

TEST(IndexGrowth, TheCopyingThreadReplaysTheChangesListedBeforeItCopies) {
  // The copy starts only once every change is made, so it sees them all in the old
  // table and must keep only round 1's records; the replay then reaches slots the
  // replay itself filled (a new key deleted), whose key hashes come from the list.
  auto table = first_round();
  std::latch go(1);
  IndexGrowth growth(*table, records_up_to(kFirstRoundEnd), kFirstRoundEnd, nullptr, [&] { go.wait(); });
  change_during_growth(*table, growth);
  EXPECT_EQ(growth.noted_changes(), kChanges);
  go.count_down();
  ASSERT_TRUE(wait_until_ready(growth));
  std::unique_ptr<IndexTable> grown = growth.finish(kAllRecords);
  ASSERT_NE(grown, nullptr);
  EXPECT_EQ(growth.replayed_by_thread(), kChanges);
  EXPECT_EQ(grown->capacity(), IndexTable::grown_capacity(table->capacity()));
  expect_answers(*table);
  expect_answers(*grown);
}

TEST(IndexGrowth, TheWriterReplaysTheChangesListedAfterTheThreadCaughtUp) {
  auto table = first_round();
  IndexGrowth growth(*table, records_up_to(kFirstRoundEnd), kFirstRoundEnd, nullptr);
  ASSERT_TRUE(wait_until_ready(growth));
  change_during_growth(*table, growth);  // all listed after the thread stopped
  std::unique_ptr<IndexTable> grown = growth.finish(kAllRecords);
  ASSERT_NE(grown, nullptr);
  EXPECT_EQ(growth.replayed_by_thread(), 0u);
  expect_answers(*grown);
}

TEST(IndexGrowth, ChangesRacingTheCopyAreReplayed) {
  // The copy and the thread's replay run while the slots and the list change under
  // them (under TSan this checks the memory ordering).
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto table = first_round();
    IndexGrowth growth(*table, records_up_to(kFirstRoundEnd), kFirstRoundEnd, nullptr);
    change_during_growth(*table, growth);
    std::unique_ptr<IndexTable> grown = growth.finish(kAllRecords);
    ASSERT_NE(grown, nullptr);
    expect_answers(*grown);
  }
}

TEST(IndexGrowth, DroppingAGrowthLeavesTheTableAsItWas) {
  auto table = first_round();
  {
    IndexGrowth growth(*table, records_up_to(kFirstRoundEnd), kFirstRoundEnd, nullptr);
    change_during_growth(*table, growth);
  }  // the destructor stops the thread and waits for it
  expect_answers(*table);
}

TEST(IndexGrowth, ACopyThatCannotReadARecordThrowsFromFinish) {
  auto table = first_round();
  // The records the copy may read end before most of those the table names.
  IndexGrowth growth(*table, records_up_to(tail_of(1, 100)), kFirstRoundEnd, nullptr);
  EXPECT_THROW(growth.finish(kAllRecords), Error);
}

TEST(IndexGrowth, GrownStopsOnceCancelled) {
  auto table = first_round();
  const std::atomic<bool> cancelled{true};
  EXPECT_EQ(table->grown(kAllRecords, kMaxIndexedTail, &cancelled), nullptr);
}

TEST(IndexGrowth, GrownLeavesOutRecordsPastItsLastTail) {
  auto table = first_round();
  for (std::uint64_t key = 0; key < 100; ++key) table->upsert(hash_of(key), tail_of(2, key), false, kAllRecords);
  table->upsert(hash_of(kFirstKeys), tail_of(2, kFirstKeys), false, kAllRecords);
  auto grown = table->grown(records_up_to(kFirstRoundEnd), kFirstRoundEnd);
  ASSERT_NE(grown, nullptr);
  EXPECT_EQ(grown->used(), kFirstKeys - 100);  // the keys rewritten in round 2 and the new one are left out
  EXPECT_EQ(grown->find(hash_of(0), kAllRecords), 0u);
  EXPECT_EQ(grown->find(hash_of(100), kAllRecords), tail_of(1, 100));
  EXPECT_EQ(grown->find(hash_of(kFirstKeys), kAllRecords), 0u);
  EXPECT_EQ(table->grown(kAllRecords)->used(), kFirstKeys + 1);  // no bound: every live key
}

}  // namespace
}  // namespace simd_r_drive::engine

// Unit tests of the concurrent key index table.
#include <gtest/gtest.h>

#include <thread>

#include "engine/key_index.h"

namespace simd_r_drive::engine {
namespace {

TEST(KeyIndex, UpsertFindAndDelete) {
  auto table = IndexTable::with_room_for(10);
  EXPECT_EQ(table->find(42), 0u);
  EXPECT_EQ(table->upsert(42, 100), 0u);
  EXPECT_EQ(table->find(42), 100u);
  EXPECT_EQ(table->upsert(42, 200), 100u);
  EXPECT_EQ(table->find(42), 200u);
  EXPECT_EQ(table->upsert(42, kDeletedTail), 200u);
  EXPECT_EQ(table->find(42), 0u);
  EXPECT_EQ(table->upsert(42, 300), kDeletedTail);
  EXPECT_EQ(table->find(42), 300u);
  // Deleting a key never seen records nothing.
  EXPECT_EQ(table->upsert(7, kDeletedTail), 0u);
  EXPECT_EQ(table->find(7), 0u);
}

TEST(KeyIndex, KeyHashZeroIsAnOrdinaryKey) {
  auto table = IndexTable::with_room_for(4);
  table->upsert(0, 21);
  EXPECT_EQ(table->find(0), 21u);
}

TEST(KeyIndex, InsertIfAbsentKeepsTheFirst) {
  auto table = IndexTable::with_room_for(4);
  EXPECT_TRUE(table->insert_if_absent(5, kDeletedTail));  // newest record: a tombstone
  EXPECT_FALSE(table->insert_if_absent(5, 99));            // an older live version is shadowed
  EXPECT_EQ(table->find(5), 0u);
}

TEST(KeyIndex, StructuredHashesDoNotCollide) {
  // Hashes that differ only in high bits, or are small integers, as callers of
  // write_with_key_hash may supply: all must be found, and growth keeps them.
  auto table = IndexTable::with_room_for(8);
  std::vector<std::uint64_t> keys;
  for (std::uint64_t i = 1; i <= 3000; ++i) keys.push_back(i << 40);
  for (std::uint64_t i = 1; i <= 3000; ++i) keys.push_back(i);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (table->is_crowded()) table = table->grown();
    table->upsert(keys[i], i + 21);
  }
  for (std::size_t i = 0; i < keys.size(); ++i) ASSERT_EQ(table->find(keys[i]), i + 21) << keys[i];
  std::size_t live = 0;
  table->for_each_live(0, table->capacity(), [&](std::uint64_t, std::uint64_t) { ++live; });
  EXPECT_EQ(live, keys.size());
}

TEST(KeyIndex, GrownDropsDeletedKeys) {
  auto table = IndexTable::with_room_for(4);
  table->upsert(1, 21);
  table->upsert(2, 42);
  table->upsert(2, kDeletedTail);
  auto bigger = table->grown();
  EXPECT_EQ(bigger->capacity(), table->capacity() * 2);
  EXPECT_EQ(bigger->find(1), 21u);
  EXPECT_EQ(bigger->find(2), 0u);
}

TEST(KeyIndex, ReadersSeeOnlyPublishedValues) {
  // One writer updates keys to increasing tails while readers look them up: a reader
  // sees 0 before the first insert and afterwards only tails the writer stored, never
  // going backwards (run under TSan this also checks the memory ordering).
  auto table = IndexTable::with_room_for(1000);
  constexpr std::uint64_t kKeys = 500;
  constexpr std::uint64_t kRounds = 20;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (std::uint64_t round = 1; round <= kRounds; ++round) {
      for (std::uint64_t key = 0; key < kKeys; ++key) table->upsert(key * 0x9E3779B97F4A7C15ull, round * 1000 + key);
    }
    done.store(true);
  });
  std::vector<std::uint64_t> last_seen(kKeys, 0);
  bool ordered = true;
  while (!done.load()) {
    for (std::uint64_t key = 0; key < kKeys; ++key) {
      const std::uint64_t tail = table->find(key * 0x9E3779B97F4A7C15ull);
      if (tail != 0 && (tail % 1000 != key || tail < last_seen[key])) ordered = false;
      last_seen[key] = std::max(last_seen[key], tail);
    }
  }
  writer.join();
  EXPECT_TRUE(ordered);
  for (std::uint64_t key = 0; key < kKeys; ++key) EXPECT_EQ(table->find(key * 0x9E3779B97F4A7C15ull), kRounds * 1000 + key);
}

}  // namespace
}  // namespace simd_r_drive::engine

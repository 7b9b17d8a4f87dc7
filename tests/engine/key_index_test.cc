// Unit tests of the concurrent key index table.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

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
  table->for_each_live([&](std::uint64_t, std::uint64_t) { ++live; });
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

// A table laid out as an index snapshot maps it: its slots copied into a read-only
// anonymous region, with the block checksums of the original (or of `damaged`).
struct MappedCopy {
  std::unique_ptr<IndexTable> original;
  std::atomic<int> rebuilds{0};

  std::unique_ptr<IndexTable> map(const std::function<void(std::byte*)>& damage = {}) {
    const std::size_t bytes = original->raw_size();
    void* region = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(region, MAP_FAILED);
    std::memcpy(region, original->raw_slots(), bytes);
    auto crcs = IndexTable::block_checksums(static_cast<const std::byte*>(region), original->capacity());
    if (damage) damage(static_cast<std::byte*>(region));
    ::mprotect(region, bytes, PROT_READ);
    auto table = IndexTable::over_mapped_slots(region, bytes, static_cast<const std::byte*>(region),
                                               original->capacity(), std::move(crcs), [this] {
                                                 rebuilds.fetch_add(1);
                                                 return original->owned_copy();
                                               });
    table->set_used(original->used());
    return table;
  }
};

constexpr std::uint64_t kMappedKeys = 10000;
std::uint64_t mapped_key(std::uint64_t i) { return i * 0xD6E8FEB86659FD93ull + 1; }

std::unique_ptr<IndexTable> filled_table() {
  auto table = std::make_unique<IndexTable>(4 * IndexTable::kBlockSlots);  // 4 blocks
  for (std::uint64_t i = 0; i < kMappedKeys; ++i) table->upsert(mapped_key(i), 100 + i);
  table->upsert(mapped_key(7), kDeletedTail);
  return table;
}

bool finds_every_key(const IndexTable& table) {
  bool all = table.find(mapped_key(7)) == 0 && table.find(mapped_key(kMappedKeys)) == 0;
  for (std::uint64_t i = 0; i < kMappedKeys; ++i) {
    if (i != 7 && table.find(mapped_key(i)) != 100 + i) all = false;
  }
  return all;
}

TEST(KeyIndexMapped, BlocksAreCheckedOnFirstUseOnly) {
  MappedCopy copy{filled_table()};
  auto table = copy.map();
  EXPECT_EQ(table->verified_blocks(), 0u);  // nothing read at load
  EXPECT_EQ(table->find(mapped_key(1)), 101u);
  EXPECT_GE(table->verified_blocks(), 1u);
  EXPECT_LE(table->verified_blocks(), 2u);  // its home block, and the next if the probe ran on
  EXPECT_TRUE(finds_every_key(*table));
  EXPECT_EQ(table->verified_blocks(), 4u);
  EXPECT_FALSE(table->failed());
  EXPECT_EQ(copy.rebuilds.load(), 0);
}

// Whichever block is damaged, and whichever key is asked first, no answer comes
// from the damaged table: the rebuilt one answers, built once.
TEST(KeyIndexMapped, EveryDamagedBlockIsCaughtBeforeUse) {
  MappedCopy copy{filled_table()};
  for (std::size_t block = 0; block < 4; ++block) {
    copy.rebuilds = 0;
    // A slot's tail redirected: without the check, some key would get a wrong answer.
    auto table = copy.map([&](std::byte* slots) {
      for (std::size_t slot = block * IndexTable::kBlockSlots;; ++slot) {
        std::uint64_t tail = 0;
        std::memcpy(&tail, slots + slot * 16 + 8, 8);
        if (tail != 0 && tail != kDeletedTail) {
          tail ^= 1;
          std::memcpy(slots + slot * 16 + 8, &tail, 8);
          break;
        }
      }
    });
    EXPECT_TRUE(finds_every_key(*table)) << "block " << block;
    EXPECT_TRUE(table->failed()) << "block " << block;
    EXPECT_EQ(copy.rebuilds.load(), 1) << "block " << block;
    // The writer's copy and a snapshot's bytes come from the rebuilt table too.
    EXPECT_TRUE(finds_every_key(*table->owned_copy())) << "block " << block;
    EXPECT_NE(&table->settled(), table.get());
  }
}

TEST(KeyIndexMapped, OwnedCopyAndGrowthCheckEveryBlock) {
  MappedCopy copy{filled_table()};
  auto table = copy.map();
  auto owned = table->owned_copy();
  EXPECT_EQ(table->verified_blocks(), 4u);
  EXPECT_FALSE(owned->is_mapped());
  EXPECT_TRUE(finds_every_key(*owned));
  EXPECT_TRUE(finds_every_key(*copy.map()->grown()));
  EXPECT_EQ(copy.rebuilds.load(), 0);
}

// Readers racing to check the same blocks, one of them damaged: every answer is
// right, and the rebuild runs once (TSan checks the bits and the rebuilt table's
// publication).
TEST(KeyIndexMapped, ConcurrentReadersDuringLazyChecks) {
  for (const bool damaged : {false, true}) {
    MappedCopy copy{filled_table()};
    auto table = copy.map([&](std::byte* slots) {
      if (damaged) slots[3 * IndexTable::kBlockSlots * 16 + 40] ^= std::byte{0x20};
    });
    std::atomic<int> wrong{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t) {
      readers.emplace_back([&, t] {
        // Each thread starts at a different key, so the threads meet on blocks
        // in different orders.
        for (std::uint64_t n = 0; n < kMappedKeys; ++n) {
          const std::uint64_t i = (n + t * 2503) % kMappedKeys;
          const std::uint64_t want = i == 7 ? 0 : 100 + i;
          if (table->find(mapped_key(i)) != want) wrong.fetch_add(1);
        }
      });
    }
    for (auto& reader : readers) reader.join();
    EXPECT_EQ(wrong.load(), 0) << damaged;
    EXPECT_EQ(table->failed(), damaged);
    EXPECT_EQ(copy.rebuilds.load(), damaged ? 1 : 0);
  }
}

}  // namespace
}  // namespace simd_r_drive::engine

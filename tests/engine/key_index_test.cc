// Unit tests of the concurrent key index table.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/resource.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/key_index.h"
#include "io/mapping.h"
#include "simd_r_drive/error.h"

namespace simd_r_drive::engine {
namespace {

// The store file the table's slots point into, reduced to what a probe reads of it:
// the key hash of the record ending at each tail. Counts the records read.
class FakeRecords {
 public:
  void add(std::uint64_t tail, std::uint64_t key_hash) { keys_[tail] = key_hash; }
  std::optional<std::uint64_t> operator()(std::uint64_t tail) const noexcept {
    reads_.fetch_add(1, std::memory_order_relaxed);
    const auto found = keys_.find(tail);
    if (found == keys_.end()) return std::nullopt;
    return found->second;
  }
  void prefetch(std::uint64_t) const noexcept {}
  std::size_t reads() const noexcept { return reads_.load(); }

 private:
  std::unordered_map<std::uint64_t, std::uint64_t> keys_;
  mutable std::atomic<std::size_t> reads_{0};
};

// Appends a record for `key_hash` and makes it the key's newest in `table`.
struct Store {
  std::unique_ptr<IndexTable> table = IndexTable::with_room_for(16);
  FakeRecords records;
  std::uint64_t next_tail = 21;

  std::uint64_t append(std::uint64_t key_hash) {
    const std::uint64_t tail = next_tail++;
    records.add(tail, key_hash);
    return tail;
  }
  SlotEntry write(std::uint64_t key_hash, bool deleted = false) {
    if (!deleted && table->is_crowded()) table = table->grown(records);
    return table->upsert(key_hash, append(key_hash), deleted, records);
  }
  std::uint64_t find(std::uint64_t key_hash) const { return table->find(key_hash, records); }
};

TEST(KeyIndex, UpsertFindAndDelete) {
  Store store;
  EXPECT_EQ(store.find(42), 0u);
  EXPECT_EQ(store.write(42).tail, 0u);  // never seen
  EXPECT_EQ(store.find(42), 21u);
  const SlotEntry overwritten = store.write(42);
  EXPECT_EQ(overwritten.tail, 21u);
  EXPECT_TRUE(overwritten.live());
  EXPECT_EQ(store.find(42), 22u);
  const SlotEntry deleted = store.write(42, true);  // the tombstone ends at 23
  EXPECT_EQ(deleted.tail, 22u);
  EXPECT_EQ(store.find(42), 0u);
  const SlotEntry revived = store.write(42);
  EXPECT_EQ(revived.tail, 23u);
  EXPECT_TRUE(revived.deleted);
  EXPECT_FALSE(revived.live());
  EXPECT_EQ(store.find(42), 24u);
  // Deleting a key never seen records nothing.
  EXPECT_EQ(store.write(7, true).tail, 0u);
  EXPECT_EQ(store.find(7), 0u);
  EXPECT_EQ(store.table->used(), 1u);
}

TEST(KeyIndex, KeyHashZeroIsAnOrdinaryKey) {
  Store store;
  store.write(0);
  EXPECT_EQ(store.find(0), 21u);
  EXPECT_EQ(store.find(1), 0u);
}

TEST(KeyIndex, InsertIfAbsentKeepsTheFirst) {
  Store store;
  const std::uint64_t tombstone = store.append(5);
  const std::uint64_t older = store.append(5);
  EXPECT_TRUE(store.table->insert_if_absent(5, tombstone, true, store.records));  // newest record: a tombstone
  EXPECT_FALSE(store.table->insert_if_absent(5, older, false, store.records));    // an older live version is shadowed
  EXPECT_EQ(store.find(5), 0u);
}

TEST(KeyIndex, HoldsNamesOnlyTheNewestLiveRecord) {
  Store store;
  store.write(9);
  store.write(9);
  EXPECT_FALSE(store.table->holds(9, 21));
  EXPECT_TRUE(store.table->holds(9, 22));
  EXPECT_FALSE(store.table->holds(8, 22));  // another key's hash with that tail
  store.write(9, true);
  EXPECT_FALSE(store.table->holds(9, 23));  // a tombstone is not live
  EXPECT_FALSE(store.table->holds(9, 22));
}

TEST(KeyIndex, StructuredHashesDoNotCollide) {
  // Hashes that differ only in high bits, or are small integers, as callers of
  // write_with_key_hash may supply: all must be found, and growth keeps them.
  Store store;
  std::vector<std::uint64_t> keys;
  for (std::uint64_t i = 1; i <= 3000; ++i) keys.push_back(i << 40);
  for (std::uint64_t i = 1; i <= 3000; ++i) keys.push_back(i);
  for (std::uint64_t key : keys) store.write(key);
  for (std::size_t i = 0; i < keys.size(); ++i) ASSERT_EQ(store.find(keys[i]), 21 + i) << keys[i];
  EXPECT_EQ(store.table->live_tails().size(), keys.size());
}

// With 16-bit tags, many keys meet slots of other keys whose tag agrees: the
// record's key hash tells them apart. The count of records read beyond one per
// found key shows those meetings happened.
TEST(KeyIndex, TagCollisionsAreResolvedByTheRecord) {
  Store store;
  std::mt19937_64 random(3);
  std::vector<std::uint64_t> keys(300000);
  for (auto& key : keys) key = random();
  for (std::uint64_t key : keys) store.write(key);
  const std::size_t reads_before = store.records.reads();
  for (std::size_t i = 0; i < keys.size(); ++i) ASSERT_EQ(store.find(keys[i]), 21 + i);
  std::size_t absent_found = 0;
  for (int i = 0; i < 100000; ++i) absent_found += store.find(random()) != 0;
  EXPECT_EQ(absent_found, 0u);
  const std::size_t extra_reads = store.records.reads() - reads_before - keys.size();
  EXPECT_GT(extra_reads, 0u);           // some probes met another key's tag...
  EXPECT_LT(extra_reads, keys.size() / 100);  // ...but rarely
}

TEST(KeyIndex, GrowthKeepsAtMostSixteenBytesPerKey) {
  Store store;
  std::mt19937_64 random(4);
  std::size_t growths = 0;
  for (int i = 0; i < 200000; ++i) {
    const std::size_t capacity = store.table->capacity();
    store.write(random());
    growths += store.table->capacity() != capacity;
    if (store.table->used() >= 4096) {
      ASSERT_LE(store.table->raw_size(), 16 * store.table->used()) << "at " << store.table->used() << " keys";
    }
    ASSERT_LT(store.table->used() * 4, store.table->capacity() * 3 + 4) << "grown too late";
  }
  EXPECT_GE(growths, 5u);
}

// A table's memory is faulted in for writing when it is made, so filling it takes
// no page fault: otherwise each page cost two (the probe's read mapped the zero page,
// the insert's write copied it, with a TLB flush on every CPU the process ran on).
TEST(KeyIndex, AFreshTableTakesNoPageFaultWhileItIsFilled) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "a sanitizer's shadow memory faults in as the table is touched";
#endif
  void* probe = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(probe, MAP_FAILED);
  const bool populates = io::populate_for_writing(probe, 4096) == 0;
  ::munmap(probe, 4096);
  if (!populates) GTEST_SKIP() << "the kernel has no MADV_POPULATE_WRITE (Linux 5.14)";
  constexpr std::size_t kKeys = 400000;
  std::vector<std::uint64_t> hashes(kKeys);
  std::mt19937_64 random(9);
  for (auto& hash : hashes) hash = random();
  FakeRecords records;
  for (std::size_t i = 0; i < kKeys; ++i) records.add(21 + i, hashes[i]);
  auto table = IndexTable::with_room_for(kKeys);
  ASSERT_GE(table->raw_size(), 4u << 20);  // many pages, huge ones included
  const auto minor_faults = [] {
    rusage usage{};
    ::getrusage(RUSAGE_THREAD, &usage);
    return usage.ru_minflt;
  };
  const long before = minor_faults();
  for (std::size_t i = 0; i < kKeys; ++i) table->upsert(hashes[i], 21 + i, false, records);
  const long faults = minor_faults() - before;
  EXPECT_LT(faults, 16) << "filling " << table->raw_size() / 4096 << " pages of slots";
  EXPECT_EQ(table->find(hashes[kKeys / 2], records), 21 + kKeys / 2);
}

TEST(KeyIndex, GrownDropsDeletedKeys) {
  Store store;
  store.write(1);
  store.write(2);
  store.write(2, true);
  auto bigger = store.table->grown(store.records);
  EXPECT_EQ(bigger->capacity(), IndexTable::grown_capacity(store.table->capacity()));
  EXPECT_GT(bigger->capacity(), store.table->capacity());
  EXPECT_EQ(bigger->used(), 1u);
  EXPECT_EQ(bigger->find(1, store.records), 21u);
  EXPECT_EQ(bigger->find(2, store.records), 0u);
}

TEST(KeyIndex, GrowthRefusesARecordItCannotRead) {
  Store store;
  store.write(1);
  FakeRecords empty;  // a file that does not hold the record the slot names
  EXPECT_THROW(store.table->grown(empty), Error);
}

TEST(KeyIndex, ReadersSeeOnlyPublishedValues) {
  // One writer updates keys to increasing tails while readers look them up: a reader
  // sees 0 before the first insert and afterwards only tails the writer stored, never
  // going backwards (run under TSan this also checks the memory ordering). The record
  // ending at tail t belongs to key t % 1000.
  auto table = IndexTable::with_room_for(1000);
  constexpr std::uint64_t kKeys = 500;
  constexpr std::uint64_t kRounds = 20;
  const auto hash_of = [](std::uint64_t key) { return key * 0x9E3779B97F4A7C15ull; };
  const auto records = [&](std::uint64_t tail) -> std::optional<std::uint64_t> { return hash_of(tail % 1000); };
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (std::uint64_t round = 1; round <= kRounds; ++round) {
      for (std::uint64_t key = 0; key < kKeys; ++key) table->upsert(hash_of(key), round * 1000 + key, false, records);
    }
    done.store(true);
  });
  std::vector<std::uint64_t> last_seen(kKeys, 0);
  bool ordered = true;
  while (!done.load()) {
    for (std::uint64_t key = 0; key < kKeys; ++key) {
      const std::uint64_t tail = table->find(hash_of(key), records);
      if (tail != 0 && (tail % 1000 != key || tail < last_seen[key])) ordered = false;
      last_seen[key] = std::max(last_seen[key], tail);
    }
  }
  writer.join();
  EXPECT_TRUE(ordered);
  for (std::uint64_t key = 0; key < kKeys; ++key) EXPECT_EQ(table->find(hash_of(key), records), kRounds * 1000 + key);
}

// A table laid out as an index snapshot maps it: its slots copied into a read-only
// anonymous region, with the block checksums of the original (or of `damaged`).
struct MappedCopy {
  std::unique_ptr<IndexTable> original;
  const FakeRecords& records;
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

// Keys 0..kMappedKeys-1 at tails 100 + i, key 7 deleted by a tombstone at tail 50.
const FakeRecords& mapped_records() {
  static const FakeRecords* const records = [] {
    auto* made = new FakeRecords;
    for (std::uint64_t i = 0; i < kMappedKeys; ++i) made->add(100 + i, mapped_key(i));
    made->add(50, mapped_key(7));
    return made;
  }();
  return *records;
}

std::unique_ptr<IndexTable> filled_table() {
  auto table = std::make_unique<IndexTable>(4 * IndexTable::kBlockSlots);  // 4 blocks
  for (std::uint64_t i = 0; i < kMappedKeys; ++i) table->upsert(mapped_key(i), 100 + i, false, mapped_records());
  table->upsert(mapped_key(7), 50, true, mapped_records());
  return table;
}

bool finds_every_key(const IndexTable& table) {
  const FakeRecords& records = mapped_records();
  bool all = table.find(mapped_key(7), records) == 0 && table.find(mapped_key(kMappedKeys), records) == 0;
  for (std::uint64_t i = 0; i < kMappedKeys; ++i) {
    if (i != 7 && table.find(mapped_key(i), records) != 100 + i) all = false;
    if (i != 7 && !table.holds(mapped_key(i), 100 + i)) all = false;
  }
  return all;
}

TEST(KeyIndexMapped, BlocksAreCheckedOnFirstUseOnly) {
  MappedCopy copy{filled_table(), mapped_records()};
  auto table = copy.map();
  EXPECT_EQ(table->verified_blocks(), 0u);  // nothing read at load
  EXPECT_EQ(table->find(mapped_key(1), mapped_records()), 101u);
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
  MappedCopy copy{filled_table(), mapped_records()};
  for (std::size_t block = 0; block < 4; ++block) {
    copy.rebuilds = 0;
    // A slot's tail redirected to the next key's record: without the check, that
    // key's hash would be confirmed at a slot of another key's tag.
    auto table = copy.map([&](std::byte* slots) {
      for (std::size_t slot = block * IndexTable::kBlockSlots;; ++slot) {
        std::uint64_t word = 0;
        std::memcpy(&word, slots + slot * IndexTable::kSlotBytes, 8);
        if (word != 0) {
          word ^= 1;
          std::memcpy(slots + slot * IndexTable::kSlotBytes, &word, 8);
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
  MappedCopy copy{filled_table(), mapped_records()};
  auto table = copy.map();
  auto owned = table->owned_copy();
  EXPECT_EQ(table->verified_blocks(), 4u);
  EXPECT_FALSE(owned->is_mapped());
  EXPECT_TRUE(finds_every_key(*owned));
  EXPECT_TRUE(finds_every_key(*copy.map()->grown(mapped_records())));
  EXPECT_EQ(copy.rebuilds.load(), 0);
}

// Readers racing to check the same blocks, one of them damaged: every answer is
// right, and the rebuild runs once (TSan checks the bits and the rebuilt table's
// publication).
TEST(KeyIndexMapped, ConcurrentReadersDuringLazyChecks) {
  for (const bool damaged : {false, true}) {
    MappedCopy copy{filled_table(), mapped_records()};
    auto table = copy.map([&](std::byte* slots) {
      if (damaged) slots[3 * IndexTable::kBlockSlots * IndexTable::kSlotBytes + 40] ^= std::byte{0x20};
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
          if (table->find(mapped_key(i), mapped_records()) != want) wrong.fetch_add(1);
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

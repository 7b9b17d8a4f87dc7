// Iteration: iter_entries() yields one entry per live key, newest first by the
// position of each key's latest record (the original's order); par_iter_entries() visits
// the same set, each entry once (9.12).

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "simd_r_drive/simd_r_drive.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using srd_test::TempDir;

using Item = std::pair<std::uint64_t, std::string>;  // (key hash, payload)

std::uint64_t h(std::string_view key) { return DataStore::hash_key(key); }

std::vector<Item> iterate(const DataStore& store) {
  std::vector<Item> items;
  for (const EntryHandle& entry : store.iter_entries()) {
    items.emplace_back(entry.key_hash(), std::string(entry.as_string_view()));
  }
  return items;
}

std::vector<std::uint64_t> hashes_of(const std::vector<Item>& items) {
  std::vector<std::uint64_t> out;
  for (const Item& item : items) out.push_back(item.first);
  return out;
}

std::multiset<Item> par_iterate(const DataStore& store) {
  std::mutex mutex;
  std::multiset<Item> items;
  store.par_iter_entries([&](const EntryHandle& entry) {
    Item item{entry.key_hash(), std::string(entry.as_string_view())};
    std::lock_guard lock(mutex);
    items.insert(std::move(item));
  });
  return items;
}

// par_iter_entries visits exactly what iter_entries yields, each entry once.
void expect_parallel_matches_sequential(const DataStore& store, std::size_t expected_count) {
  const std::vector<Item> sequential = iterate(store);
  const std::multiset<Item> parallel = par_iterate(store);
  EXPECT_EQ(sequential.size(), expected_count);
  EXPECT_EQ(parallel.size(), expected_count);
  EXPECT_EQ(parallel, std::multiset<Item>(sequential.begin(), sequential.end()));
  std::multiset<std::uint64_t> parallel_hashes;
  for (const Item& item : parallel) parallel_hashes.insert(item.first);
  for (std::uint64_t hash : parallel_hashes) {
    ASSERT_EQ(parallel_hashes.count(hash), 1u) << "key hash " << hash << " visited more than once";
  }
}

TEST(Iteration, EmptyStoreYieldsNothing) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  EXPECT_TRUE(iterate(store).empty());
  auto range = store.iter_entries();
  EXPECT_TRUE(range.begin() == range.end());
  EXPECT_TRUE(par_iterate(store).empty());
}

TEST(Iteration, AllDeletedYieldsNothing) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  {
    DataStore store = DataStore::open(path);
    store.write("a", "1");
    store.write("b", "2");
    store.write("a", "3");
    store.remove("a");
    store.remove("b");
    EXPECT_TRUE(iterate(store).empty());
    EXPECT_TRUE(par_iterate(store).empty());
  }
  DataStore store = DataStore::open(path);
  EXPECT_TRUE(iterate(store).empty());
  EXPECT_TRUE(par_iterate(store).empty());
}

TEST(Iteration, NewestFirstWithExactOrder) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  const std::vector<Item> expected = {
      {h("e"), "e1"},   // written last
      {h("c"), "c1"},   // deleted, then written again
      {h("b"), "b2"},   // overwritten
      {h("d"), "d1"},
      {h("a"), "a1"},   // written first, never touched
  };
  {
    DataStore store = DataStore::open(path);
    store.write("a", "a1");
    store.write("b", "b1");
    store.write("c", "c0");
    store.write("d", "d1");
    store.write("x", "x1");
    store.write("b", "b2");
    store.remove("c");
    store.write("c", "c1");
    store.remove("x");
    store.write("e", "e1");
    EXPECT_EQ(iterate(store), expected);
  }
  DataStore store = DataStore::open(path);
  EXPECT_EQ(iterate(store), expected) << "order differs after reopening";
}

TEST(Iteration, OrderFollowsLatestRecordOfEachKey) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  for (int i = 0; i < 10; ++i) store.write("k" + std::to_string(i), "v" + std::to_string(i));
  // Touch the keys again in a scrambled order; the iteration order must follow.
  const std::vector<int> touch = {3, 7, 0, 9, 5};
  for (int i : touch) store.write("k" + std::to_string(i), "w" + std::to_string(i));

  std::vector<std::uint64_t> expected;
  for (auto it = touch.rbegin(); it != touch.rend(); ++it) expected.push_back(h("k" + std::to_string(*it)));
  for (int i = 9; i >= 0; --i) {
    bool touched = std::find(touch.begin(), touch.end(), i) != touch.end();
    if (!touched) expected.push_back(h("k" + std::to_string(i)));
  }
  const std::vector<Item> items = iterate(store);
  EXPECT_EQ(hashes_of(items), expected);
  for (const Item& item : items) {
    for (int i = 0; i < 10; ++i) {
      if (item.first != h("k" + std::to_string(i))) continue;
      bool touched = std::find(touch.begin(), touch.end(), i) != touch.end();
      EXPECT_EQ(item.second, (touched ? "w" : "v") + std::to_string(i));
    }
  }
}

TEST(Iteration, SkipsDeletedAndStaleVersions) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  store.write("stable", "stable-value");
  store.write("updated", "old-1");
  store.write("updated", "old-2");
  store.write("updated", "latest");
  store.write("deleted", "doomed");
  store.remove("deleted");
  store.write("updated-then-deleted", "v1");
  store.write("updated-then-deleted", "v2");
  store.remove("updated-then-deleted");

  const std::vector<Item> items = iterate(store);
  const std::vector<Item> expected = {{h("updated"), "latest"}, {h("stable"), "stable-value"}};
  EXPECT_EQ(items, expected);
  expect_parallel_matches_sequential(store, 2);
}

TEST(Iteration, RangeForYieldsUsableHandles) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  const std::vector<std::byte> big = srd_test::pattern_bytes(5000);
  store.write("big", big);
  store.write("small", "tiny");

  std::vector<EntryHandle> kept;
  int count = 0;
  for (const EntryHandle& entry : store.iter_entries()) {
    ++count;
    EXPECT_TRUE(entry.is_valid_checksum());
    EXPECT_FALSE(entry.is_tombstone());
    EXPECT_EQ(entry.start_offset() % simd_r_drive::kPayloadAlignment, 0u);
    kept.push_back(entry);
  }
  EXPECT_EQ(count, 2);
  // Copies of yielded handles stay valid after the iteration ended.
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].key_hash(), h("small"));
  EXPECT_EQ(kept[0].as_string_view(), "tiny");
  EXPECT_EQ(kept[1].key_hash(), h("big"));
  EXPECT_TRUE(kept[1] == big);
  // A yielded handle describes the same record read() finds.
  auto read_back = store.read("big");
  ASSERT_TRUE(read_back.has_value());
  EXPECT_EQ(kept[1].start_offset(), read_back->start_offset());
  EXPECT_EQ(kept[1].metadata(), read_back->metadata());
}

TEST(Iteration, ExplicitIteratorProtocol) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  store.write("one", "1");
  store.write("two", "22");
  auto range = store.iter_entries();
  auto it = range.begin();
  ASSERT_FALSE(it == range.end());
  EXPECT_EQ(it->key_hash(), h("two"));
  EXPECT_EQ((*it).as_string_view(), "22");
  ++it;
  ASSERT_FALSE(it == range.end());
  EXPECT_EQ(it->key_hash(), h("one"));
  it++;
  EXPECT_TRUE(it == range.end());
}

TEST(Iteration, ParallelMatchesSequentialWithUpdates) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  store.write("a", "a1");
  store.write("b", "b1");
  store.write("c", "c1");
  expect_parallel_matches_sequential(store, 3);
  store.write("b", "b2");
  store.write("a", "a2");
  const std::multiset<Item> parallel = par_iterate(store);
  EXPECT_EQ(parallel, (std::multiset<Item>{{h("a"), "a2"}, {h("b"), "b2"}, {h("c"), "c1"}}));
  expect_parallel_matches_sequential(store, 3);
}

TEST(Iteration, ParallelMatchesSequentialWithDeletes) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  {
    DataStore store = DataStore::open(path);
    store.write("a", "a1");
    store.write("b", "b1");
    store.write("c", "c1");
    store.remove("b");
    const std::multiset<Item> parallel = par_iterate(store);
    EXPECT_EQ(parallel, (std::multiset<Item>{{h("a"), "a1"}, {h("c"), "c1"}}));
    expect_parallel_matches_sequential(store, 2);
  }
  DataStore store = DataStore::open(path);
  expect_parallel_matches_sequential(store, 2);
}

TEST(Iteration, ParallelMatchesSequentialOnManyEntries) {
  constexpr int kEntries = 20'000;
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  std::vector<std::pair<std::string, std::string>> batch;
  batch.reserve(kEntries);
  for (int i = 0; i < kEntries; ++i) batch.emplace_back("key-" + std::to_string(i), "value-" + std::to_string(i));
  store.batch_write(batch);
  // Some churn, so the chain holds stale versions and tombstones too.
  for (int i = 0; i < kEntries; i += 10) store.write("key-" + std::to_string(i), "updated-" + std::to_string(i));
  std::vector<std::string> removed;
  for (int i = 5; i < kEntries; i += 100) removed.push_back("key-" + std::to_string(i));
  store.batch_remove(removed);
  const std::size_t live = kEntries - removed.size();
  ASSERT_EQ(store.len(), live);

  const std::multiset<Item> parallel = par_iterate(store);
  ASSERT_EQ(parallel.size(), live);
  std::set<std::uint64_t> seen;
  for (const Item& item : parallel) {
    EXPECT_TRUE(seen.insert(item.first).second) << "duplicate key hash " << item.first;
  }
  expect_parallel_matches_sequential(store, live);
  // Spot-check values.
  std::map<std::uint64_t, std::string> by_hash;
  for (const Item& item : parallel) by_hash.emplace(item.first, item.second);
  EXPECT_EQ(by_hash[h("key-10")], "updated-10");
  EXPECT_EQ(by_hash[h("key-11")], "value-11");
  EXPECT_EQ(by_hash.count(h("key-105")), 0u);
}

TEST(Iteration, RangeCreatedBeforeWritesCoversOnlyEarlierEntries) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  std::map<std::uint64_t, std::string> original;
  for (int i = 0; i < 50; ++i) {
    const std::string key = "key-" + std::to_string(i);
    const std::string value = "original-" + std::to_string(i);
    store.write(key, value);
    original[h(key)] = value;
  }
  auto range = store.iter_entries();
  // Changes after the range was created: new keys, overwrites, deletes.
  for (int i = 0; i < 20; ++i) store.write("new-" + std::to_string(i), "new");
  for (int i = 0; i < 10; ++i) store.write("key-" + std::to_string(i), "overwritten");
  for (int i = 10; i < 15; ++i) store.remove("key-" + std::to_string(i));

  std::set<std::uint64_t> seen;
  for (const EntryHandle& entry : range) {
    auto found = original.find(entry.key_hash());
    ASSERT_NE(found, original.end()) << "yielded an entry written after the range was created";
    EXPECT_TRUE(seen.insert(entry.key_hash()).second) << "duplicate";
    EXPECT_EQ(entry.as_string_view(), found->second) << "not the entry that existed at creation";
  }
  // Keys nobody touched after the range was created are all there.
  for (int i = 15; i < 50; ++i) {
    EXPECT_EQ(seen.count(h("key-" + std::to_string(i))), 1u) << "key-" << i;
  }
  // The store itself sees the changes.
  EXPECT_EQ(store.len(), 45u + 20u);
  EXPECT_EQ(iterate(store).size(), 65u);
}

TEST(Iteration, WritesDuringIterationDoNotDisturbIt) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  for (int i = 0; i < 100; ++i) store.write("key-" + std::to_string(i), "v-" + std::to_string(i));
  std::map<std::uint64_t, std::string> originals;
  for (int i = 0; i < 100; ++i) originals[h("key-" + std::to_string(i))] = "v-" + std::to_string(i);

  std::set<std::uint64_t> seen;
  int step = 0;
  for (const EntryHandle& entry : store.iter_entries()) {
    auto found = originals.find(entry.key_hash());
    ASSERT_NE(found, originals.end()) << "yielded an entry written during the iteration";
    EXPECT_EQ(entry.as_string_view(), found->second);
    EXPECT_TRUE(seen.insert(entry.key_hash()).second) << "duplicate";
    EXPECT_TRUE(entry.is_valid_checksum());
    // Each step appends, overwrites a key not yet visited, and deletes another.
    store.write("extra-" + std::to_string(step), std::string(100, 'x'));
    store.write("key-" + std::to_string(step % 100), "changed");
    if (step % 7 == 0) store.remove("key-" + std::to_string((step * 13) % 100));
    ++step;
  }
  EXPECT_GT(step, 0);
  EXPECT_LE(seen.size(), 100u);
}

}  // namespace

namespace {

// Stores of large values do not build LiveBits (they would cost more than 64 bytes per
// entry), so iteration takes the chain walk with index checks: both paths must agree.
TEST(IterationLargeValues, ChainWalkPathMatchesExpectations) {
  srd_test::TempDir dir;
  auto store = simd_r_drive::DataStore::open(dir.file("large.bin"));
  std::vector<std::byte> value(8192);
  std::multiset<std::uint64_t> expected;
  for (int i = 0; i < 300; ++i) {
    value[0] = static_cast<std::byte>(i);
    value[1] = static_cast<std::byte>(i >> 8);
    store.write("k" + std::to_string(i % 200), value);  // 100 keys overwritten once
  }
  for (int i = 0; i < 200; i += 7) store.remove("k" + std::to_string(i));
  for (int i = 0; i < 200; ++i) {
    if (auto entry = store.read("k" + std::to_string(i))) expected.insert(entry->key_hash());
  }
  std::multiset<std::uint64_t> sequential;
  std::uint64_t previous_end = ~0ull;
  for (const auto& entry : store.iter_entries()) {
    sequential.insert(entry.key_hash());
    EXPECT_LT(entry.end_offset(), previous_end);  // newest first
    previous_end = entry.end_offset();
  }
  std::mutex mutex;
  std::multiset<std::uint64_t> parallel;
  store.par_iter_entries([&](const simd_r_drive::EntryHandle& entry) {
    std::lock_guard lock(mutex);
    parallel.insert(entry.key_hash());
  });
  EXPECT_EQ(sequential, expected);
  EXPECT_EQ(parallel, expected);
  EXPECT_EQ(expected.size(), store.len());
}

}  // namespace

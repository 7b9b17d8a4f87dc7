// Compaction: compact() rewrites the file with the live entries only (the original's compaction tests,
// 3.9). Unlike the original it needs no reopen: the same DataStore reads and writes
// the compacted file at once, handles and ranges taken before stay valid, the order
// of entries is kept, and no temporary file is left behind.

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "simd_r_drive/simd_r_drive.h"
#include "scripted_injector.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using srd_test::TempDir;

struct Sample {
  std::int32_t id;
  double score;
  char name[20];
};
static_assert(std::is_trivially_copyable_v<Sample>);

template <class T>
std::vector<std::byte> bytes_of_value(const T& value) {
  std::vector<std::byte> out(sizeof(T));
  std::memcpy(out.data(), &value, sizeof(T));
  return out;
}

template <class T>
std::vector<std::byte> bytes_of_array(const std::vector<T>& values) {
  std::vector<std::byte> out(values.size() * sizeof(T));
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

std::set<std::string> directory_listing(const std::filesystem::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

std::vector<std::uint64_t> iteration_order(const DataStore& store) {
  std::vector<std::uint64_t> order;
  for (const EntryHandle& entry : store.iter_entries()) order.push_back(entry.key_hash());
  return order;
}

Sample make_sample(std::int32_t id, double score, const char* name) {
  Sample sample{};
  sample.id = id;
  sample.score = score;
  std::strncpy(sample.name, name, sizeof(sample.name) - 1);
  return sample;
}

// The mixed-type store of the original's compaction test: seven keys, each written
// and then overwritten, and one of them deleted.
class MixedStore {
 public:
  static constexpr std::uint64_t kCounter = 0xDEADBEEFCAFEF00DULL;
  static constexpr double kRatio = 2.718281828459045;

  static void fill(DataStore& store) {
    store.write("text", "first text value");
    store.write("binary", std::vector<std::byte>{std::byte{1}, std::byte{0}, std::byte{255}, std::byte{7}});
    store.write("u64", bytes_of_value<std::uint64_t>(1));
    store.write("f64", bytes_of_value<double>(1.5));
    store.write("struct", bytes_of_value(make_sample(1, 0.5, "old")));
    store.write("u32s", bytes_of_array<std::uint32_t>({1, 2, 3}));
    store.write("mixed", "a string first");

    store.write("text", "the latest text value");
    store.write("binary", std::vector<std::byte>{std::byte{9}, std::byte{8}, std::byte{7}});
    store.write("u64", bytes_of_value(kCounter));
    store.write("f64", bytes_of_value(kRatio));
    store.write("struct", bytes_of_value(make_sample(42, 99.25, "latest sample")));
    store.write("u32s", bytes_of_array<std::uint32_t>({10, 20, 30, 40, 50, 60, 70}));
    store.write("mixed", bytes_of_value<std::int16_t>(-12345));
    store.remove("binary");
  }

  static void expect_latest(const DataStore& store) {
    EXPECT_EQ(store.len(), 6u);
    EXPECT_FALSE(store.exists("binary"));
    EXPECT_FALSE(store.read("binary").has_value());

    auto text = store.read("text");
    ASSERT_TRUE(text.has_value());
    EXPECT_EQ(text->as_string_view(), "the latest text value");

    auto u64 = store.read("u64");
    ASSERT_TRUE(u64.has_value());
    ASSERT_EQ(u64->as_span<std::uint64_t>().size(), 1u);
    EXPECT_EQ(u64->as_span<std::uint64_t>()[0], kCounter);

    auto f64 = store.read("f64");
    ASSERT_TRUE(f64.has_value());
    ASSERT_EQ(f64->as_span<double>().size(), 1u);
    EXPECT_EQ(f64->as_span<double>()[0], kRatio);

    auto sample = store.read("struct");
    ASSERT_TRUE(sample.has_value());
    ASSERT_EQ(sample->as_span<Sample>().size(), 1u);
    const Sample& decoded = sample->as_span<Sample>()[0];
    EXPECT_EQ(decoded.id, 42);
    EXPECT_EQ(decoded.score, 99.25);
    EXPECT_STREQ(decoded.name, "latest sample");

    auto u32s = store.read("u32s");
    ASSERT_TRUE(u32s.has_value());
    auto values = u32s->as_span<std::uint32_t>();
    EXPECT_EQ(std::vector<std::uint32_t>(values.begin(), values.end()),
              (std::vector<std::uint32_t>{10, 20, 30, 40, 50, 60, 70}));

    auto mixed = store.read("mixed");
    ASSERT_TRUE(mixed.has_value());
    ASSERT_EQ(mixed->as_span<std::int16_t>().size(), 1u);
    EXPECT_EQ(mixed->as_span<std::int16_t>()[0], -12345);

    for (const char* key : {"text", "u64", "f64", "struct", "u32s", "mixed"}) {
      auto handle = store.read(key);
      ASSERT_TRUE(handle.has_value()) << key;
      EXPECT_TRUE(handle->is_valid_checksum()) << key;
      EXPECT_EQ(handle->start_offset() % simd_r_drive::kPayloadAlignment, 0u) << key;
    }
  }
};

TEST(Compaction, MixedTypesWithoutReopen) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  std::uint64_t final_size = 0;
  {
    DataStore store = DataStore::open(path);
    MixedStore::fill(store);
    MixedStore::expect_latest(store);

    const std::uint64_t before = store.file_size();
    const std::uint64_t savings = store.estimate_compaction_savings();
    EXPECT_GT(savings, 0u);
    store.compact();
    const std::uint64_t after = store.file_size();
    EXPECT_LT(after, before);
    EXPECT_EQ(before - after, savings) << "estimate_compaction_savings() is documented as exact";
    EXPECT_EQ(store.estimate_compaction_savings(), 0u);

    // No reopen: the same store reads the compacted file.
    MixedStore::expect_latest(store);
    const auto report = store.verify();
    EXPECT_TRUE(report.ok()) << report.chain_error;
    EXPECT_EQ(report.entries, 6u);
    EXPECT_EQ(report.tombstones, 0u);
    EXPECT_EQ(report.live_keys, 6u);
    EXPECT_EQ(report.file_size, after);

    // Writes after compact() land in the compacted file.
    const std::uint64_t tail = store.write("after-compact", "new value");
    EXPECT_GT(tail, after);
    EXPECT_EQ(store.file_size(), tail);
    EXPECT_EQ(store.read("after-compact")->as_string_view(), "new value");
    store.write("text", "text after compact");
    store.remove("u64");
    EXPECT_EQ(store.len(), 6u);
    EXPECT_EQ(store.read("text")->as_string_view(), "text after compact");
    EXPECT_FALSE(store.exists("u64"));
    final_size = store.file_size();
  }
  EXPECT_EQ(std::filesystem::file_size(path), final_size);

  DataStore store = DataStore::open(path);
  EXPECT_EQ(store.file_size(), final_size);
  EXPECT_EQ(store.len(), 6u);
  EXPECT_EQ(store.read("after-compact")->as_string_view(), "new value");
  EXPECT_EQ(store.read("text")->as_string_view(), "text after compact");
  EXPECT_FALSE(store.exists("u64"));
  EXPECT_FALSE(store.exists("binary"));
  EXPECT_EQ(store.read("f64")->as_span<double>()[0], MixedStore::kRatio);
  EXPECT_TRUE(store.verify().ok());
}

TEST(Compaction, MixedTypesAfterReopen) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  std::uint64_t compacted = 0;
  {
    DataStore store = DataStore::open(path);
    MixedStore::fill(store);
    const std::uint64_t before = store.file_size();
    store.compact();
    compacted = store.file_size();
    EXPECT_LT(compacted, before);
  }
  EXPECT_EQ(std::filesystem::file_size(path), compacted);
  DataStore store = DataStore::open(path);
  EXPECT_EQ(store.file_size(), compacted);
  MixedStore::expect_latest(store);
}

TEST(Compaction, EstimateIsExactOnLargerStore) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 200; ++i) {
      store.write("key-" + std::to_string(i), srd_test::pattern_bytes(static_cast<std::size_t>(1 + (i * 37 + round * 11) % 300)));
    }
  }
  for (int i = 0; i < 200; i += 3) store.remove("key-" + std::to_string(i));
  store.write("key-0", "resurrected");

  const std::uint64_t before = store.file_size();
  const std::uint64_t savings = store.estimate_compaction_savings();
  store.compact();
  EXPECT_EQ(before - store.file_size(), savings);
  EXPECT_EQ(store.estimate_compaction_savings(), 0u);

  for (int i = 0; i < 200; ++i) {
    auto handle = store.read("key-" + std::to_string(i));
    if (i == 0) {
      ASSERT_TRUE(handle.has_value());
      EXPECT_EQ(handle->as_string_view(), "resurrected");
    } else if (i % 3 == 0) {
      EXPECT_FALSE(handle.has_value()) << i;
    } else {
      ASSERT_TRUE(handle.has_value()) << i;
      EXPECT_TRUE(*handle == srd_test::pattern_bytes(static_cast<std::size_t>(1 + (i * 37 + 2 * 11) % 300))) << i;
    }
  }
}

TEST(Compaction, HandlesTakenBeforeCompactStillReadTheirBytes) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  const std::vector<std::byte> big = srd_test::pattern_bytes(100'000);
  store.write("stale", "first version of stale");
  std::optional<EntryHandle> stale_old = store.read("stale");
  store.write("stale", "second version");
  store.write("deleted", big);
  std::optional<EntryHandle> deleted_old = store.read("deleted");
  store.remove("deleted");
  store.write("live", "live value");
  std::optional<EntryHandle> live_old = store.read("live");
  ASSERT_TRUE(stale_old && deleted_old && live_old);

  store.compact();
  // Write more after the compaction too, so the new file grows under the old handles.
  for (int i = 0; i < 100; ++i) store.write("filler-" + std::to_string(i), srd_test::pattern_bytes(1000));

  EXPECT_EQ(stale_old->as_string_view(), "first version of stale");
  EXPECT_TRUE(*deleted_old == big);
  EXPECT_EQ(live_old->as_string_view(), "live value");
  EXPECT_TRUE(stale_old->is_valid_checksum());
  EXPECT_TRUE(deleted_old->is_valid_checksum());
  EXPECT_TRUE(live_old->is_valid_checksum());
  EXPECT_EQ(store.read("stale")->as_string_view(), "second version");
  EXPECT_FALSE(store.exists("deleted"));
}

TEST(Compaction, IterationOrderIsKept) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  DataStore store = DataStore::open(path);
  for (int i = 0; i < 30; ++i) store.write("k" + std::to_string(i), "v" + std::to_string(i));
  for (int i : {4, 17, 2, 25, 9}) store.write("k" + std::to_string(i), "updated");
  for (int i : {5, 20, 17}) store.remove("k" + std::to_string(i));

  const std::vector<std::uint64_t> before = iteration_order(store);
  ASSERT_EQ(before.size(), 27u);
  store.compact();
  EXPECT_EQ(iteration_order(store), before);
  store.compact();  // nothing to free this time
  EXPECT_EQ(iteration_order(store), before);
  store.write("k5", "back");
  std::vector<std::uint64_t> expected = before;
  expected.insert(expected.begin(), DataStore::hash_key("k5"));
  EXPECT_EQ(iteration_order(store), expected);

  { DataStore closing = std::move(store); }
  DataStore reopened = DataStore::open(path);
  EXPECT_EQ(iteration_order(reopened), expected);
}

TEST(Compaction, RangeCreatedBeforeCompactStaysValid) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  for (int i = 0; i < 40; ++i) store.write("k" + std::to_string(i), "v" + std::to_string(i));
  for (int i = 0; i < 40; i += 2) store.write("k" + std::to_string(i), "w" + std::to_string(i));

  auto range = store.iter_entries();
  auto it = range.begin();
  ASSERT_FALSE(it == range.end());
  const std::uint64_t first = it->key_hash();
  store.compact();
  std::set<std::uint64_t> seen{first};
  for (++it; !(it == range.end()); ++it) {
    EXPECT_TRUE(it->is_valid_checksum());
    EXPECT_TRUE(seen.insert(it->key_hash()).second) << "duplicate";
  }
  EXPECT_EQ(seen.size(), 40u);
}

TEST(Compaction, EmptyStore) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  {
    DataStore store = DataStore::open(path);
    EXPECT_EQ(store.estimate_compaction_savings(), 0u);
    store.compact();
    EXPECT_EQ(store.file_size(), 0u);
    EXPECT_TRUE(store.is_empty());
    EXPECT_TRUE(store.verify().ok());
    store.write("k", "v");
    EXPECT_EQ(store.read("k")->as_string_view(), "v");
  }
  DataStore store = DataStore::open(path);
  EXPECT_EQ(store.len(), 1u);
  EXPECT_EQ(store.read("k")->as_string_view(), "v");
}

TEST(Compaction, EverythingDeletedLeavesEmptyFile) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  {
    DataStore store = DataStore::open(path);
    store.write("a", "1111");
    store.write("b", "2222");
    store.remove("a");
    store.remove("b");
    const std::uint64_t before = store.file_size();
    EXPECT_EQ(store.estimate_compaction_savings(), before);
    store.compact();
    EXPECT_EQ(store.file_size(), 0u);
    EXPECT_TRUE(store.is_empty());
    EXPECT_FALSE(store.read_last_entry().has_value());
  }
  EXPECT_EQ(std::filesystem::file_size(path), 0u);
  DataStore store = DataStore::open(path);
  EXPECT_TRUE(store.is_empty());
}

TEST(Compaction, NoGarbageLeavesFileIdentical) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  std::uint64_t size = 0;
  {
    DataStore store = DataStore::open(path);
    for (int i = 0; i < 50; ++i) size = store.write("k" + std::to_string(i), srd_test::pattern_bytes(static_cast<std::size_t>(i + 1)));
  }
  const std::string sha_before = srd_test::sha256_hex(path);
  {
    DataStore store = DataStore::open(path);
    EXPECT_EQ(store.estimate_compaction_savings(), 0u);
    store.compact();
    EXPECT_EQ(store.file_size(), size);
    EXPECT_EQ(store.len(), 50u);
    EXPECT_TRUE(*store.read("k49") == srd_test::pattern_bytes(50));
  }
  // Same entries in the same order give the same bytes.
  EXPECT_EQ(srd_test::sha256_hex(path), sha_before);
}

TEST(Compaction, LeavesNoTemporaryFiles) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  DataStore store = DataStore::open(path);
  for (int i = 0; i < 20; ++i) store.write("k" + std::to_string(i % 5), srd_test::pattern_bytes(static_cast<std::size_t>(100 + i)));
  const std::set<std::string> before = directory_listing(dir.path());
  EXPECT_EQ(before.count("store.bin"), 1u);
  store.compact();
  const std::set<std::string> after = directory_listing(dir.path());
  EXPECT_EQ(after, before);
  for (const std::string& name : after) {
    EXPECT_FALSE(name.ends_with(".bk")) << name;
    EXPECT_EQ(name.find("tmp"), std::string::npos) << name;
  }
  store.compact();
  EXPECT_EQ(directory_listing(dir.path()), before);
}

TEST(Compaction, StoreMovedAfterCompactKeepsWorking) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  DataStore store = DataStore::open(path);
  store.write("a", "one");
  store.write("a", "two");
  store.compact();
  DataStore moved = std::move(store);
  EXPECT_EQ(moved.read("a")->as_string_view(), "two");
  moved.write("b", "three");
  EXPECT_EQ(moved.len(), 2u);
  EXPECT_EQ(moved.path(), path);
}

}  // namespace

namespace {

// A store of about 25 MB: compaction lists its two halves on two threads (above
// 8 MB of file), and must still keep every live value, in order, and save exactly
// what estimate_compaction_savings() promised.
TEST(Compaction, LargeStoreListedInTwoHalvesKeepsOrderAndContents) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  constexpr int kKeys = 200000;
  const auto value_of = [](int i, int round) {
    return "value-" + std::to_string(i) + "-round-" + std::to_string(round) + "-padding-to-forty";
  };
  {
    std::vector<std::pair<std::string, std::string>> batch;
    for (int i = 0; i < kKeys; ++i) {
      batch.emplace_back("key-" + std::to_string(i), value_of(i, 0));
      if (batch.size() == 1000) {
        store.batch_write(batch);
        batch.clear();
      }
    }
  }
  for (int i = 0; i < kKeys; i += 3) store.write("key-" + std::to_string(i), value_of(i, 1));
  for (int i = 0; i < kKeys; i += 7) store.remove("key-" + std::to_string(i));
  ASSERT_GT(store.file_size(), 16u << 20);

  const std::vector<std::uint64_t> order_before = iteration_order(store);
  const std::uint64_t size_before = store.file_size();
  const std::uint64_t savings = store.estimate_compaction_savings();
  store.compact();
  EXPECT_EQ(size_before - store.file_size(), savings);
  EXPECT_EQ(iteration_order(store), order_before);
  EXPECT_EQ(store.len(), order_before.size());
  for (int i = 0; i < kKeys; ++i) {
    const auto handle = store.read("key-" + std::to_string(i));
    if (i % 7 == 0) {
      ASSERT_FALSE(handle.has_value()) << i;
    } else {
      ASSERT_TRUE(handle.has_value()) << i;
      ASSERT_EQ(handle->as_string_view(), value_of(i, i % 3 == 0 ? 1 : 0)) << i;
    }
  }
  EXPECT_TRUE(store.verify().ok());
}

// A full disk when compaction allocates its new file (fallocate fails with ENOSPC):
// compaction fails with the OS's reason, removes its temporary, and the store goes
// on as it was: every value readable, writable, and compactable once there is room.
TEST(Compaction, AFullDiskWhenAllocatingTheNewFileLeavesTheStoreIntactAndWritable) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  DataStore store = DataStore::open(path);
  for (int i = 0; i < 50; ++i) store.write("key-" + std::to_string(i % 20), std::string(1000 + i, 'a' + i % 26));
  const std::uint64_t size_before = store.file_size();
  const std::set<std::string> listing_before = directory_listing(dir.path());
  int refused = 0;
  {
    srd_test::ScriptedInjector full_disk([&](auto operation, const std::filesystem::path& file, std::uint64_t,
                                             std::uint64_t, std::uint64_t*) {
      if (operation != srd_test::ScriptedInjector::Operation::kAllocate) return 0;
      if (file.filename().string().find(".compact-") == std::string::npos) return 0;
      ++refused;
      return ENOSPC;
    });
    const std::string message = srd_test::message_of([&] { store.compact(); });
    EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
  }
  EXPECT_EQ(refused, 1) << "the fault did not reach compaction's allocation";
  EXPECT_EQ(store.file_size(), size_before);
  EXPECT_EQ(directory_listing(dir.path()), listing_before) << "the compaction's temporary was left behind";
  EXPECT_EQ(store.len(), 20u);
  for (int i = 30; i < 50; ++i) {
    EXPECT_EQ(store.read("key-" + std::to_string(i % 20))->as_string_view(), std::string(1000 + i, 'a' + i % 26));
  }
  store.write("after", "the failed compaction");
  EXPECT_EQ(store.read("after")->as_string_view(), "the failed compaction");
  EXPECT_TRUE(store.verify().ok());
  store.compact();
  EXPECT_LT(store.file_size(), size_before);
  EXPECT_EQ(store.len(), 21u);
}

}  // namespace

// The padding record (format/entry_layout.h, appender.h): while a writer has
// a store open, the file ends with a record under kPaddingKeyHash whose back-link is
// the tail, so that the Rust original, walking back from the end of a file a crash
// left, lands on the real entries. These tests look at the file itself while the
// writer has it open (what a kill at that moment would leave), through the test-only
// model of the original (tests/support/original_reader.h), after every kind of
// append, across growth, rollback, close and compaction, and check that this engine
// never shows the record as data.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "child_process.h"
#include "crashed_lock.h"
#include "engine/appender.h"
#include "format/checksum.h"
#include "format/entry_layout.h"
#include "original_reader.h"
#include "scripted_injector.h"
#include "simd_r_drive/simd_r_drive.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::Durability;
using simd_r_drive::EntryHandle;
using simd_r_drive::kMetadataSize;
using simd_r_drive::kPaddingKeyHash;
using simd_r_drive::OpenOptions;
using srd_test::OriginalStore;
using srd_test::TempDir;
using Bytes = std::vector<std::byte>;

std::uint64_t load_u64(const std::byte* at) {
  std::uint64_t value;
  std::memcpy(&value, at, 8);
  return value;
}

std::uint32_t load_u32(const std::byte* at) {
  std::uint32_t value;
  std::memcpy(&value, at, 4);
  return value;
}

std::uint64_t page_size() { return simd_r_drive::engine::Appender::padding_page_size(); }

// Whether every byte is zero (memcmp of the bytes against themselves shifted by one:
// the files here reach 24 MiB, the writer's look-ahead, and are checked after every
// write, in the sanitizer builds too).
bool all_zero(std::span<const std::byte> bytes) {
  return bytes.empty() || (bytes[0] == std::byte{0} && std::memcmp(bytes.data(), bytes.data() + 1, bytes.size() - 1) == 0);
}

// How many times the 8 bytes of `value` (little-endian) occur in `file`, at any
// offset, overlapping ones included.
std::size_t occurrences(std::span<const std::byte> file, std::uint64_t value) {
  std::byte pattern[8];
  for (int i = 0; i < 8; ++i) pattern[i] = static_cast<std::byte>((value >> (8 * i)) & 0xFF);
  std::size_t count = 0;
  const std::byte* from = file.data();
  const std::byte* const end = file.data() + file.size();
  while (end - from >= 8) {
    const void* hit = ::memmem(from, static_cast<std::size_t>(end - from), pattern, sizeof pattern);
    if (hit == nullptr) break;
    ++count;
    from = static_cast<const std::byte*>(hit) + 1;
  }
  return count;
}

// Checks the file as it is now against a writer whose store ends at `tail`: it ends
// with the padding record naming `names`, after nothing but zeros, with a checksum
// that matches those zeros; and the original reads `expected` from it, byte for byte.
void expect_padded(const Bytes& file, std::uint64_t tail, std::uint64_t names,
                   const std::map<std::string, std::string>& expected) {
  ASSERT_GE(file.size(), tail + simd_r_drive::format::padding_room(tail)) << "no room for a padding record";
  const std::uint64_t record = file.size() - kMetadataSize;
  EXPECT_EQ((file.size() - page_size()) % (2u << 20), 0u) << "the space for data ends on a 2 MiB boundary";
  EXPECT_EQ(load_u64(file.data() + record), kPaddingKeyHash);
  EXPECT_EQ(load_u64(file.data() + record + 8), names) << "the padding record names another tail";
  const std::uint64_t payload_start = names + simd_r_drive::format::prepad(names);
  EXPECT_TRUE(all_zero(std::span<const std::byte>(file.data() + tail, record - tail)))
      << "something other than zeros lies between the tail and the padding record";
  EXPECT_EQ(load_u32(file.data() + record + 16),
            srd_test::reference_crc32(std::span<const std::byte>(file.data() + payload_start, record - payload_start)))
      << "the padding record's checksum does not match its payload";

  const OriginalStore original(file);
  EXPECT_EQ(original.recovered_length(), file.size()) << "the original would cut the file";
  for (const auto& [key, value] : expected) {
    const auto got = original.read(DataStore::hash_key(key));
    ASSERT_TRUE(got.has_value()) << "the original does not find " << key;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(got->data()), got->size()), value) << key;
  }
  EXPECT_EQ(original.checksum_matches(kPaddingKeyHash), std::optional<bool>(true));
}

void expect_padded(const std::filesystem::path& path, std::uint64_t tail, std::uint64_t names,
                   const std::map<std::string, std::string>& expected) {
  expect_padded(srd_test::read_file(path), tail, names, expected);
}

std::string value_for(int i, std::size_t size) {
  std::string value(size, '\0');
  for (std::size_t j = 0; j < size; ++j) value[j] = static_cast<char>('a' + (i * 7 + j) % 26);
  return value;
}

// A batch of 400 KiB takes the pwritev path in the modes that sync each write (the
// others copy every write into the mapping); one of 4 KiB is copied into the mapping.
std::vector<std::pair<std::string, std::string>> batch(int first, int count, std::size_t size) {
  std::vector<std::pair<std::string, std::string>> items;
  for (int i = first; i < first + count; ++i) items.emplace_back("key" + std::to_string(i), value_for(i, size));
  return items;
}

class PaddingByMode : public testing::TestWithParam<Durability> {};

// Every way of appending leaves the record naming the new tail by the time the call
// returns: in the modes that sync each write too (it follows the syncs there, and
// the call returns after its sync).
TEST_P(PaddingByMode, EveryAppendLeavesTheRecordNamingTheTail) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  OpenOptions options;
  options.durability = GetParam();
  DataStore store = DataStore::open(path, options);
  std::map<std::string, std::string> expected;
  auto check = [&](std::uint64_t tail, const char* what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(tail, store.file_size());
    expect_padded(path, tail, tail, expected);
    const auto report = store.verify();
    EXPECT_TRUE(report.ok());
    EXPECT_EQ(report.padding_record_offset, std::filesystem::file_size(path) - kMetadataSize);
    EXPECT_EQ(report.padding_record_names_tail, tail);
  };

  expected["small"] = "a small value";
  check(store.write("small", expected["small"]), "write");
  for (const auto& [key, value] : batch(0, 16, 200)) expected[key] = value;
  check(store.batch_write(batch(0, 16, 200)), "batch through the mapping");
  for (const auto& [key, value] : batch(100, 4, 100 * 1024)) expected[key] = value;
  check(store.batch_write(batch(100, 4, 100 * 1024)), "batch of 400 KiB");
  const std::string streamed = value_for(7, 700 * 1024);
  std::size_t offset = 0;
  expected["streamed"] = streamed;
  check(store.write_stream("streamed",
                           [&](std::span<std::byte> buffer) {
                             const std::size_t n = std::min(buffer.size(), streamed.size() - offset);
                             std::memcpy(buffer.data(), streamed.data() + offset, n);
                             offset += n;
                             return n;
                           }),
        "stream");
  expected.erase("key3");
  check(store.remove("key3"), "remove");
  expected["renamed"] = expected["key4"];
  expected.erase("key4");
  check(store.rename("key4", "renamed"), "rename");
}

// Growth moves the record to the new end of the file, one page past a 2 MiB boundary;
// the old record is cleared, so exactly one record with the reserved hash is left.
TEST_P(PaddingByMode, GrowthMovesTheRecordToTheNewEnd) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  OpenOptions options;
  options.durability = GetParam();
  DataStore store = DataStore::open(path, options);
  std::map<std::string, std::string> expected;
  std::uint64_t sizes_seen = 0;
  std::uint64_t last_size = 0;
  for (int round = 0; round < 14; ++round) {
    const std::size_t size = round % 2 == 0 ? 300 * 1024 : 900 * 1024;
    const std::string key = "round" + std::to_string(round);
    expected[key] = value_for(round, size);
    const std::uint64_t tail = store.write(key, expected[key]);
    const std::uint64_t file_size = std::filesystem::file_size(path);
    if (file_size != last_size) ++sizes_seen;
    last_size = file_size;
    SCOPED_TRACE("round " + std::to_string(round));
    const Bytes file = srd_test::read_file(path);
    expect_padded(file, tail, tail, expected);
    EXPECT_EQ(occurrences(file, kPaddingKeyHash), 1u) << "an old padding record was left behind";
  }
  EXPECT_GE(sizes_seen, 4u) << "the test meant to cross several reservations";
}

INSTANTIATE_TEST_SUITE_P(Modes, PaddingByMode,
                         testing::Values(Durability::kFlush, Durability::kSyncEachWrite, Durability::kGroupCommit,
                                         Durability::kSyncPeriodically),
                         [](const testing::TestParamInfo<Durability>& param_info) {
                           switch (param_info.param) {
                             case Durability::kFlush: return std::string("Flush");
                             case Durability::kSyncEachWrite: return std::string("SyncEachWrite");
                             case Durability::kGroupCommit: return std::string("GroupCommit");
                             default: return std::string("SyncPeriodically");
                           }
                         });

// A write that fails cuts the file back to the tail, padding record and all; the next
// write reserves space again, with a record.
TEST(Padding, RollbackCutsTheFileToTheTailAndTheNextWritePadsAgain) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  DataStore store = DataStore::open(path);
  const std::uint64_t tail = store.write("kept", "value");
  EXPECT_THROW(store.write_stream("failed",
                                  [](std::span<std::byte> buffer) -> std::size_t {
                                    static int calls = 0;
                                    if (++calls > 2) throw std::runtime_error("source failed");
                                    std::memset(buffer.data(), 'x', buffer.size());
                                    return buffer.size();
                                  }),
               std::runtime_error);
  EXPECT_EQ(std::filesystem::file_size(path), tail) << "a failed write leaves the file at the tail";
  EXPECT_EQ(store.verify().padding_record_offset, 0u);
  const std::uint64_t next = store.write("after", "the failure");
  expect_padded(path, next, next, {{"kept", "value"}, {"after", "the failure"}});
}

// Closing trims the file to the tail: no padding record is left, and the file is
// byte for byte what the original writes for the same calls.
TEST(Padding, CloseLeavesNoRecord) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  std::uint64_t tail = 0;
  {
    DataStore store = DataStore::open(path);
    tail = store.write("a", "1");
    tail = store.write("b", "2");
  }
  EXPECT_EQ(std::filesystem::file_size(path), tail);
  OriginalStore original(Bytes{});
  original.write(DataStore::hash_key("a"), "1");
  original.write(DataStore::hash_key("b"), "2");
  EXPECT_EQ(srd_test::read_file(path), original.bytes());
}

// Compaction's new file is allocated to its exact size: it ends at its tail, and needs
// no record until the next append reserves space.
TEST(Padding, CompactedFileEndsAtItsTailUntilTheNextWrite) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  DataStore store = DataStore::open(path);
  for (int i = 0; i < 50; ++i) store.write("k" + std::to_string(i % 10), value_for(i, 100));
  store.compact();
  EXPECT_EQ(std::filesystem::file_size(path), store.file_size());
  EXPECT_EQ(store.verify().padding_record_offset, 0u);
  const std::uint64_t tail = store.write("after", "compaction");
  std::map<std::string, std::string> expected{{"after", "compaction"}};
  for (int i = 40; i < 50; ++i) expected["k" + std::to_string(i % 10)] = value_for(i, 100);
  expect_padded(path, tail, tail, expected);
}

// The record never shows as data: not to reads, iteration, the records API, stats(),
// len(), verify()'s counts, nor to a follower refreshing while the writer appends.
TEST(Padding, NeverShowsAsAnEntry) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  DataStore store = DataStore::open(path);
  store.write("first", "1");
  DataStore follower = DataStore::open(path, OpenOptions{.read_only = true});
  for (int i = 0; i < 300; ++i) {
    store.write("k" + std::to_string(i), value_for(i, i % 3 == 0 ? 5000 : 60));
    if (i % 30 == 0) {
      follower.refresh();
      EXPECT_FALSE(follower.read_with_key_hash(kPaddingKeyHash).has_value());
      EXPECT_EQ(follower.len(), static_cast<std::size_t>(i + 2));
    }
  }
  EXPECT_EQ(follower.refresh(), store.file_size());
  for (const DataStore* view : {&store, &follower}) {
    EXPECT_FALSE(view->read_with_key_hash(kPaddingKeyHash).has_value());
    EXPECT_FALSE(view->exists(simd_r_drive::kPaddingKeyName));
    EXPECT_EQ(view->len(), 301u);
    std::size_t iterated = 0;
    for (const EntryHandle& entry : view->iter_entries()) {
      EXPECT_NE(entry.key_hash(), kPaddingKeyHash);
      ++iterated;
    }
    EXPECT_EQ(iterated, 301u);
    std::size_t records = 0;
    for (const auto& record : view->iter_records()) {
      EXPECT_NE(record.entry.key_hash(), kPaddingKeyHash);
      ++records;
    }
    EXPECT_EQ(records, 301u);
    const auto stats = view->stats();
    EXPECT_EQ(stats.entries, 301u);
    EXPECT_EQ(stats.file_size, store.file_size());
    const auto report = view->verify();
    EXPECT_TRUE(report.ok());
    EXPECT_EQ(report.entries, 301u);
    EXPECT_EQ(report.padding_record_offset, std::filesystem::file_size(path) - kMetadataSize);
  }
  EXPECT_EQ(store.read_last_entry()->key_hash(), DataStore::hash_key("k299"));
}

// Writes under the reserved hash are refused, whichever way they come, and write
// nothing.
TEST(Padding, TheReservedKeyHashCannotBeWritten) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  store.write("kept", "1");
  const std::uint64_t tail = store.file_size();
  EXPECT_EQ(simd_r_drive::compute_hash(simd_r_drive::kPaddingKeyName), kPaddingKeyHash);
  EXPECT_EQ(srd_test::code_of([&] { store.write(simd_r_drive::kPaddingKeyName, "x"); }), srd_test::kInvalidArgument);
  EXPECT_EQ(srd_test::code_of([&] { store.write_with_key_hash(kPaddingKeyHash, "x"); }), srd_test::kInvalidArgument);
  const std::vector<std::pair<std::string, std::string>> items = {{"fine", "1"}, {simd_r_drive::kPaddingKeyName, "2"}};
  EXPECT_EQ(srd_test::code_of([&] { store.batch_write(items); }), srd_test::kInvalidArgument);
  EXPECT_EQ(srd_test::code_of([&] {
              store.write_stream_with_key_hash(kPaddingKeyHash, [](std::span<std::byte>) { return std::size_t{0}; });
            }),
            srd_test::kInvalidArgument);
  EXPECT_EQ(srd_test::code_of([&] { store.rename("kept", simd_r_drive::kPaddingKeyName); }),
            srd_test::kInvalidArgument);
  EXPECT_EQ(store.file_size(), tail);
  EXPECT_TRUE(store.exists("kept"));
  EXPECT_FALSE(store.exists("fine"));
}

// A store file a writer left without closing: the writer runs in a child that exits
// without closing the store, as a crash would, after `body`. (The tests that fork are
// the PaddingCrashLeft suite: scripts/run-tests.sh leaves them out under TSan, whose
// runtime thread makes ChildProcess refuse to fork.)
void leave_crashed(const std::filesystem::path& path, const OpenOptions& options,
                   const std::function<void(DataStore&)>& body) {
  srd_test::ChildProcess child([&](const srd_test::ChildChannel& channel) {
    DataStore store = DataStore::open(path, options);
    body(store);
    channel.send(1);
    ::_exit(0);
    return 0;
  });
  ASSERT_EQ(child.receive(std::chrono::seconds(60)), std::optional<std::uint64_t>(1));
  EXPECT_TRUE(child.wait().exited);
}

// A crashed writer's file: a read-only open serves the store without the record and
// changes nothing, verify() reports the record as such and the reserved space as
// harmless; the original reads every entry; a writable open removes the record.
TEST(PaddingCrashLeft, OpensInBothEnginesAndOursRemovesTheRecord) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  leave_crashed(path, {}, [](DataStore& store) {
    for (int i = 0; i < 100; ++i) store.write("k" + std::to_string(i), value_for(i, 100));
  });
  const Bytes left = srd_test::read_file(path);
  const OriginalStore original(left);
  EXPECT_EQ(original.recovered_length(), left.size());
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(original.read(DataStore::hash_key("k" + std::to_string(i))).has_value());
  EXPECT_EQ(original.len(), 101u) << "the record reads as one more entry, under the reserved hash";
  std::uint64_t tail = 0;
  {
    const DataStore reader = DataStore::open(path, OpenOptions{.read_only = true});
    tail = reader.file_size();
    EXPECT_EQ(reader.len(), 100u);
    EXPECT_FALSE(reader.read_with_key_hash(kPaddingKeyHash).has_value());
    const auto report = reader.verify();
    EXPECT_TRUE(report.ok()) << "the reserved space and its record are no damage";
    EXPECT_FALSE(report.trailing_bytes_damaged);
    EXPECT_EQ(report.padding_record_offset, left.size() - kMetadataSize);
    EXPECT_EQ(report.padding_record_names_tail, tail);
  }
  EXPECT_EQ(srd_test::read_file(path), left) << "a read-only open changed the file";
  {
    srd_test::StderrCapture log;
    DataStore store = DataStore::open(path);
    EXPECT_EQ(store.len(), 100u);
    EXPECT_EQ(std::filesystem::file_size(path), tail) << "open should cut the reserved space and its record";
  }
}

// Without the lock file the index snapshot's check must not take the record for an
// entry appended after the snapshot.
TEST(PaddingCrashLeft, AnIndexSnapshotIsNotExtendedWithTheRecord) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  OpenOptions options;
  options.index_snapshot_min_keys = 0;
  {
    DataStore store = DataStore::open(path, options);
    for (int i = 0; i < 20; ++i) store.write("k" + std::to_string(i), "v");
  }
  // Reopened from the snapshot, nothing written, then a crash: the record names the
  // very tail the snapshot covers.
  leave_crashed(path, options, [](DataStore& store) {
    EXPECT_TRUE(store.index_loaded_from_snapshot());
    store.write("k0", "v");  // reserves space, with a record
    store.remove("k0");
  });
  std::filesystem::remove(simd_r_drive::StoreFiles::of(path).lock);
  srd_test::StderrCapture log;
  const DataStore store = DataStore::open(path, options);
  EXPECT_FALSE(store.read_with_key_hash(kPaddingKeyHash).has_value());
  EXPECT_EQ(store.len(), 19u);
  EXPECT_TRUE(store.verify().ok());
}

// A value holding a crash-left store file is not a whole store: open_nested refuses it.
TEST(PaddingCrashLeft, ANestedCrashLeftFileIsRefused) {
  TempDir dir;
  const auto inner = dir.file("inner.bin");
  leave_crashed(inner, {}, [](DataStore& store) { store.write("k", "v"); });
  DataStore outer = DataStore::open(dir.file("outer.bin"));
  outer.write("inner", srd_test::read_file(inner));
  EXPECT_EQ(srd_test::code_of([&] { DataStore::open_nested(*outer.read("inner")); }), "corruption");
}

// What the original sees after a power loss in the modes that sync each write: the
// record follows the syncs, so every state the disk can hold names a tail that a sync
// covered. A copy of the file taken at each sync (the bytes on the disk at that
// moment) must read, in the original, as every write acknowledged before that sync's
// write; the write being synced may be missing (the record names it only once its
// sync finished).
TEST(Padding, AfterEachSyncTheRecordNamesSyncedData) {
  for (const Durability mode : {Durability::kSyncEachWrite, Durability::kGroupCommit}) {
    SCOPED_TRACE(static_cast<int>(mode));
    TempDir dir;
    const auto path = dir.file("store.bin");
    std::vector<Bytes> images;
    srd_test::ScriptedInjector injector({}, [&](const std::filesystem::path& synced) {
      if (synced == path) images.push_back(srd_test::read_file(path));
    });
    OpenOptions options;
    options.durability = mode;
    DataStore store = DataStore::open(path, options);
    std::vector<std::size_t> acknowledged_before;  // per image: writes acknowledged before it was taken
    int acknowledged = 0;
    for (int i = 0; i < 40; ++i) {
      const std::size_t images_before = images.size();
      store.write("k" + std::to_string(i), value_for(i, i % 5 == 0 ? 600 * 1024 : 100));
      for (std::size_t image = images_before; image < images.size(); ++image) acknowledged_before.push_back(acknowledged);
      ++acknowledged;
    }
    ASSERT_GE(images.size(), 40u);
    for (std::size_t image = 0; image < images.size(); ++image) {
      const OriginalStore original(images[image]);
      for (std::size_t i = 0; i < acknowledged_before[image]; ++i) {
        EXPECT_TRUE(original.read(DataStore::hash_key("k" + std::to_string(i))).has_value())
            << "image " << image << " lacks write " << i << ", acknowledged before it";
      }
    }
  }
}

}  // namespace

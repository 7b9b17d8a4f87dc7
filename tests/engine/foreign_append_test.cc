// When the Rust original wrote to a file a crash left: it appends after
// the reserved space, with a back-link to the file's old end, so that the padding
// record (or, in files of versions before it, the zero-filled record the space ends
// with) sits in the chain and reads as one entry covering everything below it. The
// original's appends are built byte for byte here by the test-only model of the
// original (tests/support/original_reader.h): pre-pad from the file's length, the
// payload, a record whose back-link is the length before the entry.
//
// This engine must not open such a file as if nothing happened: a writable open
// moves the original's entries down onto its own chain (when they fit below the
// swallowing record), a read-only open refuses and names the offsets, and salvage
// writes every entry to a new file. Afterwards the original too reads every entry.
#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "child_process.h"
#include "crashed_lock.h"
#include "original_reader.h"
#include "scripted_injector.h"
#include "simd_r_drive/simd_r_drive.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::OpenOptions;
using srd_test::OriginalStore;
using srd_test::TempDir;
using Bytes = std::vector<std::byte>;
using Contents = std::map<std::string, std::string>;

constexpr std::uint64_t kTwoMiB = 2u << 20;

std::string value_for(int i, std::size_t size) {
  std::string value(size, '\0');
  for (std::size_t j = 0; j < size; ++j) value[j] = static_cast<char>('A' + (i * 13 + j) % 26);
  return value;
}

// Writes `count` keys (k0, k1, ...) and returns what the store holds.
Contents write_keys(DataStore& store, int count) {
  Contents written;
  for (int i = 0; i < count; ++i) {
    written["k" + std::to_string(i)] = value_for(i, 40 + i * 37 % 900);
    store.write("k" + std::to_string(i), written["k" + std::to_string(i)]);
  }
  return written;
}

// A file this engine's writer left when it was killed: the child exits without
// closing the store, after acknowledging `count` writes.
Contents crash_left_file(const std::filesystem::path& path, int count) {
  Contents written;
  srd_test::ChildProcess child([&](const srd_test::ChildChannel& channel) {
    DataStore store = DataStore::open(path);
    write_keys(store, count);
    channel.send(1);
    ::_exit(0);
    return 0;
  });
  EXPECT_EQ(child.receive(std::chrono::seconds(60)), std::optional<std::uint64_t>(1));
  child.wait();
  for (int i = 0; i < count; ++i) written["k" + std::to_string(i)] = value_for(i, 40 + i * 37 % 900);
  return written;
}

// What a crash of this engine before the padding record left: the store, then zeros
// up to the next multiple of 2 MiB (its reserved space), and a lock file saying its
// writer died with the store ending at the tail.
Contents pre_padding_crash_left_file(const std::filesystem::path& path, int count) {
  Contents written;
  std::uint64_t tail = 0;
  {
    DataStore store = DataStore::open(path);
    written = write_keys(store, count);
    tail = store.file_size();
  }
  std::filesystem::resize_file(path, (tail / kTwoMiB + 1) * kTwoMiB);
  srd_test::mark_crashed(path, tail, 0, false);
  return written;
}

// What the original wrote after opening the file: a new key, an overwrite, a delete
// (of our k5 if it sees it). Returns how many entries it appended.
std::size_t original_writes(const std::filesystem::path& path, Contents& expected, std::size_t big = 0) {
  OriginalStore original = OriginalStore::open(path);
  EXPECT_EQ(original.recovered_length(), std::filesystem::file_size(path)) << "the original keeps the whole file";
  std::size_t appended = 3;
  expected["from the original"] = "written after the crash";
  original.write(DataStore::hash_key("from the original"), expected["from the original"]);
  expected["k7"] = "overwritten by the original";
  original.write(DataStore::hash_key("k7"), expected["k7"]);
  if (original.read(DataStore::hash_key("k5"))) {
    original.remove(DataStore::hash_key("k5"));
    expected.erase("k5");
  } else {
    // Before the padding record the original saw nothing of ours, so it could not
    // delete our keys (it checks its index first); a key of its own then.
    original.write(DataStore::hash_key("its own"), "x");
    original.remove(DataStore::hash_key("its own"));
    ++appended;
  }
  if (big != 0) {
    expected["big"] = value_for(99, big);
    original.write(DataStore::hash_key("big"), expected["big"]);
    ++appended;
  }
  original.save(path);
  return appended;
}

void expect_contents(const DataStore& store, const Contents& expected) {
  for (const auto& [key, value] : expected) {
    const auto got = store.read(key);
    ASSERT_TRUE(got.has_value()) << key << " is missing";
    EXPECT_EQ(got->as_string_view(), value) << key;
  }
  EXPECT_EQ(store.exists("k5"), expected.contains("k5"));
  EXPECT_FALSE(store.exists("its own"));
  EXPECT_EQ(store.len(), expected.size());
  EXPECT_TRUE(store.verify().ok());
}

void expect_original_reads(const std::filesystem::path& path, const Contents& expected) {
  const OriginalStore original = OriginalStore::open(path);
  EXPECT_EQ(original.recovered_length(), std::filesystem::file_size(path));
  for (const auto& [key, value] : expected) {
    const auto got = original.read(DataStore::hash_key(key));
    ASSERT_TRUE(got.has_value()) << "the original does not find " << key;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(got->data()), got->size()), value) << key;
    EXPECT_EQ(original.checksum_matches(DataStore::hash_key(key)), std::optional<bool>(true)) << key;
  }
  EXPECT_EQ(original.read(DataStore::hash_key("k5")).has_value(), expected.contains("k5"));
  EXPECT_FALSE(original.read(DataStore::hash_key("its own")).has_value());
}

enum class LeftBy { kPaddingRecord, kZerosBeforeThePaddingRecord };

class ForeignAppend : public testing::TestWithParam<LeftBy> {
 protected:
  Contents make_file(const std::filesystem::path& path, int count) {
    return GetParam() == LeftBy::kPaddingRecord ? crash_left_file(path, count) : pre_padding_crash_left_file(path, count);
  }
};

TEST_P(ForeignAppend, AWritableOpenMovesTheOriginalsEntriesOntoOurs) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  Contents expected = make_file(path, 60);
  {
    // Before: what the original sees of ours depends on how the file ends.
    const OriginalStore original = OriginalStore::open(path);
    const bool sees_ours = original.read(DataStore::hash_key("k0")).has_value();
    EXPECT_EQ(sees_ours, GetParam() == LeftBy::kPaddingRecord);
  }
  const std::size_t appended = original_writes(path, expected);
  {
    srd_test::StderrCapture log;
    DataStore store = DataStore::open(path);
    const std::string said = log.take();
    EXPECT_NE(said.find("Moved them to offsets"), std::string::npos) << said;
    expect_contents(store, expected);
    EXPECT_EQ(store.stats().entries, 60u + appended) << "each of our entries and each of the original's, once";
    store.write("after the repair", "ok");
    expected["after the repair"] = "ok";
  }
  expect_original_reads(path, expected);
  const DataStore reopened = DataStore::open(path);
  expect_contents(reopened, expected);
}

TEST_P(ForeignAppend, AReadOnlyOpenRefusesAndNamesTheOffsets) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  Contents expected = make_file(path, 30);
  const std::uint64_t old_end = std::filesystem::file_size(path);
  original_writes(path, expected);
  const Bytes before = srd_test::read_file(path);
  const std::string message = srd_test::message_of([&] { DataStore::open(path, OpenOptions{.read_only = true}); });
  EXPECT_EQ(srd_test::code_of([&] { DataStore::open(path, OpenOptions{.read_only = true}); }), "corruption");
  EXPECT_TRUE(srd_test::mentions_number(message, old_end)) << "the message should name where the original's entries "
                                                              "start: " << message;
  EXPECT_TRUE(srd_test::mentions_number(message, old_end - simd_r_drive::kMetadataSize)) << message;
  EXPECT_NE(message.find("salvage"), std::string::npos) << message;
  EXPECT_EQ(srd_test::read_file(path), before);
}

// The original wrote more than the space below the swallowing record holds: moving
// its entries there would overwrite them before they were safe, so open refuses,
// changes nothing, and salvage writes every entry to a new file.
TEST_P(ForeignAppend, WhatDoesNotFitIsRefusedAndSalvageKeepsEverything) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  Contents expected = make_file(path, 40);
  // Larger than the whole file, so larger than the space our writer reserved in it.
  const std::size_t appended = original_writes(path, expected, std::filesystem::file_size(path) + (1u << 20));
  const Bytes before = srd_test::read_file(path);
  const std::string message = srd_test::message_of([&] { DataStore::open(path); });
  EXPECT_EQ(srd_test::code_of([&] { DataStore::open(path); }), "corruption");
  EXPECT_NE(message.find("salvage --to"), std::string::npos) << message;
  EXPECT_EQ(srd_test::read_file(path), before) << "a refused open changed the file";

  const auto target = dir.file("salvaged.bin");
  const simd_r_drive::SalvageReport report = DataStore::salvage(path, target);
  EXPECT_EQ(report.source_size, before.size());
  EXPECT_EQ(report.kept_entries, 40u);
  EXPECT_EQ(report.moved_entries, appended);
  EXPECT_EQ(report.swallowing_records.size(), 1u);
  EXPECT_EQ(report.target_size, std::filesystem::file_size(target));
  EXPECT_EQ(srd_test::read_file(path), before) << "salvage changed its source";
  EXPECT_EQ(srd_test::code_of([&] { DataStore::salvage(path, target); }), "io") << "salvage replaced a file";
  {
    const DataStore salvaged = DataStore::open(target);
    expect_contents(salvaged, expected);
  }
  expect_original_reads(target, expected);
}

INSTANTIATE_TEST_SUITE_P(LeftBy, ForeignAppend,
                         testing::Values(LeftBy::kPaddingRecord, LeftBy::kZerosBeforeThePaddingRecord),
                         [](const testing::TestParamInfo<LeftBy>& param_info) {
                           return std::string(param_info.param == LeftBy::kPaddingRecord
                                                  ? "PaddingRecord"
                                                  : "ZerosBeforeThePaddingRecord");
                         });

// Twice over: the file of an older version crashed, the original wrote, the older
// version reopened it as if nothing happened, wrote and crashed again, and the
// original wrote again. Both swallowing records are undone, in order.
TEST(ForeignAppendTwice, StackedSwallowingRecordsAreUndoneInOrder) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  Contents expected = pre_padding_crash_left_file(path, 20);
  {
    OriginalStore original = OriginalStore::open(path);
    expected["first"] = "1";
    original.write(DataStore::hash_key("first"), "1");
    original.save(path);
  }
  {
    // The older version accepted the whole chain, wrote, and died with its reserved
    // space zero-filled again.
    OriginalStore as_older_version = OriginalStore::open(path);
    expected["middle"] = "2";
    as_older_version.write(DataStore::hash_key("middle"), "2");
    Bytes bytes = as_older_version.bytes();
    bytes.resize((bytes.size() / kTwoMiB + 1) * kTwoMiB);
    srd_test::write_file(path, bytes);
  }
  {
    OriginalStore original = OriginalStore::open(path);
    expected["last"] = "3";
    original.write(DataStore::hash_key("last"), "3");
    original.save(path);
  }
  srd_test::StderrCapture log;
  const DataStore store = DataStore::open(path);
  for (const auto& [key, value] : expected) {
    ASSERT_TRUE(store.exists(key)) << key << "; open said: " << log.take();
    EXPECT_EQ(store.read(key)->as_string_view(), value);
  }
  EXPECT_EQ(store.len(), expected.size());
  EXPECT_TRUE(store.verify().ok());
}

// A zero-filled record that is not where reserved space ended (not on a 2 MiB
// boundary) is no sign of another writer: a file whose chain passes through one
// opens as before, with the entry under hash 0 that the record reads as.
TEST(ForeignAppendShape, AZeroRecordOffTheReservationBoundaryIsLeftAlone) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  {
    DataStore store = DataStore::open(path);
    write_keys(store, 10);
  }
  Bytes bytes = srd_test::read_file(path);
  bytes.resize(bytes.size() + 5000);
  OriginalStore original(bytes);
  original.write(DataStore::hash_key("after zeros"), "x");
  original.save(path);
  srd_test::StderrCapture log;
  const DataStore store = DataStore::open(path);
  EXPECT_EQ(std::filesystem::file_size(path), original.bytes().size()) << "nothing was moved or cut";
  EXPECT_TRUE(store.exists("after zeros"));
  EXPECT_TRUE(store.read_with_key_hash(0).has_value());
}

// A kill while open moves the original's entries: the next open starts the move over,
// and each entry ends up in the store once.
TEST(ForeignAppendRepair, AKillDuringTheMoveIsStartedOverWithoutDuplicates) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  Contents expected = crash_left_file(path, 30);
  const std::size_t appended = original_writes(path, expected);
  srd_test::ChildProcess child([&](const srd_test::ChildChannel&) {
    // Dies at the cut that ends the move: the moved copies are written, the file
    // still ends with the original's entries.
    srd_test::ScriptedInjector injector([](srd_test::ScriptedInjector::Operation operation,
                                           const std::filesystem::path&, std::uint64_t, std::uint64_t,
                                           std::uint64_t*) {
      if (operation == srd_test::ScriptedInjector::Operation::kTruncate) ::raise(SIGKILL);
      return 0;
    });
    srd_test::StderrCapture quiet;
    DataStore store = DataStore::open(path);
    ::_exit(0);
    return 0;
  });
  const srd_test::ChildExit exit = child.wait();
  ASSERT_TRUE(exit.signalled) << "the child was to die in the move: " << exit.describe();
  srd_test::StderrCapture log;
  const DataStore store = DataStore::open(path);
  expect_contents(store, expected);
  EXPECT_EQ(store.stats().entries, 30u + appended) << "an entry was moved twice";
}

// salvage refuses while a writer has the store, and writes no file then.
TEST(ForeignAppendSalvage, RefusesWhileAWriterHasTheStore) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  DataStore store = DataStore::open(path);
  store.write("k", "v");
  EXPECT_EQ(srd_test::code_of([&] { DataStore::salvage(path, dir.file("out.bin")); }), "locked");
  EXPECT_FALSE(std::filesystem::exists(dir.file("out.bin")));
}

// On a sound store, salvage is a copy of the chain, without the reserved space.
TEST(ForeignAppendSalvage, OfASoundCrashLeftStoreCopiesItsChain) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  const Contents expected = crash_left_file(path, 25);
  const auto target = dir.file("copy.bin");
  const auto report = DataStore::salvage(path, target);
  EXPECT_EQ(report.moved_entries, 0u);
  EXPECT_EQ(report.kept_entries, 25u);
  EXPECT_LT(report.target_size, report.source_size);
  const DataStore copy = DataStore::open(target);
  EXPECT_EQ(copy.len(), 25u);
  for (const auto& [key, value] : expected) EXPECT_EQ(copy.read(key)->as_string_view(), value);
}

}  // namespace

// Read-only stores and refresh() within one process (multi_process_test.cc follows a
// writer from another process).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "simd_r_drive/data_store.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using simd_r_drive::OpenOptions;
using srd_test::TempDir;

using srd_test::read_only;

std::string value_for(int i) { return "v" + std::to_string(i) + std::string(static_cast<std::size_t>(i * 37 % 500), 'a' + i % 26); }

TEST(Follower, RefreshPicksUpWhatTheWriterAppended) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  auto writer = DataStore::open(path);
  writer.write("k0", value_for(0));
  auto reader = DataStore::open(path, read_only());
  EXPECT_TRUE(reader.is_read_only());
  EXPECT_FALSE(writer.is_read_only());
  EXPECT_EQ(reader.file_size(), writer.file_size()) << "the published tail, not the preallocated length";
  EXPECT_EQ(reader.len(), 1u);
  for (int i = 1; i < 200; ++i) writer.write("k" + std::to_string(i), value_for(i));
  EXPECT_FALSE(reader.read("k150")) << "nothing changes before refresh()";
  EXPECT_EQ(reader.refresh(), writer.file_size());
  EXPECT_EQ(reader.len(), 200u);
  for (int i = 0; i < 200; ++i) {
    auto entry = reader.read("k" + std::to_string(i));
    ASSERT_TRUE(entry) << i;
    EXPECT_EQ(entry->as_string_view(), value_for(i));
    EXPECT_TRUE(entry->is_valid_checksum());
  }
  writer.remove("k5");
  writer.rename("k6", "k6b");
  writer.write(std::string("big"), std::string(400 * 1024, 'b'));  // above the direct-write threshold
  reader.refresh();
  EXPECT_FALSE(reader.read("k5"));
  EXPECT_FALSE(reader.read("k6"));
  EXPECT_EQ(reader.read("k6b")->as_string_view(), value_for(6));
  EXPECT_EQ(reader.read("big")->size(), 400u * 1024);
  EXPECT_EQ(reader.len(), writer.len());
  // Nothing new: refresh is a no-op.
  EXPECT_EQ(reader.refresh(), writer.file_size());
}

TEST(Follower, FollowsTheWriterThroughCompactionAndKeepsOldHandles) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  auto writer = DataStore::open(path);
  for (int i = 0; i < 100; ++i) writer.write("k" + std::to_string(i % 10), value_for(i));
  auto reader = DataStore::open(path, read_only());
  std::optional<EntryHandle> old_handle = reader.read("k3");
  ASSERT_TRUE(old_handle);
  const std::string old_value(old_handle->as_string_view());
  writer.compact();
  writer.write("after", std::string("compaction"));
  reader.refresh();
  EXPECT_EQ(reader.file_size(), writer.file_size());
  EXPECT_EQ(reader.len(), 11u);
  EXPECT_EQ(reader.read("after")->as_string_view(), "compaction");
  for (int i = 90; i < 100; ++i) EXPECT_EQ(reader.read("k" + std::to_string(i % 10))->as_string_view(), value_for(i));
  // The handle taken before still reads the old file's bytes.
  EXPECT_EQ(old_handle->as_string_view(), old_value);
}

TEST(Follower, GrowsItsMappingWhenTheFileOutgrowsIt) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  auto writer = DataStore::open(path);
  writer.write("first", std::string("1"));
  auto reader = DataStore::open(path, srd_test::with_reservation(32 << 20, read_only()));
  std::optional<EntryHandle> first = reader.read("first");
  // Past the 32 MiB the reader mapped at open.
  const std::string chunk(8 << 20, 'c');
  for (int i = 0; i < 5; ++i) writer.write("chunk" + std::to_string(i), chunk);
  reader.refresh();
  EXPECT_GT(reader.file_size(), 32ull << 20);
  ASSERT_TRUE(reader.read("chunk4"));
  EXPECT_TRUE(reader.read("chunk4")->is_valid_checksum());
  EXPECT_EQ(first->as_string_view(), "1");
}

TEST(Follower, WritesAreRefused) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  { DataStore::open(path).write("k", std::string("v")); }
  auto reader = DataStore::open(path, read_only());
  EXPECT_EQ(srd_test::code_of([&] { reader.write("k2", std::string("v")); }), srd_test::kInvalidArgument);
  EXPECT_EQ(srd_test::code_of([&] { reader.remove("k"); }), srd_test::kInvalidArgument);
  EXPECT_EQ(srd_test::code_of([&] { reader.rename("k", "k3"); }), srd_test::kInvalidArgument);
  EXPECT_EQ(srd_test::code_of([&] { reader.compact(); }), srd_test::kInvalidArgument);
  std::istringstream source("abc");
  EXPECT_EQ(srd_test::code_of([&] { reader.write_stream("s", source); }), srd_test::kInvalidArgument);
  const std::string message = srd_test::message_of([&] { reader.write("k2", std::string("v")); });
  EXPECT_NE(message.find("read-only"), std::string::npos) << message;
  reader.sync();  // nothing to sync: allowed
  EXPECT_TRUE(reader.read("k"));
}

TEST(Follower, NeedsAnExistingFileAndNeverChangesIt) {
  TempDir dir;
  EXPECT_EQ(srd_test::code_of([&] { DataStore::open(dir.file("missing.bin"), read_only()); }), srd_test::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir.file("missing.bin")));

  const auto path = dir.file("s.bin");
  {
    auto writer = DataStore::open(path);
    writer.write("a", std::string("1"));
    writer.write("b", std::string("2"));
  }
  // A torn write at the end: half of an entry's bytes.
  auto bytes = srd_test::read_file(path);
  const std::size_t complete = bytes.size();
  bytes.insert(bytes.end(), {std::byte{'x'}, std::byte{'y'}, std::byte{'z'}});
  srd_test::write_file(path, bytes);
  const std::string before = srd_test::sha256_hex(path);
  {
    srd_test::StderrCapture quiet;
    auto reader = DataStore::open(path, read_only());
    EXPECT_EQ(reader.file_size(), complete);
    EXPECT_EQ(reader.len(), 2u);
    reader.refresh();
    EXPECT_EQ(reader.file_size(), complete);
    (void)reader.verify();
    for (const auto& entry : reader.iter_entries()) EXPECT_TRUE(entry.is_valid_checksum());
  }
  EXPECT_EQ(srd_test::sha256_hex(path), before);
  EXPECT_EQ(std::filesystem::file_size(path), complete + 3);
}

TEST(Follower, AForeignWritersTornAppendIsTakenOnlyOnceComplete) {
  // Without our lock file (a store written by the original), the candidate end is
  // the file's length; a half-written append must wait for the rest.
  TempDir dir;
  const auto path = dir.file("s.bin");
  const auto source = dir.file("source.bin");
  {
    auto writer = DataStore::open(source);
    writer.write("a", std::string("1"));
  }
  const auto one_entry = srd_test::read_file(source);
  {
    auto writer = DataStore::open(source);
    writer.write("b", std::string(1000, 'b'));
  }
  const auto two_entries = srd_test::read_file(source);
  srd_test::write_file(path, one_entry);
  auto reader = DataStore::open(path, read_only());
  ASSERT_EQ(reader.len(), 1u);
  // Append the second entry in two steps, the way a foreign writer's write lands.
  const std::size_t half = one_entry.size() + (two_entries.size() - one_entry.size()) / 2;
  {
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, two_entries.data() + one_entry.size(), half - one_entry.size()),
              static_cast<ssize_t>(half - one_entry.size()));
    EXPECT_EQ(reader.refresh(), one_entry.size());
    EXPECT_FALSE(reader.read("b"));
    ASSERT_EQ(::write(fd, two_entries.data() + half, two_entries.size() - half),
              static_cast<ssize_t>(two_entries.size() - half));
    ::close(fd);
  }
  EXPECT_EQ(reader.refresh(), two_entries.size());
  EXPECT_EQ(reader.read("b")->as_string_view(), std::string(1000, 'b'));
}

TEST(Follower, ReadersOfAFollowerRunWhileItRefreshes) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  auto writer = DataStore::open(path);
  writer.write("k0", value_for(0));
  auto reader = DataStore::open(path, read_only());
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      while (!done.load()) {
        const std::size_t visible = reader.len();
        for (std::size_t i = 0; i < visible; ++i) {
          auto entry = reader.read("k" + std::to_string(i));
          if (!entry || entry->as_string_view() != value_for(static_cast<int>(i))) ++wrong;
        }
      }
    });
  }
  for (int i = 1; i < 400; ++i) {
    writer.write("k" + std::to_string(i), value_for(i));
    if (i % 7 == 0) reader.refresh();
    if (i == 200) writer.compact();
  }
  reader.refresh();
  done = true;
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(reader.len(), 400u);
}

// Compaction in the writer and refresh() in a follower at the same moment, on two
// threads (the test runner runs this under TSan too): every refresh sees the file
// before or after a compaction's rename, never a mix, and each key it holds has one
// of the values written for it. The writer's compactions and the follower's
// refreshes are counted, so the overlap is not left to chance: both loops run until
// both have done their share.
TEST(Follower, RefreshWhileTheWriterCompacts) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  auto writer = DataStore::open(path);
  for (int i = 0; i < 64; ++i) writer.write("k" + std::to_string(i), value_for(i));
  auto follower = DataStore::open(path, read_only());
  constexpr int kRounds = 40;
  std::atomic<int> compactions{0};
  std::atomic<int> refreshes{0};
  std::atomic<int> wrong{0};
  std::string first_wrong;  // written by the follower thread, read after join
  std::thread follower_thread([&] {
    while (compactions.load() < kRounds || refreshes.load() < kRounds) {
      follower.refresh();
      ++refreshes;
      for (int i = 0; i < 64; ++i) {
        const auto entry = follower.read("k" + std::to_string(i));
        // A key holds value_for(i) or, once rewritten, value_for(i + 64 * round).
        if (!entry || !entry->is_valid_checksum() || entry->as_string_view().substr(0, 1) != "v") {
          if (wrong++ == 0) first_wrong = "k" + std::to_string(i) + (entry ? " damaged" : " missing");
        }
      }
    }
  });
  for (int round = 1; compactions.load() < kRounds || refreshes.load() < kRounds; ++round) {
    writer.write("k" + std::to_string(round % 64), value_for(round % 64 + 64 * (round % 5)));
    writer.compact();
    ++compactions;
  }
  follower_thread.join();
  EXPECT_EQ(wrong.load(), 0) << first_wrong;
  follower.refresh();
  EXPECT_EQ(follower.len(), writer.len());
  EXPECT_TRUE(follower.verify().ok());
}

}  // namespace

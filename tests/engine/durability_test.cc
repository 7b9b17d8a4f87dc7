// Durability modes and DataStore::sync() (docs/durability.md): when each mode syncs,
// that an acknowledged write is covered by a finished sync, and what a failed sync
// does to the store.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "scripted_injector.h"
#include "simd_r_drive/data_store.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::Durability;
using simd_r_drive::OpenOptions;
using srd_test::ScriptedInjector;
using srd_test::TempDir;

OpenOptions with_durability(Durability durability) {
  OpenOptions options;
  options.durability = durability;
  return options;
}

std::string value_for(int i) { return "value-" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 97), 'x'); }

TEST(Durability, FlushModeNeverSyncsOnWrites) {
  TempDir dir;
  ScriptedInjector injector;
  {
    auto store = DataStore::open(dir.file("s.bin"));
    for (int i = 0; i < 50; ++i) store.write("k" + std::to_string(i), value_for(i));
    store.remove("k3");
    store.rename("k4", "k4b");
    EXPECT_EQ(injector.syncs(), 0);
    store.sync();
    EXPECT_EQ(injector.syncs(), 1);
    // Nothing new written: a second sync() has nothing to do.
    store.sync();
    EXPECT_EQ(injector.syncs(), 1);
  }
  // Closing in flush mode does not sync either.
  EXPECT_EQ(injector.syncs(), 1);
}

TEST(Durability, SyncEachWriteSyncsOncePerWriteCall) {
  TempDir dir;
  ScriptedInjector injector;
  auto store = DataStore::open(dir.file("s.bin"), with_durability(Durability::kSyncEachWrite));
  store.write("a", std::string("1"));
  EXPECT_EQ(injector.syncs(), 1);
  const std::vector<std::pair<std::string, std::string>> batch{{"b", "2"}, {"c", "3"}, {"d", "4"}};
  store.batch_write(batch);
  EXPECT_EQ(injector.syncs(), 2) << "a batch is one write";
  store.remove("b");
  store.rename("c", "c2");
  std::string big(300 * 1024, 'z');
  store.write("big", big);  // the pwritev path
  std::istringstream stream(std::string(100000, 'q'));
  store.write_stream("streamed", stream);
  EXPECT_EQ(injector.syncs(), 6);
  store.remove("missing");  // writes nothing, so nothing to sync
  EXPECT_EQ(injector.syncs(), 6);
}

TEST(Durability, EveryAcknowledgedWriteIsCoveredByAFinishedSync) {
  for (Durability mode : {Durability::kSyncEachWrite, Durability::kGroupCommit}) {
    TempDir dir;
    DataStore* store_pointer = nullptr;
    // The tail a sync covers is at least the store's tail when the sync starts.
    std::atomic<std::uint64_t> starting_tail{0};
    std::atomic<std::uint64_t> durable_tail{0};
    ScriptedInjector injector(
        [&](ScriptedInjector::Operation operation, const std::filesystem::path&, std::uint64_t, std::uint64_t,
            std::uint64_t*) {
          if (operation == ScriptedInjector::Operation::kSync && store_pointer != nullptr) {
            starting_tail = store_pointer->file_size();
          }
          return 0;
        },
        [&](const std::filesystem::path&) {
          std::uint64_t seen = durable_tail.load();
          const std::uint64_t now = starting_tail.load();
          while (seen < now && !durable_tail.compare_exchange_weak(seen, now)) {
          }
        });
    auto store = DataStore::open(dir.file("s.bin"), with_durability(mode));
    store_pointer = &store;
    constexpr int kThreads = 4;
    constexpr int kWritesPerThread = 150;
    std::atomic<int> uncovered{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kWritesPerThread; ++i) {
          const std::uint64_t tail = store.write("t" + std::to_string(t) + "-" + std::to_string(i), value_for(i));
          if (durable_tail.load() < tail) ++uncovered;
        }
      });
    }
    for (auto& thread : threads) thread.join();
    store_pointer = nullptr;
    EXPECT_EQ(uncovered.load(), 0) << "mode " << static_cast<int>(mode);
    const int writes = kThreads * kWritesPerThread;
    if (mode == Durability::kSyncEachWrite) {
      EXPECT_EQ(injector.syncs(), writes);
    } else {
      // Group commit shares syncs between concurrent writers; it never needs more
      // than one per write.
      EXPECT_GE(injector.syncs(), 1);
      EXPECT_LE(injector.syncs(), writes);
      std::cout << "[ group commit ] " << writes << " writes from " << kThreads << " threads took "
                << injector.syncs() << " syncs\n";
    }
  }
}

TEST(Durability, PeriodicModeSyncsInTheBackground) {
  TempDir dir;
  ScriptedInjector injector;
  OpenOptions options = with_durability(Durability::kSyncPeriodically);
  options.sync_interval = std::chrono::milliseconds(5);
  auto store = DataStore::open(dir.file("s.bin"), options);
  store.write("a", std::string("1"));
  // The background thread syncs within an interval; allow a generous wait on a
  // loaded machine (this asserts that it happens, not how fast).
  for (int i = 0; i < 2000 && injector.syncs() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_GE(injector.syncs(), 1);
  const int after_first = injector.syncs();
  // With nothing new written, the thread does not sync again.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(injector.syncs(), after_first);
}

TEST(Durability, SyncModesSyncOnClose) {
  for (Durability mode : {Durability::kGroupCommit, Durability::kSyncPeriodically}) {
    TempDir dir;
    ScriptedInjector injector;
    OpenOptions options = with_durability(mode);
    options.sync_interval = std::chrono::hours(1);
    {
      auto store = DataStore::open(dir.file("s.bin"), options);
      store.write("a", std::string("1"));
    }
    EXPECT_GE(injector.syncs(), 1) << static_cast<int>(mode);
    auto reopened = DataStore::open_existing(dir.file("s.bin"));
    ASSERT_TRUE(reopened.read("a"));
  }
}

TEST(Durability, AFailedSyncRefusesLaterWritesUntilReopened) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  {
    auto store = DataStore::open(path, with_durability(Durability::kSyncEachWrite));
    store.write("before", std::string("kept"));
    {
      ScriptedInjector injector([](ScriptedInjector::Operation operation, const std::filesystem::path&,
                                   std::uint64_t, std::uint64_t, std::uint64_t*) {
        return operation == ScriptedInjector::Operation::kSync ? EIO : 0;
      });
      EXPECT_EQ(srd_test::code_of([&] { store.write("during", std::string("unknown")); }), "io");
    }
    // The failure sticks: the page cache's state is unknown after a failed fdatasync.
    const std::string message = srd_test::message_of([&] { store.write("after", std::string("refused")); });
    EXPECT_NE(message.find("reopen"), std::string::npos) << message;
    EXPECT_EQ(srd_test::code_of([&] { store.compact(); }), "io");
    EXPECT_EQ(srd_test::code_of([&] { store.sync(); }), "io");
    // Reads go on.
    ASSERT_TRUE(store.read("before"));
    EXPECT_FALSE(store.read("after"));
  }
  auto reopened = DataStore::open_existing(path, with_durability(Durability::kSyncEachWrite));
  ASSERT_TRUE(reopened.read("before"));
  EXPECT_EQ(reopened.read("before")->as_string_view(), "kept");
  EXPECT_FALSE(reopened.read("after"));
  reopened.write("after", std::string("accepted"));
  EXPECT_EQ(reopened.read("after")->as_string_view(), "accepted");
}

TEST(Durability, CompactionCountsAsASync) {
  TempDir dir;
  ScriptedInjector injector;
  auto store = DataStore::open(dir.file("s.bin"), with_durability(Durability::kGroupCommit));
  for (int i = 0; i < 20; ++i) store.write("k", value_for(i));
  const int before = injector.syncs();
  store.compact();
  EXPECT_EQ(injector.syncs(), before + 1) << "compaction syncs its new file once";
  // Everything written is durable in the new file: sync() has nothing left to do.
  store.sync();
  EXPECT_EQ(injector.syncs(), before + 1);
  store.write("k2", std::string("x"));
  EXPECT_EQ(injector.syncs(), before + 2);
}

TEST(Durability, GroupCommitWritersRunAlongsideCompaction) {
  // Compaction swaps the file the group-commit leader syncs; it waits for a running
  // sync first (TSan runs this suite).
  TempDir dir;
  auto store = DataStore::open(dir.file("s.bin"), with_durability(Durability::kGroupCommit));
  std::atomic<bool> writing{true};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 120; ++i) store.write("t" + std::to_string(t) + "-" + std::to_string(i % 20), value_for(i));
    });
  }
  std::thread compactor([&] {
    while (writing.load()) {
      store.compact();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  for (auto& writer : writers) writer.join();
  writing = false;
  compactor.join();
  EXPECT_EQ(store.len(), 60u);
  for (int t = 0; t < 3; ++t) {
    for (int i = 100; i < 120; ++i) {
      EXPECT_EQ(store.read("t" + std::to_string(t) + "-" + std::to_string(i % 20))->as_string_view(), value_for(i));
    }
  }
}

}  // namespace

// Concurrency: one DataStore shared by many threads (the original's concurrency
// tests, and its sharp edges: a lock-order inversion and writers that block readers).
//
// These tests also run under ThreadSanitizer. They coordinate threads with latches,
// semaphores and atomic wait/notify, never with sleeps, and assert only on values:
// nothing here depends on timing. Values carry their own identity (key id, version)
// so that a torn or misplaced read is detected wherever it happens.

#include <gtest/gtest.h>

#include <future>
#include <span>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <latch>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <semaphore>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "simd_r_drive/simd_r_drive.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using srd_test::TempDir;

// Runs `body` on a new thread; an exception becomes a test failure instead of
// std::terminate.
std::thread spawn(std::function<void()> body) {
  return std::thread([body = std::move(body)] {
    try {
      body();
    } catch (const std::exception& error) {
      ADD_FAILURE() << "thread threw: " << error.what();
    } catch (...) {
      ADD_FAILURE() << "thread threw a non-std exception";
    }
  });
}

void join_all(std::vector<std::thread>& threads) {
  for (std::thread& thread : threads) thread.join();
}

void put_u64(std::byte* out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>(value >> (8 * i));
}
std::uint64_t get_u64(const std::byte* in) {
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= std::to_integer<std::uint64_t>(in[i]) << (8 * i);
  return value;
}

// Blocks until ready() holds. Whoever makes ready() true must then increment
// `signal` and notify it; since the signal is loaded before ready() is checked, a
// change in between makes wait() return at once, so no wake-up is lost. Uses
// atomic wait, so a waiting thread does not compete with the one making progress.
void wait_until(const std::atomic<int>& signal, const std::function<bool()>& ready) {
  while (true) {
    const int seen = signal.load();
    if (ready()) return;
    signal.wait(seen);
  }
}

void bump(std::atomic<int>& signal) {
  signal.fetch_add(1);
  signal.notify_all();
}

// ---- versioned values: [key id u64][version u64][64 bytes of the version byte] ----

constexpr std::size_t kVersionedSize = 16 + 64;

std::byte version_byte(std::uint64_t version) { return static_cast<std::byte>(version % 255 + 1); }

std::vector<std::byte> versioned_value(std::uint64_t key_id, std::uint64_t version) {
  std::vector<std::byte> value(kVersionedSize, version_byte(version));
  put_u64(value.data(), key_id);
  put_u64(value.data() + 8, version);
  return value;
}

// Checks a versioned value's shape; returns its version, or nullopt (after
// reporting) if it is malformed.
std::optional<std::uint64_t> check_versioned(std::span<const std::byte> value, std::uint64_t expected_key_id) {
  if (value.size() != kVersionedSize) {
    ADD_FAILURE() << "value of key " << expected_key_id << " has " << value.size() << " bytes";
    return std::nullopt;
  }
  const std::byte* data = value.data();
  const std::uint64_t key_id = get_u64(data);
  const std::uint64_t version = get_u64(data + 8);
  if (key_id != expected_key_id) {
    ADD_FAILURE() << "read key " << expected_key_id << " but the value belongs to key " << key_id;
    return std::nullopt;
  }
  const std::byte fill = version_byte(version);
  for (std::size_t i = 16; i < kVersionedSize; ++i) {
    if (data[i] != fill) {
      ADD_FAILURE() << "torn value: key " << key_id << " version " << version << " byte " << i;
      return std::nullopt;
    }
  }
  return version;
}

std::optional<std::uint64_t> check_versioned(const EntryHandle& handle, std::uint64_t expected_key_id) {
  return check_versioned(handle.as_slice(), expected_key_id);
}

std::string versioned_key(std::uint64_t key_id) { return "versioned-" + std::to_string(key_id); }

// ---- big blocks: [seed u64][fill ...][~seed u64] ----

constexpr std::size_t kBlockSize = 64 * 1024;

std::vector<std::byte> block(std::uint64_t seed) {
  std::vector<std::byte> out(kBlockSize, static_cast<std::byte>(seed % 251 + 1));
  put_u64(out.data(), seed);
  put_u64(out.data() + kBlockSize - 8, ~seed);
  return out;
}

// ---- (a) 9.7 concurrent_slow_streamed_write_test ----

TEST(Concurrency, SlowStreamedWritesDoNotInterleave) {
  constexpr std::size_t kStreamSize = 1 << 20;
  constexpr std::size_t kChunk = 1024;
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));

  std::latch start(2);
  auto stream_writer = [&](std::string key, char fill) {
    return spawn([&store, &start, key, fill] {
      std::size_t remaining = kStreamSize;
      start.arrive_and_wait();
      store.write_stream(key, [&](std::span<std::byte> buffer) -> std::size_t {
        std::this_thread::yield();  // a slow source
        const std::size_t n = std::min({remaining, buffer.size(), kChunk});
        std::memset(buffer.data(), fill, n);
        remaining -= n;
        return n;
      });
    });
  };
  std::vector<std::thread> threads;
  threads.push_back(stream_writer("stream-a", 'A'));
  threads.push_back(stream_writer("stream-b", 'B'));
  join_all(threads);

  for (const auto& [key, fill] : {std::pair{"stream-a", 'A'}, std::pair{"stream-b", 'B'}}) {
    auto handle = store.read(key);
    ASSERT_TRUE(handle.has_value()) << key;
    EXPECT_EQ(handle->size(), kStreamSize) << key;
    EXPECT_EQ(handle->as_string_view(), std::string(kStreamSize, fill)) << key;
    EXPECT_TRUE(handle->is_valid_checksum()) << key;
  }
  EXPECT_EQ(store.len(), 2u);
  EXPECT_TRUE(store.verify().ok());
}

// ---- (b) 9.7 concurrent_write_test, scaled up ----

TEST(Concurrency, ManyThreadsWriteDistinctKeys) {
  constexpr int kThreads = 16;
  constexpr int kWritesPerThread = 100;
  TempDir dir;
  const auto path = dir.file("store.bin");
  auto key = [](int t, int i) { return "t" + std::to_string(t) + "-k" + std::to_string(i); };
  auto value = [](int t, int i) { return std::string(static_cast<std::size_t>(1 + (t * 7 + i) % 90), static_cast<char>('a' + t)) + std::to_string(i); };
  {
    DataStore store = DataStore::open(path);
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.push_back(spawn([&, t] {
        start.arrive_and_wait();
        for (int i = 0; i < kWritesPerThread; ++i) {
          if (i % 25 == 24) {
            // Mix in a batch now and then.
            std::vector<std::pair<std::string, std::string>> batch = {{key(t, i), value(t, i)}};
            store.batch_write(batch);
          } else {
            store.write(key(t, i), value(t, i));
          }
        }
      }));
    }
    join_all(threads);

    EXPECT_EQ(store.len(), static_cast<std::size_t>(kThreads * kWritesPerThread));
    for (int t = 0; t < kThreads; ++t) {
      for (int i = 0; i < kWritesPerThread; ++i) {
        auto handle = store.read(key(t, i));
        ASSERT_TRUE(handle.has_value()) << key(t, i);
        EXPECT_EQ(handle->as_string_view(), value(t, i));
      }
    }
    EXPECT_TRUE(store.verify().ok());
  }
  DataStore store = DataStore::open(path);
  EXPECT_EQ(store.len(), static_cast<std::size_t>(kThreads * kWritesPerThread));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kWritesPerThread; ++i) {
      auto handle = store.read(key(t, i));
      ASSERT_TRUE(handle.has_value()) << key(t, i);
      EXPECT_EQ(handle->as_string_view(), value(t, i));
    }
  }
}

// ---- (c) 9.7 interleaved_read_write_test: read-your-writes across threads ----

TEST(Concurrency, ReadYourWritesAcrossThreads) {
  constexpr int kRounds = 200;
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  std::binary_semaphore a_wrote(0);
  std::binary_semaphore b_wrote(0);

  std::vector<std::thread> threads;
  threads.push_back(spawn([&] {
    for (int round = 0; round < kRounds; ++round) {
      store.write("shared", "A" + std::to_string(round));
      a_wrote.release();
      b_wrote.acquire();
      auto handle = store.read("shared");
      ASSERT_TRUE(handle.has_value());
      EXPECT_EQ(handle->as_string_view(), "B" + std::to_string(round));
    }
  }));
  threads.push_back(spawn([&] {
    for (int round = 0; round < kRounds; ++round) {
      a_wrote.acquire();
      auto handle = store.read("shared");
      if (!handle.has_value() || handle->as_string_view() != "A" + std::to_string(round)) {
        ADD_FAILURE() << "round " << round << ": B did not see A's write";
      }
      store.write("shared", "B" + std::to_string(round));
      b_wrote.release();
    }
  }));
  join_all(threads);
  EXPECT_EQ(store.read("shared")->as_string_view(), "B" + std::to_string(kRounds - 1));
  EXPECT_EQ(store.len(), 1u);
}

// ---- (d) readers never see torn values, and versions never go backwards ----

TEST(Concurrency, ReadersSeeWholeValuesInVersionOrder) {
  constexpr std::uint64_t kKeys = 8;
  constexpr std::uint64_t kVersions = 300;
  constexpr int kReaders = 4;
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  for (std::uint64_t k = 0; k < kKeys; ++k) store.write(versioned_key(k), versioned_value(k, 0));

  std::atomic<bool> writer_done{false};
  std::atomic<std::uint64_t> total_reads{0};
  std::latch start(kReaders + 1);
  std::vector<std::thread> threads;

  threads.push_back(spawn([&] {
    start.arrive_and_wait();
    for (std::uint64_t version = 1; version <= kVersions; ++version) {
      if (version % 10 == 0) {
        std::vector<std::pair<std::string, std::vector<std::byte>>> batch;
        for (std::uint64_t k = 0; k < kKeys; ++k) batch.emplace_back(versioned_key(k), versioned_value(k, version));
        store.batch_write(batch);
      } else {
        for (std::uint64_t k = 0; k < kKeys; ++k) store.write(versioned_key(k), versioned_value(k, version));
      }
    }
    writer_done.store(true);
  }));

  for (int r = 0; r < kReaders; ++r) {
    threads.push_back(spawn([&, r] {
      std::vector<std::uint64_t> last(kKeys, 0);
      std::vector<std::string> keys;
      for (std::uint64_t k = 0; k < kKeys; ++k) keys.push_back(versioned_key(k));
      start.arrive_and_wait();
      bool final_pass = false;
      while (true) {
        final_pass = writer_done.load();
        if (r % 2 == 0) {
          for (std::uint64_t k = 0; k < kKeys; ++k) {
            std::optional<EntryHandle> handle = store.read(keys[k]);
            if (!handle) {
              ADD_FAILURE() << "key " << k << " missing during overwrites";
              return;
            }
            std::optional<std::uint64_t> version = check_versioned(*handle, k);
            if (!version) return;
            if (*version < last[k]) {
              ADD_FAILURE() << "key " << k << " went back from version " << last[k] << " to " << *version;
              return;
            }
            last[k] = *version;
          }
        } else {
          auto handles = store.batch_read(keys);
          for (std::uint64_t k = 0; k < kKeys; ++k) {
            if (!handles[k]) {
              ADD_FAILURE() << "key " << k << " missing in batch_read during overwrites";
              return;
            }
            std::optional<std::uint64_t> version = check_versioned(*handles[k], k);
            if (!version) return;
            if (*version < last[k]) {
              ADD_FAILURE() << "key " << k << " went back from version " << last[k] << " to " << *version;
              return;
            }
            last[k] = *version;
          }
        }
        if (store.len() != kKeys) {
          ADD_FAILURE() << "len() was " << store.len() << " during overwrites";
          return;
        }
        total_reads.fetch_add(kKeys);
        if (final_pass) break;
        std::this_thread::yield();
      }
      // The last pass started after the writer finished, so it saw the last version.
      for (std::uint64_t k = 0; k < kKeys; ++k) EXPECT_EQ(last[k], kVersions) << "reader " << r << " key " << k;
    }));
  }
  join_all(threads);
  EXPECT_GE(total_reads.load(), kKeys * kReaders);
  for (std::uint64_t k = 0; k < kKeys; ++k) {
    auto handle = store.read(versioned_key(k));
    ASSERT_TRUE(handle.has_value());
    EXPECT_EQ(check_versioned(*handle, k), kVersions);
  }
}

// The index confirms a key by reading its record. Readers of three kinds (read,
// exists, batch_read_views) run while the writer overwrites small keys and pushes
// the file past its first reservation (32 MiB here), so the store moves to a larger
// mapping under them: no key that has a value all along may read as absent, and
// versions never go back. (The moment a reader meets a slot past the mapping it
// loaded is too short to hit on purpose here; tests/engine/read_path_test.cc checks
// that step on its own.)
TEST(Concurrency, ReadersFollowTheWriterIntoALargerMapping) {
  constexpr std::uint64_t kKeys = 8;
  constexpr std::uint64_t kReservation = 32 << 20;
  constexpr std::uint64_t kRounds = 80;  // 80 MiB of ballast: past the first two mappings
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"), srd_test::with_reservation(kReservation));
  for (std::uint64_t k = 0; k < kKeys; ++k) store.write(versioned_key(k), versioned_value(k, 0));
  const std::vector<std::byte> ballast(1 << 20, std::byte{0x5a});

  std::atomic<bool> writer_done{false};
  std::atomic<std::uint64_t> total_reads{0};
  std::latch start(3);
  std::vector<std::thread> threads;
  threads.push_back(spawn([&] {
    start.arrive_and_wait();
    for (std::uint64_t round = 1; round <= kRounds; ++round) {
      store.write("ballast", ballast);
      for (std::uint64_t k = 0; k < kKeys; ++k) store.write(versioned_key(k), versioned_value(k, round));
    }
    writer_done.store(true);
  }));
  for (int r = 0; r < 2; ++r) {
    threads.push_back(spawn([&, r] {
      std::vector<std::string> keys;
      for (std::uint64_t k = 0; k < kKeys; ++k) keys.push_back(versioned_key(k));
      std::vector<std::uint64_t> last(kKeys, 0);
      start.arrive_and_wait();
      for (bool final_pass = false; !final_pass;) {
        final_pass = writer_done.load();
        for (std::uint64_t k = 0; k < kKeys; ++k) {
          std::optional<std::uint64_t> version;
          if (r == 0) {
            const std::optional<EntryHandle> handle = store.read(keys[k]);
            if (!handle) {
              ADD_FAILURE() << "key " << k << " missing while the file grew";
              return;
            }
            version = check_versioned(*handle, k);
          } else {
            if (!store.exists(keys[k])) {
              ADD_FAILURE() << "exists() lost key " << k << " while the file grew";
              return;
            }
            const simd_r_drive::ValueBatch views = store.batch_read_views(std::span<const std::string>(&keys[k], 1));
            if (views.found() != 1) {
              ADD_FAILURE() << "batch_read_views lost key " << k << " while the file grew";
              return;
            }
            version = check_versioned(std::span<const std::byte>(views[0]->data(), views[0]->size()), k);
          }
          if (!version) return;
          EXPECT_GE(*version, last[k]);
          last[k] = *version;
        }
        total_reads.fetch_add(kKeys);
      }
      for (std::uint64_t k = 0; k < kKeys; ++k) EXPECT_EQ(last[k], kRounds) << "reader " << r << " key " << k;
    }));
  }
  join_all(threads);
  EXPECT_GT(store.file_size(), 2 * kReservation);
  EXPECT_GE(total_reads.load(), 2 * kKeys);
}

// ---- (e) held handles survive mapping growth and concurrent compaction ----

TEST(Concurrency, HeldHandlesSurviveGrowthAndCompaction) {
  constexpr int kHeld = 32;
  // The store reserves 256 MiB of address space here; 4400 blocks of 64 KiB (275 MiB
  // of live data) outgrow that, so the mapping has to be replaced while the readers
  // hold handles into the old one.
  constexpr int kBulk = 4400;
  constexpr int kCheckEvery = 200;
  constexpr int kReaders = 2;
  const std::vector<int> compact_at = {300, 1500};

  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"), srd_test::with_reservation(256 << 20));
  auto held_key = [](int i) { return "held-" + std::to_string(i); };
  auto bulk_key = [](int i) { return "bulk-" + std::to_string(i); };
  for (int i = 0; i < kHeld; ++i) store.write(held_key(i), block(static_cast<std::uint64_t>(i)));

  std::atomic<int> progress{0};  // bulk blocks written
  std::atomic<bool> writer_done{false};
  std::atomic<int> signal{0};  // bumped after every change of the two above
  std::atomic<int> compactions{0};
  std::latch handles_taken(kReaders + 2);  // readers, writer, compactor
  std::vector<std::thread> threads;

  for (int r = 0; r < kReaders; ++r) {
    threads.push_back(spawn([&, r] {
      // (handle, seed of the bytes it must keep showing)
      std::vector<std::pair<EntryHandle, std::uint64_t>> held;
      for (int i = 0; i < kHeld; ++i) {
        std::optional<EntryHandle> handle = store.read(held_key(i));
        ASSERT_TRUE(handle.has_value());
        held.emplace_back(*handle, static_cast<std::uint64_t>(i));
      }
      handles_taken.count_down();
      std::vector<std::byte> expected;
      int checked_up_to = 0;
      while (true) {
        const bool last_pass = writer_done.load();
        const int now = progress.load();
        // Take a handle to the newest bulk block too, and hold it from here on.
        if (now > 0 && now / kCheckEvery > checked_up_to / kCheckEvery) {
          std::optional<EntryHandle> handle = store.read(bulk_key(now - 1));
          ASSERT_TRUE(handle.has_value()) << bulk_key(now - 1);
          held.emplace_back(*handle, static_cast<std::uint64_t>(100'000 + now - 1));
        }
        checked_up_to = now;
        for (const auto& [handle, seed] : held) {
          expected = block(seed);
          if (handle.size() != kBlockSize || std::memcmp(handle.data(), expected.data(), kBlockSize) != 0) {
            ADD_FAILURE() << "reader " << r << ": a held handle (seed " << seed << ") changed its bytes at progress "
                          << now << " after " << compactions.load() << " compactions";
            return;
          }
        }
        if (last_pass) break;
        wait_until(signal, [&] { return writer_done.load() || progress.load() >= now + kCheckEvery; });
      }
      EXPECT_GT(held.size(), static_cast<std::size_t>(kHeld));
    }));
  }

  threads.push_back(spawn([&] {  // the writer
    handles_taken.arrive_and_wait();
    // Make the held records garbage: overwrite every held key, delete half of them.
    for (int i = 0; i < kHeld; ++i) store.write(held_key(i), block(static_cast<std::uint64_t>(50'000 + i)));
    for (int i = 0; i < kHeld; i += 2) store.remove(held_key(i));
    for (int i = 0; i < kBulk; ++i) {
      store.write(bulk_key(i), block(static_cast<std::uint64_t>(100'000 + i)));
      progress.fetch_add(1);
      bump(signal);
    }
    writer_done.store(true);
    bump(signal);
  }));

  threads.push_back(spawn([&] {  // the compactor
    handles_taken.arrive_and_wait();
    for (int target : compact_at) {
      wait_until(signal, [&] { return progress.load() >= target; });
      store.compact();
      compactions.fetch_add(1);
    }
  }));
  join_all(threads);

  EXPECT_EQ(compactions.load(), static_cast<int>(compact_at.size()));
  EXPECT_EQ(store.len(), static_cast<std::size_t>(kBulk + kHeld / 2));
  for (int i = 0; i < kHeld; ++i) {
    auto handle = store.read(held_key(i));
    if (i % 2 == 0) {
      EXPECT_FALSE(handle.has_value()) << held_key(i);
    } else {
      ASSERT_TRUE(handle.has_value()) << held_key(i);
      EXPECT_TRUE(*handle == block(static_cast<std::uint64_t>(50'000 + i))) << held_key(i);
    }
  }
  for (int i = 0; i < kBulk; ++i) {
    auto handle = store.read(bulk_key(i));
    ASSERT_TRUE(handle.has_value()) << bulk_key(i);
    ASSERT_TRUE(*handle == block(static_cast<std::uint64_t>(100'000 + i))) << bulk_key(i);
  }
  EXPECT_TRUE(store.verify().ok());
}

// ---- reads during compaction see the latest values throughout ----

TEST(Concurrency, ReadsDuringCompactionSeeLatestValues) {
  constexpr std::uint64_t kKeys = 300;
  constexpr int kCompactions = 4;
  constexpr int kReaders = 2;
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  for (std::uint64_t version = 0; version < 3; ++version) {
    for (std::uint64_t k = 0; k < kKeys; ++k) store.write(versioned_key(k), versioned_value(k, version));
  }
  for (std::uint64_t k = 0; k < kKeys; k += 5) store.remove(versioned_key(k));
  const std::size_t live = store.len();

  std::atomic<bool> done{false};
  std::latch start(kReaders + 1);
  std::vector<std::thread> threads;
  threads.push_back(spawn([&] {
    start.arrive_and_wait();
    for (int i = 0; i < kCompactions; ++i) {
      store.compact();
      // Fresh garbage for the next round, written between compactions.
      store.write(versioned_key(1), versioned_value(1, 2));
    }
    done.store(true);
  }));
  for (int r = 0; r < kReaders; ++r) {
    threads.push_back(spawn([&] {
      start.arrive_and_wait();
      bool final_pass = false;
      do {
        final_pass = done.load();
        for (std::uint64_t k = 0; k < kKeys; ++k) {
          std::optional<EntryHandle> handle = store.read(versioned_key(k));
          if (k % 5 == 0) {
            if (handle) {
              ADD_FAILURE() << "deleted key " << k << " came back during compaction";
              return;
            }
            continue;
          }
          if (!handle) {
            ADD_FAILURE() << "key " << k << " missing during compaction";
            return;
          }
          if (check_versioned(*handle, k) != std::optional<std::uint64_t>(2)) {
            ADD_FAILURE() << "key " << k << " did not read its latest version during compaction";
            return;
          }
        }
        if (store.len() != live) {
          ADD_FAILURE() << "len() changed during compaction: " << store.len();
          return;
        }
        std::this_thread::yield();
      } while (!final_pass);
    }));
  }
  join_all(threads);
  EXPECT_EQ(store.len(), live);
  EXPECT_TRUE(store.verify().ok());
}

// Readers that take values without handles (read_view, batch_read_views) while a
// writer rewrites every key, grows the file and compacts: each value is whole, and a
// key's version never goes back.
TEST(Concurrency, ViewReadersSeeWholeValuesInVersionOrder) {
  constexpr std::uint64_t kKeys = 200;
  constexpr std::uint64_t kVersions = 12;
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  for (std::uint64_t k = 0; k < kKeys; ++k) store.write(versioned_key(k), versioned_value(k, 0));
  std::vector<std::string> keys;
  for (std::uint64_t k = 0; k < kKeys; ++k) keys.push_back(versioned_key(k));

  std::atomic<bool> done{false};
  std::latch start(3);
  std::vector<std::thread> threads;
  threads.push_back(spawn([&] {
    start.arrive_and_wait();
    for (std::uint64_t version = 1; version < kVersions; ++version) {
      std::vector<std::pair<std::string, std::vector<std::byte>>> batch;
      for (std::uint64_t k = 0; k < kKeys; ++k) batch.emplace_back(versioned_key(k), versioned_value(k, version));
      store.batch_write(batch);
      if (version % 4 == 0) store.compact();
    }
    done.store(true);
  }));
  threads.push_back(spawn([&] {  // single reads through read_view
    start.arrive_and_wait();
    std::vector<std::uint64_t> seen(kKeys, 0);
    bool final_pass = false;
    do {
      final_pass = done.load();
      for (std::uint64_t k = 0; k < kKeys; ++k) {
        std::optional<std::uint64_t> version;
        const bool found = store.read_view(keys[k], [&](simd_r_drive::ByteView value) {
          version = check_versioned(value.span(), k);
        });
        if (!found || !version) {
          ADD_FAILURE() << "key " << k << (found ? " read malformed" : " missing");
          return;
        }
        if (*version < seen[k]) {
          ADD_FAILURE() << "key " << k << " went back from version " << seen[k] << " to " << *version;
          return;
        }
        seen[k] = *version;
      }
    } while (!final_pass);
    EXPECT_EQ(seen[0], kVersions - 1);
  }));
  threads.push_back(spawn([&] {  // batches through batch_read_views, kept past later writes
    start.arrive_and_wait();
    std::vector<std::uint64_t> seen(kKeys, 0);
    std::vector<simd_r_drive::ValueBatch> kept;
    bool final_pass = false;
    do {
      final_pass = done.load();
      simd_r_drive::ValueBatch batch = store.batch_read_views(keys);
      if (batch.found() != kKeys) {
        ADD_FAILURE() << "a batch found " << batch.found() << " of " << kKeys;
        return;
      }
      for (std::uint64_t k = 0; k < kKeys; ++k) {
        const std::optional<std::uint64_t> version = check_versioned(batch[k]->span(), k);
        if (!version || *version < seen[k]) {
          ADD_FAILURE() << "key " << k << " read malformed or went back";
          return;
        }
        seen[k] = *version;
      }
      if (kept.size() < 8) kept.push_back(std::move(batch));
    } while (!final_pass);
    // Batches taken long ago still read whole values, whatever was compacted since.
    for (const simd_r_drive::ValueBatch& old : kept) {
      for (std::uint64_t k = 0; k < kKeys; ++k) EXPECT_TRUE(check_versioned(old[k]->span(), k).has_value());
    }
  }));
  join_all(threads);
  EXPECT_TRUE(store.verify().ok());
}

// ---- (f) iteration concurrent with writes and compaction ----

TEST(Concurrency, IterationDuringWritesAndCompaction) {
  constexpr std::uint64_t kKeys = 128;
  constexpr int kOps = 2000;
  const std::vector<int> compact_at = {400, 900, 1400};
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"));
  std::map<std::uint64_t, std::uint64_t> id_of_hash;
  for (std::uint64_t k = 0; k < kKeys; ++k) {
    id_of_hash[DataStore::hash_key(versioned_key(k))] = k;
    store.write(versioned_key(k), versioned_value(k, 0));
  }

  std::atomic<int> progress{0};
  std::atomic<bool> writer_done{false};
  std::atomic<int> signal{0};
  std::atomic<int> passes{0};
  std::latch start(4);
  std::vector<std::thread> threads;

  // Checks one iterated entry; returns false (after reporting) if it is malformed.
  auto check_entry = [&](const EntryHandle& entry) {
    auto found = id_of_hash.find(entry.key_hash());
    if (found == id_of_hash.end()) {
      ADD_FAILURE() << "iteration yielded an unknown key hash " << entry.key_hash();
      return false;
    }
    if (!entry.is_valid_checksum()) {
      ADD_FAILURE() << "iteration yielded an entry with a bad checksum";
      return false;
    }
    return check_versioned(entry, found->second).has_value();
  };

  threads.push_back(spawn([&] {  // the writer
    start.arrive_and_wait();
    for (int op = 1; op <= kOps; ++op) {
      const std::uint64_t k = static_cast<std::uint64_t>(op * 7) % kKeys;
      if (op % 11 == 0) {
        store.remove(versioned_key(k));
      } else {
        store.write(versioned_key(k), versioned_value(k, static_cast<std::uint64_t>(op)));
      }
      progress.fetch_add(1);
      bump(signal);
    }
    writer_done.store(true);
    bump(signal);
  }));

  threads.push_back(spawn([&] {  // the compactor
    start.arrive_and_wait();
    for (int target : compact_at) {
      wait_until(signal, [&] { return progress.load() >= target; });
      store.compact();
    }
  }));

  threads.push_back(spawn([&] {  // sequential iteration
    start.arrive_and_wait();
    bool final_pass = false;
    do {
      final_pass = writer_done.load();
      std::set<std::uint64_t> seen;
      for (const EntryHandle& entry : store.iter_entries()) {
        if (!check_entry(entry)) return;
        if (!seen.insert(entry.key_hash()).second) {
          ADD_FAILURE() << "iter_entries yielded a key twice in one pass";
          return;
        }
      }
      passes.fetch_add(1);
      std::this_thread::yield();
    } while (!final_pass);
  }));

  threads.push_back(spawn([&] {  // parallel iteration
    start.arrive_and_wait();
    bool final_pass = false;
    do {
      final_pass = writer_done.load();
      std::mutex mutex;
      std::set<std::uint64_t> seen;
      bool failed = false;
      store.par_iter_entries([&](const EntryHandle& entry) {
        const bool ok = check_entry(entry);
        std::lock_guard lock(mutex);
        if (!ok) failed = true;
        if (!seen.insert(entry.key_hash()).second) {
          ADD_FAILURE() << "par_iter_entries visited a key twice in one pass";
          failed = true;
        }
      });
      if (failed) return;
      passes.fetch_add(1);
      std::this_thread::yield();
    } while (!final_pass);
  }));
  join_all(threads);
  EXPECT_GE(passes.load(), 2);

  // Quiet now: both iterations give exactly the live keys, with their latest values.
  std::set<std::uint64_t> live;
  for (std::uint64_t k = 0; k < kKeys; ++k) {
    if (store.exists(versioned_key(k))) live.insert(DataStore::hash_key(versioned_key(k)));
  }
  EXPECT_EQ(live.size(), store.len());
  std::set<std::uint64_t> sequential;
  for (const EntryHandle& entry : store.iter_entries()) {
    EXPECT_TRUE(check_entry(entry));
    EXPECT_TRUE(sequential.insert(entry.key_hash()).second);
    auto latest = store.read_with_key_hash(entry.key_hash());
    ASSERT_TRUE(latest.has_value());
    EXPECT_EQ(latest->start_offset(), entry.start_offset());
  }
  EXPECT_EQ(sequential, live);
  std::mutex mutex;
  std::multiset<std::uint64_t> parallel;
  store.par_iter_entries([&](const EntryHandle& entry) {
    std::lock_guard lock(mutex);
    parallel.insert(entry.key_hash());
  });
  EXPECT_EQ(parallel, std::multiset<std::uint64_t>(live.begin(), live.end()));
  EXPECT_TRUE(store.verify().ok());
}

// A large key index grows on a thread of its own while the writer goes on (the
// engine's index_growth.h), then takes in the writes made meanwhile. 100,000 keys
// take the index through several such growths; readers must find every key written
// so far all along, and every overwrite and delete made during a copy must hold
// afterwards, and after a reopen. The last 40,000 keys arrive in one batch, faster
// than a copy goes, so the writer also meets a copy it must wait for.
TEST(Concurrency, ReadersFindEveryKeyWhileTheIndexGrowsInTheBackground) {
  constexpr std::uint64_t kKeys = 100000;
  constexpr std::uint64_t kLastBatch = 40000;
  constexpr std::uint64_t kBatch = 50;
  constexpr int kReaders = 2;
  // Keys whose id is 0 mod 8 are deleted after they are written, 4 mod 8 rewritten
  // as version 1; the others keep version 0 and are what readers check meanwhile.
  const auto fate_of = [](std::uint64_t id) { return id % 8 == 0 ? 0 : id % 8 == 4 ? 1 : 2; };
  auto change_after_write = [&](DataStore& store, std::uint64_t first, std::uint64_t end) {
    std::vector<std::pair<std::string, std::vector<std::byte>>> rewrites;
    std::vector<std::string> deletes;
    for (std::uint64_t id = first; id < end; ++id) {
      if (fate_of(id) == 1) rewrites.emplace_back(versioned_key(id), versioned_value(id, 1));
      if (fate_of(id) == 0) deletes.push_back(versioned_key(id));
    }
    store.batch_write(rewrites);
    store.batch_remove(deletes);
  };
  auto check_all = [&](const DataStore& store) {
    std::uint64_t wrong = 0;
    for (std::uint64_t id = 0; id < kKeys; ++id) {
      const std::optional<EntryHandle> handle = store.read(versioned_key(id));
      const bool ok = fate_of(id) == 0 ? !handle : handle && check_versioned(*handle, id) == (fate_of(id) == 1 ? 1u : 0u);
      if (!ok && ++wrong <= 5) ADD_FAILURE() << "key " << id << " (fate " << fate_of(id) << ")";
    }
    EXPECT_EQ(wrong, 0u);
    EXPECT_EQ(store.len(), kKeys - kKeys / 8);
  };

  TempDir dir;
  const auto path = dir.file("store.bin");
  {
    DataStore store = DataStore::open(path);
    std::atomic<std::uint64_t> written{0};
    std::atomic<bool> writer_done{false};
    std::atomic<std::uint64_t> reads{0};
    std::vector<std::thread> threads;
    threads.push_back(spawn([&] {
      for (std::uint64_t first = 0; first < kKeys;) {
        const std::uint64_t end = first < kKeys - kLastBatch ? first + kBatch : kKeys;
        std::vector<std::pair<std::string, std::vector<std::byte>>> batch;
        for (std::uint64_t id = first; id < end; ++id) batch.emplace_back(versioned_key(id), versioned_value(id, 0));
        store.batch_write(batch);
        written.store(end);
        change_after_write(store, first, end);
        first = end;
      }
      writer_done.store(true);
    }));
    for (int r = 0; r < kReaders; ++r) {
      threads.push_back(spawn([&, r] {
        std::mt19937_64 random(static_cast<std::uint64_t>(r) + 1);
        for (bool last_pass = false; !last_pass;) {
          last_pass = writer_done.load();
          const std::uint64_t limit = written.load();
          if (limit == 0) continue;
          for (int i = 0; i < 256; ++i) {
            std::uint64_t id = random() % limit;
            if (fate_of(id) != 2) id = (id | 1) % limit;  // an odd id keeps version 0
            if (fate_of(id) != 2) continue;
            const std::optional<EntryHandle> handle = store.read(versioned_key(id));
            if (!handle) {
              ADD_FAILURE() << "key " << id << " missing with " << limit << " keys written";
              return;
            }
            const std::optional<std::uint64_t> version = check_versioned(*handle, id);
            if (version != 0u) {
              if (version) ADD_FAILURE() << "key " << id << " read as version " << *version;
              return;
            }
            reads.fetch_add(1, std::memory_order_relaxed);
          }
        }
      }));
    }
    join_all(threads);
    EXPECT_GT(reads.load(), 0u);
    check_all(store);
    EXPECT_TRUE(store.verify().ok());
  }
  check_all(DataStore::open(path));
}

}  // namespace

namespace {

TEST(ConcurrencyReaders, IteratingALargeValueStoreNeverWaitsForAWriter) {
  // Twenty 1 MiB values, reopened: liveness bits are not worth building for such a
  // store, so iteration must decide that without the write mutex.
  srd_test::TempDir dir;
  std::vector<std::byte> value(1u << 20, std::byte{7});
  {
    auto writer_session = simd_r_drive::DataStore::open(dir.file("large.bin"));
    for (int i = 0; i < 20; ++i) writer_session.write("k" + std::to_string(i), value);
  }
  auto store = simd_r_drive::DataStore::open(dir.file("large.bin"));

  std::promise<void> iteration_done;
  std::shared_future<void> done = iteration_done.get_future().share();
  std::promise<void> stream_started;
  // The writer holds the write mutex for the whole stream; its source waits until the
  // reader has finished iterating. If iteration needed that mutex, neither could go on:
  // the source gives up after its bound and records that iteration had not finished.
  bool iteration_finished_while_writer_waited = false;  // written by the writer, read after join
  std::thread writer([&] {
    bool first = true;
    store.write_stream("streamed", [&](std::span<std::byte> buffer) -> std::size_t {
      if (!first) return 0;
      first = false;
      stream_started.set_value();
      // Bounded: a failure, not a hang.
      iteration_finished_while_writer_waited = done.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
      buffer[0] = std::byte{1};
      return 1;
    });
  });
  stream_started.get_future().wait();
  std::size_t seen = 0;
  for (const auto& entry : store.iter_entries()) seen += entry.size() == value.size();
  std::size_t visited = 0;
  store.par_iter_entries([&](const simd_r_drive::EntryHandle&) { __atomic_add_fetch(&visited, 1, __ATOMIC_RELAXED); });
  iteration_done.set_value();
  writer.join();
  EXPECT_TRUE(iteration_finished_while_writer_waited)
      << "iteration finished only after the writer gave up waiting: it waited for the write mutex";
  EXPECT_EQ(seen, 20u);
  EXPECT_EQ(visited, 20u);
  EXPECT_TRUE(store.exists("streamed"));
}

}  // namespace

// Unit tests of LiveBits, the liveness-by-position map that iteration scans.
#include <gtest/gtest.h>

#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "engine/live_bits.h"
#include "io/mapping.h"

namespace simd_r_drive::engine {
namespace {

// All live tails from high to low, as iteration scans them.
std::vector<std::uint64_t> scan(const LiveBits& bits, std::uint64_t from) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t at = from;;) {
    const std::uint64_t tail = bits.previous(at);
    if (tail == 0) return out;
    out.push_back(tail);
    at = tail - 1;
  }
}

TEST(LiveBits, ScanReturnsExactTailsNewestFirst) {
  LiveBits bits(4096);
  for (std::uint64_t tail : {21u, 42u, 63u, 85u, 128u, 149u, 1000u}) bits.set(tail);
  EXPECT_EQ(scan(bits, 4000), (std::vector<std::uint64_t>{1000, 149, 128, 85, 63, 42, 21}));
  EXPECT_TRUE(bits.test(85));
  EXPECT_FALSE(bits.test(86));
}

TEST(LiveBits, ATailAboveTheCursorInItsGranuleIsSkipped) {
  // 105 and 100 share the granule [96, 112): a scan from 100 must not return 105,
  // and must not loop on it either.
  LiveBits bits(4096);
  bits.set(105);
  bits.set(42);
  EXPECT_EQ(bits.previous(100), 42u);
  EXPECT_EQ(bits.previous(105), 105u);
  EXPECT_EQ(bits.previous(111), 105u);
  EXPECT_EQ(scan(bits, 104), (std::vector<std::uint64_t>{42}));
}

TEST(LiveBits, ClearRemovesOnlyThatEntry) {
  LiveBits bits(4096);
  bits.set(21);
  bits.set(42);
  bits.clear(21);
  EXPECT_EQ(scan(bits, 4000), (std::vector<std::uint64_t>{42}));
  EXPECT_EQ(bits.previous(41), 0u);
}

TEST(LiveBits, ScanCrossesEmptyWordsAndClampsPastCapacity) {
  LiveBits bits(1u << 20);
  bits.set(21);
  bits.set((1u << 20) - 3);
  EXPECT_EQ(bits.previous(~0ull), (1u << 20) - 3);  // clamped to the capacity
  EXPECT_EQ(bits.previous((1u << 20) - 4), 21u);      // 16 Ki empty words in between
}

TEST(LiveBits, GrownCopyKeepsEveryTail) {
  LiveBits bits(1024);
  for (std::uint64_t tail = 21; tail < 1000; tail += 37) bits.set(tail);
  auto bigger = bits.grown(1u << 16);
  EXPECT_GE(bigger->tail_capacity(), 1u << 16);
  EXPECT_EQ(scan(*bigger, 1u << 16), scan(bits, 1000));
  bigger->set(50000);
  EXPECT_EQ(bigger->previous(60000), 50000u);
}

TEST(LiveBits, GrownCopyKeepsExactTailsOfDenseAndClearedEntries) {
  // Tails 21 bytes apart put two entries' offsets in one byte; cleared entries
  // leave offsets behind that the copy must not bring back as live.
  LiveBits bits(1u << 14);
  std::vector<std::uint64_t> live;
  std::size_t i = 0;
  for (std::uint64_t tail = 21; tail < (1u << 14); tail += 21, ++i) {
    bits.set(tail);
    if (i % 3 == 1) {
      bits.clear(tail);
    } else {
      live.insert(live.begin(), tail);
    }
  }
  auto bigger = bits.grown(1u << 16);
  EXPECT_EQ(scan(*bigger, 1u << 16), live);
  for (std::uint64_t tail : live) EXPECT_TRUE(bigger->test(tail)) << tail;
  EXPECT_FALSE(bigger->test(42));  // the second entry, cleared
}

TEST(LiveBits, GrownCopyOfSparseBitsKeepsEveryTail) {
  // One entry per MiB, as in a store of large values: most words and offset bytes
  // are zero.
  constexpr std::uint64_t kMiB = 1u << 20;
  LiveBits bits(64 * kMiB);
  std::vector<std::uint64_t> live;
  for (std::uint64_t tail = kMiB - 13; tail < 64 * kMiB; tail += kMiB + 7) {
    bits.set(tail);
    live.insert(live.begin(), tail);
  }
  auto bigger = bits.grown(256 * kMiB);
  EXPECT_EQ(scan(*bigger, 256 * kMiB), live);
  EXPECT_EQ(bigger->count_below(64 * kMiB), live.size());
}

TEST(LiveBits, AGrownViewSharesItsBitsWithTheOneItGrewFrom) {
  // Growth within the reservation copies nothing: both views read the same words, so
  // a reader still holding the smaller one sees the writer's later changes below its
  // capacity, and the larger one sees every earlier change.
  LiveBits bits(1u << 16);
  bits.set(21);
  bits.set(1000);
  auto bigger = bits.grown(1u << 30);
  EXPECT_GE(bigger->tail_capacity(), 1u << 30);
  EXPECT_EQ(bigger->raw_bits().data(), bits.raw_bits().data());
  bigger->clear(1000);
  bigger->set(2000);
  bigger->set((1u << 30) - 5);
  EXPECT_EQ(scan(bits, (1u << 16) - 1), (std::vector<std::uint64_t>{2000, 21}));
  EXPECT_EQ(scan(*bigger, 1u << 30), (std::vector<std::uint64_t>{(1u << 30) - 5, 2000, 21}));
  EXPECT_EQ(bigger->count_below(1u << 16), 2u);
}

TEST(LiveBits, BitsMappedFromASnapshotGrowIntoACopy) {
  // A saved layout is mapped private and cannot grow in place: growth copies it, and
  // the copy's changes leave the mapping (and the file) as they were.
  LiveBits saved(1u << 16);
  for (std::uint64_t tail = 21; tail < (1u << 16); tail += 4099) saved.set(tail);
  char name[] = "/tmp/srd-live-bits-XXXXXX";
  const int fd = ::mkstemp(name);
  ASSERT_GE(fd, 0);
  ::unlink(name);
  const std::uint64_t page = io::page_size();
  std::vector<std::byte> file(page);  // the layout starts on a page boundary
  file.insert(file.end(), saved.raw_bits().begin(), saved.raw_bits().end());
  file.insert(file.end(), saved.raw_offsets().begin(), saved.raw_offsets().end());
  ASSERT_EQ(::pwrite(fd, file.data(), file.size(), 0), static_cast<ssize_t>(file.size()));
  auto mapped = LiveBits::mapped_from(fd, page, saved.words());
  ::close(fd);
  ASSERT_NE(mapped, nullptr);
  EXPECT_EQ(scan(*mapped, 1u << 16), scan(saved, 1u << 16));
  auto bigger = mapped->grown(1u << 24);
  EXPECT_NE(bigger->raw_bits().data(), mapped->raw_bits().data());
  EXPECT_EQ(scan(*bigger, 1u << 24), scan(saved, 1u << 16));
  bigger->clear(21);
  bigger->set(1u << 20);
  EXPECT_TRUE(mapped->test(21));
  EXPECT_FALSE(mapped->test(1u << 20));
  EXPECT_EQ(scan(*bigger, 1u << 24).front(), 1u << 20);
}

TEST(LiveBits, ReadersOfEveryViewSeeExactTailsWhileTheWriterGrows) {
  // Under TSan this checks that views grown in place publish their pages: readers
  // scan the view they hold while the writer sets bits past it and grows.
  std::vector<std::unique_ptr<LiveBits>> views;
  views.push_back(std::make_unique<LiveBits>(1u << 12));
  std::atomic<const LiveBits*> newest{views.back().get()};
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (std::uint64_t tail = 21; tail < (1u << 22); tail += 23) {
      LiveBits* bits = views.back().get();
      if (!bits->covers(tail)) {
        views.push_back(bits->grown(tail * 2));
        bits = views.back().get();
        newest.store(bits, std::memory_order_release);
      }
      bits->set(tail);
    }
    done.store(true);
  });
  bool exact = true;
  std::size_t scans = 0;
  while (!done.load() || scans == 0) {
    const LiveBits* bits = newest.load(std::memory_order_acquire);
    for (std::uint64_t tail : scan(*bits, bits->tail_capacity() - 1)) {
      if ((tail - 21) % 23 != 0) exact = false;
    }
    ++scans;
  }
  writer.join();
  EXPECT_TRUE(exact);
  EXPECT_GT(views.size(), 3u);
  EXPECT_EQ(scan(*views.back(), 1u << 22).size(), ((1u << 22) - 21 + 22) / 23);
}

TEST(LiveBits, ReadersSeeExactTailsWhileTheWriterSets) {
  // Under TSan this checks that the offset bits are published by the set bit.
  LiveBits bits(1u << 20);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (std::uint64_t tail = 21; tail < (1u << 19); tail += 23) bits.set(tail);
    done.store(true);
  });
  bool exact = true;
  while (!done.load()) {
    for (std::uint64_t tail : scan(bits, 1u << 19)) {
      if ((tail - 21) % 23 != 0) exact = false;
    }
  }
  writer.join();
  EXPECT_TRUE(exact);
}

}  // namespace
}  // namespace simd_r_drive::engine

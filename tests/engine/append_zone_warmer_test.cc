// Unit tests of the append-zone warmer (append_zone_warmer.h): it faults the pages it
// is asked for into the page cache without changing a byte of the file, survives a
// request past the file's end, and lets go of the mapping when done.
#include "engine/append_zone_warmer.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <filesystem>
#include <memory>
#include <vector>

#include "io/file_handle.h"
#include "io/mapping.h"
#include "test_support.h"

namespace simd_r_drive::engine {
namespace {

constexpr std::uint64_t kTwoMiB = io::kHugePageSize;

// How many pages of [from, to) of the mapping are in the page cache.
std::size_t resident_pages(const io::Mapping& mapping, std::uint64_t from, std::uint64_t to) {
  const auto page = io::page_size();
  std::vector<unsigned char> in_core((to - from + page - 1) / page);
  EXPECT_EQ(::mincore(mapping.data() + from, to - from, in_core.data()), 0);
  std::size_t count = 0;
  for (unsigned char bits : in_core) count += bits & 1;
  return count;
}

TEST(AppendZoneWarmer, FaultsTheRequestedRangeInAndWritesNothing) {
  srd_test::TempDir dir;
  io::FileHandle file(dir.file("zone"), io::FileHandle::Mode::kOpenOrCreate);
  file.allocate(4 * kTwoMiB);  // blocks reserved, nothing written: no page cached
  auto mapping = std::make_shared<io::Mapping>(file.fd(), 4 * kTwoMiB, true);
  mapping->advise_append_zone(0);  // as the writer's: no readahead past what is asked
  const auto page = io::page_size();
  ASSERT_EQ(resident_pages(*mapping, kTwoMiB, 3 * kTwoMiB), 0u) << "a fresh file should have no page cached";

  std::weak_ptr<const io::Mapping> watch = mapping;
  AppendZoneWarmer warmer;
  warmer.request(mapping, kTwoMiB + 100, 3 * kTwoMiB);
  ASSERT_TRUE(warmer.wait_until_idle(30'000));
  if (!warmer.enabled()) GTEST_SKIP() << "the kernel has no MADV_POPULATE_WRITE (Linux 5.14)";
  EXPECT_EQ(resident_pages(*mapping, kTwoMiB, 3 * kTwoMiB), 2 * kTwoMiB / page);
  EXPECT_EQ(resident_pages(*mapping, 3 * kTwoMiB, 4 * kTwoMiB), 0u) << "it faulted in more than it was asked";

  mapping.reset();
  EXPECT_TRUE(watch.expired()) << "the warmer kept the mapping after its request was done";
  EXPECT_EQ(std::filesystem::file_size(dir.file("zone")), 4 * kTwoMiB);
  EXPECT_EQ(srd_test::read_file(dir.file("zone")), std::vector<std::byte>(4 * kTwoMiB)) << "warming changed a byte";
}

TEST(AppendZoneWarmer, ARangePastTheFilesEndIsDroppedWithoutASignal) {
  srd_test::TempDir dir;
  io::FileHandle file(dir.file("short"), io::FileHandle::Mode::kOpenOrCreate);
  file.allocate(kTwoMiB);
  // The mapping reaches past the file, as the store's reservation does.
  auto mapping = std::make_shared<io::Mapping>(file.fd(), 4 * kTwoMiB, true);
  AppendZoneWarmer warmer;
  warmer.request(mapping, 0, 4 * kTwoMiB);
  ASSERT_TRUE(warmer.wait_until_idle(30'000));
  // Inside the file it worked; past it, madvise failed instead of raising SIGBUS.
  if (warmer.enabled()) {
    const auto page = io::page_size();
    EXPECT_EQ(resident_pages(*mapping, 0, kTwoMiB), kTwoMiB / page);
  }
  EXPECT_EQ(std::filesystem::file_size(dir.file("short")), kTwoMiB);
}

// The writer asks again and again while the thread works, then the warmer goes away
// with a request pending: the thread takes the newest request and stops when told
// (TSan runs this suite).
TEST(AppendZoneWarmer, NewerRequestsReplaceOlderOnesAndDestructionStopsTheThread) {
  srd_test::TempDir dir;
  io::FileHandle file(dir.file("busy"), io::FileHandle::Mode::kOpenOrCreate);
  file.allocate(16 * kTwoMiB);
  auto first = std::make_shared<io::Mapping>(file.fd(), 16 * kTwoMiB, true);
  auto second = std::make_shared<io::Mapping>(file.fd(), 16 * kTwoMiB, true);
  first->advise_append_zone(0);
  second->advise_append_zone(0);
  {
    AppendZoneWarmer warmer;
    for (std::uint64_t at = 0; at < 8 * kTwoMiB; at += kTwoMiB / 4) {
      warmer.request(at % (2 * kTwoMiB) == 0 ? first : second, at, at + 4 * kTwoMiB);
    }
    ASSERT_TRUE(warmer.wait_until_idle(30'000));
    if (warmer.enabled()) {
      // The last request was of `second`, from 7.75 to 11.75 MiB.
      const auto page = io::page_size();
      EXPECT_EQ(resident_pages(*second, 8 * kTwoMiB, 11 * kTwoMiB), 3 * kTwoMiB / page);
    }
    warmer.request(first, 0, 16 * kTwoMiB);  // pending when the warmer is destroyed
  }
  EXPECT_EQ(first.use_count(), 1) << "the stopped warmer still holds the mapping";
  EXPECT_EQ(second.use_count(), 1);
}

// Resident kilobytes of this process's mapping that holds `address`; -1 if no
// mapping holds it.
long resident_kib_at(const void* address) {
  const std::string rss = srd_test::smaps_field_at(address, "Rss:");
  return rss.empty() ? -1 : std::stol(rss);
}

// A mapping a larger one replaced is unmapped from the page tables on the warming
// thread: its resident pages go, its bytes stay, and the warmer lets go of it.
TEST(AppendZoneWarmer, ReleasesAReplacedMappingsPagesOnItsThread) {
  srd_test::TempDir dir;
  io::FileHandle file(dir.file("old"), io::FileHandle::Mode::kOpenOrCreate);
  file.allocate(2 * kTwoMiB);
  auto replaced = std::make_shared<io::Mapping>(file.fd(), 2 * kTwoMiB, true);
  for (std::uint64_t at = 0; at < 2 * kTwoMiB; at += 4096) replaced->data()[at] = std::byte{7};
  ASSERT_GE(resident_kib_at(replaced->data()), 4096);
  AppendZoneWarmer warmer;
  warmer.release(replaced);
  ASSERT_TRUE(warmer.wait_until_idle(30'000));
  EXPECT_EQ(resident_kib_at(replaced->data()), 0);
  EXPECT_EQ(replaced.use_count(), 1) << "the warmer kept the mapping after releasing it";
  EXPECT_EQ(replaced->data()[2 * kTwoMiB - 4096], std::byte{7});
  std::vector<std::byte> out(1);
  file.pread_some(kTwoMiB, out);
  EXPECT_EQ(out[0], std::byte{7});
}

}  // namespace
}  // namespace simd_r_drive::engine

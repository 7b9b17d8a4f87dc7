// The writer's append zone: the file grows in 2 MiB steps while a writer has it open,
// with one page after them for the padding record (docs/format.md), is cut back to
// its tail on close, and (where the kernel keeps file pages in 2 MiB
// folios) appended data ends up mapped with huge pages, which is what makes random
// reads of it cheap (docs/performance.md).

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "simd_r_drive/simd_r_drive.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::Durability;
using simd_r_drive::OpenOptions;
using srd_test::TempDir;

constexpr std::uint64_t kTwoMiB = 2u << 20;

// Sums the FilePmdMapped field of every mapping of `path` in this process: how many
// KiB of it are mapped with 2 MiB page-table entries.
std::uint64_t pmd_mapped_kib(const std::filesystem::path& path) {
  std::ifstream smaps("/proc/self/smaps");
  const std::string name = std::filesystem::canonical(path).string();
  std::uint64_t total = 0;
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    // A mapping's first line ("start-end perms offset dev inode [path]") has no ':'
    // right after its first word; its fields ("Name:   value kB") do.
    const auto first_space = line.find(' ');
    const bool header = first_space != std::string::npos && line[first_space - 1] != ':';
    if (header) {
      inside = line.size() >= name.size() && line.compare(line.size() - name.size(), name.size(), name) == 0;
    } else if (inside && line.rfind("FilePmdMapped:", 0) == 0) {
      total += std::stoull(line.substr(line.find_first_of("0123456789")));
    }
  }
  return total;
}

// Whether this kernel and file system map page-cache pages of a file in `dir` with
// 2 MiB entries at all: a file written with one 4 MiB write is mapped and read.
bool kernel_maps_file_pmds(const std::filesystem::path& dir) {
  // With transparent huge pages off, MADV_HUGEPAGE is ignored whatever the probe says.
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  if (!std::getline(thp, modes) || modes.find("[never]") != std::string::npos) return false;
  const auto probe = dir / "pmd-probe";
  const std::vector<char> bytes(2 * kTwoMiB, 'x');
  const int fd = ::open(probe.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return false;
  const bool written = ::pwrite(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size());
  void* base = written ? ::mmap(nullptr, bytes.size(), PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
  ::close(fd);
  if (base == MAP_FAILED) return false;
  volatile char sink = 0;
  for (std::size_t i = 0; i < bytes.size(); i += 4096) sink = sink + static_cast<const char*>(base)[i];
  const bool pmds = pmd_mapped_kib(probe) > 0;
  ::munmap(base, bytes.size());
  std::filesystem::remove(probe);
  return pmds;
}

std::uint64_t write_values(DataStore& store, int count, std::size_t size) {
  std::vector<std::byte> value(size);
  std::uint64_t tail = 0;
  for (int i = 0; i < count; ++i) {
    value[0] = static_cast<std::byte>(i);
    tail = store.write("key" + std::to_string(i), value);
  }
  return tail;
}

// The page the padding record ends: the system's page size, at least 4 KiB.
std::uint64_t padding_page() {
  const long page = ::sysconf(_SC_PAGESIZE);
  return std::max<std::uint64_t>(4096, page > 0 ? static_cast<std::uint64_t>(page) : 4096);
}

TEST(AppendZone, FileGrowsInTwoMiBStepsAndIsCutToTheTailOnClose) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  std::uint64_t tail = 0;
  {
    DataStore store = DataStore::open(path);
    for (int round = 0; round < 3; ++round) {
      tail = write_values(store, 3000, 1000);  // about 3 MiB a round
      const std::uint64_t reserved = std::filesystem::file_size(path);
      EXPECT_EQ(reserved % kTwoMiB, padding_page()) << "round " << round;
      EXPECT_GE(reserved - padding_page(), tail) << "data stays below the padding record's page";
      EXPECT_LT(reserved - tail, 64u << 20);
      EXPECT_EQ(store.verify().padding_record_offset, reserved - simd_r_drive::kMetadataSize);
    }
  }
  EXPECT_EQ(std::filesystem::file_size(path), tail);
  const DataStore reopened = DataStore::open(path);
  EXPECT_EQ(reopened.len(), 3000u);
  ASSERT_TRUE(reopened.read("key2999").has_value());
}

TEST(AppendZone, AppendedDataIsMappedWithHugePagesWhereTheKernelAllows) {
  TempDir dir;
  if (!kernel_maps_file_pmds(dir.path())) GTEST_SKIP() << "this kernel or file system maps no file page with 2 MiB entries";
  const auto path = dir.file("store.bin");
  {
    DataStore store = DataStore::open(path);  // kFlush: the mode that asks for huge folios
    write_values(store, 8192, 1000);             // about 8.5 MiB
  }
  // A later reader, which gives no advice of its own, meets the folios the writer left.
  const DataStore reader = DataStore::open(path, OpenOptions{.read_only = true});
  std::uint64_t sum = 0;
  for (int i = 0; i < 8192; i += 16) sum += std::to_integer<std::uint64_t>((*reader.read("key" + std::to_string(i))).as_slice()[0]);
  EXPECT_GT(sum, 0u);
  EXPECT_GE(pmd_mapped_kib(path), 4096u) << "at least two of the four whole 2 MiB ranges should be huge";
}

// Drops the file's pages from the page cache, as memory pressure or a reboot would.
void drop_from_page_cache(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << path;
  ::fdatasync(fd);
  EXPECT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  ::close(fd);
}

TEST(AppendZone, DataReadBackFromDiskIsMappedWithHugePagesAgain) {
  TempDir dir;
  if (!kernel_maps_file_pmds(dir.path())) GTEST_SKIP() << "this kernel or file system maps no file page with 2 MiB entries";
  const auto path = dir.file("store.bin");
  {
    DataStore store = DataStore::open(path);
    write_values(store, 24576, 1000);  // about 26 MiB, about 1,900 values per 2 MiB
  }
  drop_from_page_cache(path);
  // The reader brings the file back from disk: through its advice (the written
  // range), in 2 MiB folios, which it and every later process map with 2 MiB entries.
  // Ordinary readahead would bring it back in small pages. The values read lie from
  // 10 to 17 MiB into the file, away from its last 2 MiB range, which holds the tail
  // and is not advised: a fault there reads ahead in small pages as far as the disk's
  // read_ahead_kb (8 MiB on some virtual disks).
  const DataStore reader = DataStore::open(path, OpenOptions{.read_only = true});
  std::uint64_t found = 0;
  for (int i = 10000; i < 16500; i += 250) found += reader.read("key" + std::to_string(i)).has_value() ? 1 : 0;
  EXPECT_EQ(found, 26u);
  EXPECT_GE(pmd_mapped_kib(path), 4096u) << "at least two of the four 2 MiB ranges read should be huge";
}

}  // namespace

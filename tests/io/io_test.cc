// The io layer on its own: file handles, mappings (reserved and borrowed), and the
// resolution of a store's path through symbolic links.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/file_handle.h"
#include "io/mapping.h"
#include "simd_r_drive/error.h"
#include "test_support.h"

namespace {

using simd_r_drive::io::FileHandle;
using simd_r_drive::io::Mapping;
using srd_test::TempDir;

std::span<const std::byte> bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

TEST(FileHandle, WritesAndReadsBackAtOffsets) {
  TempDir dir;
  FileHandle file(dir.file("f"), FileHandle::Mode::kOpenOrCreate);
  const std::span<const std::byte> pieces[] = {bytes("hello "), bytes("world")};
  file.pwrite_all(3, pieces);
  EXPECT_EQ(file.size(), 14u);
  std::vector<std::byte> out(32);
  const std::size_t got = file.pread_some(3, out);
  EXPECT_EQ(got, 11u);  // short at the end of the file
  EXPECT_EQ(std::memcmp(out.data(), "hello world", 11), 0);
  EXPECT_EQ(file.pread_some(100, out), 0u);
  file.allocate(1 << 20);
  EXPECT_EQ(file.size(), 1u << 20);
  file.truncate(5);
  EXPECT_EQ(file.size(), 5u);
}

TEST(FileHandle, ErrorsNameThePathAndTheReason) {
  TempDir dir;
  const std::string message = srd_test::message_of([&] { FileHandle(dir.file("missing"), FileHandle::Mode::kOpenExisting); });
  EXPECT_NE(message.find("missing"), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
  FileHandle first(dir.file("new"), FileHandle::Mode::kCreateExclusive);
  EXPECT_EQ(srd_test::code_of([&] { FileHandle(dir.file("new"), FileHandle::Mode::kCreateExclusive); }), "io");
}

TEST(FileHandle, CreatingModesDoNotFollowALinkInTheLastComponent) {
  TempDir dir;
  srd_test::write_file(dir.file("victim"), srd_test::bytes_of("keep me"));
  std::filesystem::create_symlink(dir.file("victim"), dir.file("planted"));
  EXPECT_EQ(srd_test::code_of([&] { FileHandle(dir.file("planted"), FileHandle::Mode::kCreateExclusive); }), "io");
  EXPECT_EQ(srd_test::code_of([&] { FileHandle(dir.file("planted"), FileHandle::Mode::kOpenOrCreate); }), "io");
  EXPECT_EQ(srd_test::read_file(dir.file("victim")).size(), 7u);
}

TEST(Mapping, AReservationReachesPastTheFile) {
  TempDir dir;
  FileHandle file(dir.file("f"), FileHandle::Mode::kOpenOrCreate);
  file.allocate(4096);
  Mapping mapping(file.fd(), simd_r_drive::io::reservation_for(4096, 256u << 20), true);
  EXPECT_GE(mapping.capacity(), 256u << 20);
  mapping.data()[10] = std::byte{42};
  file.allocate(8192);  // the file grows under the unchanged mapping
  mapping.data()[5000] = std::byte{7};
  std::vector<std::byte> out(1);
  file.pread_some(5000, out);
  EXPECT_EQ(out[0], std::byte{7});
}

TEST(Mapping, ReservationsAreTwiceTheNeedInWholeHugePages) {
  using simd_r_drive::io::kHugePageSize;
  using simd_r_drive::io::reservation_for;
  EXPECT_EQ(reservation_for(0, 256u << 20), 256u << 20);
  EXPECT_EQ(reservation_for(1000u << 20, 256u << 20), 2000u << 20);
  EXPECT_EQ(reservation_for((1000u << 20) + 1, 256u << 20) % kHugePageSize, 0u);
  EXPECT_GE(reservation_for((1000u << 20) + 1, 256u << 20), (2000u << 20) + 2);
  // The minimum is rounded up too, and an empty file with no minimum still gets a page.
  EXPECT_EQ(reservation_for(4096, (std::uint64_t{4} << 30) + 1), (std::uint64_t{4} << 30) + kHugePageSize);
  EXPECT_EQ(reservation_for(0, 0), kHugePageSize);
}

// A reservation larger than the address space is refused by mmap (ENOMEM); the
// mapping then falls back to twice the file, and still reads and writes the file.
TEST(Mapping, AnUnmappableReservationFallsBackToTwiceTheFile) {
  using simd_r_drive::io::kHugePageSize;
  TempDir dir;
  FileHandle file(dir.file("f"), FileHandle::Mode::kOpenOrCreate);
  file.allocate(8192);
  const auto mapping = simd_r_drive::io::map_with_room(file.fd(), 8192, std::uint64_t{1} << 60, true);
  EXPECT_EQ(mapping->capacity(), kHugePageSize);
  mapping->data()[5000] = std::byte{9};
  std::vector<std::byte> out(1);
  file.pread_some(5000, out);
  EXPECT_EQ(out[0], std::byte{9});
  EXPECT_EQ(simd_r_drive::io::map_with_room(file.fd(), 8192, 64u << 20, true)->capacity(), 64u << 20);
}

// Releasing a replaced mapping's pages unmaps them from this process only: bytes
// written through it (dirty, never synced) are still in the file, and a handle
// still reading through it sees them again; a borrowed view's memory is untouched.
TEST(Mapping, ReleasingResidentPagesKeepsEveryByte) {
  TempDir dir;
  FileHandle file(dir.file("f"), FileHandle::Mode::kOpenOrCreate);
  file.allocate(3 * 4096);
  Mapping mapping(file.fd(), simd_r_drive::io::reservation_for(3 * 4096, 0), true);
  for (int page = 0; page < 3; ++page) std::memset(mapping.data() + page * 4096, 'a' + page, 4096);
  mapping.release_resident_pages();
  for (int page = 0; page < 3; ++page) {
    EXPECT_EQ(mapping.data()[page * 4096 + 100], static_cast<std::byte>('a' + page));
    std::vector<std::byte> out(1);
    file.pread_some(page * 4096 + 4095, out);
    EXPECT_EQ(out[0], static_cast<std::byte>('a' + page));
  }
  std::vector<std::byte> owned(256, std::byte{5});
  Mapping view(owned.data(), owned.size(), nullptr);
  view.release_resident_pages();
  EXPECT_EQ(owned[200], std::byte{5});
}

// The VmFlags of the mapping of this process that holds `address` (/proc/self/smaps).
std::string vm_flags_at(const void* address) {
  const std::string flags = srd_test::smaps_field_at(address, "VmFlags:");
  return flags.empty() ? flags : flags + " ";
}

constexpr std::uint64_t kZone = simd_r_drive::io::kHugePageSize;

// Whether the kernel has transparent huge pages, without which it takes no
// MADV_HUGEPAGE and no "hg" shows.
bool kernel_has_huge_pages() { return std::filesystem::exists("/sys/kernel/mm/transparent_hugepage/enabled"); }

// A file of four 2 MiB ranges in `dir`, allocated.
FileHandle four_range_file(const TempDir& dir) {
  FileHandle file(dir.file("f"), FileHandle::Mode::kOpenOrCreate);
  file.allocate(4 * kZone);
  return file;
}

TEST(Mapping, TheAppendZoneIsAdvisedHugeFoliosAndNoReadahead) {
  TempDir dir;
  FileHandle file = four_range_file(dir);
  Mapping mapping(file.fd(), 4 * kZone, true);
  mapping.advise_append_zone(kZone + 4096);  // rounded up to the next 2 MiB
  const std::string below = vm_flags_at(mapping.data() + kZone);
  const std::string zone = vm_flags_at(mapping.data() + 2 * kZone);
  ASSERT_FALSE(zone.empty());
  EXPECT_EQ(below.find(" rr "), std::string::npos) << below;
  EXPECT_NE(zone.find(" rr "), std::string::npos) << zone;  // MADV_RANDOM
  if (kernel_has_huge_pages()) {
    EXPECT_NE(zone.find(" hg "), std::string::npos) << zone;  // MADV_HUGEPAGE
  }
  // Advice changes no byte.
  std::memset(mapping.data() + 3 * kZone, 'z', 16);
  std::vector<std::byte> out(1);
  file.pread_some(3 * kZone + 15, out);
  EXPECT_EQ(out[0], static_cast<std::byte>('z'));
}

TEST(Mapping, TheWrittenRangeIsAdvisedHugeFoliosInWhole2MiBRangesBelowTheTail) {
  TempDir dir;
  const FileHandle file = four_range_file(dir);
  Mapping mapping(file.fd(), 4 * kZone, false);
  mapping.advise_written_range(2 * kZone + 4096);  // rounded down: the range holding the tail is left alone
  const std::string written = vm_flags_at(mapping.data() + kZone);
  const std::string at_tail = vm_flags_at(mapping.data() + 2 * kZone);
  ASSERT_FALSE(written.empty());
  ASSERT_FALSE(at_tail.empty());
  if (kernel_has_huge_pages()) {
    EXPECT_NE(written.find(" hg "), std::string::npos) << written;
  }
  EXPECT_EQ(at_tail.find(" hg "), std::string::npos) << at_tail;
  EXPECT_EQ(written.find(" rr "), std::string::npos) << written;  // readahead stays on
}

TEST(Mapping, OnlyAFileThePageCacheCanHoldWholeIsReadInHugeFolios) {
  using simd_r_drive::io::written_data_wants_huge_folios;
  constexpr std::uint64_t kGiB = 1ull << 30;
  EXPECT_TRUE(written_data_wants_huge_folios(0, 16 * kGiB));
  EXPECT_TRUE(written_data_wants_huge_folios(8 * kGiB, 16 * kGiB));
  EXPECT_FALSE(written_data_wants_huge_folios(8 * kGiB + 1, 16 * kGiB));
  EXPECT_FALSE(written_data_wants_huge_folios(1, 0));  // memory unknown: no advice
}

TEST(Mapping, ABorrowedViewKeepsItsOwnerAndUnmapsNothing) {
  auto owner = std::make_shared<std::vector<std::byte>>(4096, std::byte{9});
  std::weak_ptr<std::vector<std::byte>> watch = owner;
  {
    auto view = std::make_shared<Mapping>(owner->data() + 64, 128, owner);
    owner.reset();
    EXPECT_FALSE(watch.expired());  // the view holds it
    EXPECT_EQ(view->capacity(), 128u);
    EXPECT_EQ(view->data()[0], std::byte{9});
    view->prefer_huge_pages(0, 128);  // advice on borrowed memory is ignored
  }
  EXPECT_TRUE(watch.expired());  // and lets it go, without munmap of foreign memory
}

TEST(ResolveStorePath, FollowsLinksToTheRealFile) {
  TempDir dir;
  using simd_r_drive::io::resolve_store_path;
  std::filesystem::create_directory(dir.file("real"));
  srd_test::write_file(dir.file("real") / "s.bin", srd_test::bytes_of("x"));
  std::filesystem::create_symlink(dir.file("real") / "s.bin", dir.file("link.bin"));
  std::filesystem::create_directory_symlink(dir.file("real"), dir.file("linked-dir"));
  const auto real = std::filesystem::canonical(dir.file("real") / "s.bin");
  EXPECT_EQ(resolve_store_path(dir.file("link.bin")), real);
  EXPECT_EQ(resolve_store_path(dir.file("linked-dir") / "s.bin"), real);
  // Not there yet: the directory is resolved, the name kept.
  EXPECT_EQ(resolve_store_path(dir.file("linked-dir") / "new.bin"), real.parent_path() / "new.bin");
  // A dangling link resolves to the file it would create.
  std::filesystem::create_symlink(dir.file("real") / "later.bin", dir.file("dangling"));
  EXPECT_EQ(resolve_store_path(dir.file("dangling")), real.parent_path() / "later.bin");
  // A loop is an error, not a hang.
  std::filesystem::create_symlink(dir.file("loop-b"), dir.file("loop-a"));
  std::filesystem::create_symlink(dir.file("loop-a"), dir.file("loop-b"));
  EXPECT_EQ(srd_test::code_of([&] { resolve_store_path(dir.file("loop-a")); }), "io");
}

}  // namespace

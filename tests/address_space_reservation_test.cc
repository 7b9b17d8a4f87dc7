// OpenOptions::address_space_reservation: the file grows inside the mapping made at
// open until it outgrows it. Whether the mapping was replaced shows in where a
// value's bytes lie: a handle points into the store's current mapping.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

#include "simd_r_drive/data_store.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using simd_r_drive::OpenOptions;
using srd_test::TempDir;

const void* address_of_first(const DataStore& store) {
  const std::optional<EntryHandle> handle = store.read("first");
  EXPECT_TRUE(handle.has_value());
  return handle ? static_cast<const void*>(handle->as_slice().data()) : nullptr;
}

// Writes 40 MiB after "first" and reports whether "first" then lies at another
// address, that is, whether the store mapped its file anew.
bool remapped_while_growing(const OpenOptions& options) {
  TempDir dir;
  DataStore store = DataStore::open(dir.file("store.bin"), options);
  store.write("first", std::string("the first value"));
  const void* before = address_of_first(store);
  const std::string chunk(1 << 20, 'c');
  for (int i = 0; i < 40; ++i) store.write("chunk" + std::to_string(i), chunk);
  EXPECT_GT(store.file_size(), std::uint64_t{40} << 20);
  EXPECT_EQ(store.read("first")->as_string_view(), "the first value");
  return address_of_first(store) != before;
}

TEST(AddressSpaceReservation, TheDefaultHoldsAGrowingStoreInOneMapping) {
  EXPECT_FALSE(remapped_while_growing(OpenOptions{}));
}

TEST(AddressSpaceReservation, AStoreThatOutgrowsASmallOneIsMappedAnew) {
  EXPECT_TRUE(remapped_while_growing(srd_test::with_reservation(16 << 20)));
}

// More than the address space holds: mmap refuses it, and the store maps twice its
// file instead, then grows as usual.
TEST(AddressSpaceReservation, OneThatCannotBeMappedFallsBackToTwiceTheFile) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  const OpenOptions options = srd_test::with_reservation(std::uint64_t{1} << 60);
  {
    DataStore store = DataStore::open(path, options);
    const std::string chunk(1 << 20, 'c');
    for (int i = 0; i < 8; ++i) store.write("chunk" + std::to_string(i), chunk);
    store.compact();
    store.write("after", std::string("compaction"));
  }
  DataStore reopened = DataStore::open(path, options);
  EXPECT_EQ(reopened.len(), 9u);
  EXPECT_EQ(reopened.read("chunk7")->size(), std::size_t{1} << 20);
  EXPECT_EQ(reopened.read("after")->as_string_view(), "compaction");
  DataStore reader = DataStore::open(path, srd_test::with_reservation(std::uint64_t{1} << 60, srd_test::read_only()));
  EXPECT_EQ(reader.read("after")->as_string_view(), "compaction");
}

}  // namespace

// EntryHandle as a zero-copy view: catalogue 9.10, plus the decided accessor
// contract (sizes, offsets, checksums, from_owned_bytes) and handle lifetime (stable
// across later writes and after the DataStore is gone).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simd_r_drive/simd_r_drive.h>

#include "test_support.h"

namespace {

using simd_r_drive::ByteView;
using simd_r_drive::compute_checksum;
using simd_r_drive::compute_hash;
using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using simd_r_drive::EntryStream;
using simd_r_drive::kMetadataSize;

std::vector<std::byte> bytes_of(const EntryHandle& handle) {
  auto view = handle.as_slice();
  return {view.begin(), view.end()};
}

// The inode of the file mapped at `address` in this process, or 0 if the address is
// not in a file mapping.
std::uint64_t mapped_inode_at(std::uintptr_t address) {
  for (const srd_test::MappedRange& range : srd_test::mapped_ranges(::getpid())) {
    if (address >= range.begin && address < range.end) return range.inode;
  }
  return 0;
}

// How many of this process's mappings show the file with inode `inode`.
std::ptrdiff_t mappings_of_inode(std::uint64_t inode) {
  const std::vector<srd_test::MappedRange> ranges = srd_test::mapped_ranges(::getpid());
  return std::count_if(ranges.begin(), ranges.end(),
                       [&](const srd_test::MappedRange& range) { return range.inode == inode; });
}

std::uint64_t inode_of(const std::filesystem::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return 0;
  return static_cast<std::uint64_t>(info.st_ino);
}

class ZeroCopy : public ::testing::Test {
 protected:
  std::filesystem::path path() const { return dir_.file("zero_copy.bin"); }
  DataStore open() const { return DataStore::open(path()); }
  srd_test::TempDir dir_;
};

// ---- catalogue 9.10 ----

TEST_F(ZeroCopy, CloneRetainsSameMemoryAddress) {
  DataStore store = open();
  store.write("key", "shared bytes");
  const EntryHandle original = *store.read("key");
  const EntryHandle clone = original;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(clone.data(), original.data());
  EXPECT_EQ(clone.address_range(), original.address_range());
  EXPECT_EQ(clone.as_string_view(), original.as_string_view());
  EXPECT_EQ(clone.offset_range(), original.offset_range());
}

TEST_F(ZeroCopy, CloneZeroCopyBehavior) {
  DataStore store = open();
  const auto payload = srd_test::pattern_bytes(2048);
  store.write("key", payload);
  std::optional<EntryHandle> original = store.read("key");
  ASSERT_TRUE(original.has_value());
  const EntryHandle clone = *original;
  EXPECT_EQ(clone.data(), original->data());
  EXPECT_EQ(clone.address_range(), original->address_range());
  EXPECT_EQ(clone.checksum(), original->checksum());
  const std::byte* pointer = original->data();
  original.reset();
  EXPECT_EQ(clone.data(), pointer);
  EXPECT_EQ(bytes_of(clone), payload);
  EXPECT_TRUE(clone.is_valid_checksum());
}

TEST_F(ZeroCopy, MmapExposureAndZeroCopyRead) {
  DataStore store = open();
  const auto payload = srd_test::pattern_bytes(10'000);
  store.write("mapped", payload);
  const auto first = store.read("mapped");
  const auto second = store.read("mapped");
  ASSERT_TRUE(first && second);
  // Two reads with no write between them view the same bytes in place.
  EXPECT_EQ(first->data(), second->data());
  EXPECT_EQ(bytes_of(*first), payload);
  EXPECT_EQ(bytes_of(*second), payload);
#if defined(__linux__)
  // The payload lies inside a mapping of the store's own file.
  const std::uint64_t file_inode = inode_of(path());
  ASSERT_NE(file_inode, 0u);
  const auto [begin, end] = first->address_range();
  EXPECT_EQ(mapped_inode_at(begin), file_inode);
  EXPECT_EQ(mapped_inode_at(end - 1), file_inode);
  // A handle built from owned bytes is not in the store's file.
  const auto owned = EntryHandle::from_owned_bytes(payload, 1);
  EXPECT_NE(mapped_inode_at(owned.address_range().first), file_inode);
#endif
}

// ---- EntryHandle accessors ----

TEST_F(ZeroCopy, EntryHandleAccessors) {
  DataStore store = open();
  store.write("before", "abc");
  const std::uint64_t previous_tail = store.file_size();
  const std::string payload = "hello";
  const std::uint64_t tail = store.write("alice", payload);
  const EntryHandle entry = *store.read("alice");

  EXPECT_EQ(entry.size(), 5u);
  EXPECT_EQ(entry.file_size(), entry.size() + kMetadataSize);
  EXPECT_EQ(entry.file_size(), 25u);
  EXPECT_EQ(entry.start_offset(), 64u);
  EXPECT_EQ(entry.end_offset(), 69u);
  EXPECT_EQ(entry.end_offset() - entry.start_offset(), entry.size());
  EXPECT_EQ(entry.offset_range(), std::make_pair(entry.start_offset(), entry.end_offset()));
  EXPECT_EQ(entry.end_offset() + kMetadataSize, tail);
  const auto [address_begin, address_end] = entry.address_range();
  EXPECT_EQ(address_end - address_begin, entry.size());
  EXPECT_EQ(address_begin, reinterpret_cast<std::uintptr_t>(entry.data()));
  EXPECT_EQ(static_cast<const void*>(entry.as_slice().data()), static_cast<const void*>(entry.data()));
  EXPECT_EQ(entry.as_string_view(), payload);
  EXPECT_TRUE(entry == ByteView(payload));
  EXPECT_FALSE(entry == ByteView("hellO"));

  EXPECT_EQ(entry.key_hash(), compute_hash("alice"));
  EXPECT_EQ(entry.key_hash(), 0x4da10dd61a0116b0ULL);
  EXPECT_EQ(entry.checksum(), compute_checksum(payload));
  EXPECT_EQ(entry.checksum(), 0x3610A686u);
  const std::array<std::byte, 4> expected_raw{std::byte{0x86}, std::byte{0xa6}, std::byte{0x10},
                                              std::byte{0x36}};
  EXPECT_EQ(entry.raw_checksum(), expected_raw);
  EXPECT_TRUE(entry.is_valid_checksum());
  EXPECT_FALSE(entry.is_tombstone());

  EXPECT_EQ(entry.metadata().key_hash, entry.key_hash());
  EXPECT_EQ(entry.metadata().checksum, entry.checksum());
  EXPECT_EQ(entry.metadata().prev_offset, previous_tail);
}

TEST_F(ZeroCopy, MetadataMatchesTheBytesOnDisk) {
  std::uint64_t end = 0;
  std::array<std::byte, kMetadataSize> serialized{};
  std::vector<std::byte> payload = srd_test::pattern_bytes(333);
  {
    DataStore store = open();
    store.write("first", "x");
    store.write("second", payload);
    const EntryHandle entry = *store.read("second");
    end = entry.end_offset();
    serialized = entry.metadata().serialize();
    EXPECT_EQ(simd_r_drive::EntryMetadata::deserialize(serialized), entry.metadata());
  }
  const auto file = srd_test::read_file(path());
  ASSERT_EQ(file.size(), end + kMetadataSize);
  EXPECT_TRUE(std::equal(serialized.begin(), serialized.end(), file.begin() + static_cast<std::ptrdiff_t>(end)));
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(),
                         file.begin() + static_cast<std::ptrdiff_t>(end - payload.size())));
}

TEST_F(ZeroCopy, FromOwnedBytes) {
  std::vector<std::byte> source = srd_test::pattern_bytes(1000);
  const EntryHandle handle = EntryHandle::from_owned_bytes(source, 0xabcdefULL);
  EXPECT_EQ(handle.size(), 1000u);
  EXPECT_EQ(handle.file_size(), 1000u + kMetadataSize);
  EXPECT_EQ(handle.start_offset(), 0u);
  EXPECT_EQ(handle.end_offset(), 1000u);
  EXPECT_EQ(handle.key_hash(), 0xabcdefULL);
  EXPECT_EQ(handle.metadata().prev_offset, 0u);
  EXPECT_EQ(handle.checksum(), compute_checksum(source));
  EXPECT_TRUE(handle.is_valid_checksum());
  EXPECT_FALSE(handle.is_tombstone());
  EXPECT_EQ(bytes_of(handle), source);
  // The handle owns a copy: changing the source does not change it.
  EXPECT_NE(static_cast<const void*>(handle.data()), static_cast<const void*>(source.data()));
  source[0] ^= std::byte{0xff};
  EXPECT_NE(bytes_of(handle), source);
  EXPECT_TRUE(handle.is_valid_checksum());
  // Copies share the bytes.
  const EntryHandle copy = handle;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(copy.data(), handle.data());
}

TEST_F(ZeroCopy, CorruptedBytesFailChecksumValidation) {
  const EntryHandle handle = EntryHandle::from_owned_bytes(srd_test::pattern_bytes(64), 5);
  EXPECT_TRUE(handle.is_valid_checksum());
  // The handle owns this copy of the bytes: damage it in place.
  const_cast<std::byte*>(handle.data())[10] ^= std::byte{1};
  EXPECT_FALSE(handle.is_valid_checksum());
}

TEST_F(ZeroCopy, TombstoneHandleFromReadLastEntry) {
  DataStore store = open();
  const std::uint64_t before = store.write("k", "value");
  store.remove("k");
  const auto last = store.read_last_entry();
  ASSERT_TRUE(last.has_value());
  EXPECT_TRUE(last->is_tombstone());
  EXPECT_EQ(last->size(), 1u);
  EXPECT_EQ(last->as_slice()[0], std::byte{0x00});
  EXPECT_EQ(last->start_offset(), before);
  EXPECT_EQ(last->file_size(), 1u + kMetadataSize);
  EXPECT_EQ(last->checksum(), 0xD202EF8Du);
  EXPECT_TRUE(last->is_valid_checksum());
  EXPECT_EQ(last->key_hash(), compute_hash("k"));
}

// ---- lifetime ----

TEST_F(ZeroCopy, HandleStaysValidAfterThousandLaterWrites) {
  DataStore store = open();
  const auto payload = srd_test::pattern_bytes(4096);
  store.write("stable", payload);
  const EntryHandle handle = *store.read("stable");
  const std::byte* pointer = handle.data();
  const auto offsets = handle.offset_range();
  // Enough data to outgrow any initial mapping, with overwrites of the same key.
  const auto filler = srd_test::pattern_bytes(3000);
  for (int i = 0; i < 1000; ++i) {
    store.write(i % 10 == 0 ? std::string("stable") : "filler" + std::to_string(i), filler);
  }
  EXPECT_EQ(handle.data(), pointer);
  EXPECT_EQ(handle.offset_range(), offsets);
  EXPECT_EQ(bytes_of(handle), payload);
  EXPECT_TRUE(handle.is_valid_checksum());
  EXPECT_EQ(bytes_of(*store.read("stable")), filler);  // the store moved on
  EXPECT_GT(store.file_size(), 3'000'000u);
}

TEST_F(ZeroCopy, HandleOutlivesTheDataStore) {
  const auto payload = srd_test::pattern_bytes(1024 * 1024);
  std::optional<EntryHandle> handle;
  std::optional<EntryHandle> small;
  {
    DataStore store = open();
    store.write("big", payload);
    store.write("small", "tiny");
    handle = store.read("big");
    small = store.read("small");
  }
  ASSERT_TRUE(handle && small);
  EXPECT_EQ(bytes_of(*handle), payload);
  EXPECT_TRUE(handle->is_valid_checksum());
  EXPECT_EQ(small->as_string_view(), "tiny");
  // EntryStream reads the 1 MiB value in 4 KiB chunks, identical to the source.
  EntryStream stream(*handle);
  std::vector<std::byte> chunk(4096);
  std::size_t offset = 0;
  std::size_t chunks = 0;
  while (const std::size_t n = stream.read(chunk)) {
    ASSERT_LE(offset + n, payload.size());
    EXPECT_EQ(std::memcmp(chunk.data(), payload.data() + offset, n), 0) << "chunk " << chunks;
    offset += n;
    ++chunks;
  }
  EXPECT_EQ(offset, payload.size());
  EXPECT_EQ(chunks, 256u);
}

// A thread keeps a lease on the mapping it read from last; closing the store drops
// the closing thread's, so once the store and its handles are gone the file is no
// longer mapped (its address space and, were it deleted, its pages are free).
TEST_F(ZeroCopy, ClosingTheStoreUnmapsTheFileOnceItsHandlesAreGone) {
  std::uint64_t inode = 0;
  std::optional<EntryHandle> kept;
  {
    DataStore store = open();
    store.write("k", "value");
    inode = inode_of(path());
    ASSERT_NE(inode, 0u);
    EXPECT_EQ(store.read("k")->as_string_view(), "value");  // a lease taken, the handle dropped
    kept = store.read("k");
    EXPECT_GE(mappings_of_inode(inode), 1);
  }
  EXPECT_GE(mappings_of_inode(inode), 1) << "a handle keeps the mapping";
  EXPECT_EQ(kept->as_string_view(), "value");
  kept.reset();
  EXPECT_EQ(mappings_of_inode(inode), 0);
  {
    DataStore store = open();
    EXPECT_EQ(store.read("k")->as_string_view(), "value");
  }
  EXPECT_EQ(mappings_of_inode(inode), 0) << "a read, then a close, on one thread";
}

TEST_F(ZeroCopy, HandleSurvivesMoveOfTheDataStore) {
  DataStore store = open();
  store.write("k", "moved");
  const EntryHandle handle = *store.read("k");
  DataStore moved = std::move(store);
  EXPECT_EQ(handle.as_string_view(), "moved");
  EXPECT_EQ(moved.read("k")->data(), handle.data());
}

TEST_F(ZeroCopy, IteratedHandlesViewTheSameBytesAsReads) {
  DataStore store = open();
  store.write("a", "alpha");
  store.write("b", "beta");
  std::size_t count = 0;
  for (const EntryHandle& entry : store.iter_entries()) {
    const auto read = store.read_with_key_hash(entry.key_hash());
    ASSERT_TRUE(read.has_value());
    EXPECT_EQ(entry.offset_range(), read->offset_range());
    EXPECT_EQ(entry.as_string_view(), read->as_string_view());
    ++count;
  }
  EXPECT_EQ(count, 2u);
}

// ---- read_view: the value in place for the length of a call ----

TEST_F(ZeroCopy, ReadViewSeesTheMappedValueOrNothing) {
  DataStore store = DataStore::open(path());
  store.write("present", "in place");
  store.write("gone", "soon");
  store.remove("gone");
  const auto handle = store.read("present");
  ASSERT_TRUE(handle.has_value());
  const std::byte* seen = nullptr;
  std::string copy;
  EXPECT_TRUE(store.read_view("present", [&](ByteView value) {
    seen = value.data();
    copy.assign(reinterpret_cast<const char*>(value.data()), value.size());
  }));
  EXPECT_EQ(seen, handle->data()) << "the view is the mapped value, not a copy";
  EXPECT_EQ(copy, "in place");
  int calls = 0;
  EXPECT_FALSE(store.read_view("gone", [&](ByteView) { ++calls; }));
  EXPECT_FALSE(store.read_view("never", [&](ByteView) { ++calls; }));
  EXPECT_EQ(calls, 0) << "an absent or deleted key calls nothing";
  EXPECT_TRUE(store.exists("present"));
  EXPECT_FALSE(store.exists("gone"));
  EXPECT_FALSE(store.exists_with_key_hash(compute_hash(ByteView("never"))));
}

TEST_F(ZeroCopy, ReadViewLetsTheVisitorWriteAndThrow) {
  DataStore store = DataStore::open(path());
  store.write("source", "value");
  // The reader holds no lock: the visitor may write, also enough to grow the file.
  const std::string big(1 << 20, 'b');
  EXPECT_TRUE(store.read_view("source", [&](ByteView value) {
    for (int i = 0; i < 8; ++i) store.write("copy-" + std::to_string(i), big);
    store.write("copy", value);
  }));
  EXPECT_EQ(store.read("copy")->as_string_view(), "value");
  EXPECT_THROW(store.read_view("source", [](ByteView) { throw std::runtime_error("from the visitor"); }),
               std::runtime_error);
  EXPECT_EQ(store.read("source")->as_string_view(), "value") << "the store is usable after the throw";
}

}  // namespace

// 64-byte payload alignment and typed zero-copy views: catalogue 9.2, and 9.1 with
// the original's align_or_copy replaced by EntryHandle::as_span<T>(), which never
// copies and throws Error(kInvalidArgument) where align_or_copy fell back to a copy
// or panicked.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <simd_r_drive/simd_r_drive.h>

#include "engine/data_store_impl.h"
#include "test_support.h"

namespace {

using srd_test::code_of;
using srd_test::kInvalidArgument;

using simd_r_drive::ByteView;
using simd_r_drive::compute_hash;
using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using simd_r_drive::EntryMetadata;
using simd_r_drive::Error;
using simd_r_drive::kPayloadAlignment;

__extension__ typedef unsigned __int128 u128;


template <class T>
std::vector<std::byte> raw_bytes(const std::vector<T>& values) {
  std::vector<std::byte> out(values.size() * sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

bool is_aligned(const void* pointer, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(pointer) % alignment == 0;
}

void expect_payload_aligned(const EntryHandle& entry, std::string_view what) {
  EXPECT_EQ(entry.start_offset() % kPayloadAlignment, 0u) << what;
  EXPECT_TRUE(is_aligned(entry.data(), kPayloadAlignment)) << what;
}

// A handle over caller-owned memory at an arbitrary address (made the way the engine
// makes handles), to get a payload that is deliberately misaligned.
EntryHandle handle_over(std::shared_ptr<std::vector<std::byte>> storage, std::size_t offset,
                        std::size_t size) {
  const std::byte* data = storage->data() + offset;
  EntryMetadata metadata;
  metadata.key_hash = 1;
  metadata.checksum = simd_r_drive::compute_checksum(ByteView(data, size));
  return DataStore::Impl::make_handle(std::shared_ptr<const void>(storage, storage.get()), data, size, offset,
                                     metadata);
}

class Alignment : public ::testing::Test {
 protected:
  DataStore open() const { return DataStore::open(dir_.file("align.bin")); }
  srd_test::TempDir dir_;
};

// ---- 9.1 (align_or_copy -> as_span<T>) ----

TEST_F(Alignment, AsSpanF32SingleValueIsZeroCopy) {
  DataStore store = open();
  store.write("f32", raw_bytes(std::vector<float>{1.0f}));
  auto entry = store.read("f32");
  ASSERT_TRUE(entry.has_value());
  const std::span<const float> view = entry->as_span<float>();
  ASSERT_EQ(view.size(), 1u);
  EXPECT_EQ(view[0], 1.0f);
  EXPECT_EQ(static_cast<const void*>(view.data()), static_cast<const void*>(entry->data()));
}

TEST_F(Alignment, AsSpanU32Values) {
  DataStore store = open();
  store.write("u32", raw_bytes(std::vector<std::uint32_t>{0x12345678u, 0x9abcdef0u, 0u, 0xffffffffu}));
  auto entry = store.read("u32");
  ASSERT_TRUE(entry.has_value());
  const auto view = entry->as_span<std::uint32_t>();
  ASSERT_EQ(view.size(), 4u);
  EXPECT_EQ(view[0], 0x12345678u);
  EXPECT_EQ(view[1], 0x9abcdef0u);
  EXPECT_EQ(view[2], 0u);
  EXPECT_EQ(view[3], 0xffffffffu);
  static_assert(std::endian::native == std::endian::little, "the tests assume a little-endian host");
  EXPECT_EQ(entry->as_slice()[0], std::byte{0x78});
}

TEST_F(Alignment, AsSpanMisalignedThrows) {
  // Where align_or_copy copied, as_span refuses: it never copies.
  auto storage = std::make_shared<std::vector<std::byte>>(64 + 16);
  const std::vector<float> values{1.0f, 2.5f};
  const std::size_t base = (64 - reinterpret_cast<std::uintptr_t>(storage->data()) % 64) % 64;
  ASSERT_LE(base + 1 + 8, storage->size());
  std::memcpy(storage->data() + base + 1, values.data(), 8);
  const EntryHandle odd = handle_over(storage, base + 1, 8);
  ASSERT_FALSE(is_aligned(odd.data(), alignof(float)));
  EXPECT_EQ(code_of([&] { (void)odd.as_span<float>(); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { (void)odd.as_span<std::uint64_t>(); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { (void)odd.as_span<double>(); }), kInvalidArgument);
  // Bytes are still readable at any address, and the values survive a copy out.
  EXPECT_EQ(odd.as_span<std::uint8_t>().size(), 8u);
  std::array<float, 2> copied{};
  std::memcpy(copied.data(), odd.data(), 8);
  EXPECT_EQ(copied[0], 1.0f);
  EXPECT_EQ(copied[1], 2.5f);
  // The same bytes at an aligned address are accepted.
  std::memcpy(storage->data() + base, values.data(), 8);
  const EntryHandle even = handle_over(storage, base, 8);
  const auto view = even.as_span<float>();
  ASSERT_EQ(view.size(), 2u);
  EXPECT_EQ(view[1], 2.5f);
}

TEST_F(Alignment, AsSpanTrailingBytesThrows) {
  DataStore store = open();
  store.write("five", srd_test::pattern_bytes(5));
  auto entry = store.read("five");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(code_of([&] { (void)entry->as_span<float>(); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { (void)entry->as_span<std::uint32_t>(); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { (void)entry->as_span<std::uint16_t>(); }), kInvalidArgument);
}

TEST_F(Alignment, AsSpanU8Trivial) {
  DataStore store = open();
  const auto payload = srd_test::pattern_bytes(13);
  store.write("bytes", payload);
  auto entry = store.read("bytes");
  ASSERT_TRUE(entry.has_value());
  const auto u8 = entry->as_span<std::uint8_t>();
  ASSERT_EQ(u8.size(), 13u);
  for (std::size_t i = 0; i < payload.size(); ++i) EXPECT_EQ(u8[i], std::to_integer<std::uint8_t>(payload[i]));
  const auto bytes = entry->as_span<std::byte>();
  EXPECT_EQ(std::vector<std::byte>(bytes.begin(), bytes.end()), payload);
  EXPECT_EQ(static_cast<const void*>(u8.data()), static_cast<const void*>(entry->data()));
}

TEST_F(Alignment, AsSpanMultipleF32Values) {
  DataStore store = open();
  store.write("floats", raw_bytes(std::vector<float>{1.0f, 2.0f, 3.5f}));
  const auto view = store.read("floats")->as_span<float>();
  ASSERT_EQ(view.size(), 3u);
  EXPECT_EQ(view[0], 1.0f);
  EXPECT_EQ(view[1], 2.0f);
  EXPECT_EQ(view[2], 3.5f);
}

TEST_F(Alignment, AsSpanTypedViewsOnAlignedPayloads) {
  DataStore store = open();
  std::vector<std::uint32_t> u32(100);
  std::vector<double> f64(33);
  std::vector<std::uint64_t> u64(17);
  for (std::size_t i = 0; i < u32.size(); ++i) u32[i] = static_cast<std::uint32_t>(i * 2654435761u);
  for (std::size_t i = 0; i < f64.size(); ++i) f64[i] = static_cast<double>(i) / 7.0 - 1.5;
  for (std::size_t i = 0; i < u64.size(); ++i) u64[i] = (std::uint64_t{1} << (i * 3 % 64)) ^ i;
  store.write("u8_prefix", "abc");  // leaves the tail unaligned before each value
  store.write("u32", raw_bytes(u32));
  store.write("odd", "x");
  store.write("f64", raw_bytes(f64));
  store.write("odd2", "xyzzy");
  store.write("u64", raw_bytes(u64));

  auto e32 = store.read("u32");
  auto e64f = store.read("f64");
  auto e64 = store.read("u64");
  ASSERT_TRUE(e32 && e64f && e64);
  expect_payload_aligned(*e32, "u32");
  expect_payload_aligned(*e64f, "f64");
  expect_payload_aligned(*e64, "u64");
  const auto v32 = e32->as_span<std::uint32_t>();
  const auto vf64 = e64f->as_span<double>();
  const auto v64 = e64->as_span<std::uint64_t>();
  EXPECT_EQ(std::vector<std::uint32_t>(v32.begin(), v32.end()), u32);
  EXPECT_EQ(std::vector<double>(vf64.begin(), vf64.end()), f64);
  EXPECT_EQ(std::vector<std::uint64_t>(v64.begin(), v64.end()), u64);
  EXPECT_EQ(static_cast<const void*>(vf64.data()), static_cast<const void*>(e64f->data()));

  // Size mismatches throw: 33 doubles (264 bytes) are not a whole number of 16-byte
  // elements, nor 17 u64 (136 bytes) of 64-byte blocks; 400 bytes are 25 u128.
  EXPECT_EQ(code_of([&] { (void)e64f->as_span<u128>(); }), kInvalidArgument);
  struct alignas(64) Block {
    std::array<std::byte, 64> bytes;
  };
  EXPECT_EQ(code_of([&] { (void)e64->as_span<Block>(); }), kInvalidArgument);
  EXPECT_EQ(e32->as_span<u128>().size(), 25u);
  auto small = store.read("odd2");
  EXPECT_EQ(code_of([&] { (void)small->as_span<std::uint32_t>(); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { (void)small->as_span<double>(); }), kInvalidArgument);
}

TEST_F(Alignment, AsSpanSurvivesReopen) {
  const std::vector<double> values{3.25, -1.0, 1e300, 0.0, 42.0, 7.5, -0.125, 2.0};
  {
    DataStore store = open();
    store.write("x", "1");
    store.write("doubles", raw_bytes(values));
  }
  DataStore store = open();
  auto entry = store.read("doubles");
  ASSERT_TRUE(entry.has_value());
  expect_payload_aligned(*entry, "doubles after reopen");
  const auto view = entry->as_span<double>();
  EXPECT_EQ(std::vector<double>(view.begin(), view.end()), values);
}

// ---- 9.2 ----

TEST_F(Alignment, ByteAlignmentUnalignedThenOverwriteAndSimd) {
  DataStore store = open();
  // Odd-sized strings, so every following write starts after an unaligned tail.
  store.write("s3", "abc");
  store.write("s5", "abcde");
  store.write("s7", "abcdefg");
  store.write("s9", "abcdefghi");
  std::vector<std::uint32_t> n20(5);
  std::vector<std::uint64_t> n72(9);
  std::vector<std::uint64_t> n64(8);
  for (std::size_t i = 0; i < n20.size(); ++i) n20[i] = static_cast<std::uint32_t>(i + 1);
  for (std::size_t i = 0; i < n72.size(); ++i) n72[i] = 1000 + i;
  for (std::size_t i = 0; i < n64.size(); ++i) n64[i] = 0x0101010101010101ULL * (i + 1);
  store.write("n20", raw_bytes(n20));
  store.write("n72", raw_bytes(n72));
  store.write("n64", raw_bytes(n64));

  for (std::string_view key : {"s3", "s5", "s7", "s9", "n20", "n72", "n64"}) {
    auto entry = store.read(key);
    ASSERT_TRUE(entry.has_value()) << key;
    expect_payload_aligned(*entry, key);
  }

  store.remove("s5");
  EXPECT_FALSE(store.exists("s5"));

  // Overwrite three keys with 64/128/64-byte payloads.
  std::vector<std::uint64_t> o64(8, 0xAAAAAAAAAAAAAAAAULL);
  std::vector<std::uint64_t> o128(16);
  for (std::size_t i = 0; i < o128.size(); ++i) o128[i] = i * i;
  std::vector<std::uint32_t> o64b(16, 0x5555AAAAu);
  store.write("s3", raw_bytes(o64));
  store.write("n20", raw_bytes(o128));
  store.write("s9", raw_bytes(o64b));

  for (std::string_view key : {"s3", "s7", "s9", "n20", "n72", "n64"}) {
    auto entry = store.read(key);
    ASSERT_TRUE(entry.has_value()) << key;
    expect_payload_aligned(*entry, key);
  }

  // u32, u64 and u128 views are legal over the aligned payloads.
  auto e128 = store.read("n20");
  ASSERT_TRUE(e128.has_value());
  EXPECT_EQ(e128->as_span<std::uint32_t>().size(), 32u);
  const auto as64 = e128->as_span<std::uint64_t>();
  EXPECT_EQ(std::vector<std::uint64_t>(as64.begin(), as64.end()), o128);
  const auto as128 = e128->as_span<u128>();
  ASSERT_EQ(as128.size(), 8u);
  EXPECT_EQ(static_cast<std::uint64_t>(as128[3]), o128[6]);
  EXPECT_EQ(static_cast<std::uint64_t>(as128[3] >> 64), o128[7]);
  EXPECT_EQ(store.read("n72")->as_span<std::uint64_t>()[8], 1008u);

  // 64-byte aligned SIMD loads straight from the mapping.
  for (std::string_view key : {"s3", "n20", "s9", "n64"}) {
    auto entry = store.read(key);
    ASSERT_TRUE(entry.has_value());
    ASSERT_EQ(entry->size() % 64, 0u) << key;
    const std::byte* base = std::assume_aligned<64>(entry->data());
    for (std::size_t block = 0; block < entry->size() / 64; ++block) {
#if defined(__SSE2__)
      std::array<std::byte, 64> loaded{};
      for (int lane = 0; lane < 4; ++lane) {
        const __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(base + block * 64 + lane * 16));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(loaded.data() + lane * 16), v);
      }
      EXPECT_EQ(std::memcmp(loaded.data(), base + block * 64, 64), 0) << key;
#else
      EXPECT_TRUE(is_aligned(base + block * 64, 64)) << key;
#endif
    }
  }

  // Every iterated item is aligned too.
  std::size_t count = 0;
  for (const EntryHandle& entry : store.iter_entries()) {
    expect_payload_aligned(entry, "iter_entries item");
    ++count;
  }
  EXPECT_EQ(count, 6u);
}

TEST_F(Alignment, PayloadAfterTombstoneIsAligned) {
  std::uint64_t tombstone_tail = 0;
  {
    DataStore store = open();
    store.write("a", "1234567");
    tombstone_tail = store.remove("a");
    auto last = store.read_last_entry();
    ASSERT_TRUE(last.has_value());
    ASSERT_TRUE(last->is_tombstone());
    EXPECT_NE(last->start_offset() % kPayloadAlignment, 0u);  // tombstones are not padded
    EXPECT_EQ(code_of([&] { (void)last->as_span<std::uint32_t>(); }), kInvalidArgument);
    store.write("b", srd_test::pattern_bytes(40));
    auto b = store.read("b");
    ASSERT_TRUE(b.has_value());
    expect_payload_aligned(*b, "after tombstone");
    EXPECT_EQ(b->metadata().prev_offset, tombstone_tail);
    EXPECT_EQ(b->start_offset(), (tombstone_tail + 63) / 64 * 64);
  }
  DataStore store = open();
  auto b = store.read("b");
  ASSERT_TRUE(b.has_value());
  expect_payload_aligned(*b, "after tombstone, reopened");
  EXPECT_EQ(b->as_span<std::uint64_t>().size(), 5u);
}

TEST_F(Alignment, StreamedAndBatchedPayloadsAreAligned) {
  DataStore store = open();
  store.write("odd", "123");
  const std::vector<std::byte> big = srd_test::pattern_bytes(100'003);
  std::size_t pos = 0;
  store.write_stream("streamed", [&](std::span<std::byte> buffer) {
    const std::size_t n = std::min(buffer.size(), big.size() - pos);
    std::memcpy(buffer.data(), big.data() + pos, n);
    pos += n;
    return n;
  });
  store.batch_write(std::vector<std::pair<std::string, std::string>>{{"b1", "x"}, {"b2", "yy"}, {"b3", "zzz"}});
  for (std::string_view key : {"odd", "streamed", "b1", "b2", "b3"}) {
    auto entry = store.read(key);
    ASSERT_TRUE(entry.has_value()) << key;
    expect_payload_aligned(*entry, key);
  }
}

}  // namespace

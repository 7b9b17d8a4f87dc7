// Key hashes, checksums and namespaced keys: catalogue 9.8 (hash stability) and 9.11
// (namespace hasher), plus CRC-32 vectors (IEEE/zlib, not CRC-32C as the original's
// documentation says).
#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include <simd_r_drive/simd_r_drive.h>

#include "test_support.h"

namespace {

using simd_r_drive::ByteView;
using simd_r_drive::compute_checksum;
using simd_r_drive::compute_hash;
using simd_r_drive::compute_hash_batch;
using simd_r_drive::DataStore;
using simd_r_drive::NamespaceHasher;

std::string hex_of(const std::array<std::byte, 16>& bytes) {
  return srd_test::to_hex(ByteView(bytes.data(), bytes.size()));
}

// ---- 9.8: XXH3-64 values pinned by the original's hash_stability_tests.rs ----

TEST(Hashing, ComputeHashEmptyKey) { EXPECT_EQ(compute_hash(""), 0x2d06800538d394c2ULL); }

TEST(Hashing, ComputeHashSingleNulByte) {
  const std::array<std::byte, 1> nul{std::byte{0}};
  EXPECT_EQ(compute_hash(nul), 0xc44bdff4074eecdbULL);
  // A string with an embedded NUL is the same key when it has the same bytes.
  EXPECT_EQ(compute_hash(std::string_view("\0", 1)), 0xc44bdff4074eecdbULL);
}

TEST(Hashing, ComputeHashAlice) { EXPECT_EQ(compute_hash("alice"), 0x4da10dd61a0116b0ULL); }
TEST(Hashing, ComputeHashBob) { EXPECT_EQ(compute_hash("bob"), 0x1403c0c40f49b8e5ULL); }
TEST(Hashing, ComputeHashCarol) { EXPECT_EQ(compute_hash("carol"), 0xe2fdb994ad3fcba4ULL); }
TEST(Hashing, ComputeHashKey1) { EXPECT_EQ(compute_hash("key1"), 0x384d070cd5d829e2ULL); }
TEST(Hashing, ComputeHashTestKey) { EXPECT_EQ(compute_hash("test_key"), 0xe0614cc5ecbeed92ULL); }
TEST(Hashing, ComputeHashLongerKeyName) {
  EXPECT_EQ(compute_hash("longer_key_name"), 0x4c21bc57c3b572eeULL);
}

TEST(Hashing, ComputeHashAcceptsEveryByteRangeSpelling) {
  const std::string text = "alice";
  const std::vector<std::uint8_t> u8(text.begin(), text.end());
  const std::vector<std::byte> bytes = srd_test::bytes_of(text);
  EXPECT_EQ(compute_hash(text), 0x4da10dd61a0116b0ULL);
  EXPECT_EQ(compute_hash(u8), 0x4da10dd61a0116b0ULL);
  EXPECT_EQ(compute_hash(std::span<const std::byte>(bytes)), 0x4da10dd61a0116b0ULL);
  // String literals do not carry their terminating NUL into the key.
  EXPECT_EQ(compute_hash("alice"), compute_hash(ByteView(bytes)));
}

TEST(Hashing, DataStoreHashKeyIsComputeHash) {
  for (std::string_view key : {"", "alice", "bob", "key1", "longer_key_name"}) {
    EXPECT_EQ(DataStore::hash_key(key), compute_hash(key)) << key;
  }
}

TEST(Hashing, ComputeHashBatchMatchesIndividual) {
  const std::vector<ByteView> keys{"alice", "bob", "carol"};
  const std::vector<std::uint64_t> hashes = compute_hash_batch(keys);
  ASSERT_EQ(hashes.size(), 3u);
  EXPECT_EQ(hashes[0], compute_hash("alice"));
  EXPECT_EQ(hashes[1], compute_hash("bob"));
  EXPECT_EQ(hashes[2], compute_hash("carol"));
  EXPECT_EQ(hashes[0], 0x4da10dd61a0116b0ULL);
  EXPECT_EQ(hashes[1], 0x1403c0c40f49b8e5ULL);
  EXPECT_EQ(hashes[2], 0xe2fdb994ad3fcba4ULL);
}

TEST(Hashing, ComputeHashBatchLength) {
  const std::vector<ByteView> keys{"a", "b", "c", "d", "e"};
  const std::vector<std::uint64_t> hashes = compute_hash_batch(keys);
  ASSERT_EQ(hashes.size(), 5u);
  for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(hashes[i], compute_hash(keys[i])) << i;
  EXPECT_TRUE(compute_hash_batch(std::span<const ByteView>()).empty());
}

// ---- 1.4: CRC-32 (IEEE / zlib), not CRC-32C ----

TEST(Hashing, ChecksumIsCrc32IeeeNotCrc32c) {
  EXPECT_EQ(compute_checksum("123456789"), 0xCBF43926u);
  EXPECT_NE(compute_checksum("123456789"), 0xE3069283u);  // the CRC-32C check value
}

TEST(Hashing, ChecksumVectors) {
  EXPECT_EQ(compute_checksum("hello"), 0x3610A686u);
  EXPECT_EQ(compute_checksum("world!"), 0x718498E8u);
  EXPECT_EQ(compute_checksum("value1"), 0xA2756C5Au);
  const std::array<std::byte, 1> nul{std::byte{0}};
  EXPECT_EQ(compute_checksum(nul), 0xD202EF8Du);
  EXPECT_EQ(compute_checksum(ByteView()), 0u);
}

TEST(Hashing, ChecksumOfLargeBufferIsNotChunkDependent) {
  // The same bytes, checksummed whole and through an entry handle (which validates in
  // chunks), agree.
  const std::vector<std::byte> payload = srd_test::pattern_bytes(300'001);
  const std::uint32_t crc = compute_checksum(payload);
  const auto handle = simd_r_drive::EntryHandle::from_owned_bytes(payload, 7);
  EXPECT_EQ(handle.checksum(), crc);
  EXPECT_TRUE(handle.is_valid_checksum());
  std::vector<std::byte> changed = payload;
  changed[150'000] ^= std::byte{1};
  EXPECT_NE(compute_checksum(changed), crc);
}

// ---- 9.8 / 9.11: NamespaceHasher ----

TEST(Hashing, NamespaceHasherNs1Key1Golden) {
  const NamespaceHasher hasher("namespace1");
  EXPECT_EQ(hasher.prefix_hash(), 0xcbece6f29d6c067cULL);
  EXPECT_EQ(hex_of(hasher.namespace_key("key1")), "7c066c9df2e6eccbe229d8d50c074d38");
}

TEST(Hashing, NamespaceHasherNs2Key1Golden) {
  const NamespaceHasher hasher("namespace2");
  EXPECT_EQ(hasher.prefix_hash(), 0x6c16353c5c3a568dULL);
  EXPECT_EQ(hex_of(hasher.namespace_key("key1")), "8d563a5c3c35166ce229d8d50c074d38");
}

TEST(Hashing, NamespaceHasherOutputLength) {
  const NamespaceHasher hasher("ns");
  const auto key = hasher.namespace_key("some key");
  static_assert(std::tuple_size_v<std::remove_cvref_t<decltype(key)>> == 16);
  EXPECT_EQ(key.size(), 16u);
  // The layout is LE(hash(prefix)) || LE(hash(key)).
  const std::uint64_t key_hash = compute_hash("some key");
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(std::to_integer<std::uint64_t>(key[8 + i]), (key_hash >> (8 * i)) & 0xff) << i;
    EXPECT_EQ(std::to_integer<std::uint64_t>(key[i]), (compute_hash("ns") >> (8 * i)) & 0xff) << i;
  }
}

TEST(Hashing, NamespaceCollisionPrevention) {
  const NamespaceHasher a("namespace_a");
  const NamespaceHasher b("namespace_b");
  EXPECT_NE(a.namespace_key("same_key"), b.namespace_key("same_key"));
}

TEST(Hashing, NamespaceMultipleKeysUnderSameNamespace) {
  const NamespaceHasher hasher("ns");
  EXPECT_NE(hasher.namespace_key("key1"), hasher.namespace_key("key2"));
}

TEST(Hashing, NamespaceReusabilityIsDeterministic) {
  const NamespaceHasher first("reuse");
  const NamespaceHasher second("reuse");
  EXPECT_EQ(first.namespace_key("k"), first.namespace_key("k"));
  EXPECT_EQ(first.namespace_key("k"), second.namespace_key("k"));
}

TEST(Hashing, NamespaceKeysAreUniqueAcrossNamespacesAndKeys) {
  std::set<std::string> seen;
  for (std::string_view ns : {"ns1", "ns2", "ns3"}) {
    const NamespaceHasher hasher(ns);
    for (std::string_view key : {"k1", "k2", "k3"}) seen.insert(hex_of(hasher.namespace_key(key)));
  }
  EXPECT_EQ(seen.size(), 9u);
}

TEST(Hashing, NamespaceIsolationInStore) {
  srd_test::TempDir dir;
  DataStore store = DataStore::open(dir.file("ns.bin"));
  const NamespaceHasher n1("namespace1");
  const NamespaceHasher n2("namespace2");
  const NamespaceHasher n3("namespace3");
  store.write(n1.namespace_key("shared"), "value one");
  store.write(n2.namespace_key("shared"), "value two");
  store.write(n3.namespace_key("shared"), "value three");
  EXPECT_EQ(store.len(), 3u);
  auto v1 = store.read(n1.namespace_key("shared"));
  auto v2 = store.read(n2.namespace_key("shared"));
  auto v3 = store.read(n3.namespace_key("shared"));
  ASSERT_TRUE(v1 && v2 && v3);
  EXPECT_EQ(v1->as_string_view(), "value one");
  EXPECT_EQ(v2->as_string_view(), "value two");
  EXPECT_EQ(v3->as_string_view(), "value three");
  // The namespaced key is an ordinary key: hashed again, and the plain key is absent.
  EXPECT_EQ(v1->key_hash(), compute_hash(n1.namespace_key("shared")));
  EXPECT_FALSE(store.exists("shared"));
}

}  // namespace

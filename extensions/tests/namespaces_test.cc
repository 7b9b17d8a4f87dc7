// The extensions' keys are the original's, byte for byte: the feature prefixes, and
// the 16-byte namespaced keys built from them, checked against vectors worked out
// from the documented construction and against the golden file the original wrote.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <simd_r_drive/extensions/namespaces.h>
#include <simd_r_drive/simd_r_drive.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "test_support.h"

namespace {

namespace ext = simd_r_drive::extensions;
using json = nlohmann::json;
using simd_r_drive::ByteView;
using simd_r_drive::DataStore;
using srd_test::to_hex;

json load_manifest(const char* name) {
  std::ifstream in(srd_test::compat_dir() / (std::string(name) + ".json"));
  return json::parse(in);
}

std::uint64_t parse_u64(const json& value) { return std::stoull(value.get<std::string>(), nullptr, 16); }

// Little-endian hex of a 64-bit value, as the golden files spell key halves.
std::string le_hex(std::uint64_t value) {
  std::byte bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::byte>(value >> (8 * i));
  return to_hex(ByteView(bytes, 8));
}

TEST(ExtensionKeys, FeaturePrefixesAreTheOriginalsBytes) {
  EXPECT_EQ(to_hex(ext::kOptionPrefix), "f76f7074696f6efd");  // F7 "option" FD
  EXPECT_EQ(to_hex(ext::kTtlPrefix), "f774746cfd");           // F7 "ttl" FD
  EXPECT_EQ(to_hex(ext::kTtlRegistryPrefix), "f774746c2d726567fd");  // F7 "ttl-reg" FD
}

// The vectors: XXH3-64 of each prefix and key, computed outside this code base with the
// xxHash reference tool (`printf '\xf7option\xfd' | xxhsum -H3` gives f7665242c3ab7d22),
// laid out as documented: 8 bytes LE of the prefix's hash, then 8 bytes LE of the key's.
TEST(ExtensionKeys, OptionAndTtlKeysFollowTheDocumentedConstruction) {
  EXPECT_EQ(to_hex(ext::option_key("my_key")), "227dabc3425266f7" "243940403db32125");
  EXPECT_EQ(to_hex(ext::ttl_key("my_key")), "b68f5b030f90406d" "243940403db32125");
  // What the store then keys them by: XXH3-64 of the 16 bytes (xxhsum -H3 again).
  EXPECT_EQ(DataStore::hash_key(ext::option_key("my_key")), 0xcd898c6d09c906f8ull);
  EXPECT_EQ(DataStore::hash_key(ext::ttl_key("my_key")), 0x25bf8cbf5dc32de8ull);
  // The prefix half does not depend on the key; the key half does not depend on the prefix.
  EXPECT_EQ(to_hex(ext::option_key("key1")).substr(0, 16), "227dabc3425266f7");
  EXPECT_EQ(to_hex(ext::ttl_key("key1")).substr(0, 16), "b68f5b030f90406d");
  EXPECT_EQ(to_hex(ext::option_key("key1")).substr(16), to_hex(ext::ttl_key("key1")).substr(16));
}

// The key half is XXH3-64 of the key as the original computed it: its golden manifest
// lists the hashes of "key1" and "my_key" among others.
TEST(ExtensionKeys, KeyHalfMatchesTheOriginalsHashVectors) {
  const json manifest = load_manifest("prehashed");
  int checked = 0;
  for (const json& vector : manifest.at("hash_vectors")) {
    const std::string key = vector.at("key").get<std::string>();
    SCOPED_TRACE(key);
    const std::string expected = vector.at("xxh3_64_le_bytes_hex").get<std::string>();
    EXPECT_EQ(to_hex(ext::option_key(key)).substr(16), expected);
    EXPECT_EQ(to_hex(ext::ttl_key(key)).substr(16), expected);
    EXPECT_EQ(le_hex(parse_u64(vector.at("xxh3_64"))), expected);
    ++checked;
  }
  EXPECT_GE(checked, 2);
}

// namespaced_key is NamespaceHasher's construction: the original's namespaced keys in
// prehashed.json, and the stored hashes it wrote them under in prehashed.bin.
TEST(ExtensionKeys, NamespacedKeysMatchTheGoldenFile) {
  const json manifest = load_manifest("prehashed");
  ASSERT_EQ(manifest.at("namespaced_keys").size(), 3u);
  for (const json& k : manifest.at("namespaced_keys")) {
    const std::string name_space = k.at("namespace").get<std::string>();
    const std::string key = k.at("key").get<std::string>();
    SCOPED_TRACE(name_space + "/" + key);
    const ext::NamespacedKey namespaced = ext::namespaced_key(name_space, key);
    EXPECT_EQ(to_hex(namespaced), k.at("namespaced_key_hex").get<std::string>());
    EXPECT_EQ(to_hex(namespaced).substr(0, 16), le_hex(parse_u64(k.at("namespace_prefix_xxh3_64"))));
    EXPECT_EQ(DataStore::hash_key(namespaced), parse_u64(k.at("stored_key_hash")));
  }
}

// Reading the original's own file by the namespaced key finds the value it wrote.
TEST(ExtensionKeys, NamespacedKeysReadTheOriginalsFile) {
  const json manifest = load_manifest("prehashed");
  const srd_test::TempDir dir;
  std::filesystem::copy_file(srd_test::compat_dir() / "prehashed.bin", dir.file("store.bin"));
  simd_r_drive::OpenOptions options;
  options.read_only = true;
  const DataStore store = DataStore::open(dir.file("store.bin"), options);
  int found = 0;
  for (const json& k : manifest.at("namespaced_keys")) {
    const std::uint64_t stored_hash = parse_u64(k.at("stored_key_hash"));
    for (const json& live : manifest.at("expected").at("live")) {
      if (parse_u64(live.at("key_hash")) != stored_hash) continue;
      const auto value = store.read(ext::namespaced_key(k.at("namespace").get<std::string>(), k.at("key").get<std::string>()));
      ASSERT_TRUE(value.has_value());
      EXPECT_EQ(to_hex(value->as_slice()), live.at("value_hex").get<std::string>());
      ++found;
    }
  }
  EXPECT_EQ(found, 3);
}

}  // namespace

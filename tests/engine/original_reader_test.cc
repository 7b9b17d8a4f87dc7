// The test-only model of the Rust original (tests/support/original_reader.h), checked
// against what the original itself wrote and recorded: the golden files in
// tests/compat/golden and their manifests. If the model reads these as the original
// did, the other tests may use it to ask what the original would make of a file.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "original_reader.h"
#include "simd_r_drive/simd_r_drive.h"
#include "test_support.h"

namespace {

using nlohmann::json;
using simd_r_drive::DataStore;
using srd_test::OriginalStore;
using srd_test::TempDir;
using Bytes = std::vector<std::byte>;

json manifest(const std::string& name) {
  std::ifstream in(srd_test::compat_dir() / (name + ".json"));
  if (!in) throw std::runtime_error("cannot read manifest " + name + ".json");
  return json::parse(in);
}

std::uint64_t parse_u64(const json& value) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  const std::string text = value.get<std::string>();
  return std::stoull(text, nullptr, text.rfind("0x", 0) == 0 ? 16 : 10);
}

Bytes value_of(const json& item) {
  if (item.contains("value_hex")) return srd_test::from_hex(item.at("value_hex").get<std::string>());
  return srd_test::pattern_bytes(item.at("len").get<std::size_t>());
}

Bytes file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  Bytes out(std::filesystem::file_size(path));
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
  return out;
}

bool same_bytes(std::span<const std::byte> a, const Bytes& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), b.size()) == 0;
}

class OriginalReaderGolden : public testing::TestWithParam<const char*> {};

// The original opened each file whole, and these are the entries it listed.
TEST_P(OriginalReaderGolden, ReadsTheGoldenFileAsTheOriginalDid) {
  const std::string name = GetParam();
  const json expected = manifest(name).at("expected");
  const OriginalStore original = OriginalStore::open(srd_test::compat_dir() / (name + ".bin"));
  EXPECT_EQ(original.recovered_length(), expected.at("file_size").get<std::uint64_t>());
  EXPECT_EQ(original.len(), expected.at("len_reported_after_open").get<std::size_t>())
      << "the original's len() after open counts deleted keys too";
  std::size_t live = 0;
  for (const json& entry : expected.at("live")) {
    const std::uint64_t key_hash = parse_u64(entry.at("key_hash"));
    const auto value = original.read(key_hash);
    ASSERT_TRUE(value.has_value()) << name << ": live key hash " << entry.at("key_hash") << " reads as absent";
    EXPECT_TRUE(same_bytes(*value, value_of(entry))) << name << ": value of " << entry.at("key_hash");
    EXPECT_EQ(static_cast<std::uint64_t>(value->data() - original.bytes().data()),
              entry.at("payload_offset").get<std::uint64_t>());
    EXPECT_EQ(original.checksum_matches(key_hash), std::optional<bool>(true));
    ++live;
  }
  EXPECT_EQ(live, expected.at("live_count").get<std::size_t>());
  for (const json& hash : expected.at("absent_key_hashes")) {
    EXPECT_FALSE(original.read(parse_u64(hash)).has_value()) << name << ": " << hash << " should be absent";
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, OriginalReaderGolden,
                         testing::Values("basic", "alignment", "batch", "prehashed", "stream", "torn"),
                         [](const testing::TestParamInfo<const char*>& param_info) { return std::string(param_info.param); });

// torn.bin is basic.bin with 7 garbage bytes: the original's one-byte steps down from
// the end land on the 462 bytes of basic.bin, and it truncates the rest.
TEST(OriginalReader, TornFileRecoversTo462Bytes) {
  const OriginalStore original = OriginalStore::open(srd_test::compat_dir() / "torn.bin");
  EXPECT_EQ(original.recovered_length(), 462u);
  EXPECT_EQ(original.bytes(), file_bytes(srd_test::compat_dir() / "basic.bin"));
}

// What a kill left before the padding record: zeros past the end of a store read, to the original, as a
// record with key hash 0 and back-link 0 whose payload is everything before it, and
// it accepts that as the whole chain. The model must reproduce it, or it could not
// tell whether the padding record fixes it.
TEST(OriginalReader, TakesTrailingZerosForOneEntrySpanningTheFile) {
  Bytes file = file_bytes(srd_test::compat_dir() / "basic.bin");
  file.resize(file.size() + 4096);
  const OriginalStore original(file);
  EXPECT_EQ(original.recovered_length(), file.size());
  EXPECT_EQ(original.len(), 1u);
  EXPECT_FALSE(original.read(DataStore::hash_key("key1")).has_value());
  ASSERT_TRUE(original.read(0).has_value());
  EXPECT_EQ(original.read(0)->size(), file.size() - 20);
  EXPECT_EQ(original.checksum_matches(0), std::optional<bool>(false));
}

// Structure only: a payload byte flipped is not noticed by recovery (no checksum is
// looked at), only by the checksum check of the entry.
TEST(OriginalReader, RecoveryLooksAtNoChecksum) {
  Bytes file = file_bytes(srd_test::compat_dir() / "basic.bin");
  file[400] ^= std::byte{0x01};  // inside key3's second value (384..421), the last value
  const OriginalStore original(file);
  EXPECT_EQ(original.recovered_length(), file.size());
  EXPECT_EQ(original.checksum_matches(DataStore::hash_key("key3")), std::optional<bool>(false));
}

// A back-link that does not go down (the derived start then lies past the record),
// or that lands inside the first 20 bytes, rejects the candidate; the cursor then
// tries one byte lower, and finds the previous tail.
TEST(OriginalReader, RejectsCandidatesWhoseBackLinksDoNotGoDownToZero) {
  Bytes file = file_bytes(srd_test::compat_dir() / "basic.bin");
  // The tombstone's record (442..462) names 441; make it name 461 (not below it).
  file[442 + 8] = std::byte{461 & 0xFF};
  file[442 + 9] = std::byte{461 >> 8};
  EXPECT_EQ(srd_test::original_recovered_length(file), 441u);
  file[442 + 8] = std::byte{10};  // inside the first entry
  file[442 + 9] = std::byte{0};
  EXPECT_EQ(srd_test::original_recovered_length(file), 441u);
}

// A tombstone right after an unaligned tail has no pre-pad: the rule that makes its
// one byte its payload comes first. As a candidate, its 0x00 byte is what makes it
// one; with the byte changed, the derived start is the next multiple of 64, past the
// record, and the candidate fails.
TEST(OriginalReader, AppliesTheTombstoneRuleFirst) {
  Bytes file = file_bytes(srd_test::compat_dir() / "basic.bin");
  EXPECT_EQ(srd_test::original_recovered_length(file), 462u);
  file[441] = std::byte{0x7F};
  EXPECT_EQ(srd_test::original_recovered_length(file), 441u);
}

TEST(OriginalReader, ShortFilesRecoverToNothing) {
  EXPECT_EQ(srd_test::original_recovered_length(Bytes(19)), 0u);
  EXPECT_EQ(srd_test::original_recovered_length(Bytes{}), 0u);
}

// The model appends as the original does: the bytes equal what this engine writes
// for the same calls: the same operations give byte-identical files through both
// engines.
TEST(OriginalReader, AppendsTheBytesBothEnginesWrite) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  std::filesystem::copy_file(srd_test::compat_dir() / "basic.bin", path);
  {
    DataStore store = DataStore::open(path);
    store.write("key6", "six");
    store.remove("key1");
    store.write("key7", std::string(200, 'x'));
  }
  OriginalStore original = OriginalStore::open(srd_test::compat_dir() / "basic.bin");
  original.write(DataStore::hash_key("key6"), "six");
  original.remove(DataStore::hash_key("key1"));
  EXPECT_EQ(original.write(DataStore::hash_key("key7"), std::string(200, 'x')), std::filesystem::file_size(path));
  EXPECT_EQ(original.bytes(), file_bytes(path));
  EXPECT_FALSE(original.read(DataStore::hash_key("key1")).has_value());
  EXPECT_EQ(original.len(), 6u) << "key2's tombstone from before the open stays indexed; key1's delete removed it";
}

TEST(OriginalReader, ReferenceCrcMatchesTheCheckValue) {
  const std::string text = "123456789";
  EXPECT_EQ(srd_test::reference_crc32(std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()),
                                                                 text.size())),
            0xCBF43926u);
}

}  // namespace

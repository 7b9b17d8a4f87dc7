// Byte compatibility with the Rust original, checked against the golden files in
// tests/compat/golden (written by rust-simd-r-drive 0.16.3-alpha; see the README there).
//
//  * GoldenFileTest.OpensCopyWithRecordedState: a copy of each golden file opens
//    with every recorded live entry, offset, checksum, absence, iteration order,
//    live count and last entry.
//  * GoldenFileTest.ReplayIsByteIdentical: replaying the manifest's operations into
//    a fresh file returns the recorded tails and produces the same bytes.
//  * GoldenTorn*: torn.bin (basic.bin + 7 garbage bytes) recovers to basic.bin.
//  * GoldenHashVectors / GoldenNamespaceHasher: XXH3-64, CRC-32 and namespaced keys.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "simd_r_drive/simd_r_drive.h"
#include "test_support.h"

namespace {

using srd_test::mentions_number;
using srd_test::StderrCapture;

using nlohmann::json;
using simd_r_drive::ByteView;
using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using srd_test::bytes_of;
using srd_test::from_hex;
using srd_test::pattern_bytes;
using srd_test::sha256_hex;
using srd_test::TempDir;
using srd_test::to_hex;
using srd_test::write_file;

using Bytes = std::vector<std::byte>;

// Whole-file read in one call (read_file goes byte by byte: slow on 3 MiB in Debug).
Bytes slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  Bytes out(std::filesystem::file_size(path));
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
  return out;
}

const json& manifest(const std::string& name) {
  static std::map<std::string, json> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    std::ifstream in(srd_test::compat_dir() / (name + ".json"));
    if (!in) throw std::runtime_error("cannot read manifest " + name + ".json");
    it = cache.emplace(name, json::parse(in)).first;
  }
  return it->second;
}

const Bytes& golden_bytes(const std::string& file) {
  static std::map<std::string, Bytes> cache;
  auto it = cache.find(file);
  if (it == cache.end()) it = cache.emplace(file, slurp(srd_test::compat_dir() / file)).first;
  return it->second;
}

std::uint64_t parse_u64(const json& value) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  const std::string text = value.get<std::string>();
  return std::stoull(text, nullptr, text.rfind("0x", 0) == 0 ? 16 : 10);
}

// The value an operation or live entry describes: value_hex when given (checked
// against the generator when value_gen is also given), else the pattern generator.
Bytes value_of(const json& item) {
  const std::size_t len = item.at("len").get<std::size_t>();
  if (item.contains("value_hex")) {
    Bytes value = from_hex(item.at("value_hex").get<std::string>());
    EXPECT_EQ(value.size(), len);
    if (item.contains("value_gen")) {
      EXPECT_EQ(to_hex(value), to_hex(pattern_bytes(len)));
    }
    return value;
  }
  if (!item.contains("value_gen")) {
    ADD_FAILURE() << "manifest item has neither value_hex nor value_gen: " << item.dump();
    return {};
  }
  return pattern_bytes(len);
}

// The key bytes of an item: key_hex (exact bytes, also for namespaced keys) or key.
std::optional<Bytes> key_of(const json& item) {
  if (item.contains("key_hex")) return from_hex(item.at("key_hex").get<std::string>());
  if (item.contains("key")) return bytes_of(item.at("key").get<std::string>());
  return std::nullopt;
}

std::string hex_hash(std::uint64_t hash) {
  char text[19];
  std::snprintf(text, sizeof(text), "0x%016llx", static_cast<unsigned long long>(hash));
  return text;
}

void copy_golden(const std::string& file, const std::filesystem::path& to) {
  write_file(to, golden_bytes(file));
}

void expect_live_entry(const std::optional<EntryHandle>& got, const json& entry, std::uint64_t key_hash,
                       const Bytes& value, const char* how) {
  SCOPED_TRACE(how);
  ASSERT_TRUE(got.has_value()) << "live entry reads as absent";
  EXPECT_EQ(got->size(), entry.at("len").get<std::size_t>());
  EXPECT_TRUE(*got == ByteView(value)) << "payload bytes differ";
  EXPECT_EQ(got->start_offset(), entry.at("payload_offset").get<std::uint64_t>());
  EXPECT_EQ(got->end_offset(), entry.at("payload_end").get<std::uint64_t>());
  EXPECT_EQ(got->end_offset(), entry.at("metadata_offset").get<std::uint64_t>());
  EXPECT_EQ(got->metadata().prev_offset, entry.at("prev_offset").get<std::uint64_t>());
  EXPECT_EQ(got->key_hash(), key_hash);
  EXPECT_EQ(got->metadata().key_hash, key_hash);
  EXPECT_EQ(to_hex(got->raw_checksum()), entry.at("checksum_hex").get<std::string>());
  EXPECT_TRUE(got->is_valid_checksum());
  EXPECT_FALSE(got->is_tombstone());
  EXPECT_EQ(got->file_size(), value.size() + simd_r_drive::kMetadataSize);
  EXPECT_EQ(got->start_offset() % simd_r_drive::kPayloadAlignment, 0u);
}

// Checks an open store against a manifest's `expected` block.
void expect_state(const DataStore& store, const json& expected) {
  EXPECT_EQ(store.file_size(), expected.at("file_size").get<std::uint64_t>());
  // Live keys only: the manifests' len_reported_after_open is the original's bug.
  EXPECT_EQ(store.len(), expected.at("live_count").get<std::size_t>());
  EXPECT_EQ(store.is_empty(), expected.at("live_count").get<std::size_t>() == 0);

  for (const json& entry : expected.at("live")) {
    const std::uint64_t key_hash = parse_u64(entry.at("key_hash"));
    SCOPED_TRACE("live entry " + hex_hash(key_hash));
    const Bytes value = value_of(entry);
    if (entry.contains("key")) {
      const Bytes key = bytes_of(entry.at("key").get<std::string>());
      EXPECT_EQ(DataStore::hash_key(key), key_hash);
      expect_live_entry(store.read(key), entry, key_hash, value, "read(key)");
      EXPECT_TRUE(store.exists(key));
    }
    if (entry.contains("key_hex")) {
      const Bytes key = from_hex(entry.at("key_hex").get<std::string>());
      EXPECT_EQ(DataStore::hash_key(key), key_hash);
      expect_live_entry(store.read(key), entry, key_hash, value, "read(key_hex bytes)");
    }
    expect_live_entry(store.read_with_key_hash(key_hash), entry, key_hash, value, "read_with_key_hash");
    EXPECT_TRUE(store.exists_with_key_hash(key_hash));
  }

  for (const json& key : expected.at("absent_keys")) {
    SCOPED_TRACE("absent key " + key.get<std::string>());
    EXPECT_FALSE(store.read(key.get<std::string>()).has_value());
    EXPECT_FALSE(store.exists(key.get<std::string>()));
  }
  for (const json& hash : expected.at("absent_key_hashes")) {
    SCOPED_TRACE("absent hash " + hash.get<std::string>());
    EXPECT_FALSE(store.read_with_key_hash(parse_u64(hash)).has_value());
    EXPECT_FALSE(store.exists_with_key_hash(parse_u64(hash)));
  }

  std::vector<std::string> iterated;
  for (const EntryHandle& entry : store.iter_entries()) {
    iterated.push_back(hex_hash(entry.key_hash()));
    EXPECT_FALSE(entry.is_tombstone());
  }
  std::vector<std::string> recorded;
  for (const json& hash : expected.at("iter_entries_order_key_hashes")) {
    recorded.push_back(hex_hash(parse_u64(hash)));
  }
  EXPECT_EQ(iterated, recorded);

  const json& last = expected.at("read_last_entry");
  const std::optional<EntryHandle> got_last = store.read_last_entry();
  ASSERT_TRUE(got_last.has_value());
  EXPECT_EQ(got_last->is_tombstone(), last.at("is_tombstone").get<bool>());
  EXPECT_EQ(got_last->key_hash(), parse_u64(last.at("key_hash")));
  EXPECT_EQ(got_last->start_offset(), last.at("payload_offset").get<std::uint64_t>());
  EXPECT_EQ(got_last->end_offset(), last.at("payload_end").get<std::uint64_t>());
  EXPECT_EQ(got_last->end_offset() + simd_r_drive::kMetadataSize, expected.at("file_size").get<std::uint64_t>());
  EXPECT_TRUE(got_last->is_valid_checksum());
}

// Replays one manifest operation; returns the tail the call returned.
std::uint64_t replay(DataStore& store, const json& op) {
  const std::string kind = op.at("op").get<std::string>();
  if (kind == "write") {
    return store.write(*key_of(op), value_of(op));
  }
  if (kind == "write_with_key_hash") {
    return store.write_with_key_hash(parse_u64(op.at("key_hash")), value_of(op));
  }
  if (kind == "batch_write") {
    std::vector<std::pair<Bytes, Bytes>> items;
    for (const json& entry : op.at("entries")) items.emplace_back(*key_of(entry), value_of(entry));
    return store.batch_write(items);
  }
  if (kind == "batch_write_with_key_hashes") {
    std::vector<Bytes> values;
    for (const json& entry : op.at("entries")) values.push_back(value_of(entry));
    std::vector<simd_r_drive::HashedPayload> items;
    std::size_t i = 0;
    for (const json& entry : op.at("entries")) items.push_back({parse_u64(entry.at("key_hash")), values[i++]});
    return store.batch_write_with_key_hashes(items, op.value("allow_null_bytes", false));
  }
  if (kind == "write_stream") {
    const Bytes value = value_of(op);
    std::size_t position = 0;
    std::size_t calls = 0;
    const simd_r_drive::StreamReader source = [&](std::span<std::byte> buffer) -> std::size_t {
      ++calls;
      const std::size_t n =
          std::min({buffer.size(), std::size_t{64 * 1024}, value.size() - position});  // the original's chunk
      if (n != 0) std::memcpy(buffer.data(), value.data() + position, n);
      position += n;
      return n;
    };
    const std::uint64_t tail = store.write_stream(*key_of(op), source);
    EXPECT_EQ(position, value.size()) << "write_stream did not consume the whole source";
    EXPECT_GE(calls, 2u) << "write_stream must read until the source reports its end";
    return tail;
  }
  if (kind == "delete") {
    return store.remove(*key_of(op));
  }
  if (kind == "batch_delete") {
    std::vector<std::string> keys;
    for (const json& key : op.at("keys")) keys.push_back(key.get<std::string>());
    return store.batch_remove(keys);
  }
  if (kind == "rename") {
    return store.rename(op.at("old_key").get<std::string>(), op.at("new_key").get<std::string>());
  }
  ADD_FAILURE() << "unknown operation in manifest: " << kind;
  return 0;
}

std::string first_difference(const Bytes& got, const Bytes& want) {
  if (got == want) return "identical";
  const std::size_t common = std::min(got.size(), want.size());
  for (std::size_t i = 0; i < common; ++i) {
    if (got[i] != want[i]) return "first differing byte at offset " + std::to_string(i);
  }
  if (got.size() != want.size()) {
    return "sizes differ: " + std::to_string(got.size()) + " vs " + std::to_string(want.size());
  }
  return "identical";
}

// ---------------------------------------------------------------------------------

class GoldenFileTest : public testing::TestWithParam<std::string> {};

TEST_P(GoldenFileTest, OpensCopyWithRecordedState) {
  const json& m = manifest(GetParam());
  const std::string file = m.at("file").get<std::string>();
  const Bytes& original = golden_bytes(file);
  ASSERT_EQ(original.size(), m.at("expected").at("file_size").get<std::size_t>());

  TempDir dir;
  const auto path = dir.file(file);
  copy_golden(file, path);
  ASSERT_EQ(sha256_hex(path), m.at("expected").at("file_sha256").get<std::string>());
  {
    DataStore store = DataStore::open(path);
    expect_state(store, m.at("expected"));
  }
  // Opening a clean file changes nothing.
  EXPECT_EQ(first_difference(slurp(path), original), "identical");
  {
    DataStore store = DataStore::open_existing(path);
    EXPECT_EQ(store.len(), m.at("expected").at("live_count").get<std::size_t>());
    EXPECT_EQ(store.file_size(), original.size());
  }
  EXPECT_EQ(sha256_hex(path), m.at("expected").at("file_sha256").get<std::string>());
}

TEST_P(GoldenFileTest, ReplayIsByteIdentical) {
  const json& m = manifest(GetParam());
  const json& expected = m.at("expected");
  TempDir dir;
  const auto path = dir.file("replay.bin");
  {
    DataStore store = DataStore::open(path);
    for (const json& op : m.at("operations")) {
      SCOPED_TRACE("seq " + std::to_string(op.at("seq").get<int>()) + " op " + op.at("op").get<std::string>());
      const std::uint64_t returned = replay(store, op);
      EXPECT_EQ(returned, op.at("returned_tail_offset").get<std::uint64_t>());
      EXPECT_EQ(store.file_size(), op.at("returned_tail_offset").get<std::uint64_t>());
    }
    EXPECT_EQ(store.len(), expected.at("live_count").get<std::size_t>());
  }
  EXPECT_EQ(std::filesystem::file_size(path), expected.at("file_size").get<std::uint64_t>());
  EXPECT_EQ(sha256_hex(path), expected.at("file_sha256").get<std::string>());
  EXPECT_EQ(first_difference(slurp(path), golden_bytes(m.at("file").get<std::string>())), "identical");

  // The replayed file reopens with the recorded state, too.
  DataStore reopened = DataStore::open_existing(path);
  expect_state(reopened, expected);
}

// The pattern generator of test_support matches the manifests' recorded sha256.
TEST_P(GoldenFileTest, GeneratedValuesMatchRecordedSha256) {
  const json& m = manifest(GetParam());
  TempDir dir;
  int checked = 0;
  auto check = [&](const json& item) {
    if (!item.contains("value_sha256")) return;
    const auto path = dir.file("value.bin");
    write_file(path, pattern_bytes(item.at("len").get<std::size_t>()));
    EXPECT_EQ(sha256_hex(path), item.at("value_sha256").get<std::string>()) << item.at("len");
    ++checked;
  };
  for (const json& op : m.at("operations")) check(op);
  for (const json& entry : m.at("expected").at("live")) check(entry);
  if (GetParam() == "stream" || GetParam() == "alignment") {
    EXPECT_GT(checked, 0);
  } else {
    EXPECT_EQ(checked, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenFileTest,
                         testing::Values("basic", "batch", "stream", "alignment", "prehashed"),
                         [](const testing::TestParamInfo<std::string>& param_info) { return param_info.param; });

// ---------------------------------------------------------------------------------

TEST(GoldenTornTest, OpenCutsGarbageAndGivesBasicState) {
  const json& m = manifest("torn");
  const Bytes& torn = golden_bytes("torn.bin");
  const Bytes& basic = golden_bytes("basic.bin");
  ASSERT_EQ(torn.size(), m.at("pre_open_file_size").get<std::size_t>());
  ASSERT_EQ(torn.size(), 469u);
  ASSERT_EQ(basic.size(), m.at("base_file_size").get<std::size_t>());
  ASSERT_TRUE(std::equal(basic.begin(), basic.end(), torn.begin())) << "torn.bin does not start with basic.bin";

  TempDir dir;
  const auto path = dir.file("torn.bin");
  copy_golden("torn.bin", path);
  EXPECT_EQ(sha256_hex(path), m.at("pre_open_file_sha256").get<std::string>());

  StderrCapture capture;
  std::optional<DataStore> store;
  store.emplace(DataStore::open(path));
  const std::string log = capture.take();
  EXPECT_TRUE(mentions_number(log, 469)) << "recovery log does not mention the old size 469: " << log;
  EXPECT_TRUE(mentions_number(log, 462)) << "recovery log does not mention the new size 462: " << log;

  EXPECT_EQ(store->file_size(), m.at("open_truncates_file_to").get<std::uint64_t>());
  expect_state(*store, m.at("expected"));
  store.reset();

  EXPECT_EQ(std::filesystem::file_size(path), 462u);
  EXPECT_EQ(first_difference(slurp(path), basic), "identical");
  EXPECT_EQ(sha256_hex(path), m.at("after_open_file_sha256").get<std::string>());
  EXPECT_EQ(sha256_hex(path), manifest("basic").at("expected").at("file_sha256").get<std::string>());
}

TEST(GoldenTornTest, SecondOpenIsClean) {
  const json& m = manifest("torn");
  TempDir dir;
  const auto path = dir.file("torn.bin");
  copy_golden("torn.bin", path);
  {
    StderrCapture capture;
    DataStore first = DataStore::open(path);
  }
  StderrCapture capture;
  const std::uint64_t size = DataStore::open(path).file_size();
  const std::string log = capture.take();
  EXPECT_EQ(size, m.at("file_size_after_second_open").get<std::uint64_t>());
  EXPECT_EQ(std::filesystem::file_size(path), m.at("file_size_after_second_open").get<std::uint64_t>());
  EXPECT_FALSE(mentions_number(log, 469)) << "a clean file must open without a recovery: " << log;
}

// torn.json's "observed" block: what the original returned, entry by entry.
TEST(GoldenTornTest, MatchesObservedIterationAndProbes) {
  const json& observed = manifest("torn").at("expected").at("observed");
  TempDir dir;
  const auto path = dir.file("torn.bin");
  copy_golden("torn.bin", path);
  std::optional<DataStore> store;
  {
    StderrCapture capture;
    store.emplace(DataStore::open(path));
  }

  std::vector<EntryHandle> iterated;
  for (const EntryHandle& entry : store->iter_entries()) iterated.push_back(entry);
  ASSERT_EQ(iterated.size(), observed.at("iter_entries").size());
  for (std::size_t i = 0; i < iterated.size(); ++i) {
    const json& want = observed.at("iter_entries")[i];
    SCOPED_TRACE("iteration index " + std::to_string(i));
    EXPECT_EQ(iterated[i].key_hash(), parse_u64(want.at("key_hash")));
    EXPECT_EQ(to_hex(iterated[i].as_slice()), want.at("value_hex").get<std::string>());
    EXPECT_EQ(to_hex(iterated[i].raw_checksum()), want.at("checksum_hex").get<std::string>());
    EXPECT_EQ(iterated[i].is_valid_checksum(), want.at("checksum_valid").get<bool>());
    EXPECT_EQ(iterated[i].start_offset(), want.at("payload_offset").get<std::uint64_t>());
    EXPECT_EQ(iterated[i].end_offset(), want.at("payload_end").get<std::uint64_t>());
    EXPECT_EQ(iterated[i].metadata().prev_offset, want.at("prev_offset").get<std::uint64_t>());
  }

  std::size_t present = 0;
  for (const json& probe : observed.at("probe_reads")) {
    SCOPED_TRACE("probe " + probe.at("key").get<std::string>());
    const auto got = store->read(from_hex(probe.at("key_hex").get<std::string>()));
    ASSERT_EQ(got.has_value(), probe.at("present").get<bool>());
    if (got) {
      ++present;
      EXPECT_EQ(to_hex(got->as_slice()), probe.at("value_hex").get<std::string>());
    }
  }
  EXPECT_EQ(present, observed.at("probe_keys_present").get<std::size_t>());
}

// ---------------------------------------------------------------------------------

TEST(GoldenHashVectors, TextInputs) {
  const json& vectors = manifest("hash_vectors").at("text_inputs");
  ASSERT_FALSE(vectors.empty());
  for (const json& v : vectors) {
    const Bytes input = from_hex(v.at("input_hex").get<std::string>());
    SCOPED_TRACE("input hex '" + v.at("input_hex").get<std::string>() + "'");
    EXPECT_EQ(hex_hash(simd_r_drive::compute_hash(input)), hex_hash(parse_u64(v.at("xxh3_64"))));
    EXPECT_EQ(simd_r_drive::DataStore::hash_key(input), parse_u64(v.at("xxh3_64")));
    Bytes le(4);
    const std::uint32_t crc = simd_r_drive::compute_checksum(input);
    for (int i = 0; i < 4; ++i) le[i] = static_cast<std::byte>((crc >> (8 * i)) & 0xFF);
    EXPECT_EQ(to_hex(le), v.at("crc32_checksum_le_bytes_hex").get<std::string>());
    // The input text and its hex spell the same bytes.
    EXPECT_EQ(to_hex(bytes_of(v.at("input").get<std::string>())), v.at("input_hex").get<std::string>());
  }
}

TEST(GoldenHashVectors, PatternInputs) {
  const json& vectors = manifest("hash_vectors").at("pattern_inputs").at("vectors");
  ASSERT_GT(vectors.size(), 200u);
  for (const json& v : vectors) {
    const std::size_t len = v.at("len").get<std::size_t>();
    SCOPED_TRACE("pattern length " + std::to_string(len));
    const Bytes input = pattern_bytes(len);
    EXPECT_EQ(hex_hash(simd_r_drive::compute_hash(input)), hex_hash(parse_u64(v.at("xxh3_64"))));
    Bytes le(4);
    const std::uint32_t crc = simd_r_drive::compute_checksum(input);
    for (int i = 0; i < 4; ++i) le[i] = static_cast<std::byte>((crc >> (8 * i)) & 0xFF);
    EXPECT_EQ(to_hex(le), v.at("crc32_checksum_le_bytes_hex").get<std::string>());
  }
}

// Every manifest also carries the hashes and checksums of the keys and values it uses.
TEST(GoldenHashVectors, ManifestVectors) {
  int checked = 0;
  for (const char* name : {"basic", "batch", "stream", "alignment", "prehashed"}) {
    const json& m = manifest(name);
    SCOPED_TRACE(name);
    if (m.contains("hash_vectors")) {
      for (const json& v : m.at("hash_vectors")) {
        const Bytes key = from_hex(v.at("key_hex").get<std::string>());
        const std::uint64_t hash = simd_r_drive::compute_hash(key);
        EXPECT_EQ(hex_hash(hash), hex_hash(parse_u64(v.at("xxh3_64")))) << v.at("key_hex");
        Bytes le(8);
        for (int i = 0; i < 8; ++i) le[i] = static_cast<std::byte>((hash >> (8 * i)) & 0xFF);
        EXPECT_EQ(to_hex(le), v.at("xxh3_64_le_bytes_hex").get<std::string>());
        ++checked;
      }
    }
    if (m.contains("checksum_vectors")) {
      for (const json& v : m.at("checksum_vectors")) {
        // Long values are given as sha256 + length of the pattern generator.
        const Bytes value = v.contains("value_hex") ? from_hex(v.at("value_hex").get<std::string>())
                                                    : pattern_bytes(v.at("len").get<std::size_t>());
        if (v.contains("value_sha256")) {
          TempDir dir;
          write_file(dir.file("v.bin"), value);
          EXPECT_EQ(sha256_hex(dir.file("v.bin")), v.at("value_sha256").get<std::string>());
        }
        const std::uint32_t crc = simd_r_drive::compute_checksum(value);
        EXPECT_EQ(crc, parse_u64(v.at("crc32_u32"))) << v.dump();
        Bytes le(4);
        for (int i = 0; i < 4; ++i) le[i] = static_cast<std::byte>((crc >> (8 * i)) & 0xFF);
        EXPECT_EQ(to_hex(le), v.at("checksum_le_bytes_hex").get<std::string>());
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 20);
}

// The batch entry points agree with the single-key hash.
TEST(GoldenHashVectors, BatchHashMatchesSingle) {
  const json& vectors = manifest("hash_vectors").at("text_inputs");
  std::vector<Bytes> inputs;
  for (const json& v : vectors) inputs.push_back(from_hex(v.at("input_hex").get<std::string>()));
  std::vector<ByteView> views(inputs.begin(), inputs.end());
  const std::vector<std::uint64_t> hashes = simd_r_drive::compute_hash_batch(views);
  ASSERT_EQ(hashes.size(), vectors.size());
  for (std::size_t i = 0; i < hashes.size(); ++i) EXPECT_EQ(hashes[i], parse_u64(vectors[i].at("xxh3_64")));
}

TEST(GoldenNamespaceHasher, KnownBytes) {
  const simd_r_drive::NamespaceHasher ns1("namespace1");
  const simd_r_drive::NamespaceHasher ns2("namespace2");
  EXPECT_EQ(to_hex(ns1.namespace_key("key1")), "7c066c9df2e6eccbe229d8d50c074d38");
  EXPECT_EQ(to_hex(ns2.namespace_key("key1")), "8d563a5c3c35166ce229d8d50c074d38");
  EXPECT_EQ(ns1.prefix_hash(), 0xcbece6f29d6c067cull);
  EXPECT_EQ(ns2.prefix_hash(), 0x6c16353c5c3a568dull);
}

TEST(GoldenNamespaceHasher, ManifestNamespacedKeys) {
  const json& keys = manifest("prehashed").at("namespaced_keys");
  ASSERT_EQ(keys.size(), 3u);
  for (const json& k : keys) {
    SCOPED_TRACE(k.at("namespace").get<std::string>() + "/" + k.at("key").get<std::string>());
    const simd_r_drive::NamespaceHasher hasher(k.at("namespace").get<std::string>());
    EXPECT_EQ(hasher.prefix_hash(), parse_u64(k.at("namespace_prefix_xxh3_64")));
    const auto key = hasher.namespace_key(k.at("key").get<std::string>());
    EXPECT_EQ(to_hex(key), k.at("namespaced_key_hex").get<std::string>());
    EXPECT_EQ(simd_r_drive::compute_hash(key), parse_u64(k.at("stored_key_hash")));
    EXPECT_EQ(simd_r_drive::compute_hash(k.at("key").get<std::string>()), parse_u64(k.at("key_xxh3_64")));
  }
}

}  // namespace

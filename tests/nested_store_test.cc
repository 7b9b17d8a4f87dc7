// Nested stores: a store file written as a value of another store, opened in place
// with DataStore::open_nested, three levels deep.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include <simd_r_drive/simd_r_drive.h>

#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using simd_r_drive::RecordInfo;
using srd_test::TempDir;

// Writes a store with `values` (and one deleted key) at `path` and returns its bytes.
std::vector<std::byte> store_bytes(const std::filesystem::path& path, const std::map<std::string, std::string>& values) {
  {
    DataStore store = DataStore::open(path);
    store.write("deleted later", "gone");
    for (const auto& [key, value] : values) store.write(key, value);
    store.remove("deleted later");
  }
  return srd_test::read_file(path);
}

bool inside(const EntryHandle& inner, const EntryHandle& outer) {
  return inner.address_range().first >= outer.address_range().first &&
         inner.address_range().second <= outer.address_range().second;
}

class NestedStore : public ::testing::Test {
 protected:
  // inner.bin inside middle.bin (under "inner") inside outer.bin (under "middle").
  void SetUp() override {
    inner_values_ = {{"alpha", "first value"}, {"beta", std::string(5000, 'b')}, {"gamma", "g"}};
    const auto inner = store_bytes(dir_.file("inner.bin"), inner_values_);
    {
      DataStore middle = DataStore::open(dir_.file("middle.bin"));
      middle.write("before", "a value before the nested store");
      middle.write("inner", inner);
      middle.write("after", "a value after it");
    }
    const auto middle = srd_test::read_file(dir_.file("middle.bin"));
    DataStore outer = DataStore::open(dir_.file("outer.bin"));
    outer.write("middle", middle);
  }

  TempDir dir_;
  std::map<std::string, std::string> inner_values_;
};

TEST_F(NestedStore, ThreeLevelsDeepReadInPlace) {
  simd_r_drive::OpenOptions read_only;
  read_only.read_only = true;
  DataStore outer = DataStore::open(dir_.file("outer.bin"), read_only);
  const EntryHandle middle_value = *outer.read("middle");
  DataStore middle = DataStore::open_nested(middle_value);
  EXPECT_EQ(middle.len(), 3u);
  EXPECT_EQ(middle.read("after")->as_string_view(), "a value after it");
  const EntryHandle inner_value = *middle.read("inner");
  EXPECT_TRUE(inside(inner_value, middle_value));  // no copy: a view of the outer mapping
  DataStore inner = DataStore::open_nested(inner_value);

  EXPECT_TRUE(inner.is_read_only());
  EXPECT_EQ(inner.len(), inner_values_.size());
  EXPECT_EQ(inner.file_size(), inner_value.size());
  for (const auto& [key, value] : inner_values_) {
    const auto handle = inner.read(key);
    ASSERT_TRUE(handle) << key;
    EXPECT_EQ(handle->as_string_view(), value);
    EXPECT_TRUE(inside(*handle, inner_value));
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(handle->data()) % simd_r_drive::kPayloadAlignment, 0u);
    EXPECT_TRUE(handle->is_valid_checksum());
  }
  EXPECT_FALSE(inner.exists("deleted later"));
  EXPECT_FALSE(inner.read("nope"));

  const std::vector<std::string> keys = {"gamma", "missing", "alpha"};
  const auto batch = inner.batch_read(keys);
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch[0]->as_string_view(), "g");
  EXPECT_FALSE(batch[1]);
  EXPECT_EQ(batch[2]->as_string_view(), "first value");

  std::size_t iterated = 0;
  for (const EntryHandle& entry : inner.iter_entries()) {
    ++iterated;
    EXPECT_TRUE(inside(entry, inner_value));
  }
  EXPECT_EQ(iterated, inner_values_.size());
  std::atomic<std::size_t> in_parallel{0};
  inner.par_iter_entries([&](const EntryHandle&) { in_parallel.fetch_add(1); });
  EXPECT_EQ(in_parallel.load(), inner_values_.size());

  std::size_t records = 0, tombstones = 0;
  for (const RecordInfo& record : inner.iter_records()) {
    ++records;
    tombstones += record.kind == simd_r_drive::RecordKind::kTombstone;
  }
  EXPECT_EQ(records, inner_values_.size() + 2);
  EXPECT_EQ(tombstones, 1u);
  const auto stats = inner.stats();
  EXPECT_EQ(stats.live_keys, inner_values_.size());
  EXPECT_EQ(stats.stale_entries, 1u);

  const auto report = inner.verify();
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.entries, records);
  EXPECT_EQ(report.trailing_bytes, 0u);
  EXPECT_EQ(inner.refresh(), inner.file_size());
  inner.sync();  // nothing to sync; must not throw
}

TEST_F(NestedStore, HandlesKeepTheOuterMappingAlive) {
  std::optional<EntryHandle> beta;
  {
    DataStore outer = DataStore::open(dir_.file("outer.bin"));
    DataStore middle = DataStore::open_nested(*outer.read("middle"));
    DataStore inner = DataStore::open_nested(*middle.read("inner"));
    beta = inner.read("beta");
  }
  // Every store closed, the outer file gone: the handle still views its bytes.
  std::filesystem::remove(dir_.file("outer.bin"));
  ASSERT_TRUE(beta);
  EXPECT_EQ(beta->as_string_view(), inner_values_.at("beta"));
  EXPECT_TRUE(beta->is_valid_checksum());
}

TEST_F(NestedStore, IsReadOnly) {
  DataStore outer = DataStore::open(dir_.file("outer.bin"));
  DataStore middle = DataStore::open_nested(*outer.read("middle"));
  EXPECT_EQ(srd_test::code_of([&] { middle.write("k", "v"); }), srd_test::kInvalidArgument);
  EXPECT_EQ(srd_test::code_of([&] { middle.remove("before"); }), srd_test::kInvalidArgument);
  EXPECT_EQ(srd_test::code_of([&] { middle.compact(); }), srd_test::kInvalidArgument);
  EXPECT_NE(srd_test::message_of([&] { middle.write("k", "v"); }).find("nested"), std::string::npos);
  EXPECT_EQ(middle.read("before")->as_string_view(), "a value before the nested store");
  // Copying out of a nested store into a writable one works.
  DataStore target = DataStore::open(dir_.file("target.bin"));
  middle.copy("before", target);
  EXPECT_EQ(target.read("before")->as_string_view(), "a value before the nested store");
}

TEST_F(NestedStore, ADamagedOrForeignValueIsRefused) {
  DataStore store = DataStore::open(dir_.file("values.bin"));
  const auto inner = srd_test::read_file(dir_.file("inner.bin"));
  store.write("text", "just some text, not a store");
  std::vector<std::byte> cut(inner.begin(), inner.end() - 7);
  store.write("cut", cut);
  std::vector<std::byte> damaged = inner;
  damaged[damaged.size() - 21] ^= std::byte{0x01};  // the last payload's last byte
  store.write("damaged", damaged);
  std::vector<std::byte> with_garbage = inner;
  with_garbage.insert(with_garbage.end(), {std::byte{1}, std::byte{2}, std::byte{3}});
  store.write("garbage", with_garbage);
  for (const std::string key : {"text", "cut", "damaged", "garbage"}) {
    const auto value = store.read(key);
    ASSERT_TRUE(value) << key;
    EXPECT_EQ(srd_test::code_of([&] { DataStore::open_nested(*value); }), "corruption") << key;
    EXPECT_NE(srd_test::message_of([&] { DataStore::open_nested(*value); }).find("not"), std::string::npos) << key;
  }
}

TEST_F(NestedStore, OpensFromOwnedBytesToo) {
  const auto bytes = srd_test::read_file(dir_.file("inner.bin"));
  const EntryHandle owned = EntryHandle::from_owned_bytes(bytes, 0);
  DataStore inner = DataStore::open_nested(owned);
  EXPECT_EQ(inner.read("alpha")->as_string_view(), "first value");
  EXPECT_TRUE(inside(*inner.read("alpha"), owned));
}

}  // namespace

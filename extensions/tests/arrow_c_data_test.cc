// The Arrow C Data Interface export (arrow_c_data.h): the struct layouts the
// specification fixes, what each format fills in, that the data buffer is the value in
// the mapping, that release frees and nulls and may run after the store is gone, and
// every refusal.
#include <gtest/gtest.h>

#include <simd_r_drive/extensions/arrow_c_data.h>
#include <simd_r_drive/extensions/extensions.h>
#include <simd_r_drive/simd_r_drive.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

namespace {

namespace ext = simd_r_drive::extensions;
using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;

// The specification's layout on a 64-bit platform: every field 8 bytes, in order.
static_assert(sizeof(void*) == 8, "the layouts below are those of a 64-bit platform");
static_assert(offsetof(ArrowSchema, format) == 0);
static_assert(offsetof(ArrowSchema, name) == 8);
static_assert(offsetof(ArrowSchema, metadata) == 16);
static_assert(offsetof(ArrowSchema, flags) == 24);
static_assert(offsetof(ArrowSchema, n_children) == 32);
static_assert(offsetof(ArrowSchema, children) == 40);
static_assert(offsetof(ArrowSchema, dictionary) == 48);
static_assert(offsetof(ArrowSchema, release) == 56);
static_assert(offsetof(ArrowSchema, private_data) == 64);
static_assert(sizeof(ArrowSchema) == 72);
static_assert(offsetof(ArrowArray, length) == 0);
static_assert(offsetof(ArrowArray, null_count) == 8);
static_assert(offsetof(ArrowArray, offset) == 16);
static_assert(offsetof(ArrowArray, n_buffers) == 24);
static_assert(offsetof(ArrowArray, n_children) == 32);
static_assert(offsetof(ArrowArray, buffers) == 40);
static_assert(offsetof(ArrowArray, children) == 48);
static_assert(offsetof(ArrowArray, dictionary) == 56);
static_assert(offsetof(ArrowArray, release) == 64);
static_assert(offsetof(ArrowArray, private_data) == 72);
static_assert(sizeof(ArrowArray) == 80);
static_assert(ARROW_FLAG_DICTIONARY_ORDERED == 1 && ARROW_FLAG_NULLABLE == 2 && ARROW_FLAG_MAP_KEYS_SORTED == 4);

class ArrowCData : public ::testing::Test {
 protected:
  // A store with `value` under "v"; returns its handle.
  EntryHandle stored(const std::vector<std::byte>& value) {
    store_.emplace(DataStore::open(dir_.file("store.bin")));
    store_->write("v", value);
    return *store_->read("v");
  }
  static std::vector<std::byte> numbers(std::size_t count) {
    std::vector<std::byte> out(count * sizeof(double));
    for (std::size_t i = 0; i < count; ++i) {
      const double value = static_cast<double>(i) * 0.5;
      std::memcpy(out.data() + i * sizeof(double), &value, sizeof value);
    }
    return out;
  }

  srd_test::TempDir dir_;
  std::optional<DataStore> store_;
};

TEST_F(ArrowCData, BinaryArrayIsOneElementWithTheValueInPlace) {
  const EntryHandle handle = stored(srd_test::bytes_of("hello, arrow"));
  ArrowArray array;
  ArrowSchema schema;
  ext::export_arrow_array(handle, "", &array, &schema);

  EXPECT_STREQ(schema.format, "z");
  EXPECT_STREQ(schema.name, "");
  EXPECT_EQ(schema.metadata, nullptr);
  EXPECT_EQ(schema.flags, 0);
  EXPECT_EQ(schema.n_children, 0);
  EXPECT_EQ(schema.children, nullptr);
  EXPECT_EQ(schema.dictionary, nullptr);
  ASSERT_NE(schema.release, nullptr);

  EXPECT_EQ(array.length, 1);
  EXPECT_EQ(array.null_count, 0);
  EXPECT_EQ(array.offset, 0);
  ASSERT_EQ(array.n_buffers, 3);
  EXPECT_EQ(array.n_children, 0);
  EXPECT_EQ(array.children, nullptr);
  EXPECT_EQ(array.dictionary, nullptr);
  ASSERT_NE(array.release, nullptr);
  EXPECT_EQ(array.buffers[0], nullptr) << "no nulls: no validity bitmap";
  const auto* offsets = static_cast<const std::int32_t*>(array.buffers[1]);
  EXPECT_EQ(offsets[0], 0);
  EXPECT_EQ(offsets[1], 12);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(offsets) % 4, 0u);
  EXPECT_EQ(array.buffers[2], static_cast<const void*>(handle.data())) << "the data buffer is the value in the mapping";

  array.release(&array);
  EXPECT_EQ(array.release, nullptr);
  EXPECT_EQ(array.private_data, nullptr);
  schema.release(&schema);
  EXPECT_EQ(schema.release, nullptr);
  EXPECT_EQ(schema.private_data, nullptr);
}

TEST_F(ArrowCData, LargeBinaryHasInt64Offsets) {
  const EntryHandle handle = stored(srd_test::bytes_of("large"));
  ArrowArray array;
  ArrowSchema schema;
  ext::export_arrow_array(handle, "Z", &array, &schema);
  EXPECT_STREQ(schema.format, "Z");
  const auto* offsets = static_cast<const std::int64_t*>(array.buffers[1]);
  EXPECT_EQ(offsets[0], 0);
  EXPECT_EQ(offsets[1], 5);
  EXPECT_EQ(array.buffers[2], static_cast<const void*>(handle.data()));
  array.release(&array);
  schema.release(&schema);
}

TEST_F(ArrowCData, PrimitiveArrayViewsTheValueAsElements) {
  const EntryHandle handle = stored(numbers(100));
  ArrowArray array;
  ArrowSchema schema;
  ext::export_arrow_array(handle, "g", &array, &schema);
  EXPECT_STREQ(schema.format, "g");
  EXPECT_EQ(array.length, 100);
  ASSERT_EQ(array.n_buffers, 2);
  EXPECT_EQ(array.buffers[0], nullptr);
  EXPECT_EQ(array.buffers[1], static_cast<const void*>(handle.data()));
  const auto* values = static_cast<const double*>(array.buffers[1]);
  EXPECT_EQ(values[99], 49.5);
  array.release(&array);
  schema.release(&schema);

  // The same 800 bytes as other widths.
  const struct {
    const char* format;
    std::int64_t length;
  } widths[] = {{"c", 800}, {"C", 800}, {"s", 400}, {"S", 400}, {"e", 400}, {"i", 200}, {"I", 200},
                {"f", 200}, {"l", 100}, {"L", 100}, {"w:16", 50}, {"w:800", 1}};
  for (const auto& [format, length] : widths) {
    SCOPED_TRACE(format);
    ext::export_arrow_array(handle, format, &array, &schema);
    EXPECT_STREQ(schema.format, format);
    EXPECT_EQ(array.length, length);
    EXPECT_EQ(array.buffers[1], static_cast<const void*>(handle.data()));
    array.release(&array);
    schema.release(&schema);
  }
}

TEST_F(ArrowCData, TheArrayPinsTheMappingAfterTheStoreIsGone) {
  const std::vector<std::byte> value = numbers(1000);
  ArrowArray array;
  ArrowSchema schema;
  {
    const EntryHandle handle = stored(value);
    ext::export_arrow_array(handle, "g", &array, &schema);
  }
  store_.reset();  // the store and every handle of ours are gone; the array's copy is not
  std::filesystem::remove(dir_.file("store.bin"));
  EXPECT_EQ(std::memcmp(array.buffers[1], value.data(), value.size()), 0);
  // Release from another thread, as a consumer may.
  std::thread([&] { array.release(&array); }).join();
  EXPECT_EQ(array.release, nullptr);
  schema.release(&schema);
}

TEST_F(ArrowCData, MovedStructsReleaseFromTheirNewPlace) {
  const EntryHandle handle = stored(srd_test::bytes_of("moved"));
  ArrowArray array;
  ArrowSchema schema;
  ext::export_arrow_array(handle, "z", &array, &schema);
  // A consumer may move the structs bitwise and mark the source released.
  ArrowArray moved_array;
  ArrowSchema moved_schema;
  std::memcpy(&moved_array, &array, sizeof array);
  std::memcpy(&moved_schema, &schema, sizeof schema);
  array.release = nullptr;
  schema.release = nullptr;
  EXPECT_EQ(static_cast<const std::int32_t*>(moved_array.buffers[1])[1], 5);
  EXPECT_EQ(moved_array.buffers[2], static_cast<const void*>(handle.data()));
  moved_array.release(&moved_array);
  moved_schema.release(&moved_schema);
  EXPECT_EQ(moved_array.release, nullptr);
  EXPECT_EQ(moved_schema.release, nullptr);
}

TEST_F(ArrowCData, RefusalsLeaveTheStructsUntouched) {
  const EntryHandle handle = stored(srd_test::bytes_of("seven b"));  // 7 bytes
  ArrowArray array;
  ArrowSchema schema;
  std::memset(&array, 0xAB, sizeof array);
  std::memset(&schema, 0xAB, sizeof schema);
  const ArrowArray array_before = array;
  const ArrowSchema schema_before = schema;
  for (const char* format : {"i", "l", "g", "w:2", "b", "u", "+s", "w:", "w:x", "w:0", "tsu:", "q"}) {
    SCOPED_TRACE(format);
    EXPECT_EQ(srd_test::code_of([&] { ext::export_arrow_array(handle, format, &array, &schema); }),
              srd_test::kInvalidArgument);
    EXPECT_EQ(std::memcmp(&array, &array_before, sizeof array), 0);
    EXPECT_EQ(std::memcmp(&schema, &schema_before, sizeof schema), 0);
  }
  EXPECT_NE(srd_test::message_of([&] { ext::export_arrow_array(handle, "i", &array, &schema); })
                .find("not a whole number of 4-byte elements"),
            std::string::npos);
  EXPECT_EQ(srd_test::code_of([&] { ext::export_arrow_array(handle, "z", nullptr, &schema); }),
            srd_test::kInvalidArgument);
}

TEST(ArrowCDataFormat, EmptyFormatPicksBinaryByTheValuesSize) {
  EXPECT_EQ(ext::resolve_arrow_format("", 10), "z");
  EXPECT_EQ(ext::resolve_arrow_format("", 2147483647), "z");
  EXPECT_EQ(ext::resolve_arrow_format("", std::size_t{1} << 31), "Z");
  EXPECT_EQ(ext::resolve_arrow_format("f", 10), "f");
}

TEST_F(ArrowCData, ATombstoneIsExportedAsBytesOnly) {
  // The one handle whose payload is not on a 64-byte boundary: read_last_entry after a
  // delete. One byte exports as binary or as int8/uint8; wider numbers are refused.
  store_.emplace(DataStore::open(dir_.file("store.bin")));
  store_->write("a", "12345");
  store_->remove("a");
  const EntryHandle tombstone = *store_->read_last_entry();
  ASSERT_TRUE(tombstone.is_tombstone());
  ASSERT_NE(reinterpret_cast<std::uintptr_t>(tombstone.data()) % 2, 0u) << "the tombstone follows a 25-byte entry";
  ArrowArray array;
  ArrowSchema schema;
  for (const char* format : {"z", "C", "c", "w:1"}) {
    SCOPED_TRACE(format);
    ext::export_arrow_array(tombstone, format, &array, &schema);
    EXPECT_EQ(array.buffers[array.n_buffers - 1], static_cast<const void*>(tombstone.data()));
    array.release(&array);
    schema.release(&schema);
  }
  EXPECT_EQ(srd_test::code_of([&] { ext::export_arrow_array(tombstone, "s", &array, &schema); }),
            srd_test::kInvalidArgument);
}

}  // namespace

// Optional values (option.h): every case of the original's storage_option_tests, and
// the FF FE escape at each of its edges.
#include <gtest/gtest.h>

#include <simd_r_drive/extensions/extensions.h>
#include <simd_r_drive/simd_r_drive.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "test_support.h"

namespace {

namespace ext = simd_r_drive::extensions;
using simd_r_drive::ByteView;
using simd_r_drive::DataStore;
using simd_r_drive::NamespaceHasher;
using srd_test::from_hex;
using srd_test::to_hex;

// The original's tests store a struct {id: u32, name: String}; here a plain struct,
// encoded by its bytes (codec.h).
struct TestData {
  std::uint32_t id;
  char name[12];
  friend bool operator==(const TestData& a, const TestData& b) {
    return a.id == b.id && std::string(a.name) == std::string(b.name);
  }
};

TestData data(std::uint32_t id, const char* name) {
  TestData value{id, {}};
  std::snprintf(value.name, sizeof value.name, "%s", name);
  return value;
}

using Read = std::optional<std::optional<TestData>>;
const Read kAbsent = std::nullopt;
const Read kNone = Read(std::optional<TestData>());
Read some(const TestData& value) { return Read(value); }

class OptionTest : public ::testing::Test {
 protected:
  // The raw entry under the option namespace, built as the original builds it (its
  // TEST_OPTION_PREFIX with NamespaceHasher), not through option_key.
  std::optional<simd_r_drive::EntryHandle> raw(std::string_view key) const {
    return store_.read(NamespaceHasher(ByteView(from_hex("f76f7074696f6efd"))).namespace_key(key));
  }

  srd_test::TempDir dir_;
  DataStore store_ = DataStore::open(dir_.file("options.bin"));
};

// ---- the original's cases (storage_option_tests.rs) ----

TEST_F(OptionTest, WriteAndReadSome) {
  ext::write_option(store_, "test_key", std::optional<TestData>(data(42, "Example")));
  EXPECT_EQ(ext::read_option<TestData>(store_, "test_key"), some(data(42, "Example")));
}

TEST_F(OptionTest, WriteAndReadNone) {
  ext::write_option(store_, "test_none", std::optional<TestData>());
  EXPECT_EQ(ext::read_option<TestData>(store_, "test_none"), kNone);
}

TEST_F(OptionTest, WriteNoneDoesNotDeleteTheEntry) {
  ext::write_option(store_, "test_key", std::optional<TestData>(data(42, "Initial")));
  ASSERT_EQ(ext::read_option<TestData>(store_, "test_key"), some(data(42, "Initial")));
  ext::write_option(store_, "test_key", std::optional<TestData>());
  EXPECT_EQ(ext::read_option<TestData>(store_, "test_key"), kNone);
  // The entry still exists, and holds the original's marker.
  const auto entry = raw("test_key");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(to_hex(entry->as_slice()), "fffe");
  EXPECT_EQ(store_.len(), 1u);
}

TEST_F(OptionTest, OverwriteWithNone) {
  ext::write_option(store_, "overwrite_key", std::optional<TestData>(data(99, "To be gone")));
  ASSERT_EQ(ext::read_option<TestData>(store_, "overwrite_key"), some(data(99, "To be gone")));
  ext::write_option(store_, "overwrite_key", std::optional<TestData>());
  EXPECT_EQ(ext::read_option<TestData>(store_, "overwrite_key"), kNone);
}

// The original answers NotFound; here absent is an empty outer optional, distinct from
// a stored None (docs/extensions.md).
TEST_F(OptionTest, ReadingAKeyNeverWrittenIsAbsentNotNone) {
  EXPECT_EQ(ext::read_option<TestData>(store_, "non_existent_key"), kAbsent);
  EXPECT_FALSE(ext::read_option(store_, "non_existent_key").has_value());
  ext::write_option(store_, "present_none", std::nullopt);
  EXPECT_NE(ext::read_option<TestData>(store_, "present_none"), kAbsent);
}

TEST_F(OptionTest, MultipleWritesAndReads) {
  const std::vector<std::pair<std::string, std::optional<TestData>>> entries = {
      {"key1", data(1, "One")}, {"key2", data(2, "Two")}, {"key3", std::nullopt}};
  for (const auto& [key, value] : entries) ext::write_option(store_, key, value);
  for (const auto& [key, value] : entries) {
    SCOPED_TRACE(key);
    EXPECT_EQ(ext::read_option<TestData>(store_, key), Read(value));
  }
}

TEST_F(OptionTest, OptionPrefixIsAppliedForSome) {
  ext::write_option(store_, "test_key_option", std::optional<TestData>(data(456, "Option")));
  ASSERT_TRUE(raw("test_key_option").has_value());
  EXPECT_FALSE(store_.read("test_key_option").has_value()) << "the plain key must not exist";
  EXPECT_EQ(ext::read_option<TestData>(store_, "test_key_option"), some(data(456, "Option")));
}

TEST_F(OptionTest, OptionPrefixIsAppliedForNone) {
  ext::write_option(store_, "test_key_none", std::nullopt);
  ASSERT_TRUE(raw("test_key_none").has_value());
  EXPECT_FALSE(store_.read("test_key_none").has_value()) << "the plain key must not exist";
  EXPECT_EQ(ext::read_option<TestData>(store_, "test_key_none"), kNone);
}

TEST_F(OptionTest, OptionPrefixingDoesNotAffectRegularStorage) {
  const TestData value = data(789, "Plain");
  store_.write("test_key_option_non_prefixed", ext::encode(value));
  EXPECT_FALSE(raw("test_key_option_non_prefixed").has_value());
  EXPECT_EQ(ext::read_option<TestData>(store_, "test_key_option_non_prefixed"), kAbsent);
  EXPECT_EQ(ext::decode<TestData>(store_.read("test_key_option_non_prefixed")->as_slice()), value);
}

// ---- the stored form, and the escape at every edge ----

struct EscapeCase {
  const char* name;
  std::optional<std::string> value_hex;  // nullopt: None
  const char* stored_hex;
};

const EscapeCase kEscapeCases[] = {
    {"None", std::nullopt, "fffe"},
    {"exactly FF FE", "fffe", "fffefffe"},
    {"FF FE and more", "fffe41", "fffefffe41"},
    {"FF FE twice", "fffefffe", "fffefffefffe"},
    {"the lone 00 byte", "00", "fffe00"},
    {"two 00 bytes", "0000", "0000"},
    {"FF alone", "ff", "ff"},
    {"FE alone", "fe", "fe"},
    {"FE FF", "feff", "feff"},
    {"FF FF FE", "fffffe", "fffffe"},
    {"text", "6869", "6869"},
};

TEST_F(OptionTest, EveryEscapeEdgeIsStoredAsDocumentedAndReadsBack) {
  for (const EscapeCase& c : kEscapeCases) {
    SCOPED_TRACE(c.name);
    std::optional<std::vector<std::byte>> value;
    if (c.value_hex) value = from_hex(*c.value_hex);
    const std::optional<ByteView> view = value ? std::optional<ByteView>(ByteView(*value)) : std::nullopt;
    EXPECT_EQ(to_hex(ext::encode_option(view)), c.stored_hex);

    const std::string key = std::string("edge/") + c.name;
    ext::write_option(store_, key, view);
    const auto entry = raw(key);
    ASSERT_TRUE(entry.has_value());
    EXPECT_EQ(to_hex(entry->as_slice()), c.stored_hex) << "the bytes in the file";

    const auto read = ext::read_option(store_, key);
    ASSERT_TRUE(read.has_value());
    ASSERT_EQ(read->has_value(), value.has_value());
    if (value) {
      EXPECT_EQ(to_hex((*read)->bytes()), *c.value_hex);
      EXPECT_EQ((*read)->handle().size() - (*read)->offset(), value->size());
    }
  }
}

TEST_F(OptionTest, DecodingFollowsTheRuleAlsoForFormsEncodingNeverProduces) {
  // Exactly FF FE is None; longer and beginning with FF FE loses the first two bytes;
  // anything else is itself.
  EXPECT_FALSE(ext::decode_option(from_hex("fffe")).has_value());
  EXPECT_EQ(to_hex(*ext::decode_option(from_hex("fffe41"))), "41");  // not canonical: Some(41) encodes as 41
  EXPECT_EQ(to_hex(*ext::decode_option(from_hex("fffeff"))), "ff");
  EXPECT_EQ(to_hex(*ext::decode_option(from_hex("ff"))), "ff");
  const auto empty = ext::decode_option(ByteView());
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
  // The original's None, written by the original (the raw marker), reads as None here.
  store_.write(ext::option_key("from-the-original"), from_hex("fffe"));
  EXPECT_EQ(ext::read_option<TestData>(store_, "from-the-original"), kNone);
}

TEST_F(OptionTest, SomeOfZeroBytesIsRefusedAndNothingIsWritten) {
  const std::uint64_t tail = store_.file_size();
  EXPECT_EQ(srd_test::code_of([&] { ext::write_option(store_, "k", std::optional<ByteView>(ByteView())); }),
            srd_test::kInvalidArgument);
  EXPECT_EQ(srd_test::code_of([&] { ext::write_option(store_, "k", std::optional<std::string>("")); }),
            srd_test::kInvalidArgument);
  EXPECT_EQ(store_.file_size(), tail);
  EXPECT_EQ(ext::read_option(store_, "k"), std::nullopt);
  // The encoding itself is fine: inside a TTL value, for instance, it round-trips.
  EXPECT_EQ(ext::encode_option(ByteView()).size(), 0u);
}

TEST_F(OptionTest, EscapeInPlaceChecksItsStart) {
  std::vector<std::byte> out = from_hex("aafffe");
  ext::escape_option_value(out, 1);
  EXPECT_EQ(to_hex(out), "aafffefffe");
  EXPECT_EQ(srd_test::code_of([&] { ext::escape_option_value(out, 99); }), srd_test::kInvalidArgument);
}

TEST_F(OptionTest, TypedValuesRoundTripAndMalformedOnesAreRefused) {
  ext::write_option(store_, "n", std::optional<std::uint16_t>(0xFEFF));  // stored FF FE FF FE
  EXPECT_EQ(ext::read_option<std::uint16_t>(store_, "n"), std::optional<std::optional<std::uint16_t>>(0xFEFF));
  ext::write_option(store_, "s", std::optional<std::string>("hello"));
  EXPECT_EQ(ext::read_option<std::string>(store_, "s"), std::optional<std::optional<std::string>>("hello"));
  // Bytes of the wrong size for the type asked for.
  ext::write_option(store_, "three", std::optional<ByteView>(ByteView("abc")));
  EXPECT_EQ(srd_test::code_of([&] { ext::read_option<std::uint32_t>(store_, "three"); }), srd_test::kInvalidArgument);
}

TEST_F(OptionTest, ReadsInPlaceAndWorkOnAReadOnlyStore) {
  ext::write_option(store_, "k", std::optional<ByteView>(ByteView("fffe-escaped? no")));
  ext::write_option(store_, "e", std::optional<ByteView>(ByteView(from_hex("fffe2a"))));
  const auto value = ext::read_option(store_, "e");
  ASSERT_TRUE(value && *value);
  // The value is a view into the entry, past the two escape bytes.
  EXPECT_EQ((*value)->offset(), 2u);
  EXPECT_EQ((*value)->data(), (*value)->handle().data() + 2);

  simd_r_drive::OpenOptions options;
  options.read_only = true;
  const DataStore reader = DataStore::open(store_.path(), options);
  EXPECT_EQ(ext::read_option<std::string>(reader, "k"),
            std::optional<std::optional<std::string>>("fffe-escaped? no"));
  DataStore read_only = DataStore::open(store_.path(), options);
  EXPECT_EQ(srd_test::code_of([&] { ext::write_option(read_only, "x", std::nullopt); }),
            srd_test::kInvalidArgument);
}

}  // namespace

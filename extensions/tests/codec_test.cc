// The typed helpers' encoding (codec.h): bytes as they are, numbers little endian,
// plain structs by their bytes, user codecs for the rest; malformed input is refused.
#include <gtest/gtest.h>

#include <simd_r_drive/extensions/extensions.h>
#include <simd_r_drive/simd_r_drive.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "test_support.h"

namespace ext = simd_r_drive::extensions;

// A type that is not trivially copyable: its codec is the user's.
struct Person {
  std::string name;
  std::uint32_t age = 0;
  friend bool operator==(const Person&, const Person&) = default;
};

template <>
struct simd_r_drive::extensions::Codec<Person> {
  // age (4 bytes LE), then the name's bytes.
  static void encode(const Person& person, std::vector<std::byte>& out) {
    Codec<std::uint32_t>::encode(person.age, out);
    Codec<std::string>::encode(person.name, out);
  }
  static Person decode(simd_r_drive::ByteView bytes) {
    if (bytes.size() < 4) throw simd_r_drive::Error(simd_r_drive::ErrorCode::kInvalidArgument, "short person");
    return {std::string(bytes.as_string_view().substr(4)),
            Codec<std::uint32_t>::decode(simd_r_drive::ByteView(bytes.data(), 4))};
  }
};

namespace {

using simd_r_drive::ByteView;
using srd_test::code_of;
using srd_test::to_hex;

struct Point {
  std::int32_t x;
  std::int32_t y;
  friend bool operator==(const Point&, const Point&) = default;
};

enum class Colour : std::uint16_t { kRed = 1, kBlue = 0x0102 };

template <class T>
std::string encoded_hex(const T& value) {
  return to_hex(ext::encode(value));
}

TEST(Codec, BytesAreStoredAsTheyAre) {
  EXPECT_EQ(encoded_hex(std::string("ab\0c", 4)), "61620063");
  EXPECT_EQ(encoded_hex(std::vector<std::uint8_t>{0xff, 0x00}), "ff00");
  EXPECT_EQ(encoded_hex(std::vector<std::byte>{}), "");
  EXPECT_EQ(ext::decode<std::string>(ByteView("xyz")), "xyz");
  EXPECT_EQ(ext::decode<std::vector<char>>(ByteView("hi")), (std::vector<char>{'h', 'i'}));
}

TEST(Codec, NumbersAreLittleEndianOfTheirExactSize) {
  EXPECT_EQ(encoded_hex(std::uint32_t{0x01020304}), "04030201");
  EXPECT_EQ(encoded_hex(std::int16_t{-2}), "feff");
  EXPECT_EQ(encoded_hex(std::uint64_t{1}), "0100000000000000");
  EXPECT_EQ(encoded_hex(1.0), "000000000000f03f");
  EXPECT_EQ(encoded_hex(-0.5f), "000000bf");
  EXPECT_EQ(encoded_hex(Colour::kBlue), "0201");
  EXPECT_EQ(ext::decode<std::uint32_t>(srd_test::from_hex("04030201")), 0x01020304u);
  EXPECT_EQ(ext::decode<double>(srd_test::from_hex("000000000000f03f")), 1.0);
  EXPECT_EQ(ext::decode<Colour>(srd_test::from_hex("0100")), Colour::kRed);
  // Exactly the size: a longer or shorter value is not a number of this type.
  EXPECT_EQ(code_of([] { ext::decode<std::uint32_t>(srd_test::from_hex("040302")); }), srd_test::kInvalidArgument);
  EXPECT_EQ(code_of([] { ext::decode<std::uint16_t>(srd_test::from_hex("040302")); }), srd_test::kInvalidArgument);
  EXPECT_NE(srd_test::message_of([] { ext::decode<std::uint64_t>(ByteView("abc")); }).find("3 bytes"),
            std::string::npos);
}

TEST(Codec, BoolIsOneByteZeroOrOne) {
  EXPECT_EQ(encoded_hex(true), "01");
  EXPECT_EQ(encoded_hex(false), "00");
  EXPECT_TRUE(ext::decode<bool>(srd_test::from_hex("01")));
  EXPECT_FALSE(ext::decode<bool>(srd_test::from_hex("00")));
  EXPECT_EQ(code_of([] { ext::decode<bool>(srd_test::from_hex("02")); }), srd_test::kInvalidArgument);
  EXPECT_EQ(code_of([] { ext::decode<bool>(srd_test::from_hex("0100")); }), srd_test::kInvalidArgument);
}

TEST(Codec, VectorsOfNumbersAreTheirElementsInOrder) {
  EXPECT_EQ(encoded_hex(std::vector<std::uint16_t>{1, 0x0203}), "01000302");
  EXPECT_EQ(encoded_hex(std::vector<float>{1.0f, 2.0f}), "0000803f00000040");
  EXPECT_EQ(ext::decode<std::vector<std::uint16_t>>(srd_test::from_hex("01000302")),
            (std::vector<std::uint16_t>{1, 0x0203}));
  EXPECT_TRUE(ext::decode<std::vector<std::uint32_t>>(ByteView()).empty());
  EXPECT_EQ(code_of([] { ext::decode<std::vector<std::uint32_t>>(srd_test::from_hex("0100000002")); }),
            srd_test::kInvalidArgument);
}

TEST(Codec, PlainStructsAreTheirBytes) {
  EXPECT_EQ(encoded_hex(Point{1, -1}), "01000000ffffffff");
  EXPECT_EQ(ext::decode<Point>(srd_test::from_hex("0200000003000000")), (Point{2, 3}));
  EXPECT_EQ(encoded_hex(std::array<std::uint8_t, 3>{1, 2, 3}), "010203");
  EXPECT_EQ(code_of([] { ext::decode<Point>(srd_test::from_hex("02000000")); }), srd_test::kInvalidArgument);
}

TEST(Codec, UserCodecsEncodeTheirOwnTypes) {
  const Person ada{"Ada", 36};
  EXPECT_EQ(encoded_hex(ada), "24000000" "416461");
  EXPECT_EQ(ext::decode<Person>(ext::encode(ada)), ada);
}

TEST(Codec, OptionalsUseTheOptionEncodingAndNest) {
  EXPECT_EQ(encoded_hex(std::optional<std::uint16_t>()), "fffe");
  EXPECT_EQ(encoded_hex(std::optional<std::uint16_t>(0x0102)), "0201");
  // 0xFEFF is FF FE in little endian: it would read as None, so it is escaped.
  EXPECT_EQ(encoded_hex(std::optional<std::uint16_t>(0xFEFF)), "fffefffe");
  EXPECT_EQ(ext::decode<std::optional<std::uint16_t>>(srd_test::from_hex("fffefffe")), std::optional<std::uint16_t>(0xFEFF));
  EXPECT_EQ(ext::decode<std::optional<std::uint16_t>>(srd_test::from_hex("fffe")), std::nullopt);

  using Nested = std::optional<std::optional<std::uint8_t>>;
  EXPECT_EQ(encoded_hex(Nested()), "fffe");
  EXPECT_EQ(encoded_hex(Nested(std::optional<std::uint8_t>())), "fffefffe");
  EXPECT_EQ(encoded_hex(Nested(std::uint8_t{7})), "07");
  for (const Nested& value : {Nested(), Nested(std::optional<std::uint8_t>()), Nested(std::uint8_t{0}),
                              Nested(std::uint8_t{7})}) {
    EXPECT_EQ(ext::decode<Nested>(ext::encode(value)), value);
  }
}

}  // namespace

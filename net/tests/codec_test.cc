// The codec alone: MessagePack reading and writing, request decoding and its errors,
// responses as pieces, and the worked example of docs/protocol.md byte by byte.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "protocol/codec.h"

namespace {

using namespace simd_r_drive::net;
using protocol::Bytes;
using protocol::DecodeLimits;
using protocol::Method;
using protocol::Request;

std::vector<std::byte> hex(std::string_view text) {
  std::vector<std::byte> out;
  std::string digits;
  for (char c : text) {
    if (c != ' ' && c != '\n') digits.push_back(c);
  }
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(std::byte(static_cast<std::uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16))));
  }
  return out;
}

Bytes view(const std::vector<std::byte>& bytes) { return Bytes(bytes.data(), bytes.size()); }

std::string text(Bytes bytes) { return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()); }

template <class Params>
std::vector<std::byte> encode(std::uint32_t id, std::string_view method, Params&& params) {
  std::vector<std::byte> bytes;
  mp::Writer w(bytes);
  protocol::begin_request(w, id, method);
  params(w);
  return bytes;
}

TEST(MessagePack, EveryWidthRoundTrips) {
  std::vector<std::byte> bytes;
  mp::Writer w(bytes);
  const std::uint64_t numbers[] = {0, 127, 128, 255, 256, 65535, 65536, 0xffffffffull, 0x100000000ull, ~0ull};
  for (auto n : numbers) w.uint(n);
  const std::size_t sizes[] = {0, 31, 32, 255, 256, 65535, 65536};
  for (auto size : sizes) w.str(std::string(size, 's'));
  for (auto size : sizes) w.bin(view(std::vector<std::byte>(size, std::byte{7})));
  const std::uint32_t counts[] = {0, 15, 16, 65535, 65536};
  for (auto count : counts) w.array(count);
  for (auto count : counts) w.map(count);
  w.nil();
  w.boolean(true);

  mp::Reader r(view(bytes));
  for (auto n : numbers) {
    std::uint64_t got = 1;
    ASSERT_TRUE(r.read_uint(got));
    EXPECT_EQ(got, n);
  }
  for (auto size : sizes) {
    std::string_view got;
    ASSERT_TRUE(r.read_str(got));
    EXPECT_EQ(got.size(), size);
  }
  for (auto size : sizes) {
    Bytes got;
    ASSERT_TRUE(r.read_bin(got));
    EXPECT_EQ(got.size(), size);
  }
  for (auto count : counts) {
    std::uint32_t got = 1;
    ASSERT_TRUE(r.read_array(got));
    EXPECT_EQ(got, count);
  }
  for (auto count : counts) {
    std::uint32_t got = 1;
    ASSERT_TRUE(r.read_map(got));
    EXPECT_EQ(got, count);
  }
  EXPECT_TRUE(r.read_nil());
  bool flag = false;
  EXPECT_TRUE(r.read_bool(flag));
  EXPECT_TRUE(flag);
  EXPECT_TRUE(r.at_end());
}

TEST(MessagePack, SignedEncodingsOfNonNegativeNumbersReadAsUnsigned) {
  // int8 5, int64 2^40: some encoders write every integer signed.
  const auto bytes = hex("d0 05 d3 00 00 01 00 00 00 00 00 ff d0 ff");
  mp::Reader r(view(bytes));
  std::uint64_t n = 0;
  ASSERT_TRUE(r.read_uint(n));
  EXPECT_EQ(n, 5u);
  ASSERT_TRUE(r.read_uint(n));
  EXPECT_EQ(n, 1ull << 40);
  EXPECT_FALSE(r.read_uint(n));  // negative fixint -1
  EXPECT_EQ(r.peek(), mp::Type::kNegativeInt);
  ASSERT_TRUE(r.skip());
  EXPECT_FALSE(r.read_uint(n));  // int8 -1
  ASSERT_TRUE(r.skip());
  EXPECT_TRUE(r.at_end());
}

TEST(MessagePack, DeclaredLengthsBeyondTheBytesFailWithoutReading) {
  // bin32 of 4 GiB with 2 bytes present; str32 likewise; array32 of 2^32-1 nils.
  for (const char* input : {"c6 ff ff ff ff 61 62", "db ff ff ff ff 61", "dd ff ff ff ff c0 c0", "df 80 00 00 00 c0",
                            "c7 ff 01 00", "c9 ff ff ff ff 01"}) {
    const auto bytes = hex(input);
    mp::Reader r(view(bytes));
    Bytes out;
    EXPECT_FALSE(r.read_bin(out)) << input;
    EXPECT_FALSE(r.skip()) << input;
    EXPECT_EQ(r.remaining(), bytes.size()) << input << ": a failed read consumes nothing";
  }
}

TEST(MessagePack, EveryPrefixOfAValueIsRefused) {
  const auto whole = encode(9, "batch_write", [](mp::Writer& w) {
    w.map(1);
    w.str("items");
    w.array(2);
    for (int i = 0; i < 2; ++i) {
      w.array(2);
      w.bin(view(std::vector<std::byte>(300, std::byte{1})));
      w.bin(view(std::vector<std::byte>(70000, std::byte{2})));
    }
  });
  for (std::size_t cut = 0; cut < whole.size(); cut += (cut < 400 ? 1 : 997)) {
    mp::Reader r(Bytes(whole.data(), cut));
    EXPECT_FALSE(r.skip()) << "cut at " << cut;
    std::vector<Bytes> values;
    EXPECT_FALSE(protocol::split_values(Bytes(whole.data(), cut), values) && cut != 0) << "cut at " << cut;
  }
  mp::Reader r(view(whole));
  EXPECT_TRUE(r.skip());
  EXPECT_TRUE(r.at_end());
}

TEST(MessagePack, TheByteC1IsNeverAValue) {
  const auto bytes = hex("c1");
  mp::Reader r(view(bytes));
  EXPECT_EQ(r.peek(), mp::Type::kInvalid);
  EXPECT_FALSE(r.skip());
}

// docs/protocol.md, "An exchange, byte by byte".
TEST(Codec, TheWorkedExampleOfTheProtocolPage) {
  const auto expected_request = hex("94 00 07 a5 77 72 69 74 65 82 a3 6b 65 79 c4 01 6b a5 76 61 6c 75 65 c4 01 76");
  const auto request = encode(7, "write", [](mp::Writer& w) {
    w.map(2);
    w.str("key");
    w.bin(mp::as_bytes("k"));
    w.str("value");
    w.bin(mp::as_bytes("v"));
  });
  EXPECT_EQ(request, expected_request);

  Request decoded;
  ASSERT_FALSE(protocol::decode_request(view(expected_request), decoded).has_value());
  EXPECT_EQ(decoded.id, 7u);
  EXPECT_EQ(decoded.method, Method::kWrite);
  EXPECT_EQ(text(*decoded.key), "k");
  EXPECT_EQ(text(*decoded.value), "v");

  protocol::OutMessage out;
  protocol::ResponseWriter writer(out);
  writer.begin_result(7).uint(21);
  EXPECT_EQ(out.bytes, hex("94 01 07 c0 15"));
}

TEST(Codec, EveryMethodNameMapsBackToItself) {
  for (std::size_t i = 0; i < protocol::kMethodCount; ++i) {
    const auto method = static_cast<Method>(i);
    EXPECT_EQ(protocol::method_from_name(protocol::method_name(method)), method);
  }
  EXPECT_EQ(protocol::method_from_name("drop_table"), Method::kUnknown);
}

TEST(Codec, AStrKeyIsTakenAsItsBytesAndUnknownParamsAreIgnored) {
  const auto bytes = encode(3, "read", [](mp::Writer& w) {
    w.map(3);
    w.str("future_option");
    w.map(1);
    w.str("nested");
    w.array(2);
    w.nil();
    w.nil();
    w.str("key");
    w.str("naïve");
    w.str("value");  // not a param of read: ignored even with a wrong type
    w.uint(5);
  });
  Request request;
  ASSERT_FALSE(protocol::decode_request(view(bytes), request).has_value());
  EXPECT_EQ(text(*request.key), "naïve");
  EXPECT_FALSE(request.value.has_value());
}

struct BadRequest {
  const char* name;
  std::vector<std::byte> bytes;
  std::string_view code;
  bool has_id;
  const char* mentions;
};

TEST(Codec, BadRequestsGetTheDocumentedCodes) {
  DecodeLimits limits;
  limits.max_batch_items = 3;
  std::vector<BadRequest> cases;
  cases.push_back({"not an array", hex("a3 61 62 63"), protocol::code::kMalformed, false, "array"});
  cases.push_back({"too short", hex("91 00"), protocol::code::kMalformed, false, "array"});
  cases.push_back({"id too large", hex("94 00 cf 00 00 00 01 00 00 00 00 a4 70 69 6e 67 c0"), protocol::code::kMalformed,
                   false, "2^32"});
  cases.push_back({"a response sent as a request", hex("94 01 05 c0 c0"), protocol::code::kMalformed, true, "[0"});
  cases.push_back({"method not a str", hex("94 00 05 c4 04 70 69 6e 67 c0"), protocol::code::kMalformed, true, "method"});
  cases.push_back({"params not a map", hex("94 00 05 a4 70 69 6e 67 93 01 02 03"), protocol::code::kInvalidParams, true,
                   "map"});
  cases.push_back({"key of the wrong type", encode(5, "read", [](mp::Writer& w) {
                     w.map(1);
                     w.str("key");
                     w.uint(12);
                   }),
                   protocol::code::kInvalidParams, true, "'key'"});
  cases.push_back({"missing value", encode(5, "write", [](mp::Writer& w) {
                     w.map(1);
                     w.str("key");
                     w.bin(mp::as_bytes("k"));
                   }),
                   protocol::code::kInvalidParams, true, "'value'"});
  cases.push_back({"neither key nor key_hash", encode(5, "read_stream_begin", [](mp::Writer& w) { w.map(0); }),
                   protocol::code::kInvalidParams, true, "key_hash"});
  cases.push_back({"a batch over the limit", encode(5, "batch_read", [](mp::Writer& w) {
                     w.map(1);
                     w.str("keys");
                     w.array(4);
                     for (int i = 0; i < 4; ++i) w.bin(mp::as_bytes("k"));
                   }),
                   protocol::code::kTooLarge, true, "limit"});
  cases.push_back({"a batch item of the wrong shape", encode(5, "batch_write", [](mp::Writer& w) {
                     w.map(1);
                     w.str("items");
                     w.array(1);
                     w.array(3);
                     w.nil();
                     w.nil();
                     w.nil();
                   }),
                   protocol::code::kInvalidParams, true, "'items' item 0"});
  cases.push_back({"a hash that is not a number", encode(5, "batch_write_with_key_hashes", [](mp::Writer& w) {
                     w.map(1);
                     w.str("items");
                     w.array(1);
                     w.array(2);
                     w.str("x");
                     w.bin(mp::as_bytes("v"));
                   }),
                   protocol::code::kInvalidParams, true, "key hash"});
  cases.push_back({"a batch count larger than the bytes", hex("94 00 05 aa 62 61 74 63 68 5f 72 65 61 64 81 a4 6b 65 79 73 dd "
                                                              "00 00 00 03 c4 01"),
                   protocol::code::kInvalidParams, true, "truncated"});
  cases.push_back({"a fifth element", hex("95 00 05 a4 70 69 6e 67 c0 c0"), protocol::code::kMalformed, true, "[0"});
  for (const auto& c : cases) {
    Request request;
    const auto error = protocol::decode_request(view(c.bytes), request, limits);
    ASSERT_TRUE(error.has_value()) << c.name;
    EXPECT_EQ(error->code, c.code) << c.name << ": " << error->message;
    EXPECT_EQ(error->id.has_value(), c.has_id) << c.name;
    if (c.has_id) {
      EXPECT_EQ(*error->id, 5u) << c.name;
    }
    EXPECT_NE(error->message.find(c.mentions), std::string::npos) << c.name << ": " << error->message;
  }
}

TEST(Codec, AnUnknownMethodDecodesAndIsLeftToTheDispatcher) {
  const auto bytes = encode(11, "drop_table", [](mp::Writer& w) {
    w.map(1);
    w.str("key");
    w.uint(1);
  });
  Request request;
  ASSERT_FALSE(protocol::decode_request(view(bytes), request).has_value());
  EXPECT_EQ(request.method, Method::kUnknown);
  EXPECT_EQ(request.method_name, "drop_table");
  EXPECT_EQ(request.id, 11u);
}

TEST(Codec, BatchesDecodeInOrder) {
  const auto bytes = encode(2, "batch_write_with_key_hashes", [](mp::Writer& w) {
    w.map(2);
    w.str("items");
    w.array(3);
    for (std::uint64_t i = 0; i < 3; ++i) {
      w.array(2);
      w.uint(100 + i);
      w.bin(mp::as_bytes(std::string(1 + i, 'a')));
    }
    w.str("allow_null_bytes");
    w.boolean(true);
  });
  Request request;
  ASSERT_FALSE(protocol::decode_request(view(bytes), request).has_value());
  ASSERT_EQ(request.hashed_items.size(), 3u);
  for (std::uint64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(request.hashed_items[i].key_hash, 100 + i);
    EXPECT_EQ(request.hashed_items[i].value.size(), 1 + i);
  }
  EXPECT_TRUE(*request.allow_null_bytes);
}

TEST(Codec, SplitValuesFindsEveryRequestOfAMessage) {
  std::vector<std::byte> message;
  for (std::uint32_t id = 1; id <= 50; ++id) {
    const auto one = encode(id, "ping", [](mp::Writer& w) { w.nil(); });
    message.insert(message.end(), one.begin(), one.end());
  }
  std::vector<Bytes> values;
  ASSERT_TRUE(protocol::split_values(view(message), values));
  ASSERT_EQ(values.size(), 50u);
  Request request;
  for (std::uint32_t i = 0; i < 50; ++i) {
    ASSERT_FALSE(protocol::decode_request(values[i], request).has_value());
    EXPECT_EQ(request.id, i + 1);
    EXPECT_EQ(request.method, Method::kPing);
  }
  message.push_back(std::byte{0xc1});
  values.clear();
  EXPECT_FALSE(protocol::split_values(view(message), values));
}

TEST(Codec, LargeValuesArePiecesAndSmallOnesAreCopied) {
  const std::vector<std::byte> small(protocol::kZeroCopyThreshold - 1, std::byte{1});
  const std::vector<std::byte> large(protocol::kZeroCopyThreshold, std::byte{2});
  protocol::OutMessage out;
  protocol::ResponseWriter writer(out);
  writer.begin_result(1);
  writer.value(view(small), nullptr);
  writer.begin_result(2);
  writer.value(view(large), std::make_shared<int>(0));
  ASSERT_EQ(out.pieces.size(), 1u);
  EXPECT_EQ(out.pieces[0].data.data(), large.data()) << "the large value is referenced, not copied";
  EXPECT_EQ(out.responses, 2u);

  std::vector<std::byte> flat;
  out.for_each_buffer([&](Bytes bytes) { flat.insert(flat.end(), bytes.begin(), bytes.end()); });
  EXPECT_EQ(flat.size(), out.size());
  std::vector<Bytes> values;
  ASSERT_TRUE(protocol::split_values(view(flat), values));
  ASSERT_EQ(values.size(), 2u);
  protocol::Response response;
  ASSERT_TRUE(protocol::decode_response(values[1], response));
  EXPECT_EQ(response.id, 2u);
  mp::Reader r(response.result);
  Bytes value;
  ASSERT_TRUE(r.read_bin(value));
  EXPECT_TRUE(std::equal(value.begin(), value.end(), large.begin(), large.end()));
}

TEST(Codec, AResponseCanBeTakenBackWhole) {
  protocol::OutMessage out;
  protocol::ResponseWriter writer(out);
  writer.begin_result(1).uint(5);
  const auto mark = writer.mark();
  const std::vector<std::byte> large(protocol::kZeroCopyThreshold * 2, std::byte{3});
  writer.begin_result(2).array(2);
  writer.value(view(large), nullptr);
  writer.rollback(mark);
  writer.error(2, "io", "disk on fire");
  std::vector<Bytes> values;
  ASSERT_TRUE(protocol::split_values(view(out.bytes), values));
  ASSERT_EQ(values.size(), 2u);
  EXPECT_TRUE(out.pieces.empty());
  protocol::Response response;
  ASSERT_TRUE(protocol::decode_response(values[1], response));
  EXPECT_FALSE(response.ok);
  EXPECT_EQ(response.error_code, "io");
}

TEST(Codec, ResponsesAndNoticesDecode) {
  protocol::OutMessage out;
  protocol::ResponseWriter writer(out);
  writer.error(4, "not_found", "gone");
  writer.unsupported_version(5, "protocol 2 is not supported");
  writer.begin_notice("shutting_down").map(0);
  std::vector<Bytes> values;
  ASSERT_TRUE(protocol::split_values(view(out.bytes), values));
  ASSERT_EQ(values.size(), 3u);
  protocol::Response response;
  ASSERT_TRUE(protocol::decode_response(values[0], response));
  EXPECT_EQ(response.id, 4u);
  EXPECT_FALSE(response.ok);
  EXPECT_EQ(response.error_code, "not_found");
  EXPECT_EQ(response.error_message, "gone");
  ASSERT_TRUE(protocol::decode_response(values[1], response));
  EXPECT_EQ(response.error_code, "unsupported_version");
  ASSERT_TRUE(protocol::decode_response(values[2], response));
  EXPECT_TRUE(response.is_notice);
  EXPECT_EQ(response.event, "shutting_down");
}

}  // namespace

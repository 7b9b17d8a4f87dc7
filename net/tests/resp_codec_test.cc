// The RESP codec (net/protocol/resp.h): the request parser on every edge case of
// kvrocks' protocol tests (tests/gocase/unit/protocol) and Redis's networking.c, the
// reply writer, and the cluster's key slots.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "protocol/resp.h"

namespace {

using simd_r_drive::net::resp::key_slot;
using simd_r_drive::net::resp::parse_command;
using simd_r_drive::net::resp::ParseLimits;
using simd_r_drive::net::resp::ParseResult;
using simd_r_drive::net::resp::ParseStatus;
using simd_r_drive::net::resp::ReplyWriter;

struct Parsed {
  ParseResult result;
  std::vector<std::string> args;
};

Parsed parse(std::string_view input, ParseLimits limits = {}) {
  std::vector<std::string_view> views;
  std::string scratch;
  Parsed parsed;
  parsed.result = parse_command(input, limits, views, scratch);
  for (auto v : views) parsed.args.emplace_back(v);
  return parsed;
}

// Every command of `input`, in order, as a client's pipeline would be taken.
std::vector<std::vector<std::string>> parse_all(std::string_view input, std::string* error = nullptr) {
  std::vector<std::vector<std::string>> out;
  while (!input.empty()) {
    Parsed p = parse(input);
    if (p.result.status == ParseStatus::kError) {
      if (error != nullptr) *error = p.result.error;
      break;
    }
    if (p.result.status == ParseStatus::kNeedMore) break;
    if (!p.args.empty()) out.push_back(p.args);
    input.remove_prefix(p.result.consumed);
  }
  return out;
}

using Args = std::vector<std::string>;

TEST(RespParser, AMultibulkCommand) {
  const Parsed p = parse("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\nrest");
  ASSERT_EQ(p.result.status, ParseStatus::kCommand);
  EXPECT_EQ(p.args, (Args{"SET", "k", "value"}));
  EXPECT_EQ(p.result.consumed, 31u);
}

TEST(RespParser, EveryPrefixOfACommandAsksForMore) {
  const std::string whole = "*2\r\n$3\r\nGET\r\n$4\r\nk\r\nx\r\n";
  for (std::size_t n = 0; n < whole.size(); ++n) {
    EXPECT_EQ(parse(whole.substr(0, n)).result.status, ParseStatus::kNeedMore) << n;
  }
  const Parsed p = parse(whole);
  ASSERT_EQ(p.result.status, ParseStatus::kCommand);
  EXPECT_EQ(p.args, (Args{"GET", std::string("k\r\nx")}));
}

TEST(RespParser, BinarySafeArgumentsWithNulAndCrLf) {
  const std::string value("a\0b\r\nc", 6);
  const Parsed p = parse("*2\r\n$4\r\nECHO\r\n$6\r\n" + value + "\r\n");
  ASSERT_EQ(p.result.status, ParseStatus::kCommand);
  EXPECT_EQ(p.args[1], value);
}

TEST(RespParser, AnEmptyArrayIsSkippedWithoutAReply) {
  for (const char* input : {"*0\r\n", "*-1\r\n"}) {
    const Parsed p = parse(input);
    EXPECT_EQ(p.result.status, ParseStatus::kCommand);
    EXPECT_TRUE(p.args.empty());
    EXPECT_EQ(p.result.consumed, std::string_view(input).size());
  }
  // kvrocks: "*-1" then a command.
  EXPECT_EQ(parse_all("*-1\r\n*3\r\n$3\r\nset\r\n$3\r\nkey\r\n$3\r\nval\r\n"), (std::vector<Args>{{"set", "key", "val"}}));
  // An empty line, then a command.
  EXPECT_EQ(parse_all("\r\n*1\r\n$4\r\nPING\r\n"), (std::vector<Args>{{"PING"}}));
}

TEST(RespParser, InvalidMultibulkLengths) {
  for (const char* input : {"*3000000000\r\n", "*blabla\r\n", "*2000000\r\n", "*+1\r\n", "*01\r\n", "*\r\n",
                            "*99999999999999999999999\r\n"}) {
    const Parsed p = parse(input);
    EXPECT_EQ(p.result.status, ParseStatus::kError) << input;
    EXPECT_EQ(p.result.error, "Protocol error: invalid multibulk length") << input;
  }
}

TEST(RespParser, InvalidBulkLengths) {
  for (const char* tail : {"$-10\r\n", "$2000000000\r\n", "$blabla\r\n", "$2147483648\r\n", "$\r\n", "$1x\r\n"}) {
    const std::string input = std::string("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n") + tail;
    const Parsed p = parse(input);
    EXPECT_EQ(p.result.status, ParseStatus::kError) << tail;
    EXPECT_EQ(p.result.error, "Protocol error: invalid bulk length") << tail;
  }
}

// The parser reads the usual header ("1 to 18 digits\r\n") on a fast path and every
// other on the general one: both must read the same.
TEST(RespParser, HeadersOnTheFastAndTheGeneralPathReadAlike) {
  ParseLimits limits;
  limits.max_bulk_bytes = std::numeric_limits<std::size_t>::max();
  // 18 digits (fast), 19 digits within int64 (general): waited for, not refused.
  EXPECT_EQ(parse("*2\r\n$3\r\nGET\r\n$123456789012345678\r\nab", limits).result.status, ParseStatus::kNeedMore);
  EXPECT_EQ(parse("*2\r\n$3\r\nGET\r\n$1234567890123456789\r\nab", limits).result.status, ParseStatus::kNeedMore);
  EXPECT_EQ(parse("*2\r\n$3\r\nGET\r\n$9999999999999999999\r\nab", limits).result.error,
            "Protocol error: invalid bulk length");
  // The byte after '\r' is skipped unread, as Redis does, on either path.
  Parsed p = parse("*1\rX$4\rYPING\r\n");
  ASSERT_EQ(p.result.status, ParseStatus::kCommand);
  EXPECT_EQ(p.args, (Args{"PING"}));
  p = parse("*1\r\n$0\r\n\r\n");
  ASSERT_EQ(p.result.status, ParseStatus::kCommand);
  EXPECT_EQ(p.args, (Args{""}));
  // Cut right after the digits, or after the '\r': more is needed.
  EXPECT_EQ(parse("*12").result.status, ParseStatus::kNeedMore);
  EXPECT_EQ(parse("*12\r").result.status, ParseStatus::kNeedMore);
  EXPECT_EQ(parse("*1\r\n$12\r").result.status, ParseStatus::kNeedMore);
  // Digits then something else than '\r'.
  EXPECT_EQ(parse("*1\r\n$1 \r\na\r\n").result.error, "Protocol error: invalid bulk length");
  EXPECT_EQ(parse("*1 \r\n").result.error, "Protocol error: invalid multibulk length");
}

// A declared length within the limit is waited for, never allocated: the parser only
// views what has arrived. Over the limit (2^31 here against the default 64 MiB), it is
// refused by its header alone.
TEST(RespParser, AHugeDeclaredBulkIsRefusedWithoutAllocating) {
  const Parsed huge = parse("*2\r\n$3\r\nGET\r\n$2147483648\r\n");
  EXPECT_EQ(huge.result.status, ParseStatus::kError);
  ParseLimits limits;
  limits.max_bulk_bytes = 1u << 31;
  const Parsed within = parse("*2\r\n$3\r\nGET\r\n$2147483648\r\nabc", limits);
  EXPECT_EQ(within.result.status, ParseStatus::kNeedMore);
  // A declared multibulk count does not reserve its slots either.
  const Parsed many = parse("*1048576\r\n$1\r\na\r\n");
  EXPECT_EQ(many.result.status, ParseStatus::kNeedMore);
}

TEST(RespParser, AMultibulkElementThatIsNotABulk) {
  Parsed p = parse("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n");
  EXPECT_EQ(p.result.status, ParseStatus::kError);
  EXPECT_EQ(p.result.error, "Protocol error: expected '$', got 'f'");
  p = parse("*1\r\nfoo\r\n");
  EXPECT_EQ(p.result.error, "Protocol error: expected '$', got 'f'");
}

TEST(RespParser, InlineCommands) {
  EXPECT_EQ(parse_all("PING\r\n"), (std::vector<Args>{{"PING"}}));
  EXPECT_EQ(parse_all("  set   foo   123  \r\n"), (std::vector<Args>{{"set", "foo", "123"}}));
  EXPECT_EQ(parse_all("set k \"a b\\r\\n\\x00\\x41\"\r\n"),
            (std::vector<Args>{{"set", "k", std::string("a b\r\n\0A", 7)}}));
  EXPECT_EQ(parse_all("set k 'it\\'s'\n"), (std::vector<Args>{{"set", "k", "it's"}}));
  EXPECT_EQ(parse("PING").result.status, ParseStatus::kNeedMore);  // no line end yet
  // A NUL byte is part of an argument (found by resp_fuzzer: it once ended the
  // argument without consuming it, forever).
  EXPECT_EQ(parse_all(std::string("\0\0 a\0b\n", 7)), (std::vector<Args>{{std::string("\0\0", 2), std::string("a\0b", 3)}}));
}

// kvrocks: "Allow only LF protocol separator" and "Mix LF/CRLF protocol separator".
TEST(RespParser, LfWithoutCrAndMixedSeparators) {
  EXPECT_EQ(parse_all("set foo 123\n"), (std::vector<Args>{{"set", "foo", "123"}}));
  EXPECT_EQ(parse_all("*-1\r\nset foo 123\nget foo\r\n*3\r\n$3\r\nset\r\n$3\r\nkey\r\n$3\r\nval\r\n"),
            (std::vector<Args>{{"set", "foo", "123"}, {"get", "foo"}, {"set", "key", "val"}}));
}

// kvrocks: "invalid LF in multi bulk protocol": a multibulk header must end with CRLF.
TEST(RespParser, AnLfOnlyMultibulkHeaderIsInvalid) {
  std::string error;
  parse_all("*3\n$3\r\nset\r\n$3\r\nkey\r\n$3\r\nval\r\n", &error);
  EXPECT_EQ(error, "Protocol error: invalid multibulk length");
}

TEST(RespParser, UnbalancedQuotesAndTooBigInlineRequests) {
  EXPECT_EQ(parse("set k \"abc\r\n").result.error, "Protocol error: unbalanced quotes in request");
  EXPECT_EQ(parse("set k 'abc\r\n").result.error, "Protocol error: unbalanced quotes in request");
  EXPECT_EQ(parse("set k \"abc\"def\r\n").result.error, "Protocol error: unbalanced quotes in request");
  const std::string long_line(70 * 1024, 'a');
  EXPECT_EQ(parse(long_line).result.error, "Protocol error: too big inline request");
  EXPECT_EQ(parse(long_line + "\n").result.error, "Protocol error: too big inline request");
}

TEST(RespParser, TooBigLengthLines) {
  const std::string digits(70 * 1024, '1');
  EXPECT_EQ(parse("*" + digits).result.error, "Protocol error: too big mbulk count string");
  EXPECT_EQ(parse("*1\r\n$" + digits).result.error, "Protocol error: too big bulk count string");
}

TEST(RespReplies, EveryType) {
  std::string out;
  ReplyWriter w(out);
  w.simple("OK");
  w.error("ERR bad\r\nthing");
  w.integer(-42);
  w.bulk(std::string_view("a\0b", 3));
  w.null_bulk();
  w.array(2);
  w.null_array();
  EXPECT_EQ(out, std::string("+OK\r\n-ERR bad  thing\r\n:-42\r\n$3\r\na\0b\r\n$-1\r\n*2\r\n*-1\r\n", 51));
}

TEST(RespSlots, Crc16AndHashTagsAsTheClusterSpecification) {
  EXPECT_EQ(simd_r_drive::net::resp::crc16("123456789"), 0x31C3);
  EXPECT_EQ(key_slot("123456789"), 0x31C3 % 16384);
  EXPECT_EQ(key_slot("foo"), 12182);  // redis-cli CLUSTER KEYSLOT foo
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"));  // an empty tag: the whole key
  EXPECT_NE(key_slot("foo{}{bar}"), key_slot("bar"));
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
  EXPECT_EQ(key_slot(""), 0);
}

TEST(RespInts, Redis64BitIntegers) {
  std::int64_t v = 0;
  EXPECT_TRUE(simd_r_drive::net::resp::parse_int64("9223372036854775807", v));
  EXPECT_EQ(v, INT64_MAX);
  EXPECT_TRUE(simd_r_drive::net::resp::parse_int64("-9223372036854775808", v));
  for (const char* bad : {"", "-", "+1", " 1", "1 ", "01", "-0", "9223372036854775808", "1e3", "0x10"}) {
    EXPECT_FALSE(simd_r_drive::net::resp::parse_int64(bad, v)) << bad;
  }
}

}  // namespace

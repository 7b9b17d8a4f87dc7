// libFuzzer target: the RESP parser (net/protocol/resp.h) on arbitrary bytes, as a
// hostile Redis client would send them, taken the way a session takes them: command
// after command from the front of its buffer.
//
// It must never crash or read out of bounds (ASan), and never allocate for a declared
// length. Invariants checked with SRD_CHECK:
//  - a command consumes at least one byte and no more than the input;
//  - every argument of a multibulk command views the input, within what it consumed;
//  - an argument is never longer than max_bulk_bytes, nor a multibulk command longer
//    than max_arguments (an inline one is bounded by its line);
//  - a prefix of the input never yields a command the whole input does not (the
//    parser is deterministic on the bytes it has: more bytes never change a decision
//    already made), checked on the first command.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "protocol/resp.h"

namespace resp = simd_r_drive::net::resp;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  resp::ParseLimits limits;
  limits.max_bulk_bytes = 1024;  // small, so that the fuzzer reaches the limit
  limits.max_arguments = 64;
  limits.max_inline_bytes = 512;
  std::vector<std::string_view> args;
  std::string scratch;

  std::string_view rest = input;
  bool first = true;
  while (!rest.empty()) {
    const resp::ParseResult result = resp::parse_command(rest, limits, args, scratch);
    if (first && result.status == resp::ParseStatus::kCommand) {
      // Every strict prefix of the first command's bytes asks for more (or, for an
      // inline command, may already be an error: a line over the limit).
      const std::string_view whole = rest.substr(0, result.consumed);
      std::vector<std::string_view> prefix_args;
      std::string prefix_scratch;
      for (std::size_t n = 0; n < whole.size(); n += 1 + n / 8) {
        const auto prefix = resp::parse_command(whole.substr(0, n), limits, prefix_args, prefix_scratch);
        SRD_CHECK(prefix.status != resp::ParseStatus::kCommand || prefix.consumed <= n);
      }
      // The prefix parses reused nothing of ours: parse again for the checks below.
      resp::parse_command(rest, limits, args, scratch);
    }
    first = false;
    if (result.status != resp::ParseStatus::kCommand) break;
    SRD_CHECK(result.consumed >= 1 && result.consumed <= rest.size());
    const bool multibulk = rest[0] == '*';
    // An inline command's arguments are bounded by its line (max_inline_bytes).
    SRD_CHECK(multibulk ? args.size() <= limits.max_arguments : args.size() <= limits.max_inline_bytes);
    for (const auto arg : args) {
      SRD_CHECK(arg.size() <= limits.max_bulk_bytes || !multibulk);
      if (multibulk) {
        SRD_CHECK(arg.empty() || (arg.data() >= rest.data() && arg.data() + arg.size() <= rest.data() + result.consumed));
      } else {
        SRD_CHECK(arg.empty() || (arg.data() >= scratch.data() && arg.data() + arg.size() <= scratch.data() + scratch.size()));
      }
    }
    rest.remove_prefix(result.consumed);
  }

  std::string out;
  resp::ReplyWriter writer(out);
  writer.bulk(input.substr(0, 64));
  writer.error(input.substr(0, 64));
  (void)resp::key_slot(input);
  return 0;
}

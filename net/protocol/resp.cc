#include "protocol/resp.h"

#include <array>
#include <charconv>
#include <cstring>
#include <limits>

namespace simd_r_drive::net::resp {

bool parse_int64(std::string_view text, std::int64_t& value) noexcept {
  if (text.empty() || text.size() > 20) return false;
  std::size_t digits_at = text[0] == '-' ? 1 : 0;
  if (digits_at == text.size()) return false;
  if (text[digits_at] == '0' && text.size() > digits_at + 1) return false;  // leading zero
  if (text == "-0") return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end;
}

namespace {

// The line at `at` ending with "\r\n", as Redis reads multibulk headers: up to the
// first '\r', which must be followed by '\n'. npos: not all there yet.
// A line longer than `max` without '\r' is an error (too_big).
struct Line {
  std::string_view text;
  std::size_t next = 0;  // the byte after "\r\n"
  bool complete = false;
  bool too_big = false;
};

Line header_line(std::string_view input, std::size_t at, std::size_t max) {
  Line line;
  const std::size_t cr = input.find('\r', at);
  if (cr == std::string_view::npos) {
    line.too_big = input.size() - at > max;
    return line;
  }
  if (cr - at > max) {
    line.too_big = true;
    return line;
  }
  if (cr + 1 >= input.size()) return line;  // the '\n' has not arrived
  line.text = input.substr(at, cr - at);
  line.next = cr + 2;  // Redis skips the byte after '\r' without looking at it
  line.complete = true;
  return line;
}

// The common header, "<1 to 18 digits, no leading zero>\r" and one more byte, read
// in one pass; false for anything else (a sign, "0", a long or cut-off number, a
// line still arriving), which the general path (header_line, parse_int64) then
// reads or refuses as before. Where it answers, it gives what the general path
// would: the first '\r' is the one after the digits, and the text is a valid int64.
bool quick_number(std::string_view input, std::size_t at, std::int64_t& value, std::size_t& next) {
  const char* p = input.data() + at;
  const char* const end = input.data() + input.size();
  if (p >= end || *p < '1' || *p > '9') return false;
  std::int64_t v = *p++ - '0';
  const char* const limit = end - p > 17 ? p + 17 : end;
  while (p < limit && static_cast<unsigned char>(*p - '0') < 10) v = v * 10 + (*p++ - '0');
  if (p + 1 >= end || *p != '\r') return false;
  value = v;
  next = static_cast<std::size_t>(p - input.data()) + 2;  // the byte after '\r' is skipped, as Redis does
  return true;
}

ParseResult error(std::string message) {
  ParseResult result;
  result.status = ParseStatus::kError;
  result.error = std::move(message);
  return result;
}

ParseResult parse_inline(std::string_view input, const ParseLimits& limits, std::vector<std::string_view>& args,
                         std::string& scratch) {
  const std::size_t lf = input.find('\n');
  if (lf == std::string_view::npos) {
    if (input.size() > limits.max_inline_bytes) return error("Protocol error: too big inline request");
    return {};
  }
  if (lf > limits.max_inline_bytes) return error("Protocol error: too big inline request");
  std::string_view line = input.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string> parts;
  if (!split_inline(line, parts)) return error("Protocol error: unbalanced quotes in request");
  // The arguments live in `scratch`, one after another; views are taken once it no
  // longer grows.
  scratch.clear();
  std::size_t total = 0;
  for (const auto& part : parts) total += part.size();
  scratch.reserve(total);
  for (const auto& part : parts) scratch += part;
  std::size_t offset = 0;
  for (const auto& part : parts) {
    args.emplace_back(scratch.data() + offset, part.size());
    offset += part.size();
  }
  ParseResult result;
  result.status = ParseStatus::kCommand;
  result.consumed = lf + 1;
  return result;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'; }

}  // namespace

bool split_inline(std::string_view line, std::vector<std::string>& out) {
  out.clear();
  std::size_t i = 0;
  const std::size_t n = line.size();
  while (true) {
    while (i < n && is_space(line[i])) ++i;
    if (i >= n) return true;
    std::string current;
    bool in_double = false;
    bool in_single = false;
    bool done = false;
    while (!done) {
      if (in_double) {
        if (i >= n) return false;  // unterminated quotes
        if (line[i] == '\\' && i + 3 < n && line[i + 1] == 'x' && hex_digit(line[i + 2]) >= 0 &&
            hex_digit(line[i + 3]) >= 0) {
          current.push_back(static_cast<char>(hex_digit(line[i + 2]) * 16 + hex_digit(line[i + 3])));
          i += 3;
        } else if (line[i] == '\\' && i + 1 < n) {
          ++i;
          switch (line[i]) {
            case 'n': current.push_back('\n'); break;
            case 'r': current.push_back('\r'); break;
            case 't': current.push_back('\t'); break;
            case 'b': current.push_back('\b'); break;
            case 'a': current.push_back('\a'); break;
            default: current.push_back(line[i]); break;
          }
        } else if (line[i] == '"') {
          // A closing quote must be followed by a space or the end.
          if (i + 1 < n && !is_space(line[i + 1])) return false;
          done = true;
        } else {
          current.push_back(line[i]);
        }
      } else if (in_single) {
        if (i >= n) return false;
        if (line[i] == '\\' && i + 1 < n && line[i + 1] == '\'') {
          ++i;
          current.push_back('\'');
        } else if (line[i] == '\'') {
          if (i + 1 < n && !is_space(line[i + 1])) return false;
          done = true;
        } else {
          current.push_back(line[i]);
        }
      } else {
        if (i >= n) {
          done = true;
          break;
        }
        // A space ends the argument (the outer loop skips it, so every pass makes
        // progress); a NUL byte is an ordinary byte here.
        if (is_space(line[i])) {
          done = true;
          break;
        }
        if (line[i] == '"') in_double = true;
        else if (line[i] == '\'') in_single = true;
        else current.push_back(line[i]);
      }
      if (i < n) ++i;
    }
    out.push_back(std::move(current));
  }
}

ParseResult parse_command(std::string_view input, const ParseLimits& limits, std::vector<std::string_view>& args,
                          std::string& scratch) {
  args.clear();
  if (input.empty()) return {};
  if (input[0] != '*') return parse_inline(input, limits, args, scratch);

  // Multibulk: "*<count>\r\n" then count times "$<len>\r\n<len bytes>\r\n".
  std::int64_t count = 0;
  std::size_t at = 0;
  if (!quick_number(input, 1, count, at)) {
    const Line count_line = header_line(input, 1, limits.max_inline_bytes);
    if (count_line.too_big) return error("Protocol error: too big mbulk count string");
    if (!count_line.complete) return {};
    if (!parse_int64(count_line.text, count)) return error("Protocol error: invalid multibulk length");
    at = count_line.next;
  }
  if (count > static_cast<std::int64_t>(limits.max_arguments)) return error("Protocol error: invalid multibulk length");
  ParseResult result;
  result.status = ParseStatus::kCommand;
  if (count <= 0) {  // "*0" and "*-1": an empty command, skipped without a reply
    result.consumed = at;
    return result;
  }
  // Reserve by what has arrived, not by what is declared: each argument takes at
  // least four bytes ("$0\r\n").
  args.reserve(std::min<std::size_t>(static_cast<std::size_t>(count), (input.size() - at) / 4 + 1));
  for (std::int64_t i = 0; i < count; ++i) {
    if (at >= input.size()) return ParseResult{};
    if (input[at] != '$') {
      return error(std::string("Protocol error: expected '$', got '") + input[at] + "'");
    }
    std::int64_t length = 0;
    std::size_t begin = 0;
    if (!quick_number(input, at + 1, length, begin)) {
      const Line length_line = header_line(input, at + 1, limits.max_inline_bytes);
      if (length_line.too_big) return error("Protocol error: too big bulk count string");
      if (!length_line.complete) return ParseResult{};
      if (!parse_int64(length_line.text, length)) return error("Protocol error: invalid bulk length");
      begin = length_line.next;
    }
    if (length < 0 || static_cast<std::uint64_t>(length) > limits.max_bulk_bytes) {
      return error("Protocol error: invalid bulk length");
    }
    const auto size = static_cast<std::size_t>(length);
    if (input.size() - begin < size + 2) return ParseResult{};  // the bytes are still coming
    args.emplace_back(input.data() + begin, size);
    at = begin + size + 2;  // Redis skips the CRLF after the bytes without looking at it
  }
  result.consumed = at;
  return result;
}

// ---- replies ----

void ReplyWriter::header(char type, std::int64_t value) {
  std::array<char, 24> digits{};
  auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  (void)ec;
  out_->push_back(type);
  out_->append(digits.data(), end);
  out_->append("\r\n", 2);
}

void ReplyWriter::simple(std::string_view text) {
  out_->push_back('+');
  out_->append(text);
  out_->append("\r\n", 2);
}

void ReplyWriter::error(std::string_view text) {
  out_->push_back('-');
  // A simple string cannot hold a line break: they become spaces, as Redis does.
  for (char c : text) out_->push_back(c == '\r' || c == '\n' ? ' ' : c);
  out_->append("\r\n", 2);
}

void ReplyWriter::integer(std::int64_t value) { header(':', value); }

void ReplyWriter::bulk(std::string_view bytes) {
  header('$', static_cast<std::int64_t>(bytes.size()));
  out_->append(bytes);
  out_->append("\r\n", 2);
}

void ReplyWriter::bulk(std::span<const std::byte> bytes) {
  bulk(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

void ReplyWriter::bulk_reference(std::span<const std::byte> bytes, std::shared_ptr<const void> keep) {
  if (!refers(bytes.size())) return bulk(bytes);
  header('$', static_cast<std::int64_t>(bytes.size()));
  pieces_->push_back({out_->size(), bytes, std::move(keep)});
  out_->append("\r\n", 2);
}

void ReplyWriter::truncate(std::size_t size) {
  out_->resize(std::min(out_->size(), size));
  if (pieces_ != nullptr) {
    while (!pieces_->empty() && pieces_->back().at >= size) pieces_->pop_back();
  }
}

void ReplyWriter::null_bulk() { out_->append("$-1\r\n", 5); }
void ReplyWriter::array(std::size_t count) { header('*', static_cast<std::int64_t>(count)); }
void ReplyWriter::null_array() { out_->append("*-1\r\n", 5); }

// ---- slots ----

namespace {
constexpr std::array<std::uint16_t, 256> make_crc16_table() {
  std::array<std::uint16_t, 256> table{};
  for (unsigned i = 0; i < 256; ++i) {
    std::uint16_t crc = static_cast<std::uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
    }
    table[i] = crc;
  }
  return table;
}
constexpr auto kCrc16Table = make_crc16_table();
}  // namespace

std::uint16_t crc16(std::string_view bytes) noexcept {
  std::uint16_t crc = 0;
  for (char c : bytes) {
    crc = static_cast<std::uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ static_cast<std::uint8_t>(c)) & 0xFF]);
  }
  return crc;
}

std::uint16_t key_slot(std::string_view key) noexcept {
  const std::size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const std::size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close != open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return static_cast<std::uint16_t>(crc16(key) & (kSlots - 1));
}

}  // namespace simd_r_drive::net::resp

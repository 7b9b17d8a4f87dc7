#include "key_arguments.h"

#include <CLI/CLI.hpp>
#include <simd_r_drive/hashing.h>

#include <array>
#include <cstdio>

#include "exit_codes.h"

namespace srd_cli {

namespace {

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view strip_0x(std::string_view text) noexcept {
  if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) text.remove_prefix(2);
  return text;
}

// Length of the valid UTF-8 sequence starting at bytes[i] (excluding overlongs and
// surrogates), or 0 if there is none.
std::size_t utf8_sequence(std::string_view bytes, std::size_t i) noexcept {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  const unsigned char lead = at(i);
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (i + length > bytes.size()) return 0;
  if (at(i + 1) < low || at(i + 1) > high) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (at(i + k) < 0x80 || at(i + k) > 0xBF) return 0;
  }
  return length;
}

}  // namespace

void add_key_options(CLI::App& command, KeyOptions& options, bool allow_hash) {
  command.add_flag("--key-hex", options.hex, "Key arguments are hex-encoded bytes (for keys argv cannot carry)");
  if (allow_hash) {
    command.add_flag("--key-hash", options.hash, "The key argument is a 64-bit key hash in hex, as `inspect` prints it")
        ->excludes("--key-hex");
  }
  command.add_option("--namespace", options.name_space,
                     "Key lives in this namespace (as the original's NamespaceHasher builds keys)");
}

Key Key::parse(std::string_view argument, const KeyOptions& options) {
  if (options.hash) {
    if (options.name_space) throw CliError(ExitCode::kUsage, "--key-hash and --namespace cannot be combined");
    const auto hash = parse_hex_u64(argument);
    if (!hash) {
      throw CliError(ExitCode::kUsage, "--key-hash wants a 64-bit hash in hex (up to 16 digits), not " +
                                           quote_bytes(argument));
    }
    Key key;
    key.hash_ = *hash;
    key.hash_only_ = true;
    key.shown_ = "with hash " + hex_u64(*hash);
    return key;
  }
  if (options.hex) {
    auto bytes = decode_hex(argument);
    if (!bytes) {
      throw CliError(ExitCode::kUsage, "--key-hex wants an even number of hex digits, not " + quote_bytes(argument));
    }
    return from_bytes(std::move(*bytes), options.name_space);
  }
  return from_bytes(std::string(argument), options.name_space);
}

Key Key::from_bytes(std::string bytes, const std::optional<std::string>& name_space) {
  Key key;
  key.shown_ = quote_bytes(bytes);
  if (name_space) {
    const auto namespaced = simd_r_drive::NamespaceHasher(*name_space).namespace_key(bytes);
    key.bytes_.assign(reinterpret_cast<const char*>(namespaced.data()), namespaced.size());
    key.shown_ += " in namespace " + quote_bytes(*name_space);
  } else {
    key.bytes_ = std::move(bytes);
  }
  key.hash_ = simd_r_drive::compute_hash(key.bytes_);
  return key;
}

std::string quote_bytes(std::string_view bytes) {
  std::string out = "'";
  for (std::size_t i = 0; i < bytes.size();) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x80) {
      const std::size_t length = utf8_sequence(bytes, i);
      if (length != 0) {
        out.append(bytes.substr(i, length));
        i += length;
        continue;
      }
    }
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\\': out += "\\\\"; break;
      case '\'': out += "\\'"; break;
      default:
        if (c < 0x20 || c >= 0x7F) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
          out += escaped;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('\'');
  return out;
}

std::string hex_u64(std::uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%016llx", static_cast<unsigned long long>(value));
  return text;
}

std::optional<std::string> decode_hex(std::string_view text) {
  text = strip_0x(text);
  if (text.size() % 2 != 0) return std::nullopt;
  std::string bytes;
  bytes.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int high = hex_digit(text[i]);
    const int low = hex_digit(text[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes.push_back(static_cast<char>(high * 16 + low));
  }
  return bytes;
}

std::optional<std::uint64_t> parse_hex_u64(std::string_view text) {
  text = strip_0x(text);
  if (text.empty() || text.size() > 16) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    const int digit = hex_digit(c);
    if (digit < 0) return std::nullopt;
    value = value << 4 | static_cast<std::uint64_t>(digit);
  }
  return value;
}

}  // namespace srd_cli

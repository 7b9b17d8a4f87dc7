// How commands take keys on the command line.
//
// A key is arbitrary bytes, and argv cannot carry every byte string (no NUL, and the
// shell mangles others). So every command that takes keys accepts:
//   --key-hex     the key arguments are hex digits ("00ff10", optional "0x");
//   --key-hash    (read, metadata, delete) the argument is the 64-bit key hash itself,
//                 as `inspect` prints it, for entries whose key is unknown;
//   --namespace   the key lives in a namespace, built as the original's NamespaceHasher
//                 does (16 bytes: hash of the namespace, hash of the key).
//
// Thread-safety: pure functions and value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <simd_r_drive/byte_view.h>

namespace CLI {
class App;
}

namespace srd_cli {

struct KeyOptions {
  bool hex = false;
  bool hash = false;
  std::optional<std::string> name_space;
};

// Adds --key-hex and --namespace to `command`, and --key-hash when `allow_hash`.
void add_key_options(CLI::App& command, KeyOptions& options, bool allow_hash);

// A key as the store sees it.
class Key {
 public:
  // Parses one key argument. Throws CliError(kUsage) for bad hex or a bad hash.
  static Key parse(std::string_view argument, const KeyOptions& options);
  // A key known only by its bytes (as import derives them), namespaced if asked.
  static Key from_bytes(std::string bytes, const std::optional<std::string>& name_space);

  // True when only the hash is known (--key-hash): use the *_with_key_hash calls.
  bool hash_only() const noexcept { return hash_only_; }
  // The stored key bytes (namespaced if a namespace was given); empty when hash_only.
  simd_r_drive::ByteView bytes() const noexcept { return simd_r_drive::ByteView(bytes_); }
  std::uint64_t hash() const noexcept { return hash_; }
  // The key for messages: quoted and escaped, with its namespace, or the hash.
  const std::string& shown() const noexcept { return shown_; }

 private:
  std::string bytes_;
  std::uint64_t hash_ = 0;
  bool hash_only_ = false;
  std::string shown_;
};

// 'text' with control characters, quotes, backslashes and invalid UTF-8 escaped as
// \xNN (\n, \t, \\, \' for the common ones), so any byte string prints on one line.
std::string quote_bytes(std::string_view bytes);
// "0x" and 16 lower-case hex digits.
std::string hex_u64(std::uint64_t value);
// Hex digits (even count, optional "0x") to bytes; nullopt if malformed.
std::optional<std::string> decode_hex(std::string_view text);
// A 64-bit value from at most 16 hex digits (optional "0x"); nullopt if malformed.
std::optional<std::uint64_t> parse_hex_u64(std::string_view text);

}  // namespace srd_cli

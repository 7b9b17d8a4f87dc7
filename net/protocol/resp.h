// RESP2, the Redis protocol (docs/redis.md): a parser of requests (multibulk and
// inline) and a writer of replies, and the cluster's key slot (CRC16-XMODEM).
//
// Pure, like codec.h: no sockets, no store. The parser takes the bytes received so
// far and either finds one whole command at their start (its arguments are views
// into those bytes), asks for more, or reports a protocol error with Redis's own
// wording. It never allocates for a declared length: a bulk of 2^31 bytes is refused
// by its length alone, and a bulk within the limit is only waited for, byte by byte
// as they arrive, by the caller's buffer.
//
// Thread-safety: pure functions; a ReplyWriter belongs to its caller.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace simd_r_drive::net::resp {

struct ParseLimits {
  std::size_t max_bulk_bytes = 64u << 20;    // one argument (Redis: proto-max-bulk-len)
  std::size_t max_arguments = 1024 * 1024;   // elements of one multibulk (Redis's limit)
  std::size_t max_inline_bytes = 64 * 1024;  // one inline command line (Redis's limit)
};

enum class ParseStatus {
  kCommand,   // a command: `args` (possibly empty: an empty line or "*0", "*-1") and `consumed`
  kNeedMore,  // no whole command yet: read more and call again with everything
  kError,     // a protocol error: `error` is the message after "-ERR "; close after replying
};

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  std::size_t consumed = 0;  // bytes of the command (kCommand)
  std::string error;         // kError: e.g. "Protocol error: invalid bulk length"
};

// Parses the command at the start of `input`. `args` is cleared and filled with views
// into `input` (for an inline command, into `scratch`, which holds the unquoted
// arguments; both must outlive the use of `args`).
ParseResult parse_command(std::string_view input, const ParseLimits& limits, std::vector<std::string_view>& args,
                          std::string& scratch);

// Splits an inline command line as Redis's sdssplitargs does: spaces separate,
// "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes, 'single quotes' take \'.
// False for unbalanced quotes (or a closing quote not followed by a space).
bool split_inline(std::string_view line, std::vector<std::string>& out);

// Bytes of a reply that stay where they are (a value in the store's mapping) and are
// sent from there, by a gather write: they belong at offset `at` of the reply
// buffer, and `keep` holds them valid (e.g. an EntryHandle) until they are sent.
struct ReplyPiece {
  std::size_t at = 0;
  std::span<const std::byte> bytes;
  std::shared_ptr<const void> keep;
};

// Appends replies to a buffer, and with a piece list, refers to large values instead
// of copying them (bulk_reference).
class ReplyWriter {
 public:
  // Values at least this long are referred to rather than copied (as the WebSocket
  // side does: below it, a copy costs less than a buffer of its own and a reference).
  static constexpr std::size_t kReferenceBytes = 2048;

  explicit ReplyWriter(std::string& out, std::vector<ReplyPiece>* pieces = nullptr) : out_(&out), pieces_(pieces) {}
  void simple(std::string_view text);          // +text
  void error(std::string_view text);           // -text (text starts with its code: "ERR ...")
  void integer(std::int64_t value);            // :value
  void bulk(std::string_view bytes);           // $n bytes
  void bulk(std::span<const std::byte> bytes);
  void null_bulk();                            // $-1
  void array(std::size_t count);               // *count, then the elements
  void null_array();                           // *-1
  // Whether bulk_reference of `size` bytes would refer to them (a piece list was
  // given and they are at least kReferenceBytes); else it copies them.
  bool refers(std::size_t size) const noexcept { return pieces_ != nullptr && size >= kReferenceBytes; }
  // $n bytes, the bytes as a piece held by `keep` when refers(n), else copied.
  void bulk_reference(std::span<const std::byte> bytes, std::shared_ptr<const void> keep);
  std::string& buffer() noexcept { return *out_; }
  // Drops what was written from `size` on (the buffer's bytes and the pieces there).
  void truncate(std::size_t size);

 private:
  void header(char type, std::int64_t value);
  std::string* out_;
  std::vector<ReplyPiece>* pieces_;
};

// CRC16-XMODEM (polynomial 0x1021, initial 0), as the Redis Cluster specification.
std::uint16_t crc16(std::string_view bytes) noexcept;
// The key's hash slot: crc16 of the key, or of its {hash tag} when it has a non-empty
// one, mod 16384.
std::uint16_t key_slot(std::string_view key) noexcept;
inline constexpr std::uint16_t kSlots = 16384;

// Parses a decimal integer as Redis's string2ll: optional '-', no spaces, no '+', no
// leading zeros (but "0"), within int64.
bool parse_int64(std::string_view text, std::int64_t& value) noexcept;

}  // namespace simd_r_drive::net::resp

// The protocol codec (docs/protocol.md): WebSocket message bytes to requests and
// responses, and back. Pure: no sockets, no store, no threads.
//
// The server side: split_values() checks that a message is a stream of whole
// MessagePack values and lists them; decode_request() turns one value into a
// Request whose byte fields are views into the message (so the message must outlive
// it); ResponseWriter builds an OutMessage of responses, in which large values are
// not copied but referenced (an OutMessage is a list of pieces for a scatter-gather
// write). The client side: RequestWriter and decode_response().
//
// Thread-safety: functions are pure; the types are values owned by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/msgpack.h"

namespace simd_r_drive::net::protocol {

inline constexpr std::uint64_t kProtocolVersion = 1;

using Bytes = std::span<const std::byte>;

// Every method of docs/protocol.md, and kUnknown for any other name.
enum class Method : std::uint8_t {
  kHello,
  kPing,
  kWrite,
  kBatchWrite,
  kWriteWithKeyHash,
  kBatchWriteWithKeyHashes,
  kRead,
  kReadWithKeyHash,
  kBatchRead,
  kBatchReadHashedKeys,
  kReadMetadata,
  kExists,
  kExistsWithKeyHash,
  kDelete,
  kBatchDelete,
  kBatchDeleteKeyHashes,
  kRename,
  kLen,
  kIsEmpty,
  kFileSize,
  kStats,
  kVerify,
  kCompact,
  kSync,
  kScan,
  kWriteWithTtl,
  kReadWithTtl,
  kTtlRemaining,
  kWriteStreamBegin,
  kWriteStreamChunk,
  kWriteStreamEnd,
  kWriteStreamAbort,
  kReadStreamBegin,
  kReadStreamChunk,
  kReadStreamClose,
  kUnknown,
};
inline constexpr std::size_t kMethodCount = static_cast<std::size_t>(Method::kUnknown);

std::string_view method_name(Method method) noexcept;
Method method_from_name(std::string_view name) noexcept;

// A decoded request. Byte fields view the message it was decoded from.
struct KeyValue {
  Bytes key;
  Bytes value;
};
struct HashValue {
  std::uint64_t key_hash;
  Bytes value;
};

struct Request {
  std::uint32_t id = 0;
  Method method = Method::kUnknown;
  std::string_view method_name;

  // The params this request carried (which ones a method needs is checked by
  // decode_request: a present field has the right type).
  std::optional<Bytes> key, value, old_key, new_key, data, cursor, token;
  std::optional<std::uint64_t> key_hash, ttl_secs, stream, limit, max_bytes, protocol;
  std::optional<bool> allow_null_bytes, values;
  std::optional<std::string_view> client;
  std::vector<KeyValue> items;          // batch_write
  std::vector<HashValue> hashed_items;  // batch_write_with_key_hashes
  std::vector<Bytes> keys;              // batch_read, batch_delete, batch_read_hashed_keys
  std::vector<std::uint64_t> key_hashes;
  bool has_keys = false;  // `keys` was given (batch_read_hashed_keys makes it optional)

  // Clears every field but keeps the vectors' capacity, for reuse.
  void clear() noexcept;
};

// The protocol's error codes (docs/protocol.md, "Errors") beyond the engine's.
namespace code {
inline constexpr std::string_view kInvalidArgument = "invalid_argument";
inline constexpr std::string_view kNotFound = "not_found";
inline constexpr std::string_view kCorruption = "corruption";
inline constexpr std::string_view kIo = "io";
inline constexpr std::string_view kLocked = "locked";
inline constexpr std::string_view kMalformed = "malformed";
inline constexpr std::string_view kInvalidParams = "invalid_params";
inline constexpr std::string_view kMethodNotFound = "method_not_found";
inline constexpr std::string_view kHandshakeRequired = "handshake_required";
inline constexpr std::string_view kUnsupportedVersion = "unsupported_version";
inline constexpr std::string_view kUnauthorized = "unauthorized";
inline constexpr std::string_view kTooLarge = "too_large";
inline constexpr std::string_view kBusy = "busy";
inline constexpr std::string_view kShuttingDown = "shutting_down";
inline constexpr std::string_view kStreamNotFound = "stream_not_found";
inline constexpr std::string_view kCursorExpired = "cursor_expired";
}  // namespace code

struct DecodeLimits {
  std::size_t max_batch_items = 100000;
};

// What went wrong decoding one request. `id` is set when the request's id could be
// read, so the error can be answered; otherwise it goes out as an "error" notice.
struct DecodeError {
  std::string_view code;  // kMalformed, kInvalidParams or kTooLarge
  std::string message;
  std::optional<std::uint32_t> id;
};

// Splits a message into its MessagePack values (appended to `values`); false if the
// message is not a sequence of whole MessagePack values (then `values` is left with
// what was found before the fault, and nothing of the message may be executed).
bool split_values(Bytes message, std::vector<Bytes>& values);

// Decodes one value as a request into `out` (cleared first). On failure returns the
// error; `out.id` is meaningful only when the error's id is set.
std::optional<DecodeError> decode_request(Bytes value, Request& out, const DecodeLimits& limits = {});

// ---- responses, server side ----------------------------------------------------

// Outgoing bytes as pieces: runs of `bytes` (headers, small values) interleaved with
// values referenced in place, each kept alive by its `keep`. Sent as one WebSocket
// message by a scatter-gather write.
struct OutMessage {
  struct Piece {
    std::size_t bytes_end;  // this piece follows bytes[previous piece's bytes_end, bytes_end)
    Bytes data;
    std::shared_ptr<const void> keep;
  };
  std::vector<std::byte> bytes;
  std::vector<Piece> pieces;
  std::size_t responses = 0;

  std::size_t size() const noexcept;
  bool empty() const noexcept { return responses == 0; }
  void clear() noexcept;
  // Moves everything of `other` to the end of this message.
  void append(OutMessage&& other);
  // Calls visit(span) for each contiguous run of the message, in order.
  template <class Visit>
  void for_each_buffer(Visit&& visit) const {
    std::size_t from = 0;
    for (const Piece& piece : pieces) {
      if (piece.bytes_end > from) visit(Bytes(bytes.data() + from, piece.bytes_end - from));
      if (!piece.data.empty()) visit(piece.data);
      from = piece.bytes_end;
    }
    if (bytes.size() > from) visit(Bytes(bytes.data() + from, bytes.size() - from));
  }
};

// Values at least this large go out by reference; smaller ones are copied (a copy of
// a few bytes costs less than a separate buffer and a reference count).
inline constexpr std::size_t kZeroCopyThreshold = 2048;

// Writes responses and notices into an OutMessage.
class ResponseWriter {
 public:
  explicit ResponseWriter(OutMessage& out) noexcept : out_(&out), writer_(out.bytes) {}

  // [1, id, nil, <result follows>]: the caller writes exactly one value next.
  mp::Writer& begin_result(std::uint32_t id);
  // [1, id, {"code", "message"}, nil]
  void error(std::uint32_t id, std::string_view code, std::string_view message);
  // unsupported_version, with "supported": [1].
  void unsupported_version(std::uint32_t id, std::string_view message);
  // [2, event, details]: the caller writes `details` (one map) next.
  mp::Writer& begin_notice(std::string_view event);
  // [2, "error", {"code", "message"}]
  void error_notice(std::string_view code, std::string_view message);

  // A bin value: copied if small, else referenced and kept alive by `keep`.
  void value(Bytes bytes, const std::shared_ptr<const void>& keep);
  // Same, with a keep-alive made only when the value is referenced.
  template <class MakeKeep>
  void value_lazy(Bytes bytes, MakeKeep&& make_keep) {
    if (bytes.size() < kZeroCopyThreshold) {
      writer_.bin(bytes);
    } else {
      writer_.bin_header(bytes.size());
      out_->pieces.push_back({out_->bytes.size(), bytes, make_keep()});
    }
  }
  // Where the message ends now, so that a response that fails part way can be taken
  // back whole.
  struct Mark {
    std::size_t bytes, pieces, responses;
  };
  Mark mark() const noexcept { return {out_->bytes.size(), out_->pieces.size(), out_->responses}; }
  void rollback(const Mark& mark) {
    out_->bytes.resize(mark.bytes);
    out_->pieces.resize(mark.pieces);
    out_->responses = mark.responses;
  }
  // Moves `other` (bytes written aside, e.g. a page whose length was not known yet)
  // to the end of the message.
  void splice(OutMessage&& other) { out_->append(std::move(other)); }
  mp::Writer& writer() noexcept { return writer_; }

 private:
  OutMessage* out_;
  mp::Writer writer_;
};

// How many bytes a bin of `size` bytes takes, header included.
std::size_t bin_size(std::size_t size) noexcept;

// ---- requests and responses, client side -----------------------------------------

// Writes [0, id, method, params]: the caller writes the params (one map, or nil) next.
mp::Writer& begin_request(mp::Writer& writer, std::uint32_t id, std::string_view method);

struct Response {
  std::uint32_t id = 0;
  bool is_notice = false;
  std::string_view event;  // notices: the event name
  bool ok = false;
  std::string_view error_code;  // when !ok
  std::string_view error_message;
  Bytes result;  // the result value (or a notice's details), as MessagePack
};

// Decodes one value as a response or a notice; false if it is neither.
bool decode_response(Bytes value, Response& out);

}  // namespace simd_r_drive::net::protocol

#include "protocol/codec.h"

#include <algorithm>
#include <array>

namespace simd_r_drive::net::protocol {
namespace {

// The params a method reads: a field outside its set is ignored like an unknown key.
enum Field : std::uint32_t {
  kKey = 1u << 0,
  kValue = 1u << 1,
  kOldKey = 1u << 2,
  kNewKey = 1u << 3,
  kData = 1u << 4,
  kCursor = 1u << 5,
  kToken = 1u << 6,
  kKeyHash = 1u << 7,
  kTtlSecs = 1u << 8,
  kStream = 1u << 9,
  kLimit = 1u << 10,
  kMaxBytes = 1u << 11,
  kProtocol = 1u << 12,
  kAllowNullBytes = 1u << 13,
  kValues = 1u << 14,
  kClient = 1u << 15,
  kItems = 1u << 16,
  kKeys = 1u << 17,
  kKeyHashes = 1u << 18,
};

struct FieldName {
  std::string_view name;
  Field field;
};
constexpr std::array<FieldName, 19> kFieldNames{{
    {"key", kKey},           {"value", kValue},        {"old_key", kOldKey},   {"new_key", kNewKey},
    {"data", kData},         {"cursor", kCursor},      {"token", kToken},      {"key_hash", kKeyHash},
    {"ttl_secs", kTtlSecs},  {"stream", kStream},      {"limit", kLimit},      {"max_bytes", kMaxBytes},
    {"protocol", kProtocol}, {"allow_null_bytes", kAllowNullBytes},            {"values", kValues},
    {"client", kClient},     {"items", kItems},        {"keys", kKeys},        {"key_hashes", kKeyHashes},
}};

std::string_view field_name(std::uint32_t field) {
  for (const auto& entry : kFieldNames) {
    if (entry.field == field) return entry.name;
  }
  return "?";
}

struct MethodSpec {
  std::string_view name;
  std::uint32_t allowed;
  std::uint32_t required;
  std::uint32_t one_of;  // exactly... at least one of these (key or key_hash)
};

// Indexed by Method.
constexpr std::array<MethodSpec, kMethodCount> kMethods{{
    {"hello", kProtocol | kToken | kClient, kProtocol, 0},
    {"ping", 0, 0, 0},
    {"write", kKey | kValue, kKey | kValue, 0},
    {"batch_write", kItems, kItems, 0},
    {"write_with_key_hash", kKeyHash | kValue, kKeyHash | kValue, 0},
    {"batch_write_with_key_hashes", kItems | kAllowNullBytes, kItems, 0},
    {"read", kKey, kKey, 0},
    {"read_with_key_hash", kKeyHash, kKeyHash, 0},
    {"batch_read", kKeys, kKeys, 0},
    {"batch_read_hashed_keys", kKeyHashes | kKeys, kKeyHashes, 0},
    {"read_metadata", kKey, kKey, 0},
    {"exists", kKey, kKey, 0},
    {"exists_with_key_hash", kKeyHash, kKeyHash, 0},
    {"delete", kKey, kKey, 0},
    {"batch_delete", kKeys, kKeys, 0},
    {"batch_delete_key_hashes", kKeyHashes, kKeyHashes, 0},
    {"rename", kOldKey | kNewKey, kOldKey | kNewKey, 0},
    {"len", 0, 0, 0},
    {"is_empty", 0, 0, 0},
    {"file_size", 0, 0, 0},
    {"stats", 0, 0, 0},
    {"verify", 0, 0, 0},
    {"compact", 0, 0, 0},
    {"sync", 0, 0, 0},
    {"scan", kCursor | kLimit | kValues, 0, 0},
    {"write_with_ttl", kKey | kValue | kTtlSecs, kKey | kValue | kTtlSecs, 0},
    {"read_with_ttl", kKey, kKey, 0},
    {"ttl_remaining", kKey, kKey, 0},
    {"write_stream_begin", kKey | kKeyHash, 0, kKey | kKeyHash},
    {"write_stream_chunk", kStream | kData, kStream | kData, 0},
    {"write_stream_end", kStream, kStream, 0},
    {"write_stream_abort", kStream, kStream, 0},
    {"read_stream_begin", kKey | kKeyHash, 0, kKey | kKeyHash},
    {"read_stream_chunk", kStream | kMaxBytes, kStream, 0},
    {"read_stream_close", kStream, kStream, 0},
}};

DecodeError invalid_params(std::uint32_t id, std::string message) {
  return {code::kInvalidParams, std::move(message), id};
}

DecodeError wrong_type(std::uint32_t id, std::uint32_t field, std::string_view expected, mp::Type got) {
  return invalid_params(id, "param '" + std::string(field_name(field)) + "' must be " + std::string(expected) +
                                ", not " + std::string(mp::to_string(got)));
}

// Reads an array header for a batch field, checking the item limit and that the
// declared count can fit in the bytes left (each item takes at least
// `min_item_bytes`), so that reserving room for it is safe.
std::optional<DecodeError> batch_header(mp::Reader& reader, std::uint32_t id, std::uint32_t field,
                                        std::size_t min_item_bytes, const DecodeLimits& limits,
                                        std::uint32_t& count) {
  const mp::Type type = reader.peek();
  if (!reader.read_array(count)) return wrong_type(id, field, "an array", type);
  if (count > limits.max_batch_items) {
    return DecodeError{code::kTooLarge,
                       "param '" + std::string(field_name(field)) + "' has " + std::to_string(count) +
                           " items; the limit is " + std::to_string(limits.max_batch_items),
                       id};
  }
  if (std::uint64_t{count} * min_item_bytes > reader.remaining()) {
    return invalid_params(id, "param '" + std::string(field_name(field)) + "' is truncated");
  }
  return std::nullopt;
}

std::optional<DecodeError> read_field(mp::Reader& reader, std::uint32_t field, Method method, Request& out,
                                      const DecodeLimits& limits) {
  const std::uint32_t id = out.id;
  const mp::Type type = reader.peek();
  auto bytes_field = [&](std::optional<Bytes>& target) -> std::optional<DecodeError> {
    Bytes bytes;
    if (!reader.read_bytes(bytes)) return wrong_type(id, field, "bin or str", type);
    target = bytes;
    return std::nullopt;
  };
  auto uint_field = [&](std::optional<std::uint64_t>& target) -> std::optional<DecodeError> {
    std::uint64_t number = 0;
    if (!reader.read_uint(number)) return wrong_type(id, field, "an unsigned integer", type);
    target = number;
    return std::nullopt;
  };
  auto bool_field = [&](std::optional<bool>& target) -> std::optional<DecodeError> {
    bool flag = false;
    if (!reader.read_bool(flag)) return wrong_type(id, field, "a bool", type);
    target = flag;
    return std::nullopt;
  };
  switch (field) {
    case kKey: return bytes_field(out.key);
    case kValue: return bytes_field(out.value);
    case kOldKey: return bytes_field(out.old_key);
    case kNewKey: return bytes_field(out.new_key);
    case kData: return bytes_field(out.data);
    case kToken: return bytes_field(out.token);
    case kCursor: {
      if (reader.read_nil()) return std::nullopt;  // nil: start a scan
      Bytes bytes;
      if (!reader.read_bin(bytes)) return wrong_type(id, field, "bin or nil", type);
      out.cursor = bytes;
      return std::nullopt;
    }
    case kKeyHash: return uint_field(out.key_hash);
    case kTtlSecs: return uint_field(out.ttl_secs);
    case kStream: return uint_field(out.stream);
    case kLimit: return uint_field(out.limit);
    case kMaxBytes: return uint_field(out.max_bytes);
    case kProtocol: return uint_field(out.protocol);
    case kAllowNullBytes: return bool_field(out.allow_null_bytes);
    case kValues: return bool_field(out.values);
    case kClient: {
      std::string_view text;
      if (!reader.read_str(text)) return wrong_type(id, field, "a str", type);
      out.client = text;
      return std::nullopt;
    }
    case kItems: {
      std::uint32_t count = 0;
      if (auto error = batch_header(reader, id, field, 3, limits, count)) return error;
      const bool hashed = method == Method::kBatchWriteWithKeyHashes;
      if (hashed) out.hashed_items.reserve(count);
      else out.items.reserve(count);
      for (std::uint32_t i = 0; i < count; ++i) {
        std::uint32_t pair = 0;
        const std::string where = "param 'items' item " + std::to_string(i);
        if (!reader.read_array(pair) || pair != 2) {
          return invalid_params(id, where + (hashed ? " must be [key_hash, value]" : " must be [key, value]"));
        }
        Bytes value;
        if (hashed) {
          std::uint64_t key_hash = 0;
          if (!reader.read_uint(key_hash)) return invalid_params(id, where + ": the key hash must be an unsigned integer");
          if (!reader.read_bytes(value)) return invalid_params(id, where + ": the value must be bin");
          out.hashed_items.push_back({key_hash, value});
        } else {
          Bytes key;
          if (!reader.read_bytes(key)) return invalid_params(id, where + ": the key must be bin or str");
          if (!reader.read_bytes(value)) return invalid_params(id, where + ": the value must be bin");
          out.items.push_back({key, value});
        }
      }
      return std::nullopt;
    }
    case kKeys: {
      std::uint32_t count = 0;
      if (auto error = batch_header(reader, id, field, 1, limits, count)) return error;
      out.keys.reserve(count);
      for (std::uint32_t i = 0; i < count; ++i) {
        Bytes key;
        if (!reader.read_bytes(key)) {
          return invalid_params(id, "param 'keys' item " + std::to_string(i) + " must be bin or str");
        }
        out.keys.push_back(key);
      }
      out.has_keys = true;
      return std::nullopt;
    }
    case kKeyHashes: {
      std::uint32_t count = 0;
      if (auto error = batch_header(reader, id, field, 1, limits, count)) return error;
      out.key_hashes.reserve(count);
      for (std::uint32_t i = 0; i < count; ++i) {
        std::uint64_t key_hash = 0;
        if (!reader.read_uint(key_hash)) {
          return invalid_params(id, "param 'key_hashes' item " + std::to_string(i) + " must be an unsigned integer");
        }
        out.key_hashes.push_back(key_hash);
      }
      return std::nullopt;
    }
    default: break;
  }
  return std::nullopt;
}

Field field_from_name(std::string_view name) {
  for (const auto& entry : kFieldNames) {
    if (entry.name == name) return entry.field;
  }
  return Field{};
}

}  // namespace

std::string_view method_name(Method method) noexcept {
  const auto index = static_cast<std::size_t>(method);
  return index < kMethodCount ? kMethods[index].name : std::string_view("unknown");
}

Method method_from_name(std::string_view name) noexcept {
  // The hot methods first; the rest by a linear search over 35 short names.
  if (name == "read") return Method::kRead;
  if (name == "write") return Method::kWrite;
  for (std::size_t i = 0; i < kMethodCount; ++i) {
    if (kMethods[i].name == name) return static_cast<Method>(i);
  }
  return Method::kUnknown;
}

void Request::clear() noexcept {
  id = 0;
  method = Method::kUnknown;
  method_name = {};
  key.reset(); value.reset(); old_key.reset(); new_key.reset(); data.reset(); cursor.reset(); token.reset();
  key_hash.reset(); ttl_secs.reset(); stream.reset(); limit.reset(); max_bytes.reset(); protocol.reset();
  allow_null_bytes.reset(); values.reset();
  client.reset();
  items.clear();
  hashed_items.clear();
  keys.clear();
  key_hashes.clear();
  has_keys = false;
}

bool split_values(Bytes message, std::vector<Bytes>& values) {
  mp::Reader reader(message);
  while (!reader.at_end()) {
    const std::byte* start = reader.position();
    if (!reader.skip()) return false;
    values.push_back(Bytes(start, static_cast<std::size_t>(reader.position() - start)));
  }
  return true;
}

std::optional<DecodeError> decode_request(Bytes value, Request& out, const DecodeLimits& limits) {
  out.clear();
  mp::Reader reader(value);
  std::uint32_t length = 0;
  if (!reader.read_array(length) || length < 2) {
    return DecodeError{code::kMalformed, "a request must be an array [0, id, method, params]", std::nullopt};
  }
  std::uint64_t type = 0;
  const bool type_ok = reader.read_uint(type);
  if (!type_ok) reader.skip();
  std::uint64_t id = 0;
  if (!reader.read_uint(id) || id > 0xffffffffu) {
    return DecodeError{code::kMalformed, "a request's id must be an unsigned integer below 2^32", std::nullopt};
  }
  out.id = static_cast<std::uint32_t>(id);
  if (!type_ok || type != 0 || length != 4) {
    return DecodeError{code::kMalformed, "a request must be an array [0, id, method, params]", out.id};
  }
  std::string_view name;
  if (!reader.read_str(name)) return DecodeError{code::kMalformed, "a request's method must be a str", out.id};
  out.method_name = name;
  out.method = method_from_name(name);

  std::uint32_t param_count = 0;
  if (reader.read_nil()) {
    param_count = 0;
  } else if (!reader.read_map(param_count)) {
    return DecodeError{code::kInvalidParams, "params must be a map or nil", out.id};
  }
  const MethodSpec* spec = out.method == Method::kUnknown ? nullptr : &kMethods[static_cast<std::size_t>(out.method)];
  std::uint32_t seen = 0;
  for (std::uint32_t i = 0; i < param_count; ++i) {
    std::string_view param;
    if (!reader.read_str(param)) {
      // A key that is not a str is an unknown key, but must still be whole.
      if (!reader.skip() || !reader.skip()) return DecodeError{code::kMalformed, "params are truncated", out.id};
      continue;
    }
    const Field field = field_from_name(param);
    if (spec == nullptr || (spec->allowed & field) == 0 || (seen & field) != 0) {
      // Unknown to this method (or given twice: the first one counts).
      if (!reader.skip()) return DecodeError{code::kMalformed, "params are truncated", out.id};
      continue;
    }
    if (auto error = read_field(reader, field, out.method, out, limits)) return error;
    seen |= field;
  }
  if (!reader.at_end()) return DecodeError{code::kMalformed, "a request must be an array [0, id, method, params]", out.id};
  if (spec == nullptr) return std::nullopt;  // method_not_found is the dispatcher's answer
  const std::uint32_t missing = spec->required & ~seen;
  if (missing != 0) {
    const std::uint32_t first = missing & (~missing + 1);
    return invalid_params(out.id, "param '" + std::string(field_name(first)) + "' is missing");
  }
  if (spec->one_of != 0 && (seen & spec->one_of) == 0) {
    return invalid_params(out.id, "param 'key' or 'key_hash' is missing");
  }
  return std::nullopt;
}

// ---- OutMessage and ResponseWriter --------------------------------------------------

std::size_t OutMessage::size() const noexcept {
  std::size_t total = bytes.size();
  for (const Piece& piece : pieces) total += piece.data.size();
  return total;
}

void OutMessage::clear() noexcept {
  bytes.clear();
  pieces.clear();
  responses = 0;
}

void OutMessage::append(OutMessage&& other) {
  const std::size_t base = bytes.size();
  bytes.insert(bytes.end(), other.bytes.begin(), other.bytes.end());
  pieces.reserve(pieces.size() + other.pieces.size());
  for (Piece& piece : other.pieces) {
    piece.bytes_end += base;
    pieces.push_back(std::move(piece));
  }
  responses += other.responses;
  other.clear();
}

mp::Writer& ResponseWriter::begin_result(std::uint32_t id) {
  ++out_->responses;
  writer_.array(4);
  writer_.uint(1);
  writer_.uint(id);
  writer_.nil();
  return writer_;
}

void ResponseWriter::error(std::uint32_t id, std::string_view error_code, std::string_view message) {
  ++out_->responses;
  writer_.array(4);
  writer_.uint(1);
  writer_.uint(id);
  writer_.map(2);
  writer_.str("code");
  writer_.str(error_code);
  writer_.str("message");
  writer_.str(message);
  writer_.nil();
}

void ResponseWriter::unsupported_version(std::uint32_t id, std::string_view message) {
  ++out_->responses;
  writer_.array(4);
  writer_.uint(1);
  writer_.uint(id);
  writer_.map(3);
  writer_.str("code");
  writer_.str(code::kUnsupportedVersion);
  writer_.str("message");
  writer_.str(message);
  writer_.str("supported");
  writer_.array(1);
  writer_.uint(kProtocolVersion);
  writer_.nil();
}

mp::Writer& ResponseWriter::begin_notice(std::string_view event) {
  ++out_->responses;
  writer_.array(3);
  writer_.uint(2);
  writer_.str(event);
  return writer_;
}

void ResponseWriter::error_notice(std::string_view error_code, std::string_view message) {
  mp::Writer& w = begin_notice("error");
  w.map(2);
  w.str("code");
  w.str(error_code);
  w.str("message");
  w.str(message);
}

void ResponseWriter::value(Bytes bytes, const std::shared_ptr<const void>& keep) {
  value_lazy(bytes, [&] { return keep; });
}

std::size_t bin_size(std::size_t size) noexcept {
  return size + (size <= 0xff ? 2 : size <= 0xffff ? 3 : 5);
}

// ---- client side ----------------------------------------------------------------

mp::Writer& begin_request(mp::Writer& writer, std::uint32_t id, std::string_view method) {
  writer.array(4);
  writer.uint(0);
  writer.uint(id);
  writer.str(method);
  return writer;
}

bool decode_response(Bytes value, Response& out) {
  out = Response{};
  mp::Reader reader(value);
  std::uint32_t length = 0;
  std::uint64_t type = 0;
  if (!reader.read_array(length) || !reader.read_uint(type)) return false;
  if (type == 2 && length == 3) {
    out.is_notice = true;
    if (!reader.read_str(out.event)) return false;
    const std::byte* start = reader.position();
    if (!reader.skip()) return false;
    out.result = Bytes(start, static_cast<std::size_t>(reader.position() - start));
    return reader.at_end();
  }
  if (type != 1 || length != 4) return false;
  std::uint64_t id = 0;
  if (!reader.read_uint(id) || id > 0xffffffffu) return false;
  out.id = static_cast<std::uint32_t>(id);
  if (reader.read_nil()) {
    out.ok = true;
  } else {
    std::uint32_t fields = 0;
    if (!reader.read_map(fields)) return false;
    for (std::uint32_t i = 0; i < fields; ++i) {
      std::string_view name;
      if (!reader.read_str(name)) return false;
      if (name == "code" && reader.read_str(out.error_code)) continue;
      if (name == "message" && reader.read_str(out.error_message)) continue;
      if (!reader.skip()) return false;
    }
    if (out.error_code.empty()) return false;
  }
  const std::byte* start = reader.position();
  if (!reader.skip()) return false;
  out.result = Bytes(start, static_cast<std::size_t>(reader.position() - start));
  return reader.at_end();
}

}  // namespace simd_r_drive::net::protocol

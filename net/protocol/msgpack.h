// A small MessagePack reader and writer: only what the protocol (docs/protocol.md)
// uses, with views instead of copies.
//
// Why not msgpack-cxx: Debian's libmsgpack-cxx-dev depends on Boost 1.74, whose
// headers conflict with Boost 1.81's (which Beast needs here), and its unpacker
// builds a tree of objects in a zone for every message, where the server wants to
// decode a request in place, without allocating, and hand a value's bytes to the
// socket as a view. docs/net.md has the measurement.
//
// The reader never reads past the bytes it was given and never allocates: every
// declared length (of a str, a bin, an array or a map) is checked against the bytes
// that are left before it is used, so hostile input can only make a read fail.
//
// Thread-safety: Reader and Writer are values that belong to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace simd_r_drive::net::mp {

using Bytes = std::span<const std::byte>;

enum class Type { kNil, kBool, kUint, kNegativeInt, kFloat, kStr, kBin, kArray, kMap, kExt, kInvalid };

inline std::string_view to_string(Type type) noexcept {
  switch (type) {
    case Type::kNil: return "nil";
    case Type::kBool: return "bool";
    case Type::kUint: return "unsigned integer";
    case Type::kNegativeInt: return "negative integer";
    case Type::kFloat: return "float";
    case Type::kStr: return "str";
    case Type::kBin: return "bin";
    case Type::kArray: return "array";
    case Type::kMap: return "map";
    case Type::kExt: return "ext";
    case Type::kInvalid: break;
  }
  return "invalid";
}

class Reader {
 public:
  Reader() = default;
  explicit Reader(Bytes bytes) noexcept : data_(bytes.data()), end_(bytes.data() + bytes.size()) {}

  bool at_end() const noexcept { return data_ == end_; }
  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - data_); }
  const std::byte* position() const noexcept { return data_; }

  // The type of the next value, kInvalid at the end or on a byte MessagePack does not
  // use (0xc1).
  Type peek() const noexcept {
    if (data_ == end_) return Type::kInvalid;
    const auto b = static_cast<std::uint8_t>(*data_);
    if (b <= 0x7f) return Type::kUint;
    if (b <= 0x8f) return Type::kMap;
    if (b <= 0x9f) return Type::kArray;
    if (b <= 0xbf) return Type::kStr;
    if (b >= 0xe0) return Type::kNegativeInt;
    switch (b) {
      case 0xc0: return Type::kNil;
      case 0xc2: case 0xc3: return Type::kBool;
      case 0xc4: case 0xc5: case 0xc6: return Type::kBin;
      case 0xc7: case 0xc8: case 0xc9: case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return Type::kExt;
      case 0xca: case 0xcb: return Type::kFloat;
      case 0xcc: case 0xcd: case 0xce: case 0xcf: return Type::kUint;
      case 0xd0: case 0xd1: case 0xd2: case 0xd3:
        // A signed encoding of a non-negative number reads as unsigned (some encoders
        // write every integer signed).
        return signed_is_negative(b) ? Type::kNegativeInt : Type::kUint;
      case 0xd9: case 0xda: case 0xdb: return Type::kStr;
      case 0xdc: case 0xdd: return Type::kArray;
      case 0xde: case 0xdf: return Type::kMap;
      default: return Type::kInvalid;
    }
  }

  // Each read_* consumes one value of its type and returns true, or returns false and
  // consumes nothing (wrong type, or truncated).
  bool read_nil() noexcept {
    if (data_ == end_ || *data_ != std::byte{0xc0}) return false;
    ++data_;
    return true;
  }
  bool read_bool(bool& out) noexcept {
    if (data_ == end_) return false;
    const auto b = static_cast<std::uint8_t>(*data_);
    if (b != 0xc2 && b != 0xc3) return false;
    out = b == 0xc3;
    ++data_;
    return true;
  }
  bool read_uint(std::uint64_t& out) noexcept {
    if (data_ == end_) return false;
    const auto b = static_cast<std::uint8_t>(*data_);
    if (b <= 0x7f) {
      out = b;
      ++data_;
      return true;
    }
    std::size_t width = 0;
    bool is_signed = false;
    switch (b) {
      case 0xcc: width = 1; break;
      case 0xcd: width = 2; break;
      case 0xce: width = 4; break;
      case 0xcf: width = 8; break;
      case 0xd0: width = 1; is_signed = true; break;
      case 0xd1: width = 2; is_signed = true; break;
      case 0xd2: width = 4; is_signed = true; break;
      case 0xd3: width = 8; is_signed = true; break;
      default: return false;
    }
    if (remaining() < 1 + width) return false;
    const std::uint64_t value = load_be(data_ + 1, width);
    if (is_signed && (value >> (width * 8 - 1)) != 0) return false;  // negative
    out = value;
    data_ += 1 + width;
    return true;
  }
  // A str as its bytes (UTF-8 is not checked: the protocol treats str keys as bytes).
  bool read_str(std::string_view& out) noexcept {
    Bytes bytes;
    if (!read_sized(bytes, kStrFamily)) return false;
    out = {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
    return true;
  }
  bool read_bin(Bytes& out) noexcept { return read_sized(out, kBinFamily); }
  // A bin or a str, as bytes (keys may be either).
  bool read_bytes(Bytes& out) noexcept { return read_sized(out, kBinFamily) || read_sized(out, kStrFamily); }
  bool read_array(std::uint32_t& count) noexcept { return read_container(count, 0x90, 0xdc); }
  bool read_map(std::uint32_t& count) noexcept { return read_container(count, 0x80, 0xde); }

  // Consumes one whole value, however nested, without recursion: it counts the
  // values still owed, and fails as soon as they cannot fit in the bytes left (each
  // value takes at least one byte), so a declared count of 2^32 costs nothing.
  bool skip() noexcept {
    const std::byte* const start = data_;
    std::uint64_t owed = 1;
    while (owed != 0) {
      if (owed > remaining()) {
        data_ = start;
        return false;
      }
      --owed;
      std::uint64_t children = 0;
      if (!skip_header(children)) {
        data_ = start;
        return false;
      }
      owed += children;
    }
    return true;
  }

 private:
  static constexpr int kStrFamily = 0;
  static constexpr int kBinFamily = 1;

  bool signed_is_negative(std::uint8_t b) const noexcept {
    const std::size_t width = std::size_t{1} << (b - 0xd0);
    if (remaining() < 1 + width) return false;  // truncated: read_uint reports it
    return (static_cast<std::uint8_t>(data_[1]) & 0x80) != 0;
  }

  static std::uint64_t load_be(const std::byte* p, std::size_t width) noexcept {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < width; ++i) value = (value << 8) | static_cast<std::uint8_t>(p[i]);
    return value;
  }

  bool read_sized(Bytes& out, int family) noexcept {
    if (data_ == end_) return false;
    const auto b = static_cast<std::uint8_t>(*data_);
    std::size_t header = 0;
    std::uint64_t size = 0;
    if (family == kStrFamily && b >= 0xa0 && b <= 0xbf) {
      header = 1;
      size = b & 0x1f;
    } else {
      std::size_t width = 0;
      const std::uint8_t first = family == kStrFamily ? 0xd9 : 0xc4;
      if (b == first) width = 1;
      else if (b == first + 1) width = 2;
      else if (b == first + 2) width = 4;
      else return false;
      if (remaining() < 1 + width) return false;
      size = load_be(data_ + 1, width);
      header = 1 + width;
    }
    if (remaining() - header < size) return false;
    out = {data_ + header, static_cast<std::size_t>(size)};
    data_ += header + size;
    return true;
  }

  bool read_container(std::uint32_t& count, std::uint8_t fix, std::uint8_t wide) noexcept {
    if (data_ == end_) return false;
    const auto b = static_cast<std::uint8_t>(*data_);
    if (b >= fix && b <= fix + 0x0f) {
      count = b & 0x0f;
      ++data_;
      return true;
    }
    std::size_t width = 0;
    if (b == wide) width = 2;
    else if (b == wide + 1) width = 4;
    else return false;
    if (remaining() < 1 + width) return false;
    count = static_cast<std::uint32_t>(load_be(data_ + 1, width));
    data_ += 1 + width;
    return true;
  }

  // Consumes one value's header (and a scalar's whole body) and says how many
  // values it contains.
  bool skip_header(std::uint64_t& children) noexcept {
    children = 0;
    const auto b = static_cast<std::uint8_t>(*data_);
    std::uint32_t count = 0;
    Bytes bytes;
    std::uint64_t number = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
      ++data_;
      return true;
    }
    if (read_map(count)) {
      children = std::uint64_t{count} * 2;
      return true;
    }
    if (read_array(count)) {
      children = count;
      return true;
    }
    if (read_bytes(bytes) || read_uint(number)) return true;
    std::size_t fixed = 0;  // bytes after the type byte
    switch (b) {
      case 0xca: fixed = 4; break;
      case 0xcb: fixed = 8; break;
      case 0xd0: fixed = 1; break;  // negative signed integers (read_uint refused them)
      case 0xd1: fixed = 2; break;
      case 0xd2: fixed = 4; break;
      case 0xd3: fixed = 8; break;
      case 0xd4: fixed = 2; break;  // fixext 1..16: type byte + data
      case 0xd5: fixed = 3; break;
      case 0xd6: fixed = 5; break;
      case 0xd7: fixed = 9; break;
      case 0xd8: fixed = 17; break;
      case 0xc7: case 0xc8: case 0xc9: {
        const std::size_t width = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4;
        if (remaining() < 1 + width) return false;
        const std::uint64_t size = load_be(data_ + 1, width);
        if (remaining() - 1 - width < 1 + size) return false;
        data_ += 1 + width + 1 + size;
        return true;
      }
      default: return false;  // 0xc1, never used
    }
    if (remaining() < 1 + fixed) return false;
    data_ += 1 + fixed;
    return true;
  }

  const std::byte* data_ = nullptr;
  const std::byte* end_ = nullptr;
};

// Appends MessagePack to a byte vector, always in the shortest encoding.
class Writer {
 public:
  explicit Writer(std::vector<std::byte>& out) noexcept : out_(&out) {}

  void nil() { put(0xc0); }
  void boolean(bool value) { put(value ? 0xc3 : 0xc2); }
  void uint(std::uint64_t value) {
    if (value <= 0x7f) put(static_cast<std::uint8_t>(value));
    else if (value <= 0xff) put_be(0xcc, value, 1);
    else if (value <= 0xffff) put_be(0xcd, value, 2);
    else if (value <= 0xffffffffu) put_be(0xce, value, 4);
    else put_be(0xcf, value, 8);
  }
  void str(std::string_view text) {
    const std::size_t n = text.size();
    if (n <= 31) put(static_cast<std::uint8_t>(0xa0 | n));
    else if (n <= 0xff) put_be(0xd9, n, 1);
    else if (n <= 0xffff) put_be(0xda, n, 2);
    else put_be(0xdb, n, 4);
    append(reinterpret_cast<const std::byte*>(text.data()), n);
  }
  // The header of a bin of `size` bytes; the bytes follow (bin() or elsewhere).
  void bin_header(std::size_t size) {
    if (size <= 0xff) put_be(0xc4, size, 1);
    else if (size <= 0xffff) put_be(0xc5, size, 2);
    else put_be(0xc6, size, 4);
  }
  void bin(Bytes bytes) {
    bin_header(bytes.size());
    append(bytes.data(), bytes.size());
  }
  void array(std::uint32_t count) {
    if (count <= 15) put(static_cast<std::uint8_t>(0x90 | count));
    else if (count <= 0xffff) put_be(0xdc, count, 2);
    else put_be(0xdd, count, 4);
  }
  void map(std::uint32_t count) {
    if (count <= 15) put(static_cast<std::uint8_t>(0x80 | count));
    else if (count <= 0xffff) put_be(0xde, count, 2);
    else put_be(0xdf, count, 4);
  }
  // Bytes that are already MessagePack.
  void raw(Bytes bytes) { append(bytes.data(), bytes.size()); }

  std::vector<std::byte>& buffer() noexcept { return *out_; }

 private:
  void put(std::uint8_t b) { out_->push_back(std::byte{b}); }
  void put_be(std::uint8_t type, std::uint64_t value, std::size_t width) {
    std::byte bytes[9];
    bytes[0] = std::byte{type};
    for (std::size_t i = 0; i < width; ++i) bytes[1 + i] = std::byte(static_cast<std::uint8_t>(value >> (8 * (width - 1 - i))));
    append(bytes, 1 + width);
  }
  void append(const std::byte* data, std::size_t size) {
    if (size == 0) return;
    const std::size_t old = out_->size();
    out_->resize(old + size);
    std::memcpy(out_->data() + old, data, size);
  }

  std::vector<std::byte>* out_;
};

// The bytes of a str, for comparing keys without building a std::string.
inline Bytes as_bytes(std::string_view text) noexcept {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

}  // namespace simd_r_drive::net::mp

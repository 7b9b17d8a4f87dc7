// Codec<T>: how the typed helpers turn a T into bytes and back (docs/extensions.md,
// "Encodings").
//
// The byte functions (write_option, write_with_ttl, ... over ByteView) store the bytes
// they are given. The typed helpers (the templates beside them) encode a T with
// Codec<T> first, and decode what they read with it. The encoding is this library's
// own, documented and portable; it is NOT the original's (Rust's bitcode, which no
// other language reads), so typed values do not cross between the two engines.
//
// Built in:
//   - std::string, std::vector<std::byte | char | signed char | unsigned char>:
//     the bytes as they are;
//   - integers, floating-point numbers (not long double) and enums: sizeof(T) bytes,
//     little endian; decoding requires exactly that size;
//   - bool: one byte, 00 or 01;
//   - std::vector<E> of such numbers or enums: the elements one after another;
//   - other trivially copyable class types (structs of plain fields, std::array):
//     their object representation, padding included, on a little-endian machine.
//     Define a Codec for a format that does not depend on the compiler's layout.
//     Views (std::string_view, std::span, ByteView) hold pointers and get no codec.
//   - std::optional<T>: option.h.
//
// Any other type: specialise simd_r_drive::extensions::Codec<T> with
//
//   static void encode(const T& value, std::vector<std::byte>& out);  // appends to out
//   static T decode(simd_r_drive::ByteView bytes);                     // throws if malformed
//
// or pass a codec of that shape as the helpers' second template argument.
//
// Thread-safety: codecs are stateless.
#pragma once

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <simd_r_drive/byte_view.h>

#include "simd_r_drive/extensions/export.h"

namespace simd_r_drive::extensions {

// The primary template has no definition: a type without a codec does not compile.
template <class T>
struct Codec;

template <class C, class T>
concept CodecFor = requires(const T& value, std::vector<std::byte>& out, ByteView bytes) {
  C::encode(value, out);
  { C::decode(bytes) } -> std::convertible_to<T>;
};

namespace detail {

// Throws Error(kInvalidArgument): `size` bytes cannot be decoded as `what`, which needs
// `expected_size` bytes (or a multiple of it).
[[noreturn]] SRD_EXT_API void throw_decode_error(std::size_t size, const char* what, std::size_t expected_size,
                                                 bool multiple = false);

template <class T>
struct IsStdOptional : std::false_type {};
template <class T>
struct IsStdOptional<std::optional<T>> : std::true_type {};

template <class T>
concept ByteContainer =
    std::same_as<T, std::string> || std::same_as<T, std::vector<std::byte>> || std::same_as<T, std::vector<char>> ||
    std::same_as<T, std::vector<signed char>> || std::same_as<T, std::vector<unsigned char>>;

template <class T>
concept LittleEndianNumber = (std::is_arithmetic_v<T> || std::is_enum_v<T>) && !std::same_as<T, bool> &&
                             !std::same_as<T, long double>;

template <class T>
concept NumberVector = requires { typename T::value_type; } && std::same_as<T, std::vector<typename T::value_type>> &&
                       LittleEndianNumber<typename T::value_type> && !ByteContainer<T>;

// Views hold a pointer: their bytes mean nothing in another process, so they get no
// codec (store the bytes they view instead).
template <class T>
struct IsView : std::false_type {};
template <class C, class Traits>
struct IsView<std::basic_string_view<C, Traits>> : std::true_type {};
template <class E, std::size_t N>
struct IsView<std::span<E, N>> : std::true_type {};
template <>
struct IsView<ByteView> : std::true_type {};

template <class T>
concept PlainObject =
    std::is_class_v<T> && std::is_trivially_copyable_v<T> && !IsStdOptional<T>::value && !IsView<T>::value;

template <class T>
void append_little_endian(T value, std::vector<std::byte>& out) {
  std::byte bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  if constexpr (std::endian::native == std::endian::big) {
    for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(bytes[i], bytes[sizeof(T) - 1 - i]);
  }
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

template <class T>
T load_little_endian(const std::byte* data) {
  std::byte bytes[sizeof(T)];
  std::memcpy(bytes, data, sizeof(T));
  if constexpr (std::endian::native == std::endian::big) {
    for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(bytes[i], bytes[sizeof(T) - 1 - i]);
  }
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  return value;
}

}  // namespace detail

template <detail::ByteContainer T>
struct Codec<T> {
  static void encode(const T& value, std::vector<std::byte>& out) {
    const auto* data = reinterpret_cast<const std::byte*>(value.data());
    out.insert(out.end(), data, data + value.size());
  }
  static T decode(ByteView bytes) {
    const auto* data = reinterpret_cast<const typename T::value_type*>(bytes.data());
    return T(data, data + bytes.size());
  }
};

template <detail::LittleEndianNumber T>
struct Codec<T> {
  static void encode(const T& value, std::vector<std::byte>& out) { detail::append_little_endian(value, out); }
  static T decode(ByteView bytes) {
    if (bytes.size() != sizeof(T)) detail::throw_decode_error(bytes.size(), "a little-endian number", sizeof(T));
    return detail::load_little_endian<T>(bytes.data());
  }
};

template <>
struct Codec<bool> {
  static void encode(bool value, std::vector<std::byte>& out) { out.push_back(value ? std::byte{1} : std::byte{0}); }
  static bool decode(ByteView bytes) {
    if (bytes.size() != 1 || (bytes.data()[0] != std::byte{0} && bytes.data()[0] != std::byte{1})) {
      detail::throw_decode_error(bytes.size(), "a bool (00 or 01)", 1);
    }
    return bytes.data()[0] == std::byte{1};
  }
};

template <detail::NumberVector T>
struct Codec<T> {
  using Element = typename T::value_type;
  static void encode(const T& value, std::vector<std::byte>& out) {
    out.reserve(out.size() + value.size() * sizeof(Element));
    for (const Element& element : value) detail::append_little_endian(element, out);
  }
  static T decode(ByteView bytes) {
    if (bytes.size() % sizeof(Element) != 0) {
      detail::throw_decode_error(bytes.size(), "an array of little-endian numbers", sizeof(Element), true);
    }
    T value;
    value.reserve(bytes.size() / sizeof(Element));
    for (std::size_t at = 0; at < bytes.size(); at += sizeof(Element)) {
      value.push_back(detail::load_little_endian<Element>(bytes.data() + at));
    }
    return value;
  }
};

template <detail::PlainObject T>
struct Codec<T> {
  static_assert(std::endian::native == std::endian::little,
                "on a big-endian machine a struct's bytes are not little endian: define a Codec for it");
  static void encode(const T& value, std::vector<std::byte>& out) {
    const auto* data = reinterpret_cast<const std::byte*>(&value);
    out.insert(out.end(), data, data + sizeof(T));
  }
  static T decode(ByteView bytes) {
    if (bytes.size() != sizeof(T)) detail::throw_decode_error(bytes.size(), "a trivially copyable object", sizeof(T));
    std::array<std::byte, sizeof(T)> raw;
    std::memcpy(raw.data(), bytes.data(), sizeof(T));
    return std::bit_cast<T>(raw);  // needs no default constructor
  }
};

// Encodes one value with codec C.
template <class T, class C = Codec<T>>
  requires CodecFor<C, T>
std::vector<std::byte> encode(const T& value) {
  std::vector<std::byte> out;
  C::encode(value, out);
  return out;
}

// Decodes one value with codec C.
template <class T, class C = Codec<T>>
  requires CodecFor<C, T>
T decode(ByteView bytes) {
  return C::decode(bytes);
}

}  // namespace simd_r_drive::extensions

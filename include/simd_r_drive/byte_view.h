// ByteView: a non-owning view of bytes, used for every key and payload parameter.
//
// It converts implicitly from std::string_view, std::string, C strings and any
// contiguous range of byte-sized elements (std::span<const std::byte>,
// std::vector<std::uint8_t>, std::array<std::byte, N>, ...), so callers never copy
// their data to call the engine. A ByteView does not own what it points at: the
// referenced bytes must outlive the call it is passed to.
//
// Thread-safety: a ByteView is a value type; concurrent reads are safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ranges>
#include <span>
#include <string_view>
#include <type_traits>

namespace simd_r_drive {

namespace detail {
template <class T>
concept ByteLike = std::is_same_v<std::remove_cv_t<T>, std::byte> ||
                   std::is_same_v<std::remove_cv_t<T>, char> ||
                   std::is_same_v<std::remove_cv_t<T>, signed char> ||
                   std::is_same_v<std::remove_cv_t<T>, unsigned char>;

// Arrays of char are excluded on purpose: a string literal would otherwise carry its
// terminating NUL into the key (it converts through const char* instead).
template <class R>
concept ByteRange = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
                    ByteLike<std::ranges::range_value_t<R>> &&
                    !(std::is_array_v<std::remove_cvref_t<R>> &&
                      std::is_same_v<std::remove_cv_t<std::ranges::range_value_t<R>>, char>);
}  // namespace detail

class ByteView {
 public:
  constexpr ByteView() noexcept = default;
  constexpr ByteView(const std::byte* data, std::size_t size) noexcept : data_(data), size_(size) {}
  ByteView(std::string_view text) noexcept  // NOLINT(google-explicit-constructor)
      : data_(reinterpret_cast<const std::byte*>(text.data())), size_(text.size()) {}
  ByteView(const char* text) noexcept  // NOLINT(google-explicit-constructor)
      : ByteView(std::string_view(text)) {}
  template <detail::ByteRange R>
  ByteView(const R& range) noexcept  // NOLINT(google-explicit-constructor)
      : data_(reinterpret_cast<const std::byte*>(std::ranges::data(range))),
        size_(std::ranges::size(range)) {}

  constexpr const std::byte* data() const noexcept { return data_; }
  constexpr std::size_t size() const noexcept { return size_; }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr std::span<const std::byte> span() const noexcept { return {data_, size_}; }
  std::string_view as_string_view() const noexcept {
    return {reinterpret_cast<const char*>(data_), size_};
  }

  friend bool operator==(ByteView a, ByteView b) noexcept {
    return a.size_ == b.size_ && (a.size_ == 0 || std::memcmp(a.data_, b.data_, a.size_) == 0);
  }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace simd_r_drive

// Optional values: a key that holds either a value or an explicit "None", as the
// original's StorageOptionExt (docs/extensions.md, "Optional values").
//
// The value lives under option_key(key) (namespaces.h). None is stored as the two
// bytes FF FE, the original's marker, so a stored None is a live entry: it does not
// delete the key, and reading it gives None, not "absent".
//
// The original cannot tell a value whose encoding is exactly FF FE from None. Here a
// Some is escaped when it could be mistaken for something else:
//
//   None                            -> FF FE
//   Some(x), x begins with FF FE    -> FF FE ‖ x
//   Some(x), x is the one byte 00   -> FF FE ‖ 00   (the store keeps a lone 00 for deletes)
//   Some(x), any other x            -> x
//
// and reading undoes it: exactly FF FE is None; anything longer that begins with FF FE
// is Some of what follows the first two bytes; anything else is Some of itself. So
// every value round-trips, FF FE included. A Some of zero bytes can be encoded (inside
// a TTL value, for instance) but write_option cannot store it: a store holds no empty
// value (DataStore::write refuses one too).
//
// Reading a key that was never written gives an empty outer optional: absent is
// distinct from a stored None (the original answers NotFound).
//
// Thread-safety: as DataStore's reads and writes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include <simd_r_drive/byte_view.h>
#include <simd_r_drive/data_store.h>

#include "simd_r_drive/extensions/codec.h"
#include "simd_r_drive/extensions/entry_value.h"
#include "simd_r_drive/extensions/export.h"
#include "simd_r_drive/extensions/namespaces.h"

namespace simd_r_drive::extensions {

// What a stored None is: the original's marker.
inline constexpr std::array<std::byte, 2> kNoneMarker = {std::byte{0xFF}, std::byte{0xFE}};

// The stored form of an optional value (the table above).
SRD_EXT_API std::vector<std::byte> encode_option(std::optional<ByteView> value);
// Turns out[start, end), the encoding of a Some, into its stored form in place: inserts
// the escape when the value needs one. For codecs that encode into `out` first.
SRD_EXT_API void escape_option_value(std::vector<std::byte>& out, std::size_t start);
// The value a stored form holds: nullopt for None, else a view into `stored`.
SRD_EXT_API std::optional<ByteView> decode_option(ByteView stored) noexcept;

// Writes Some(value), or None for nullopt, under option_key(key). Returns the tail.
// Throws Error(kInvalidArgument) for Some of zero bytes.
SRD_EXT_API std::uint64_t write_option(DataStore& store, ByteView key, std::optional<ByteView> value);
// nullopt: the key holds no optional value. A present None: an engaged outer optional
// holding nullopt. A present Some: the value, in place (EntryValue).
SRD_EXT_API std::optional<std::optional<EntryValue>> read_option(const DataStore& store, ByteView key);

// std::optional<T> is encoded as above, over Codec<T>'s bytes. It nests:
// optional<optional<T>> round-trips Some(None) as well.
template <class T>
  requires CodecFor<Codec<T>, T>
struct Codec<std::optional<T>> {
  static void encode(const std::optional<T>& value, std::vector<std::byte>& out) {
    if (!value) {
      out.insert(out.end(), kNoneMarker.begin(), kNoneMarker.end());
      return;
    }
    const std::size_t start = out.size();
    Codec<T>::encode(*value, out);
    escape_option_value(out, start);
  }
  static std::optional<T> decode(ByteView stored) {
    const std::optional<ByteView> value = decode_option(stored);
    if (!value) return std::nullopt;
    return Codec<T>::decode(*value);
  }
};

// Typed: encodes the value with C (codec.h) and stores it as above.
template <class T, class C = Codec<T>>
  requires CodecFor<C, T>
std::uint64_t write_option(DataStore& store, ByteView key, const std::optional<T>& value) {
  if (!value) return write_option(store, key, std::optional<ByteView>());
  std::vector<std::byte> encoded;
  C::encode(*value, encoded);
  return write_option(store, key, std::optional<ByteView>(ByteView(encoded)));
}

// Typed: nullopt when absent; a present None or a decoded Some otherwise.
template <class T, class C = Codec<T>>
  requires CodecFor<C, T>
std::optional<std::optional<T>> read_option(const DataStore& store, ByteView key) {
  const std::optional<std::optional<EntryValue>> stored = read_option(store, key);
  std::optional<std::optional<T>> result;
  if (!stored) return result;
  result.emplace();
  if (*stored) result->emplace(C::decode((*stored)->view()));
  return result;
}

}  // namespace simd_r_drive::extensions

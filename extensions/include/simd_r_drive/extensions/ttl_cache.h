// A TTL cache: values that expire, as the original's StorageCacheExt, and what it lacks
// (docs/extensions.md, "TTL cache").
//
// A TTL value lives under ttl_key(key) (namespaces.h) and is, as in the original,
//
//   8 bytes: the expiry, UNIX seconds, little endian ‖ the value's bytes
//
// written with expiry = now + ttl_secs (saturating). The resolution is one second. A
// value has expired when now >= expiry, so ttl_secs = 0 is expired at once. A value
// whose expiry is kNeverExpires (UINT64_MAX) never expires: any ttl_secs that reaches it,
// kNeverExpires itself included, means "no expiry" (the original agrees: its now never
// reaches UINT64_MAX either).
//
// An expired value reads as absent, every time. Reads never write (the original
// deletes on read, and a second read then fails with NotFound); expired entries are
// removed by purge_expired() or compact_dropping_expired(), or overwritten.
//
// purge_expired needs to know which live entries are TTL values, and the store keeps
// only hashes of keys. So every write_with_ttl also writes, in the same batch (one
// append), a registry entry: under NamespaceHasher(kTtlRegistryPrefix) over the TTL
// entry's key hash (8 bytes, little endian), the 20 bytes
//
//   the TTL entry's key hash (8, LE) ‖ its expiry (8, LE) ‖ the CRC-32 of its payload (4, LE)
//
// A registry entry names itself: its key hash is derived from its first 8 bytes, which
// no other value matches but by a 64-bit hash collision. purge removes a TTL entry only
// when such a registry entry names it and its current payload still has the registered
// expiry and checksum. A plain value that looks like a TTL value, under any key, is
// never purged; a TTL value written by the original (or rewritten by anything but this
// library) has no matching registry entry and is left to expire on read. The TTL value
// itself stays exactly the original's format.
//
// Thread-safety: as DataStore. purge_expired and this library's TTL writes and removes
// of one store exclude each other (a process-wide lock per store file), so a purge
// never removes a value that write_with_ttl wrote while it ran.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <type_traits>
#include <vector>

#include <simd_r_drive/byte_view.h>
#include <simd_r_drive/data_store.h>

#include "simd_r_drive/extensions/codec.h"
#include "simd_r_drive/extensions/entry_value.h"
#include "simd_r_drive/extensions/export.h"
#include "simd_r_drive/extensions/namespaces.h"
#include "simd_r_drive/extensions/option.h"

namespace simd_r_drive::extensions {

// The current time in whole UNIX seconds. Injected, so tests need no sleeps.
using Clock = std::function<std::uint64_t()>;
// The system's wall clock (std::chrono::system_clock), in whole seconds.
SRD_EXT_API std::uint64_t system_clock_seconds() noexcept;

inline constexpr std::uint64_t kNeverExpires = UINT64_MAX;
inline constexpr std::size_t kTtlHeaderSize = 8;

// What ttl_remaining answers, as Redis's TTL does (-2, -1, seconds).
struct TtlRemaining {
  enum class State {
    kAbsent,     // no TTL value, or it has expired
    kNoExpiry,   // the value never expires (its expiry is kNeverExpires)
    kExpiresIn,  // `seconds` whole seconds left (at least 1)
  };
  State state = State::kAbsent;
  std::uint64_t seconds = 0;
  friend bool operator==(const TtlRemaining&, const TtlRemaining&) = default;
};

// The TTL functions over one store with one clock. It refers to the store, which must
// outlive it; it holds no other state, so making one per call costs nothing.
class SRD_EXT_API TtlCache {
 public:
  explicit TtlCache(DataStore& store, Clock clock = system_clock_seconds);

  // Stores `value` to expire ttl_secs from now; returns the tail.
  std::uint64_t write(ByteView key, ByteView value, std::uint64_t ttl_secs);
  // The value, in place; nullopt if absent or expired. Throws Error(kInvalidArgument)
  // if the stored value is shorter than the 8-byte header (not a TTL value).
  std::optional<EntryValue> read(ByteView key) const;
  TtlRemaining ttl_remaining(ByteView key) const;
  // Removes the key's TTL value (and its registry entry) in one append. Returns whether
  // a value that had not expired was removed.
  bool remove(ByteView key);
  // Removes every expired TTL value this library wrote (and registry entries whose
  // value is gone or was rewritten by other means) in one batch; returns how many
  // expired values were removed.
  std::size_t purge_expired();
  // purge_expired(), then DataStore::compact(): the compacted file holds no expired
  // value. Returns how many expired values were dropped.
  std::size_t compact_dropping_expired();

  // Typed: encoded with C (codec.h); std::optional<T> works (option.h).
  // A value that converts to ByteView is stored as bytes by write() above.
  template <class T, class C = Codec<T>>
    requires(CodecFor<C, T> && !std::is_convertible_v<const T&, ByteView>)
  std::uint64_t write(ByteView key, const T& value, std::uint64_t ttl_secs) {
    std::vector<std::byte> encoded;
    C::encode(value, encoded);
    return write(key, ByteView(encoded), ttl_secs);
  }
  // cache.read<T>(key): nullopt if absent or expired, else the decoded value.
  template <class T, class C = Codec<T>>
    requires CodecFor<C, T>
  std::optional<T> read(ByteView key) const {
    std::optional<EntryValue> stored = read(key);
    if (!stored) return std::nullopt;
    return C::decode(stored->view());
  }

  std::uint64_t now() const { return clock_(); }
  DataStore& store() const noexcept { return *store_; }

 private:
  DataStore* store_;
  Clock clock_;
};

// The two entries write_with_ttl appends for `key`, for a caller that puts them into
// a batch of its own (the Redis front door writes them together with the removal of
// the key's plain entry, in one append): the TTL value under value_hash (expiry
// header ‖ value) and its registry entry under registry_hash. `expiry` is absolute,
// in UNIX seconds (kNeverExpires: never). The caller appends both in one batch.
struct TtlEntries {
  std::uint64_t value_hash = 0;
  std::vector<std::byte> value;
  std::uint64_t registry_hash = 0;
  std::array<std::byte, 20> registration{};
};
SRD_EXT_API TtlEntries ttl_entries(ByteView key, ByteView value, std::uint64_t expiry);
// The key hashes of a key's TTL value and of its registry entry.
SRD_EXT_API std::uint64_t ttl_value_hash(ByteView key) noexcept;
SRD_EXT_API std::uint64_t ttl_registry_hash(ByteView key) noexcept;

// What a registry entry says (the format above), for tools that walk a store's entries
// or records and need to tell registry entries from values: the TTL value's key hash
// and its registered expiry (UNIX seconds, or kNeverExpires).
struct TtlRegistration {
  std::uint64_t value_hash = 0;
  std::uint64_t expiry = 0;
  std::uint32_t checksum = 0;  // the CRC-32 of the TTL value's payload when registered
  friend bool operator==(const TtlRegistration&, const TtlRegistration&) = default;
};
// The registration `entry` holds, or nullopt if it is not a registry entry: 20 bytes
// whose first 8 derive the entry's own key hash (anything else matches only by a
// 64-bit hash collision).
SRD_EXT_API std::optional<TtlRegistration> ttl_registration_in(const EntryHandle& entry) noexcept;

// The original's names, on the system clock.
SRD_EXT_API std::uint64_t write_with_ttl(DataStore& store, ByteView key, ByteView value, std::uint64_t ttl_secs);
SRD_EXT_API std::optional<EntryValue> read_with_ttl(const DataStore& store, ByteView key);
SRD_EXT_API TtlRemaining ttl_remaining(const DataStore& store, ByteView key);
SRD_EXT_API bool remove_with_ttl(DataStore& store, ByteView key);
SRD_EXT_API std::size_t purge_expired(DataStore& store);
SRD_EXT_API std::size_t compact_dropping_expired(DataStore& store);

// Typed, on the system clock. A value that converts to ByteView is stored as bytes by
// the function above (the same bytes its codec would give).
template <class T, class C = Codec<T>>
  requires(CodecFor<C, T> && !std::is_convertible_v<const T&, ByteView>)
std::uint64_t write_with_ttl(DataStore& store, ByteView key, const T& value, std::uint64_t ttl_secs) {
  return TtlCache(store).write<T, C>(key, value, ttl_secs);
}
template <class T, class C = Codec<T>>
  requires CodecFor<C, T>
std::optional<T> read_with_ttl(const DataStore& store, ByteView key) {
  std::optional<EntryValue> stored = read_with_ttl(store, key);
  if (!stored) return std::nullopt;
  return C::decode(stored->view());
}

}  // namespace simd_r_drive::extensions

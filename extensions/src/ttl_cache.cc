#include "simd_r_drive/extensions/ttl_cache.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <mutex>
#include <string>

#include <simd_r_drive/error.h>
#include <simd_r_drive/hashing.h>

#include "little_endian.h"

namespace simd_r_drive::extensions {

namespace {

using internal::load_u32_le;
using internal::load_u64_le;
using internal::store_u32_le;
using internal::store_u64_le;

// A registry entry's value: the TTL entry's key hash, its expiry, the CRC-32 of its
// payload (ttl_cache.h).
constexpr std::size_t kRegistrationSize = 20;

std::uint64_t expiry_after(std::uint64_t now, std::uint64_t ttl_secs) noexcept {
  return ttl_secs > kNeverExpires - now ? kNeverExpires : now + ttl_secs;
}

// As the original: expired once now reaches the expiry. kNeverExpires never is, even
// for a clock that reads UINT64_MAX.
bool has_expired(std::uint64_t expiry, std::uint64_t now) noexcept { return expiry != kNeverExpires && now >= expiry; }

// The key hash of the registry entry that describes the TTL entry with `ttl_hash`.
std::uint64_t registry_hash_for(std::uint64_t ttl_hash) noexcept {
  static const NamespaceHasher hasher{ByteView(kTtlRegistryPrefix)};
  return compute_hash(hasher.namespace_key(internal::u64_le(ttl_hash)));
}

struct Registration {
  std::uint64_t registry_hash;
  std::uint64_t ttl_hash;
  std::uint64_t expiry;
  std::uint32_t checksum;
};

std::optional<Registration> registration_in(const EntryHandle& entry) noexcept {
  const std::optional<TtlRegistration> found = ttl_registration_in(entry);
  if (!found) return std::nullopt;
  return Registration{entry.key_hash(), found->value_hash, found->expiry, found->checksum};
}

enum class Verdict {
  kLive,     // the TTL value is the registered one and has not expired
  kExpired,  // the TTL value is the registered one and has expired
  kStale,    // the TTL value is gone, or is no longer the one registered
};

Verdict judge(const DataStore& store, const Registration& registration, std::uint64_t now) {
  const std::optional<EntryHandle> value = store.read_with_key_hash(registration.ttl_hash);
  if (!value || value->size() < kTtlHeaderSize || load_u64_le(value->data()) != registration.expiry ||
      value->checksum() != registration.checksum) {
    return Verdict::kStale;
  }
  return has_expired(registration.expiry, now) ? Verdict::kExpired : Verdict::kLive;
}

// Serialises this library's TTL writes, removes and purges of one store file, so a
// purge decides and removes with no TTL write in between. Keyed by the store's
// resolved path: only one writable DataStore per file exists in a process (and in the
// machine), so the path names it.
std::mutex& mutation_lock(const DataStore& store) {
  static std::array<std::mutex, 64> stripes;
  return stripes[std::hash<std::string>{}(store.path().native()) % stripes.size()];
}

// The expiry in a TTL value's header. Throws for a value too short to have one.
std::uint64_t expiry_of(const EntryHandle& value) {
  if (value.size() < kTtlHeaderSize) {
    throw Error(ErrorCode::kInvalidArgument,
                "the value under this TTL key is " + std::to_string(value.size()) +
                    " bytes, too short for the 8-byte expiry header: it was not written by write_with_ttl");
  }
  return load_u64_le(value.data());
}

std::optional<EntryValue> read_at(const DataStore& store, ByteView key, std::uint64_t now) {
  std::optional<EntryHandle> value = store.read(ttl_key(key));
  if (!value) return std::nullopt;
  if (has_expired(expiry_of(*value), now)) return std::nullopt;
  return EntryValue(std::move(*value), kTtlHeaderSize);
}

TtlRemaining remaining_at(const DataStore& store, ByteView key, std::uint64_t now) {
  const std::optional<EntryHandle> value = store.read(ttl_key(key));
  if (!value) return {};
  const std::uint64_t expiry = expiry_of(*value);
  if (expiry == kNeverExpires) return {TtlRemaining::State::kNoExpiry, 0};
  if (has_expired(expiry, now)) return {};
  return {TtlRemaining::State::kExpiresIn, expiry - now};
}

void require_writable(const DataStore& store, const char* what) {
  if (store.is_read_only()) {
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + " needs a store open for writing");
  }
}

}  // namespace

std::uint64_t system_clock_seconds() noexcept {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
  return seconds < 0 ? 0 : static_cast<std::uint64_t>(seconds);
}

TtlCache::TtlCache(DataStore& store, Clock clock) : store_(&store), clock_(std::move(clock)) {
  if (!clock_) throw Error(ErrorCode::kInvalidArgument, "TtlCache needs a clock");
}

TtlEntries ttl_entries(ByteView key, ByteView value, std::uint64_t expiry) {
  TtlEntries entries;
  entries.value_hash = compute_hash(ttl_key(key));
  entries.registry_hash = registry_hash_for(entries.value_hash);
  entries.value.resize(kTtlHeaderSize + value.size());
  store_u64_le(expiry, entries.value.data());
  if (!value.empty()) std::copy(value.data(), value.data() + value.size(), entries.value.begin() + kTtlHeaderSize);
  store_u64_le(entries.value_hash, entries.registration.data());
  store_u64_le(expiry, entries.registration.data() + 8);
  store_u32_le(compute_checksum(entries.value), entries.registration.data() + 16);
  return entries;
}

std::uint64_t ttl_value_hash(ByteView key) noexcept { return compute_hash(ttl_key(key)); }
std::uint64_t ttl_registry_hash(ByteView key) noexcept { return registry_hash_for(ttl_value_hash(key)); }

std::optional<TtlRegistration> ttl_registration_in(const EntryHandle& entry) noexcept {
  if (entry.size() != kRegistrationSize) return std::nullopt;
  const std::uint64_t ttl_hash = load_u64_le(entry.data());
  if (registry_hash_for(ttl_hash) != entry.key_hash()) return std::nullopt;
  return TtlRegistration{ttl_hash, load_u64_le(entry.data() + 8), load_u32_le(entry.data() + 16)};
}

std::uint64_t TtlCache::write(ByteView key, ByteView value, std::uint64_t ttl_secs) {
  const TtlEntries entries = ttl_entries(key, value, expiry_after(clock_(), ttl_secs));
  // One batch: the value and its registration reach the file in one append, so no
  // crash leaves one without the other.
  const HashedPayload items[] = {{entries.value_hash, ByteView(entries.value)},
                                 {entries.registry_hash, ByteView(entries.registration)}};
  std::lock_guard lock(mutation_lock(*store_));
  return store_->batch_write_with_key_hashes(items);
}

std::optional<EntryValue> TtlCache::read(ByteView key) const { return read_at(*store_, key, clock_()); }

TtlRemaining TtlCache::ttl_remaining(ByteView key) const { return remaining_at(*store_, key, clock_()); }

bool TtlCache::remove(ByteView key) {
  require_writable(*store_, "remove_with_ttl");
  const std::uint64_t ttl_hash = compute_hash(ttl_key(key));
  const std::uint64_t now = clock_();
  std::lock_guard lock(mutation_lock(*store_));
  const std::optional<EntryHandle> value = store_->read_with_key_hash(ttl_hash);
  const bool live = value && value->size() >= kTtlHeaderSize && !has_expired(load_u64_le(value->data()), now);
  const std::uint64_t hashes[] = {ttl_hash, registry_hash_for(ttl_hash)};
  store_->batch_remove_key_hashes(hashes);
  return live;
}

std::size_t TtlCache::purge_expired() {
  require_writable(*store_, "purge_expired");
  const std::uint64_t now = clock_();
  // Find the registry entries without the lock (a walk over the whole store)...
  std::vector<std::uint64_t> registry_hashes;
  for (const EntryHandle& entry : store_->iter_entries()) {
    if (const auto registration = registration_in(entry)) registry_hashes.push_back(registration->registry_hash);
  }
  // ...then judge each anew under it: a TTL write that came in between is seen, and
  // none can come in between the judgement and the removal.
  std::lock_guard lock(mutation_lock(*store_));
  std::vector<std::uint64_t> removals;
  std::size_t expired = 0;
  for (const std::uint64_t registry_hash : registry_hashes) {
    const std::optional<EntryHandle> entry = store_->read_with_key_hash(registry_hash);
    const std::optional<Registration> registration = entry ? registration_in(*entry) : std::nullopt;
    if (!registration) continue;  // removed meanwhile
    switch (judge(*store_, *registration, now)) {
      case Verdict::kExpired:
        removals.push_back(registration->ttl_hash);
        removals.push_back(registry_hash);
        ++expired;
        break;
      case Verdict::kStale:
        // Only the registration goes: the value under the TTL key (if any) is not
        // the one it describes, and nothing says whether that one is a TTL value.
        removals.push_back(registry_hash);
        break;
      case Verdict::kLive:
        break;
    }
  }
  if (!removals.empty()) store_->batch_remove_key_hashes(removals);
  return expired;
}

std::size_t TtlCache::compact_dropping_expired() {
  const std::size_t dropped = purge_expired();
  store_->compact();
  return dropped;
}

std::uint64_t write_with_ttl(DataStore& store, ByteView key, ByteView value, std::uint64_t ttl_secs) {
  return TtlCache(store).write(key, value, ttl_secs);
}

std::optional<EntryValue> read_with_ttl(const DataStore& store, ByteView key) {
  return read_at(store, key, system_clock_seconds());
}

TtlRemaining ttl_remaining(const DataStore& store, ByteView key) {
  return remaining_at(store, key, system_clock_seconds());
}

bool remove_with_ttl(DataStore& store, ByteView key) { return TtlCache(store).remove(key); }

std::size_t purge_expired(DataStore& store) { return TtlCache(store).purge_expired(); }

std::size_t compact_dropping_expired(DataStore& store) { return TtlCache(store).compact_dropping_expired(); }

}  // namespace simd_r_drive::extensions

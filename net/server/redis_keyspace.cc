#include "server/redis_keyspace.h"

#include <optional>
#include <unordered_set>

#include <simd_r_drive/records.h>

namespace simd_r_drive::net::server {

namespace ext = simd_r_drive::extensions;

KeyspaceCounts RedisKeyspace::count(const DataStore& store, std::uint64_t now_ms) {
  std::lock_guard lock(mutex_);
  catch_up(store);
  const std::uint64_t entries = store.len();
  const std::uint64_t now_secs = now_ms / 1000;
  // Entries that are not keys to Redis: every registry entry, and each expired TTL
  // value still stored.
  std::uint64_t not_keys = registrations_.size();
  KeyspaceCounts counts;
  double ttl_ms_sum = 0;
  for (const auto& [registry_hash, registration] : registrations_) {
    if (registration.expiry == ext::kNeverExpires) continue;
    if (now_secs >= registration.expiry) {
      if (store.exists_with_key_hash(registration.value_hash)) ++not_keys;
      continue;
    }
    ++counts.expires;
    ttl_ms_sum += static_cast<double>(registration.expiry - now_secs) * 1000.0 - static_cast<double>(now_ms % 1000);
  }
  // A write between the walk and len() can skew the difference by an entry or two
  // for this one answer; never below zero.
  counts.keys = entries > not_keys ? entries - not_keys : 0;
  if (counts.expires > 0) {
    counts.avg_ttl_ms = static_cast<std::uint64_t>(ttl_ms_sum / static_cast<double>(counts.expires));
  }
  return counts;
}

void RedisKeyspace::catch_up(const DataStore& store) {
  if (walked_to_tail_ == 0) return take_all(store);
  // The records appended since the last walk, newest first, down to the one that walk
  // began with. Only their key hashes are kept, and only those that are or were
  // registry entries: what each one holds now is read from the index afterwards, so
  // memory follows the TTL writes, not the writes.
  std::unordered_set<std::uint64_t> touched;
  std::optional<RecordInfo> newest;
  bool met = false;
  for (const RecordInfo& record : store.iter_records(RecordOrder::kNewestFirst)) {
    if (!newest) newest = record;
    if (record.tail <= walked_to_tail_) {
      met = record.tail == walked_to_tail_ && record.metadata().key_hash == walked_to_key_hash_ &&
            record.metadata().checksum == walked_to_checksum_;
      break;
    }
    const std::uint64_t key_hash = record.metadata().key_hash;
    if (registrations_.contains(key_hash) || ext::ttl_registration_in(record.entry)) touched.insert(key_hash);
  }
  if (!met) return take_all(store);  // compacted (or emptied) since the last walk
  for (const std::uint64_t key_hash : touched) {
    const std::optional<EntryHandle> current = store.read_with_key_hash(key_hash);
    const std::optional<ext::TtlRegistration> registration =
        current ? ext::ttl_registration_in(*current) : std::nullopt;
    if (registration) {
      registrations_[key_hash] = *registration;
    } else {
      registrations_.erase(key_hash);
    }
  }
  remember_newest(*newest);
}

void RedisKeyspace::take_all(const DataStore& store) {
  registrations_.clear();
  walked_to_tail_ = 0;
  // The newest record first: the live entries listed next include it and anything
  // written after it, which the next walk takes in again (to no effect).
  RecordRange records = store.iter_records(RecordOrder::kNewestFirst);
  auto newest = records.begin();
  if (newest == std::default_sentinel) return;  // an empty store
  const RecordInfo newest_record = *newest;
  for (const EntryHandle& entry : store.iter_entries()) {
    if (auto registration = ext::ttl_registration_in(entry)) registrations_[entry.key_hash()] = *registration;
  }
  remember_newest(newest_record);
}

void RedisKeyspace::remember_newest(const RecordInfo& record) {
  walked_to_tail_ = record.tail;
  walked_to_key_hash_ = record.metadata().key_hash;
  walked_to_checksum_ = record.metadata().checksum;
}

}  // namespace simd_r_drive::net::server

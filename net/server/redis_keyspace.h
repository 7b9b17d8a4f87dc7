// What DBSIZE and INFO's keyspace section report: the keys as Redis sees them
// (docs/redis.md, "Keys and values").
//
// The store counts entries, and a key with an expiry is two of them: its TTL value and
// the TTL extension's registry entry. So the number of keys is the store's len(),
// less the registry entries, less the TTL values that have expired but are still
// stored (Redis no longer counts those either). The registry entries are found by
// listing the live entries once, then on each count walking only the records
// appended since the last one (newest first, down to the newest record of the last
// walk), keeping only the key hashes of registry entries among them and reading what
// each holds now from the index. A walk that does not meet the record it stopped at
// (the file was compacted since) lists the live entries afresh. Registry entries
// written by any door (RESP's SET EX, the WebSocket protocol's write_with_ttl, Python,
// the C++ extensions) count.
//
// Thread-safety: count() may be called from any thread; calls are serialised.
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>

#include <simd_r_drive/data_store.h>
#include <simd_r_drive/records.h>
#include <simd_r_drive/extensions/ttl_cache.h>

namespace simd_r_drive::net::server {

struct KeyspaceCounts {
  std::uint64_t keys = 0;        // DBSIZE
  std::uint64_t expires = 0;     // keys with an expiry that has not passed
  std::uint64_t avg_ttl_ms = 0;  // their mean time left, in milliseconds (0 if none)
};

class RedisKeyspace {
 public:
  // The counts at `now_ms` (UNIX milliseconds).
  KeyspaceCounts count(const DataStore& store, std::uint64_t now_ms);

 private:
  // Brings registrations_ up to the store's current records.
  void catch_up(const DataStore& store);
  // Lists every live registry entry afresh.
  void take_all(const DataStore& store);
  void remember_newest(const RecordInfo& record);

  std::mutex mutex_;
  // The live registry entries, by their own key hash.
  std::unordered_map<std::uint64_t, extensions::TtlRegistration> registrations_;
  // The newest record the last walk took in: where the next walk stops.
  std::uint64_t walked_to_tail_ = 0;
  std::uint64_t walked_to_key_hash_ = 0;
  std::uint32_t walked_to_checksum_ = 0;
};

}  // namespace simd_r_drive::net::server

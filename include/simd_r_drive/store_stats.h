// What a store holds, by kind of record (DataStore::stats()).
//
// Thread-safety: a value type.
#pragma once

#include <cstdint>

namespace simd_r_drive {

struct StoreStats {
  std::uint64_t file_size = 0;           // the store's tail: its length when closed
  std::uint64_t entries = 0;             // records on the chain, tombstones included
  std::uint64_t live_keys = 0;           // keys with a current value
  std::uint64_t tombstones = 0;          // delete markers
  std::uint64_t stale_entries = 0;       // older values of keys written again, values of deleted keys
  std::uint64_t live_payload_bytes = 0;  // bytes of the live values
  std::uint64_t reclaimable_bytes = 0;   // what compact() would free now (exact)
};

}  // namespace simd_r_drive

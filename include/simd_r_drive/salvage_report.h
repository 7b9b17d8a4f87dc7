// What DataStore::salvage() did.
//
// Thread-safety: a value type.
#pragma once

#include <cstdint>
#include <vector>

namespace simd_r_drive {

struct SalvageReport {
  std::uint64_t source_size = 0;  // bytes in the source file
  // The chain of complete entries at the start of the source, copied as it is: the
  // source's bytes [0, kept_bytes), holding kept_entries entries.
  std::uint64_t kept_bytes = 0;
  std::uint64_t kept_entries = 0;
  // Entries found after records that swallow the chain below them (another writer's
  // appends after a crashed writer's reserved space, or entries above a zero-filled
  // page; docs/format.md), moved onto the kept ones with new back-links.
  std::uint64_t moved_entries = 0;
  std::vector<std::uint64_t> swallowing_records;  // their offsets in the source, newest first
  std::uint64_t target_size = 0;                  // bytes written to the target
};

}  // namespace simd_r_drive

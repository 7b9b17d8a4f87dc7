// What DataStore::verify() found. verify() only reads; it never changes the file.
//
// Thread-safety: value types.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace simd_r_drive {

struct CorruptEntry {
  std::uint64_t metadata_offset = 0;  // where the entry's 20-byte record starts
  std::uint64_t payload_offset = 0;
  std::uint64_t payload_size = 0;
  std::uint64_t key_hash = 0;
  std::uint32_t stored_checksum = 0;
  std::uint32_t computed_checksum = 0;
};

struct VerifyReport {
  std::uint64_t file_size = 0;      // bytes covered by the chain (the store's tail)
  std::uint64_t entries = 0;        // records on the chain, tombstones included
  std::uint64_t tombstones = 0;
  std::uint64_t live_keys = 0;
  std::uint64_t bytes_checked = 0;  // payload bytes whose checksum was recomputed
  bool chain_intact = true;         // the backward chain reaches offset 0 cleanly
  std::string chain_error;          // why it does not, when chain_intact is false
  std::vector<CorruptEntry> corrupt_entries;

  // Bytes in the file past the tail. A writer preallocates space there (zeros), and a
  // write in progress or a torn write leaves bytes there.
  std::uint64_t trailing_bytes = 0;
  // Whether a writer holds the store (this store, if it was opened for writing). The
  // trailing bytes are then its preallocation or its write in progress: not judged.
  bool writer_active = false;
  // Without an active writer: the trailing bytes hold something other than zeros and
  // the padding record (a torn write or garbage, which opening the store for writing
  // cuts off).
  bool trailing_bytes_damaged = false;
  // Where the padding record lies, 0 if there is none. A writer's reserved space ends
  // with it (docs/format.md, "The padding record"): a record under the reserved hash
  // kPaddingKeyHash whose back-link is the tail, so that the Rust original, reading a
  // file its writer left after a crash, finds the entries. Part of the trailing
  // bytes; never damage; opening the store for writing removes it.
  std::uint64_t padding_record_offset = 0;
  // The tail that record names (it may lag the store's tail while a writer syncs).
  std::uint64_t padding_record_names_tail = 0;

  bool ok() const noexcept { return chain_intact && corrupt_entries.empty() && !trailing_bytes_damaged; }
};

}  // namespace simd_r_drive

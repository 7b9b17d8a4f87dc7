// Finding the end of the valid data in a store file (open-time recovery).
//
// The file has no header and no length field: entries are found from their
// trailing metadata, and the chain runs backwards from the end. Recovery answers one
// question: what is the largest offset T such that the bytes [0, T) are a chain of
// complete entries? Everything after T (a torn write, appended garbage, zero-filled
// preallocation left by a crash) is what open cuts off.
//
// Rules (docs/format.md, "Recovery"):
//  * A candidate tail T is accepted when its record's back-links reach offset 0
//    through well-formed entries, and the checksum of the candidate's own payload
//    matches. Older entries are checked for structure only, so a flipped bit deep in
//    the file never makes recovery throw away the entries written after it (verify()
//    reports it instead).
//  * The end of the file is tried first; on a clean file that is the only candidate.
//  * The last entry must match its checksum. A damaged last value cannot be told
//    from a torn write (a cut inside a payload can leave bytes that parse as a
//    record), so it is cut off like one, and open logs it.
//  * Otherwise candidates are tried downward from just past the last non-zero byte,
//    so a zero-filled tail is skipped in one pass and never taken for an entry.
//  * Work is linear in the file size: chain walks are memoised, and checksums of
//    candidates that share a payload start are extended or shrunk incrementally.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace simd_r_drive::engine {

struct RecoveryStats {
  std::uint64_t candidates_examined = 0;  // tail positions looked at
  std::uint64_t chain_steps = 0;          // back-links followed, all walks together
  std::uint64_t checksum_bytes = 0;       // bytes fed forward or backward through CRC-32
};

struct RecoveryResult {
  std::uint64_t valid_tail = 0;  // [0, valid_tail) is the store; 0 if nothing valid
  // Tails of the entries on the accepted chain, newest first (empty if valid_tail
  // is 0). The index is built from it without walking the chain again.
  std::vector<std::uint64_t> chain_tails;
  RecoveryStats stats;
};

// `file` holds the file's first `file_len` bytes. Never reads outside them.
RecoveryResult find_valid_tail(const std::byte* file, std::uint64_t file_len);

// For a file whose prefix [0, trusted_tail) is known to be good (an index snapshot
// covers it): if the whole file is that prefix plus complete entries (back-links from
// the end land exactly on trusted_tail, and the last entry matches its checksum),
// returns the tails above trusted_tail, newest first. Otherwise nullopt, and the
// caller falls back to find_valid_tail.
std::optional<std::vector<std::uint64_t>> tails_above(const std::byte* file, std::uint64_t file_len,
                                                      std::uint64_t trusted_tail);

// After a crash of the last writer: checks the checksum of every entry on `result`'s
// chain that ends above `durable_tail` (what its last sync covered), and cuts the
// chain just below the oldest one that fails, since a power loss may have written
// back only some of those pages. Entries at or below `durable_tail` are left alone
// (damage there is bit rot, which verify() reports). Returns how many entries were
// cut (0: nothing changed).
std::size_t cut_unsynced_damage(const std::byte* file, RecoveryResult& result, std::uint64_t durable_tail);

// If `tail` (0 included) is on `result`'s chain and below its end, cuts the chain to
// end there and returns true. Otherwise (not on the chain, or nothing above it)
// leaves `result` alone and returns false.
bool cut_to_tail(RecoveryResult& result, std::uint64_t tail);

}  // namespace simd_r_drive::engine

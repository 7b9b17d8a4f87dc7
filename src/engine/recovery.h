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
//  * recover_store (below) wraps find_valid_tail for open: a padding record at the
//    very end of the file (format/entry_layout.h) is not part of the store, and a
//    chain that runs through a padding or zero-filled record is recovered below it.
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
  // Positions in chain_tails of records that may swallow part of the file: padding
  // records and all-zero records (recover_store sorts them out), newest first.
  std::vector<std::size_t> suspects;
  RecoveryStats stats;
};

// `file` holds the file's first `file_len` bytes. Never reads outside them.
RecoveryResult find_valid_tail(const std::byte* file, std::uint64_t file_len);

// Where the data of a file ends that may end with a padding record
// (format/entry_layout.h): the record's offset if the last 20 bytes are one, else
// `file_len`. What lies before the record is reserved space: zeros, or a write that
// was in progress.
std::uint64_t end_before_padding(const std::byte* file, std::uint64_t file_len) noexcept;

// Records that swallow the entries below them. Read as an entry, a padding record's
// payload, or an all-zero record's (whose back-link is 0), covers everything below
// it; a chain that passes through one hides the chain below. That happens when:
//  * another writer (the Rust original) appended to a file a crash left, after its
//    reserved space: the space ends with a padding record, or, in files from
//    versions of this engine before the padding record, with 20 zero bytes at a
//    multiple of 2 MiB (where its reserved space always ended). The entries above
//    are kept, to be moved down onto this engine's own chain ("foreign" entries);
//  * a power loss kept a later page of this engine's own writes but not the earlier
//    page that held a record: that record reads as zeros. The entries above it are
//    unsynced writes whose predecessors are lost, and go, as open drops entries above
//    any damaged unsynced one.
// recover_store recovers the chain below such records (docs/format.md, "When the
// original wrote after a crash").
struct SwallowingPolicy {
  // The tail a crashed writer of this very file last published (its lock file), if
  // any: an all-zero record at or below it held one of that writer's own entries.
  std::optional<std::uint64_t> crashed_tail;
  // After a power loss: what the crashed writer's last sync covered. An all-zero
  // record above it is a page of its own that did not reach the disk.
  std::optional<std::uint64_t> unsynced_above;
  // Salvage: every all-zero record that fails its checksum with a chain below it is
  // undone, and the entries above it are kept (as foreign ones) whatever their origin.
  bool keep_everything = false;
};

struct StoreRecovery {
  // This engine's own entries: the chain recovered below the lowest swallowing record
  // (the whole file when there is none), a padding record at the very end excluded.
  RecoveryResult own;
  // Entries appended after a swallowing record by another writer, as tails in the
  // file, newest first.
  std::vector<std::uint64_t> foreign_tails;
  // Those records' metadata offsets, newest first (empty: no foreign entries).
  std::vector<std::uint64_t> swallowers;
  // Entries above a record lost to a power loss, dropped; and that record's offset.
  std::size_t dropped_above_lost_page = 0;
  std::uint64_t lost_record = 0;
};

// At most this many swallowing records are undone, each costing a recovery pass.
inline constexpr std::size_t kMaxSwallowingRecords = 8;

// Recovers the store held in `file` (see StoreRecovery). Throws Error(kCorruption)
// if more than kMaxSwallowingRecords swallowing records are stacked.
StoreRecovery recover_store(const std::byte* file, std::uint64_t file_len, const SwallowingPolicy& policy = {});

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

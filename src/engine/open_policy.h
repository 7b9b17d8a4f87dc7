// The crash policy of open: what of a store file to trust, and what to cut off.
//
//  * A clean close left an index snapshot that still matches the file: the index
//    comes from it, and only entries appended after it are checked (index_snapshot.h).
//  * Otherwise the chain is recovered from the end of the file (recovery.h): a torn
//    write, trailing garbage, or a last value that fails its checksum is cut off.
//  * The lock file shows that this engine's last writer died without closing:
//      - in this same boot (the process died, the machine did not), the page cache is
//        intact and the tail the writer last published is the end of its last
//        complete write; entries past it were a batch or rename cut short, so they go;
//      - after a machine crash, pages may have reached the disk in any order, so every
//        entry past what the writer's last sync covered has its checksum checked, and
//        the chain is cut below the oldest that fails.
//  * A padding record at the end of the file (what a writer's reserved space ends
//    with, format/entry_layout.h) is not part of the store: recovery starts below it.
//  * When another writer (the Rust original) appended entries after a crash-left
//    file's reserved space, a padding or zero-filled record swallows our entries in
//    the chain (recovery.h, recover_store). A writable open moves those later
//    entries down onto the end of our own chain with new back-links, logging it, if
//    they fit below the swallowing record (so the chain stays intact until the file
//    is cut); otherwise, and in a read-only open, it refuses with kCorruption and
//    names the offsets, and DataStore::salvage keeps every entry.
//  * A non-empty file with no complete entry at all is refused (kCorruption) unless
//    the lock file shows our own writer crashed on it, or repair_unrecoverable is set.
//  * A read-only open never changes the file: what it would cut, it just does not read.
//
// Thread-safety: called by the store's writer or follower while it loads, under the
// publication's change mutex.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "engine/lock_file.h"
#include "engine/publication.h"
#include "engine/recovery.h"
#include "engine/store_state.h"
#include "io/file_handle.h"
#include "simd_r_drive/options.h"

namespace simd_r_drive::engine {

struct OpenedStore {
  std::shared_ptr<Generation> generation;
  std::uint64_t file_length = 0;  // the file's length after any cut
  bool from_snapshot = false;
  std::optional<std::uint64_t> snapshot_covers;  // the tail the snapshot on disk covers
};

struct OpenRequest {
  const std::filesystem::path& path;
  const OpenOptions& options;
  io::FileIdentity identity;
  // What the last writer left in the lock file (writers only; nullopt otherwise).
  std::optional<LockFile::State> previous;
  // Advise 2 MiB folios for the mapping past the tail (Appender::huge_folios).
  bool huge_folios = false;
  // Writers: called before open rewrites part of the file to move entries another
  // writer appended (see above), with the tail of our own entries. The writer marks
  // the store as open at that tail in its lock file, so that a crash during the move
  // makes the next open start it over rather than keep half of it.
  std::function<void(std::uint64_t)> before_repair;
};

// Loads the store held in the first `file_len` bytes of `file` into a new generation
// (not yet published). A writable open may cut the file; a read-only one never does.
OpenedStore open_store(io::FileHandle& file, std::uint64_t file_len, const OpenRequest& request,
                       const Publication& publication);

// The generation of a store held in memory that something else maps (a value of
// another store). Nothing is cut: unless the whole of it is a chain of complete
// entries, the last one matching its checksum, it is refused with kCorruption.
std::shared_ptr<Generation> open_nested_store(std::shared_ptr<io::Mapping> value);

// For a read-only open of a file whose last writer of this engine crashed: the open
// reads up to the tail that writer published, and what another writer appended after
// its reserved space lies beyond. Throws Error(kCorruption) if recover_store finds
// such entries in the file, naming them; nothing is changed. Cheap when the file
// ends with a padding record (then nobody appended after it).
void refuse_foreign_appends(io::FileHandle& file, std::uint64_t file_len, const std::filesystem::path& path,
                            std::uint64_t crashed_tail);

// One sentence on what recover_store found when another writer appended after
// swallowing records (found.swallowers not empty): counts and offsets.
std::string describe_foreign_entries(const std::filesystem::path& path, const std::byte* file,
                                     const StoreRecovery& found);

// Deletes what crashed compactions and snapshot saves left beside the store
// ("<name>.compact-*.tmp", "<name>.index.tmp-*"). Called with the writer's lock held,
// so no compaction or save of this store is running.
void remove_stale_temporaries(const std::filesystem::path& store) noexcept;

}  // namespace simd_r_drive::engine

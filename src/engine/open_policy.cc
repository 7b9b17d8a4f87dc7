#include "engine/open_policy.h"

#include <string>
#include <utility>
#include <vector>

#include "engine/foreign_entries.h"
#include "engine/index_snapshot.h"
#include "engine/index_upkeep.h"
#include "engine/logger.h"
#include "engine/recovery.h"
#include "format/entry_layout.h"
#include "simd_r_drive/error.h"
#include "simd_r_drive/store_files.h"

namespace simd_r_drive::engine {

namespace {

// The generation of a recovered chain.
std::shared_ptr<Generation> generation_from_chain(std::shared_ptr<io::Mapping> mapping, const RecoveryResult& recovery) {
  // Pair each entry on the chain with its key hash and kind, newest first.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;
  entries.reserve(recovery.chain_tails.size());
  const std::byte* base = mapping->data();
  for (const std::uint64_t tail : recovery.chain_tails) {
    const std::optional<format::Record> record = format::decode_record(base, tail, tail);
    if (!record) continue;  // recovery decoded every tail it returned; never taken
    entries.emplace_back(record->metadata.key_hash, record->payload.tombstone ? tail | kTombstoneMark : tail);
  }
  return build_generation(std::move(mapping), recovery.valid_tail, entries, false);
}

std::optional<OpenedStore> open_from_snapshot(const std::shared_ptr<io::Mapping>& mapping, std::uint64_t file_len,
                                              const OpenRequest& request, const Publication& publication) {
  if (file_len == 0 || request.options.index_snapshot_min_keys == SIZE_MAX) return std::nullopt;
  // A block of the snapshot found damaged after open: the index as of the
  // snapshot's tail, from the store's own chain.
  IndexRebuild rebuild = [mapping, path = request.path](std::uint64_t covered_tail) {
    log_warning("The index snapshot of '" + path.string() +
                "' fails a block checksum: answering from an index rebuilt from the store instead.");
    const StoreRecovery found = recover_store(mapping->data(), covered_tail);
    return std::move(generation_from_chain(mapping, found.own)->table_owner);
  };
  std::optional<LoadedSnapshot> snapshot = load_snapshot(request.path, mapping->data(), file_len, std::move(rebuild));
  if (!snapshot) return std::nullopt;
  auto newer = tails_above(mapping->data(), file_len, snapshot->covered_tail);
  if (!newer) return std::nullopt;
  auto generation = std::make_shared<Generation>();
  generation->table_owner = std::move(snapshot->table);
  generation->table.store(generation->table_owner.get(), std::memory_order_seq_cst);
  generation->saved_live_bits = std::move(snapshot->load_live_bits);
  generation->live_count.store(snapshot->live_count, std::memory_order_seq_cst);
  generation->publish_mapping(mapping);
  // index_appended's first change reads the saved LiveBits: they must see the tail
  // they were saved for, not 0.
  generation->tail.store(snapshot->covered_tail, std::memory_order_seq_cst);
  index_appended(publication, *generation, *newer);  // entries appended after the snapshot was taken
  generation->tail.store(file_len, std::memory_order_seq_cst);
  return OpenedStore{std::move(generation), file_len, true, snapshot->covered_tail};
}

}  // namespace

std::string describe_foreign_entries(const std::filesystem::path& path, const std::byte* file,
                                     const StoreRecovery& found) {
  const std::uint64_t lowest = found.swallowers.back();
  const std::uint64_t oldest_foreign_start =
      format::decode_record(file, found.foreign_tails.back(), found.foreign_tails.back())->metadata.prev_offset;
  const bool padding =
      format::is_padding(format::decode_metadata(file + lowest));
  std::string text = "'" + path.string() + "': " + std::to_string(found.foreign_tails.size()) +
                     " entries at offsets " + std::to_string(oldest_foreign_start) + ".." +
                     std::to_string(found.foreign_tails.front()) +
                     " were appended by another writer (the Rust original?) after " +
                     (padding ? "the padding record" : "a zero-filled record") + " at offset " +
                     std::to_string(lowest) + ", which ends the space a crashed writer had reserved past its tail " +
                     "and which a reader of the chain takes for one entry covering everything before it; this " +
                     "engine's own entries end at offset " + std::to_string(found.own.valid_tail);
  if (found.swallowers.size() > 1) {
    text += " (" + std::to_string(found.swallowers.size()) + " such records are stacked)";
  }
  return text;
}

namespace {

// Moves the entries another writer appended after swallowing records down onto the
// end of our own chain (`own`), in the file itself, and cuts the file after them.
// The moved entries land below the lowest swallowing record, so until the cut the
// file's chain is the one it had: a crash on the way leaves the file as it was
// (the lock file, marked through before_repair, makes the next open cut what was
// moved and start over). Returns the repaired chain.
RecoveryResult move_foreign_entries(io::FileHandle& file, const std::byte* base, StoreRecovery found,
                                    const OpenRequest& request) {
  // Described now: the cut below takes the bytes the description reads away.
  const std::string what = describe_foreign_entries(request.path, base, found);
  RecoveryResult own = std::move(found.own);
  const MovedEntries moved = lay_out_moved_entries(base, found.foreign_tails, own.valid_tail);
  if (moved.end > found.swallowers.back()) {
    throw Error(ErrorCode::kCorruption,
                what +
                    ". Moving them onto this engine's entries would overwrite them before they are safe, so the "
                    "file was left unchanged: run 'simd-r-drive <store> salvage --to <new file>' (or "
                    "DataStore::salvage) to write every entry to a new file.");
  }
  if (request.before_repair) request.before_repair(own.valid_tail);
  file.pwrite_all(own.valid_tail, moved.pieces);
  // On the disk before the cut: a power loss must not keep the cut and lose the move.
  file.sync_data();
  file.truncate(moved.end);
  file.sync_data();
  log_warning(what + ". Moved them to offsets " +
              std::to_string(own.valid_tail) + ".." + std::to_string(moved.end) +
              " with new back-links and cut the file there; every entry is kept.");
  own.chain_tails.insert(own.chain_tails.begin(), moved.tails_newest_first.begin(), moved.tails_newest_first.end());
  own.suspects.clear();
  own.valid_tail = moved.end;
  return own;
}

OpenedStore open_by_recovery(io::FileHandle& file, std::shared_ptr<io::Mapping> mapping, std::uint64_t file_len,
                             const OpenRequest& request, const std::optional<LockFile::State>& crashed_writer) {
  const std::filesystem::path& path = request.path;
  const bool same_boot =
      crashed_writer && crashed_writer->boot_id != 0 && crashed_writer->boot_id == current_boot_id();
  SwallowingPolicy policy;
  if (crashed_writer) policy.crashed_tail = crashed_writer->tail;
  if (crashed_writer && !same_boot) policy.unsynced_above = crashed_writer->durable_tail;
  StoreRecovery found = recover_store(mapping->data(), file_len, policy);
  RecoveryResult& recovery = found.own;
  if (found.dropped_above_lost_page != 0) {
    log_warning("Recovered '" + path.string() + "' after a crash: the record at offset " +
                std::to_string(found.lost_record) + ", written after the last sync, reads as zeros (its page did "
                "not reach the disk); dropped the " + std::to_string(found.dropped_above_lost_page) +
                " entries written after it.");
  }
  if (same_boot && cut_to_tail(recovery, crashed_writer->tail)) {
    log_warning("Recovered '" + path.string() + "' after its writer died: kept offsets 0.." +
                std::to_string(recovery.valid_tail) +
                " (the end of its last complete write); the rest was a write in progress.");
  } else if (crashed_writer) {
    const std::uint64_t cut = cut_unsynced_damage(mapping->data(), recovery, crashed_writer->durable_tail);
    if (cut != 0) {
      log_warning("Recovered '" + path.string() + "' after a crash: an entry written after the last sync "
                  "fails its checksum; kept offsets 0.." + std::to_string(recovery.valid_tail) + ", dropped " +
                  std::to_string(cut) + " entries written after it.");
    }
  }
  if (!found.foreign_tails.empty()) {
    if (request.options.read_only) {
      throw Error(ErrorCode::kCorruption,
                  describe_foreign_entries(path, mapping->data(), found) +
                      ". A read-only open does not change the file: open it for writing once to move them into "
                      "place, or run 'simd-r-drive <store> salvage --to <new file>' (DataStore::salvage).");
    }
    const RecoveryResult repaired = move_foreign_entries(file, mapping->data(), std::move(found), request);
    return OpenedStore{generation_from_chain(std::move(mapping), repaired), repaired.valid_tail, false, std::nullopt};
  }
  if (request.options.read_only) {
    if (recovery.valid_tail == 0 && file_len > 0) {
      throw Error(ErrorCode::kCorruption, "'" + path.string() + "' holds no complete entry in its " +
                                              std::to_string(file_len) + " bytes: it is not a SIMD R Drive store.");
    }
  } else if (recovery.valid_tail == 0 && file_len > 0) {
    // The lock file shows that this engine's own writer crashed on this very file:
    // nothing it holds was ever a complete entry, so it is safe to empty.
    if (!request.options.repair_unrecoverable && !crashed_writer) {
      throw Error(ErrorCode::kCorruption,
                  "'" + path.string() + "' holds no complete entry in its " + std::to_string(file_len) +
                      " bytes: it is not a SIMD R Drive store, or its first write was torn. The file was "
                      "left unchanged; open it with repair_unrecoverable to empty it.");
    }
    log_warning("Emptied '" + path.string() + "': removed " + std::to_string(file_len) + " bytes at offsets 0.." +
                std::to_string(file_len) + " that hold no complete entry.");
    file.truncate(0);
  } else if (recovery.valid_tail < file_len) {
    log_warning("Recovered '" + path.string() + "': kept offsets 0.." + std::to_string(recovery.valid_tail) +
                ", removed " + std::to_string(file_len - recovery.valid_tail) + " bytes at offsets " +
                std::to_string(recovery.valid_tail) + ".." + std::to_string(file_len) +
                " (a torn write, trailing garbage, or a last entry that fails its checksum); file size " +
                std::to_string(file_len) + " -> " + std::to_string(recovery.valid_tail) + ".");
    file.truncate(recovery.valid_tail);
  }

  const std::uint64_t valid_tail = recovery.valid_tail;
  return OpenedStore{generation_from_chain(std::move(mapping), recovery), valid_tail, false, std::nullopt};
}

}  // namespace

OpenedStore open_store(io::FileHandle& file, std::uint64_t file_len, const OpenRequest& request,
                       const Publication& publication) {
  if (file_len > kMaxIndexedTail) {
    throw Error(ErrorCode::kInvalidArgument, "'" + request.path.string() + "' is " + std::to_string(file_len) +
                                                 " bytes long: the index addresses stores below 128 TiB");
  }
  // A writer that died without closing may have left bytes that never reached the
  // disk in a damaged state (after a power loss); such a store is loaded by recovery
  // with checksums, never from a snapshot.
  const auto& previous = request.previous;
  const bool crashed_before = previous && previous->identity == request.identity && !previous->clean;
  auto mapping =
      io::map_with_room(file.fd(), file_len, request.options.address_space_reservation, !request.options.read_only);
  // The written data is advised before open reads it (recovery reads the whole chain,
  // and without a snapshot a reader recovers too), except by a writer that keeps small
  // folios for its appends: it waits for the tail open settles on, because past it may
  // lie the space a crashed writer reserved, which its own appends will fill. (A reader
  // faults nothing past the tail it found; its readahead may reach into the 2 MiB range
  // that holds a live writer's tail, and no further.)
  const bool small_folio_writer = !request.options.read_only && !request.huge_folios;
  if (!small_folio_writer) mapping->advise_written_range(file_len);
  if (request.huge_folios) mapping->advise_append_zone(file_len);
  std::optional<OpenedStore> opened;
  if (!crashed_before) opened = open_from_snapshot(mapping, file_len, request, publication);
  if (!opened) {
    opened = open_by_recovery(file, mapping, file_len, request,
                              crashed_before ? previous : std::optional<LockFile::State>());
  }
  if (small_folio_writer) mapping->advise_written_range(opened->generation->tail.load(std::memory_order_relaxed));
  return std::move(*opened);
}

std::shared_ptr<Generation> open_nested_store(std::shared_ptr<io::Mapping> value) {
  const std::uint64_t size = value->capacity();
  const StoreRecovery found = recover_store(value->data(), size);
  const RecoveryResult& recovery = found.own;
  if (!found.foreign_tails.empty()) {
    throw Error(ErrorCode::kCorruption, describe_foreign_entries("the value", value->data(), found) +
                                            ": not a whole store (salvage it to a file first)");
  }
  if (recovery.valid_tail != size) {
    throw Error(ErrorCode::kCorruption,
                recovery.valid_tail == 0
                    ? "the value (" + std::to_string(size) + " bytes) is not a store: it holds no complete entry"
                    : "the value (" + std::to_string(size) + " bytes) is not a whole store: its chain of complete "
                                                             "entries ends at offset " +
                          std::to_string(recovery.valid_tail) + ", and the rest is damaged or not a store");
  }
  return generation_from_chain(std::move(value), recovery);
}

void refuse_foreign_appends(io::FileHandle& file, std::uint64_t file_len, const std::filesystem::path& path,
                            std::uint64_t crashed_tail) {
  if (file_len < format::kMinEntryTail) return;
  const io::Mapping mapping(file.fd(), file_len, false);
  if (end_before_padding(mapping.data(), file_len) != file_len) return;
  SwallowingPolicy policy;
  policy.crashed_tail = crashed_tail;
  const StoreRecovery found = recover_store(mapping.data(), file_len, policy);
  if (found.foreign_tails.empty()) return;
  throw Error(ErrorCode::kCorruption,
              describe_foreign_entries(path, mapping.data(), found) +
                  ". A read-only open does not change the file: open it for writing once to move them into place, "
                  "or run 'simd-r-drive <store> salvage --to <new file>' (DataStore::salvage).");
}

void remove_stale_temporaries(const std::filesystem::path& store) noexcept {
  // Each compaction and each snapshot save creates a fresh file with O_EXCL, and only
  // the writer, which holds the lock now, makes either: whatever is found is left by a
  // session that did not finish, and is deleted.
  std::error_code error;
  const std::filesystem::path directory = store.has_parent_path() ? store.parent_path() : ".";
  const StoreFiles files = StoreFiles::of(store);
  for (const auto& item : std::filesystem::directory_iterator(directory, error)) {
    const StoreFiles::Temporary temporary = files.temporary_named(item.path().filename().string());
    if (temporary == StoreFiles::Temporary::kNone) continue;
    const char* left_by =
        temporary == StoreFiles::Temporary::kCompaction ? "a compaction" : "an index snapshot save";
    std::error_code ignored;
    if (std::filesystem::remove(item.path(), ignored)) {
      log_warning("Removed '" + item.path().string() + "', left by " + left_by + " that did not finish.");
    }
  }
}

}  // namespace simd_r_drive::engine

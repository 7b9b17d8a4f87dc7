// DataStore: an append-only key/value store in one file, with zero-copy reads.
//
// Values are raw bytes stored under 64-bit key hashes (XXH3 of the key; the key
// itself is never stored). Every write appends; a delete appends a tombstone;
// compact() rewrites the file with live entries only. The file format is the Rust
// original's, byte for byte (docs/format.md).
//
// Every write method returns the store's tail after the write: the file length, that
// is the end of the last metadata record written (the original's convention).
//
// Thread-safety: a DataStore is safe to use from many threads at once. Writes
// (including compact()) are serialised by an internal mutex; reads never take it and
// never wait for a writer's I/O. Reads see every write that completed before they
// started. Only one DataStore per file may be open for writing at a time: opening
// for writing takes an exclusive OS lock on "<path>.lock", and a second writer, in
// this process or another, gets ErrorCode::kLocked. Read-only stores take no lock.
//
// Lifetime: handles keep the memory mapping they view alive, also after the store is
// destroyed. For speed, each reading thread also keeps a reference to the mapping it
// read from last (so that threads do not share one reference count); that mapping is
// released when the thread reads from another store or exits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <istream>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "simd_r_drive/export.h"
#include "simd_r_drive/byte_view.h"
#include "simd_r_drive/entry_handle.h"
#include "simd_r_drive/entry_iterator.h"
#include "simd_r_drive/entry_metadata.h"
#include "simd_r_drive/entry_stream.h"
#include "simd_r_drive/options.h"
#include "simd_r_drive/records.h"
#include "simd_r_drive/salvage_report.h"
#include "simd_r_drive/store_stats.h"
#include "simd_r_drive/value_batch.h"
#include "simd_r_drive/verify_report.h"

namespace simd_r_drive {

// One item of a pre-hashed batch.
struct HashedPayload {
  std::uint64_t key_hash;
  ByteView payload;
};

// Pulls the next bytes of a streamed value into `buffer` and returns how many it
// wrote; 0 means the end of the stream. To signal a read error, throw.
using StreamReader = std::function<std::size_t(std::span<std::byte> buffer)>;

class SRD_API DataStore {
 public:
  // Opens the store at `path`, creating an empty file if it does not exist. A
  // symbolic link in `path` is resolved once, here (see path()).
  // Validates the backward chain; a torn tail is cut off (and logged on stderr).
  static DataStore open(const std::filesystem::path& path, const OpenOptions& options = {});
  // Like open, but fails with ErrorCode::kNotFound if the file does not exist.
  static DataStore open_existing(const std::filesystem::path& path, OpenOptions options = {});
  // Opens the store held in another store's value (a store file written as a value:
  // "nestable storage"), read-only and in place: nothing is copied or extracted. The
  // nested store's handles, iteration, records and verify() view the outer store's
  // mapping, and keep it alive, also after both stores are closed. Throws
  // Error(kCorruption) unless the whole value is a store: a chain of complete entries
  // from its first byte to its last, the last matching its checksum.
  static DataStore open_nested(const EntryHandle& value);
  // Writes every complete entry of the store file `source` to a new store file
  // `target`, which must not exist, and changes nothing in `source`. Meant for a file
  // that open refuses because another writer (the Rust original) appended to it after
  // a crash (docs/format.md, "When the original wrote after a crash"): the source's
  // own chain is copied as it is, and the entries appended after the records that
  // swallow it are moved onto it with new back-links, so both engines read every one.
  // Takes no lock: it refuses (kLocked) while a writer has the source open.
  static SalvageReport salvage(const std::filesystem::path& source, const std::filesystem::path& target);

  // A moved-from DataStore may only be destroyed or assigned to.
  DataStore(DataStore&&) noexcept;
  DataStore& operator=(DataStore&&) noexcept;
  DataStore(const DataStore&) = delete;
  DataStore& operator=(const DataStore&) = delete;
  // Trims the file's preallocated space so the file ends at the tail.
  ~DataStore();

  // ---- writes -------------------------------------------------------------
  // Payloads may not be empty, nor the single byte 0x00 (that is a tombstone).
  std::uint64_t write(ByteView key, ByteView payload);
  std::uint64_t write_with_key_hash(std::uint64_t key_hash, ByteView payload);

  // Appends every item in one write; validates them all first, so a rejected batch
  // writes nothing. For the same key twice, the later item wins.
  template <class PairRange>
  std::uint64_t batch_write(const PairRange& items) {
    std::vector<HashedPayload> hashed;
    if constexpr (requires { std::size(items); }) hashed.reserve(std::size(items));
    for (const auto& [key, payload] : items) hashed.push_back({hash_key(ByteView(key)), ByteView(payload)});
    return batch_write_with_key_hashes(hashed, false);
  }
  // With allow_null_bytes, an item whose payload is the single byte 0x00 is written
  // as a tombstone (a delete of that hash), as the original allows.
  std::uint64_t batch_write_with_key_hashes(std::span<const HashedPayload> items,
                                            bool allow_null_bytes = false);

  // Streams a value of any size from `source` in bounded memory. The value may not be
  // empty nor consist only of 0x00 bytes. If the source fails (throws, or the
  // istream goes bad), nothing of the value stays in the file.
  std::uint64_t write_stream(ByteView key, std::istream& source);
  std::uint64_t write_stream(ByteView key, const StreamReader& source);
  // Streams the rest of another entry (for example one from another store).
  std::uint64_t write_stream(ByteView key, EntryStream& source);
  std::uint64_t write_stream_with_key_hash(std::uint64_t key_hash, const StreamReader& source);

  // ---- reads --------------------------------------------------------------
  std::optional<EntryHandle> read(ByteView key) const;
  std::optional<EntryHandle> read_with_key_hash(std::uint64_t key_hash) const;

  // Calls `visit(value)` with the key's value in place and returns true, or returns
  // false if the key is absent. The view is valid only during the call: no handle, and
  // no reference count on the mapping, is made, which is what a caller that copies the
  // value out needs. `visit` may call into the store; an exception it throws passes
  // through.
  template <class Visit>
  bool read_view(ByteView key, Visit&& visit) const {
    using Target = std::remove_reference_t<Visit>;
    return read_view_with_key_hash(
        hash_key(key), [](void* target, ByteView value) { (*static_cast<Target*>(target))(value); },
        const_cast<void*>(static_cast<const void*>(&visit)));
  }
  using ValueVisitor = void (*)(void* context, ByteView value);
  bool read_view_with_key_hash(std::uint64_t key_hash, ValueVisitor visit, void* context) const;

  // One result per key, in order; a missing key gives an empty optional.
  template <class KeyRange>
  std::vector<std::optional<EntryHandle>> batch_read(const KeyRange& keys) const {
    std::vector<std::uint64_t> hashes;
    if constexpr (requires { std::size(keys); }) hashes.reserve(std::size(keys));
    for (const auto& key : keys) hashes.push_back(hash_key(ByteView(key)));
    return batch_read_hashed_keys(hashes);
  }
  std::vector<std::optional<EntryHandle>> batch_read_hashed_keys(
      std::span<const std::uint64_t> key_hashes) const;
  // As above, but checks each hash against the key given beside it: a hash that is
  // not the key's hash reads as absent. The spans must be of equal length.
  std::vector<std::optional<EntryHandle>> batch_read_hashed_keys(
      std::span<const std::uint64_t> key_hashes, std::span<const ByteView> keys) const;

  // Like batch_read, with the values as views that one pin keeps valid for the whole
  // batch (ValueBatch), instead of a handle, and a reference-count update, per key: for
  // callers that copy the values out.
  template <class KeyRange>
  ValueBatch batch_read_views(const KeyRange& keys) const {
    std::vector<std::uint64_t> hashes;
    if constexpr (requires { std::size(keys); }) hashes.reserve(std::size(keys));
    for (const auto& key : keys) hashes.push_back(hash_key(ByteView(key)));
    return batch_read_views_hashed_keys(hashes);
  }
  ValueBatch batch_read_views_hashed_keys(std::span<const std::uint64_t> key_hashes) const;

  // The physically last record, which may be a tombstone (see is_tombstone()).
  std::optional<EntryHandle> read_last_entry() const;
  std::optional<EntryMetadata> read_metadata(ByteView key) const;
  bool exists(ByteView key) const;
  bool exists_with_key_hash(std::uint64_t key_hash) const;
  // Number of live keys (deleted keys are not counted, also after reopening).
  std::size_t len() const noexcept;
  bool is_empty() const noexcept { return len() == 0; }
  // The store's size in bytes: the tail, i.e. the length the file has when closed.
  std::uint64_t file_size() const noexcept;
  // The file the store is: the path given to open, resolved once at open to an
  // absolute path without symbolic links (docs/design.md, "Open"). Its lock file and
  // index snapshot (store_files.h) live beside that file, and compaction replaces that
  // file, so a store opened through a link stays one store. Empty for a nested store.
  const std::filesystem::path& path() const noexcept;
  // Whether open loaded the index from a snapshot (OpenOptions::index_snapshot_min_keys)
  // rather than rebuilding it from the chain.
  bool index_loaded_from_snapshot() const noexcept;

  // ---- deletes and moves ----------------------------------------------------
  // Appends a tombstone. Removing a missing key writes nothing and returns the tail.
  std::uint64_t remove(ByteView key);
  template <class KeyRange>
  std::uint64_t batch_remove(const KeyRange& keys) {
    std::vector<std::uint64_t> hashes;
    for (const auto& key : keys) hashes.push_back(hash_key(ByteView(key)));
    return batch_remove_key_hashes(hashes);
  }
  std::uint64_t batch_remove_key_hashes(std::span<const std::uint64_t> key_hashes);

  // Moves a value to a new key in one atomic append (new entry + tombstone).
  // Errors: old == new (kInvalidArgument); old missing (kNotFound).
  std::uint64_t rename(ByteView old_key, ByteView new_key);
  // Copies a value into another store under the same key hash; returns the target's
  // tail. Refuses a target that is the same file (kInvalidArgument).
  std::uint64_t copy(ByteView key, DataStore& target) const;
  // copy, then remove from this store; returns this store's tail.
  std::uint64_t transfer(ByteView key, DataStore& target);

  // ---- iteration, inspection, maintenance ------------------------------------
  EntryRange iter_entries() const;
  // Every record on the chain, not only live values (records.h).
  RecordRange iter_records(RecordOrder order = RecordOrder::kNewestFirst) const;
  // Counts of what the store holds; walks the chain (linear in the entries).
  StoreStats stats() const;
  // Calls `visit` once for every live entry, from several threads at once (one per
  // core), in no particular order. `visit` must be thread-safe. If it throws, the
  // iteration stops and the first exception is rethrown here.
  void par_iter_entries(const std::function<void(const EntryHandle&)>& visit) const;

  // Rewrites the file with live entries only, keeping their order. Readers, and
  // handles taken before, stay valid throughout; writers wait. No reopen is needed.
  void compact();
  // Bytes compact() would free now (exact: the compacted layout is simulated).
  std::uint64_t estimate_compaction_savings() const;
  // Checks the chain, every entry's checksum, and the bytes past the tail; changes
  // nothing.
  VerifyReport verify() const;

  // ---- durability and followers (docs/durability.md) -------------------------
  // Forces every write acknowledged so far to stable storage (fdatasync), whatever
  // the durability mode. Writers may continue meanwhile.
  void sync();
  // Read-only stores (OpenOptions::read_only): takes in the entries the writer has
  // appended since the last look, validating only the new part of the chain, and
  // returns the new tail. After the writer compacts, it switches to the new file.
  // Handles taken before stay valid. On a writable store it just returns the tail.
  std::uint64_t refresh();
  bool is_read_only() const noexcept;

  // The key hash the store uses for `key` (compute_hash).
  static std::uint64_t hash_key(ByteView key) noexcept;

  class Impl;  // the engine; opaque outside it

 private:
  explicit DataStore(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace simd_r_drive

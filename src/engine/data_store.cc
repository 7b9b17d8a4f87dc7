#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "engine/data_store_impl.h"
#include "engine/index_snapshot.h"
#include "engine/logger.h"
#include "engine/recovery.h"
#include "format/checksum.h"
#include "format/entry_layout.h"
#include "simd_r_drive/error.h"
#include "simd_r_drive/hashing.h"

namespace simd_r_drive {

namespace {

using engine::Generation;
using engine::IndexTable;
using engine::kDeletedTail;
using engine::ReaderRegistry;

// Batches with at least this many payload bytes go to the file with one pwritev
// instead of being copied into the mapping: the kernel copies large runs into the
// page cache faster than first-touch page faults on a fresh mapping allow.
constexpr std::uint64_t kDirectWriteThreshold = 256 * 1024;
constexpr std::array<std::byte, kPayloadAlignment> kZeroPad{};

std::uint32_t checksum_of(const DataStore::Impl::PendingEntry& entry) {
  return entry.tombstone ? format::kTombstoneChecksum : compute_checksum(entry.payload);
}

void validate_payload(ByteView payload, bool allow_null_bytes) {
  if (payload.empty()) throw Error(ErrorCode::kInvalidArgument, "Payload cannot be empty.");
  if (!allow_null_bytes && payload.size() == 1 && payload.data()[0] == kTombstoneByte) {
    throw Error(ErrorCode::kInvalidArgument, "NULL-byte payloads cannot be written directly.");
  }
}

// LiveBits cover the tail plus a quarter for growth (doubling later if needed): every
// byte of headroom is also read and checksummed when an index snapshot is loaded.
std::uint64_t live_bits_capacity(std::uint64_t tail) noexcept { return std::max<std::uint64_t>(tail + tail / 4, 1u << 20); }

bool all_zero(const std::byte* data, std::size_t size) noexcept {
  return size == 0 || (data[0] == std::byte{0} && std::memcmp(data, data + 1, size - 1) == 0);
}

}  // namespace

// ---------------------------------------------------------------------------
// Open and close

DataStore::Impl::Impl(const std::filesystem::path& path, const OpenOptions& options)
    : path_(io::resolve_store_path(path)), options_(options) {
  // Everything below opens path_, the resolved file, never `path`: see resolve_store_path.
  std::optional<engine::LockFile::State> previous;
  std::uint64_t file_len = 0;
  if (options.read_only) {
    file_ = io::FileHandle(path_, io::FileHandle::Mode::kReadOnly);
    identity_ = file_.identity();
    lock_ = engine::LockFile::observe(path_);
    file_len = follower_candidate_tail(file_.size(), identity_);
  } else {
    // Opened before the lock so that a missing file is reported before a lock file is
    // created; nothing reads it until the lock is held, since another writer might be
    // changing it.
    file_ = io::FileHandle(path_, options.must_exist ? io::FileHandle::Mode::kOpenExisting
                                                    : io::FileHandle::Mode::kOpenOrCreate);
    lock_ = engine::LockFile::acquire(path_, &previous);
    // The store file is locked too, so that a second name for it (a hard link) does
    // not let a second writer in. The lock is taken through a descriptor of its own:
    // an OFD lock lives as long as its open file description, and mappings (which
    // handles keep alive after close) hold the description they were made from.
    file_lock_ = io::FileHandle(path_, io::FileHandle::Mode::kOpenExisting);
    if (!file_lock_.try_lock_exclusive()) {
      throw Error(ErrorCode::kLocked, "'" + path_.string() + "' is locked by another writer (through another "
                                      "name of the same file); only one DataStore may write a store at a time.");
    }
    identity_ = file_.identity();
    file_len = file_.size();
    remove_stale_compaction_files();
  }
  std::lock_guard lock(write_mutex_);
  load_locked(file_len, previous);
  published_.store(current_.get(), std::memory_order_seq_cst);
  if (lock_ && !options.read_only) {
    const std::uint64_t tail = current_->tail.load(std::memory_order_relaxed);
    lock_->publish_file(identity_, tail);
    // Only a sync vouches for bytes on the disk: the durable mark stays where the
    // last writer's last sync left it on this very file (0 for a file new to us).
    const bool same_file = previous && previous->identity == identity_;
    lock_->publish_durable_tail(same_file ? std::min(tail, previous->durable_tail) : 0);
  }
  if (options.durability == Durability::kSyncPeriodically && !options.read_only) start_periodic_sync();
}

void DataStore::Impl::load_locked(std::uint64_t file_len, const std::optional<engine::LockFile::State>& previous) {
  // A writer that died without closing may have left bytes that never reached the
  // disk in a damaged state (after a power loss); such a session starts from recovery
  // with checksums (open_by_recovery), never from a snapshot.
  const bool crashed_before = previous && previous->identity == identity_ && !previous->clean;
  auto mapping = std::make_shared<io::Mapping>(file_.fd(), io::reservation_for(file_len), !options_.read_only);
  advise_append_zone(*mapping, file_len);
  if (crashed_before || !open_from_snapshot(mapping, file_len)) {
    open_by_recovery(std::move(mapping), file_len, crashed_before ? previous : std::nullopt);
  }
}

bool DataStore::Impl::open_from_snapshot(std::shared_ptr<io::Mapping>& mapping, std::uint64_t file_len) {
  if (file_len == 0 || options_.index_snapshot_min_keys == SIZE_MAX) return false;
  std::optional<engine::LoadedSnapshot> snapshot = engine::load_snapshot(path_, mapping->data(), file_len);
  if (!snapshot) return false;
  auto newer = engine::tails_above(mapping->data(), file_len, snapshot->covered_tail);
  if (!newer) return false;
  auto generation = std::make_shared<Generation>();
  generation->table_owner = std::move(snapshot->table);
  generation->table.store(generation->table_owner.get(), std::memory_order_seq_cst);
  if (snapshot->live_bits && snapshot->live_bits->covers(file_len)) {
    generation->live_owner = std::move(snapshot->live_bits);
    generation->live.store(generation->live_owner.get(), std::memory_order_seq_cst);
  }
  generation->live_count.store(snapshot->live_count, std::memory_order_seq_cst);
  generation->publish_mapping(std::move(mapping));
  current_ = std::move(generation);
  index_appended_locked(*newer);  // entries appended after the snapshot was taken
  current_->tail.store(file_len, std::memory_order_seq_cst);
  physical_size_ = file_len;
  loaded_from_snapshot_ = true;
  snapshot_covers_ = snapshot->covered_tail;
  return true;
}

void DataStore::Impl::index_appended_locked(std::span<const std::uint64_t> tails_newest_first) {
  const std::byte* base = current_->mapping.load(std::memory_order_relaxed)->data();
  for (auto it = tails_newest_first.rbegin(); it != tails_newest_first.rend(); ++it) {
    const std::uint64_t metadata_offset = *it - kMetadataSize;
    const EntryMetadata metadata = format::decode_metadata(base + metadata_offset);
    const auto range = format::derive_payload_range(base, *it, metadata_offset, metadata.prev_offset);
    index_locked(metadata.key_hash, *it, range && range->tombstone);
  }
}

void DataStore::Impl::open_by_recovery(std::shared_ptr<io::Mapping> mapping, std::uint64_t file_len,
                                       const std::optional<engine::LockFile::State>& crashed_writer) {
  const std::filesystem::path& path = path_;
  engine::RecoveryResult recovery = engine::find_valid_tail(mapping->data(), file_len);
  if (crashed_writer && crashed_writer->boot_id != 0 && crashed_writer->boot_id == engine::current_boot_id() &&
      engine::cut_to_tail(recovery, crashed_writer->tail)) {
    // The last writer's process died, but the machine did not: the page cache, the
    // lock file's page included, is intact, and the tail the writer published is the
    // end of its last complete write. Entries past it are the first part of a batch
    // or rename the writer never finished (recovery alone would keep them, since each
    // is a complete entry), so they go.
    engine::log_warning("Recovered '" + path.string() + "' after its writer died: kept offsets 0.." +
                        std::to_string(recovery.valid_tail) +
                        " (the end of its last complete write); the rest was a write in progress.");
  } else if (crashed_writer) {
    // The machine crashed (or lost power) under the last writer. Entries past what its
    // last sync covered may have reached the disk only in part (pages are written back
    // in any order), so their checksums are checked here, not only the last one's.
    const std::uint64_t cut = engine::cut_unsynced_damage(mapping->data(), recovery, crashed_writer->durable_tail);
    if (cut != 0) {
      engine::log_warning("Recovered '" + path.string() + "' after a crash: an entry written after the last sync "
                          "fails its checksum; kept offsets 0.." + std::to_string(recovery.valid_tail) + ", dropped " +
                          std::to_string(cut) + " entries written after it.");
    }
  }
  if (options_.read_only) {
    if (recovery.valid_tail == 0 && file_len > 0) {
      throw Error(ErrorCode::kCorruption, "'" + path.string() + "' holds no complete entry in its " +
                                              std::to_string(file_len) + " bytes: it is not a SIMD R Drive store.");
    }
    // A read-only store never changes the file: a torn tail is just not read.
  } else if (recovery.valid_tail == 0 && file_len > 0) {
    // The lock file shows that this engine's own writer crashed on this very file:
    // nothing it holds was ever a complete entry, so it is safe to empty.
    if (!options_.repair_unrecoverable && !crashed_writer) {
      throw Error(ErrorCode::kCorruption,
                  "'" + path.string() + "' holds no complete entry in its " + std::to_string(file_len) +
                      " bytes: it is not a SIMD R Drive store, or its first write was torn. The file was "
                      "left unchanged; open it with repair_unrecoverable to empty it.");
    }
    engine::log_warning("Emptied '" + path.string() + "': removed " + std::to_string(file_len) +
                        " bytes at offsets 0.." + std::to_string(file_len) + " that hold no complete entry.");
    file_.truncate(0);
  } else if (recovery.valid_tail < file_len) {
    engine::log_warning("Recovered '" + path.string() + "': kept offsets 0.." + std::to_string(recovery.valid_tail) +
                        ", removed " + std::to_string(file_len - recovery.valid_tail) + " bytes at offsets " +
                        std::to_string(recovery.valid_tail) + ".." + std::to_string(file_len) +
                        " (a torn write, trailing garbage, or a last entry that fails its checksum); file size " +
                        std::to_string(file_len) + " -> " + std::to_string(recovery.valid_tail) + ".");
    file_.truncate(recovery.valid_tail);
  }
  physical_size_ = recovery.valid_tail;

  // Pair each entry on the chain with its key hash and kind, newest first.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;
  entries.reserve(recovery.chain_tails.size());
  const std::byte* base = mapping->data();
  for (const std::uint64_t tail : recovery.chain_tails) {
    const std::uint64_t metadata_offset = tail - kMetadataSize;
    const EntryMetadata metadata = format::decode_metadata(base + metadata_offset);
    const auto range = format::derive_payload_range(base, tail, metadata_offset, metadata.prev_offset);
    entries.emplace_back(metadata.key_hash, range && range->tombstone ? kDeletedTail : tail);
  }
  current_ = build_generation(std::move(mapping), recovery.valid_tail, entries);
}

DataStore::Impl::~Impl() {
  stop_periodic_sync();
  if (options_.read_only) return;  // a reader leaves every file as it found it
  try {
    std::lock_guard lock(write_mutex_);
    close_locked();
  } catch (const std::exception& error) {
    engine::log_warning(std::string("closing store: ") + error.what());
  }
}

void DataStore::Impl::close_locked() {
  // Hand back the preallocated space so the file ends exactly at the tail, the form
  // in which both engines expect a closed store.
  const std::uint64_t tail = current_->tail.load(std::memory_order_relaxed);
  if (physical_size_ != tail) file_.truncate(tail);
  if (options_.durability != Durability::kFlush && !sync_failed_.load()) {
    // Also makes the trimmed length durable.
    file_.sync_data();
    lock_->publish_durable_tail(tail);
  }
  const std::uint64_t live = current_->live_count.load(std::memory_order_relaxed);
  if (live >= options_.index_snapshot_min_keys) {
    // A store that was only read leaves its snapshot as it found it.
    if (snapshot_covers_ != tail) {
      // Saved with the snapshot, LiveBits spare the next session's first
      // iteration their build (about 15 ms per million keys, paid here instead).
      ensure_live_bits_locked();
      engine::save_snapshot(path_, *current_->table_owner, current_->live_owner.get(), live,
                            current_->mapping.load(std::memory_order_relaxed)->data(), tail);
    }
  } else {
    engine::remove_snapshot(path_);
  }
  // Last: a clean mark tells the next writer that no checksum hunt is needed.
  lock_->publish_tail(tail);
  lock_->mark_clean(true);
}

void DataStore::Impl::remove_stale_compaction_files() const noexcept {
  // Called with the writer's lock held, so no compaction of this store is running:
  // any "<name>.compact-*.tmp" beside it is what a crashed compaction left. It is
  // never reused (each compaction creates a fresh file with O_EXCL); it is deleted.
  std::error_code error;
  const std::filesystem::path directory = path_.has_parent_path() ? path_.parent_path() : ".";
  const std::string prefix = path_.filename().string() + ".compact-";
  for (const auto& item : std::filesystem::directory_iterator(directory, error)) {
    const std::string name = item.path().filename().string();
    if (name.size() > prefix.size() + 4 && name.starts_with(prefix) && name.ends_with(".tmp")) {
      std::error_code ignored;
      if (std::filesystem::remove(item.path(), ignored)) {
        engine::log_warning("Removed '" + item.path().string() + "', left by a compaction that did not finish.");
      }
    }
  }
}

std::shared_ptr<Generation> DataStore::Impl::build_generation(
    std::shared_ptr<io::Mapping> mapping, std::uint64_t tail,
    std::span<const std::pair<std::uint64_t, std::uint64_t>> newest_first) {
  auto generation = std::make_shared<Generation>();
  generation->table_owner = IndexTable::with_room_for(newest_first.size());
  IndexTable& table = *generation->table_owner;
  std::vector<std::uint64_t> live_tails;
  live_tails.reserve(newest_first.size());
  // Prefetch the slots a few entries ahead so that the cache misses of the
  // inserts overlap instead of being paid one after another.
  constexpr std::size_t kLookahead = 16;
  for (std::size_t i = 0; i < newest_first.size(); ++i) {
    if (i + kLookahead < newest_first.size()) table.prefetch(newest_first[i + kLookahead].first);
    const auto [key_hash, entry_tail] = newest_first[i];
    if (table.insert_if_absent(key_hash, entry_tail) && entry_tail != kDeletedTail) live_tails.push_back(entry_tail);
  }
  const std::uint64_t live = live_tails.size();
  // The live tails arrive in descending order here, so building LiveBits now writes
  // them in order: far cheaper than later, from the index's scattered slots.
  if (engine::LiveBits::worth_keeping(tail, live)) {
    generation->live_owner = std::make_unique<engine::LiveBits>(live_bits_capacity(tail));
    generation->live_owner->build_from(live_tails.data(), live_tails.size());
    generation->live.store(generation->live_owner.get(), std::memory_order_seq_cst);
  }
  generation->table.store(&table, std::memory_order_seq_cst);
  generation->publish_mapping(std::move(mapping));
  generation->tail.store(tail, std::memory_order_seq_cst);
  generation->live_count.store(live, std::memory_order_seq_cst);
  return generation;
}

// ---------------------------------------------------------------------------
// Reads

std::shared_ptr<const void> DataStore::Impl::pin(io::Mapping& mapping) {
  // The thread caches its lease for the mapping it read from last. The cached lease
  // holds a strong reference, so the mapping cannot be freed and another allocated at
  // its address while the entry names it: comparing addresses is then exact.
  struct CachedLease {
    const io::Mapping* mapping = nullptr;
    std::shared_ptr<std::shared_ptr<io::Mapping>> lease;
  };
  thread_local CachedLease cached;
  if (cached.mapping == &mapping) return cached.lease;
  auto lease = std::make_shared<std::shared_ptr<io::Mapping>>(mapping.shared_from_this());
  cached = {&mapping, lease};
  return lease;
}

std::optional<EntryHandle> DataStore::Impl::handle_at(io::Mapping& mapping, std::uint64_t tail,
                                                      bool allow_tombstone) {
  if (tail < format::kMinEntryTail || tail > mapping.capacity()) return std::nullopt;
  const std::byte* base = mapping.data();
  const std::uint64_t metadata_offset = tail - kMetadataSize;
  const EntryMetadata metadata = format::decode_metadata(base + metadata_offset);
  const auto range = format::derive_payload_range(base, tail, metadata_offset, metadata.prev_offset);
  if (!range || (range->tombstone && !allow_tombstone)) return std::nullopt;
  return EntryHandle(pin(mapping), base + range->start, range->size(), range->start, metadata);
}

std::optional<EntryHandle> DataStore::Impl::read_hash(std::uint64_t key_hash) const {
  ReaderRegistry::Guard guard(*readers_);
  Generation* generation = published_.load(std::memory_order_seq_cst);
  const std::uint64_t tail = generation->table.load(std::memory_order_seq_cst)->find(key_hash);
  if (tail == 0) return std::nullopt;
  // Loaded after the index slot: the writer publishes a mapping before any slot
  // that points into it, so this mapping covers `tail`.
  return handle_at(*generation->mapping.load(std::memory_order_acquire), tail, false);
}

std::vector<std::optional<EntryHandle>> DataStore::Impl::read_hashes(std::span<const std::uint64_t> key_hashes) const {
  std::vector<std::optional<EntryHandle>> results(key_hashes.size());
  ReaderRegistry::Guard guard(*readers_);
  Generation* generation = published_.load(std::memory_order_seq_cst);
  const IndexTable* table = generation->table.load(std::memory_order_seq_cst);
  // Three passes so that the memory accesses of different keys overlap: touch every
  // slot, then every metadata record, then build the handles.
  for (std::uint64_t key_hash : key_hashes) table->prefetch(key_hash);
  std::vector<std::uint64_t> tails(key_hashes.size());
  io::Mapping* mapping = nullptr;
  for (std::size_t i = 0; i < key_hashes.size(); ++i) tails[i] = table->find(key_hashes[i]);
  mapping = generation->mapping.load(std::memory_order_acquire);
  for (std::uint64_t tail : tails) {
    if (tail != 0 && tail <= mapping->capacity()) __builtin_prefetch(mapping->data() + tail - kMetadataSize);
  }
  for (std::size_t i = 0; i < tails.size(); ++i) {
    if (tails[i] != 0) results[i] = handle_at(*mapping, tails[i], false);
  }
  return results;
}

std::optional<EntryHandle> DataStore::Impl::read_last() const {
  ReaderRegistry::Guard guard(*readers_);
  Generation* generation = published_.load(std::memory_order_seq_cst);
  const std::uint64_t tail = generation->tail.load(std::memory_order_acquire);
  if (tail == 0) return std::nullopt;
  return handle_at(*generation->mapping.load(std::memory_order_acquire), tail, true);
}

std::uint64_t DataStore::Impl::tail() const noexcept {
  ReaderRegistry::Guard guard(*readers_);
  return published_.load(std::memory_order_seq_cst)->tail.load(std::memory_order_acquire);
}

std::size_t DataStore::Impl::live_count() const noexcept {
  ReaderRegistry::Guard guard(*readers_);
  return published_.load(std::memory_order_seq_cst)->live_count.load(std::memory_order_acquire);
}

// ---------------------------------------------------------------------------
// Writes

std::uint64_t DataStore::Impl::append(std::span<const PendingEntry> entries) {
  std::unique_lock lock(write_mutex_);
  require_writable_locked();
  return finish_write(lock, append_locked(entries));
}

void DataStore::Impl::reserve_locked(std::uint64_t needed_tail) {
  Generation& generation = *current_;
  if (needed_tail > physical_size_) {
    // Grow in steps of an eighth of the file (2 MiB to 64 MiB), so that appends
    // reserve space rarely and the file never holds much unused space. The end is
    // kept on a 2 MiB boundary: the kernel only gives a 2 MiB page-cache folio to a
    // range that lies wholly inside the file (see advise_append_zone).
    constexpr std::uint64_t kGrowthGranule = io::kHugePageSize;
    const std::uint64_t step = std::clamp<std::uint64_t>(physical_size_ / 8, kGrowthGranule, 64u << 20);
    std::uint64_t target = std::max(needed_tail, physical_size_ + step);
    target = (target + kGrowthGranule - 1) / kGrowthGranule * kGrowthGranule;
    try {
      file_.allocate(target);
    } catch (...) {
      physical_size_ = file_.size();
      throw;
    }
    physical_size_ = target;
  }
  if (needed_tail > generation.mapping.load(std::memory_order_relaxed)->capacity()) {
    auto mapping = std::make_shared<io::Mapping>(file_.fd(), io::reservation_for(needed_tail), true);
    advise_append_zone(*mapping, generation.tail.load(std::memory_order_relaxed));
    generation.publish_mapping(std::move(mapping));
  }
}

void DataStore::Impl::advise_append_zone(const io::Mapping& mapping, std::uint64_t tail) const noexcept {
  // Huge folios make random reads of appended data cheaper (one TLB entry per 2 MiB),
  // but the kernel tracks a folio's dirtiness as a whole, so a sync after a small
  // write would write back up to 2 MiB. Only the modes that do not sync per write
  // take them. Below the tail the pages keep whatever size the page cache gave them.
  if (options_.read_only) return;
  if (options_.durability != Durability::kFlush && options_.durability != Durability::kSyncPeriodically) return;
  mapping.prefer_huge_pages_from(tail);
}

void DataStore::Impl::rollback_locked(std::uint64_t tail) noexcept {
  // Nothing past `tail` was published. Cut it off so that no stray bytes remain for
  // recovery to sort out after a crash.
  try {
    file_.truncate(tail);
    physical_size_ = tail;
  } catch (const std::exception& error) {
    engine::log_warning(std::string("rolling back a failed write: ") + error.what());
  }
}

void DataStore::Impl::index_locked(std::uint64_t key_hash, std::uint64_t tail, bool tombstone) {
  Generation& generation = *current_;
  IndexTable* table = generation.table_owner.get();
  const bool grow = !tombstone && table->is_crowded();
  if (grow || table->is_mapped()) {
    // A table still lying in the snapshot's read-only mapping is copied into memory
    // of its own at the first change: opening stays a checksum pass, and only a
    // session that writes pays the copy (about 5 ms per million keys).
    std::unique_ptr<IndexTable> replacement = grow ? table->grown() : table->owned_copy();
    generation.table.store(replacement.get(), std::memory_order_seq_cst);
    retire_locked(std::shared_ptr<const void>(std::move(generation.table_owner)));
    generation.table_owner = std::move(replacement);
    table = generation.table_owner.get();
  }
  const std::uint64_t before = table->upsert(key_hash, tombstone ? kDeletedTail : tail);
  const bool was_live = before != 0 && before != kDeletedTail;
  if (engine::LiveBits* bits = generation.live_owner.get()) {
    if (was_live) bits->clear(before);
    if (!tombstone) {
      if (!bits->covers(tail)) {
        std::unique_ptr<engine::LiveBits> bigger = bits->grown(tail * 2);
        generation.live.store(bigger.get(), std::memory_order_seq_cst);
        retire_locked(std::shared_ptr<const void>(std::move(generation.live_owner)));
        generation.live_owner = std::move(bigger);
        bits = generation.live_owner.get();
      }
      bits->set(tail);
    }
  }
  if (tombstone && was_live) generation.live_count.fetch_sub(1, std::memory_order_release);
  if (!tombstone && !was_live) generation.live_count.fetch_add(1, std::memory_order_release);
}

std::uint64_t DataStore::Impl::append_locked(std::span<const PendingEntry> entries) {
  Generation& generation = *current_;
  const std::uint64_t old_tail = generation.tail.load(std::memory_order_relaxed);
  if (entries.empty()) return old_tail;

  // Lay the batch out: every entry's metadata is encoded before any byte is written.
  auto& records = scratch_records_;
  auto& entry_tails = scratch_tails_;
  records.resize(entries.size());
  entry_tails.resize(entries.size());
  std::uint64_t position = old_tail;
  std::uint64_t payload_bytes = 0;
  const IndexTable* table = generation.table_owner.get();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const PendingEntry& entry = entries[i];
    // The slot is updated after the bytes are written; asking for it now lets the
    // cache misses of a whole batch overlap instead of stalling one by one.
    table->prefetch(entry.key_hash);
    const std::uint64_t prev = position;
    position += entry.tombstone ? 1 : format::prepad(position) + entry.payload.size();
    format::encode_metadata(records[i].data(), {entry.key_hash, prev, checksum_of(entry)});
    position += kMetadataSize;
    entry_tails[i] = position;
    payload_bytes += entry.tombstone ? 1 : entry.payload.size();
  }
  const std::uint64_t new_tail = position;
  reserve_locked(new_tail);

  static constexpr std::byte kTombstonePayload[1] = {kTombstoneByte};
  if (payload_bytes >= kDirectWriteThreshold) {
    std::vector<std::span<const std::byte>> pieces;
    pieces.reserve(entries.size() * 3);
    position = old_tail;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].tombstone) {
        pieces.emplace_back(kTombstonePayload, 1);
      } else {
        pieces.emplace_back(kZeroPad.data(), format::prepad(position));
        pieces.push_back(entries[i].payload.span());
      }
      pieces.emplace_back(records[i]);
      position = entry_tails[i];
    }
    try {
      file_.pwrite_all(old_tail, pieces);
    } catch (...) {
      rollback_locked(old_tail);
      throw;
    }
  } else {
    std::byte* base = generation.mapping.load(std::memory_order_relaxed)->data();
    position = old_tail;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].tombstone) {
        base[position++] = kTombstoneByte;
      } else {
        const std::uint64_t pad = format::prepad(position);
        std::memset(base + position, 0, pad);
        std::memcpy(base + position + pad, entries[i].payload.data(), entries[i].payload.size());
        position += pad + entries[i].payload.size();
      }
      std::memcpy(base + position, records[i].data(), kMetadataSize);
      position += kMetadataSize;
    }
  }

  // Publish: index slots first (in batch order, so the later of two items for one
  // key wins), then the tail.
  for (std::size_t i = 0; i < entries.size(); ++i) {
    index_locked(entries[i].key_hash, entry_tails[i], entries[i].tombstone);
  }
  publish_tail_locked(new_tail);
  reclaim_locked();
  return new_tail;
}

std::uint64_t DataStore::Impl::append_stream(std::uint64_t key_hash, const StreamReader& source) {
  std::unique_lock lock(write_mutex_);
  require_writable_locked();
  Generation& generation = *current_;
  const std::uint64_t old_tail = generation.tail.load(std::memory_order_relaxed);
  const std::uint64_t start = old_tail + format::prepad(old_tail);
  std::uint64_t position = start;
  std::uint32_t checksum = 0;
  bool only_zero_bytes = true;
  std::vector<std::byte> buffer(kWriteStreamBufferSize);
  try {
    // The pre-pad goes out with the first chunk; space the file already reserved
    // past the tail holds zeros, but writing them keeps this path self-contained.
    std::uint64_t pending_pad = start - old_tail;
    for (;;) {
      const std::size_t got = source(std::span<std::byte>(buffer));
      if (got == 0) break;
      if (got > buffer.size()) throw Error(ErrorCode::kInvalidArgument, "stream reader returned more bytes than asked");
      checksum = format::crc32_extend(checksum, buffer.data(), got);
      only_zero_bytes = only_zero_bytes && all_zero(buffer.data(), got);
      const std::span<const std::byte> pieces[] = {{kZeroPad.data(), pending_pad}, {buffer.data(), got}};
      file_.pwrite_all(position - pending_pad, pieces);
      pending_pad = 0;
      position += got;
      physical_size_ = std::max(physical_size_, position);
    }
    if (position == start) throw Error(ErrorCode::kInvalidArgument, "Payload cannot be empty.");
    if (only_zero_bytes) {
      throw Error(ErrorCode::kInvalidArgument, "NULL-byte-only streams cannot be written directly.");
    }
    std::array<std::byte, kMetadataSize> record{};
    format::encode_metadata(record.data(), {key_hash, old_tail, checksum});
    const std::span<const std::byte> pieces[] = {record};
    file_.pwrite_all(position, pieces);
    position += kMetadataSize;
    physical_size_ = std::max(physical_size_, position);
    reserve_locked(position);
  } catch (...) {
    rollback_locked(old_tail);
    throw;
  }
  index_locked(key_hash, position, false);
  publish_tail_locked(position);
  reclaim_locked();
  return finish_write(lock, position);
}

std::uint64_t DataStore::Impl::remove_hashes(std::span<const std::uint64_t> key_hashes) {
  std::unique_lock lock(write_mutex_);
  require_writable_locked();
  std::vector<PendingEntry> tombstones;
  const IndexTable* table = current_->table_owner.get();
  for (std::uint64_t key_hash : key_hashes) {
    const bool duplicate = std::any_of(tombstones.begin(), tombstones.end(),
                                       [&](const PendingEntry& entry) { return entry.key_hash == key_hash; });
    if (!duplicate && table->find(key_hash) != 0) tombstones.push_back({key_hash, {}, true});
  }
  if (tombstones.empty()) return current_->tail.load(std::memory_order_relaxed);
  return finish_write(lock, append_locked(tombstones));
}

std::uint64_t DataStore::Impl::rename(std::uint64_t old_hash, std::uint64_t new_hash) {
  std::unique_lock lock(write_mutex_);
  require_writable_locked();
  const std::uint64_t tail = current_->table_owner->find(old_hash);
  std::optional<EntryHandle> old_entry;
  if (tail != 0) old_entry = handle_at(*current_->mapping.load(std::memory_order_relaxed), tail, false);
  if (!old_entry) throw Error(ErrorCode::kNotFound, "Old key not found");
  // The same bytes the original writes (new entry, then a tombstone for the old key),
  // but in one append, so a crash cannot leave the value under both keys or neither.
  const PendingEntry entries[] = {{new_hash, ByteView(old_entry->data(), old_entry->size()), false},
                                  {old_hash, {}, true}};
  return finish_write(lock, append_locked(entries));
}

void DataStore::Impl::ensure_live_bits() const {
  {
    // Decide without the write mutex when nothing is to be built, so that iterating
    // a store of large values never waits behind a writer (a slow write_stream).
    ReaderRegistry::Guard guard(*readers_);
    const Generation* generation = published_.load(std::memory_order_seq_cst);
    if (generation->live.load(std::memory_order_acquire) != nullptr) return;
    if (!engine::LiveBits::worth_keeping(generation->tail.load(std::memory_order_acquire),
                                         generation->live_count.load(std::memory_order_acquire))) {
      return;
    }
  }
  std::lock_guard lock(write_mutex_);
  ensure_live_bits_locked();
}

void DataStore::Impl::ensure_live_bits_locked() const {
  Generation& generation = *current_;
  if (generation.live_owner) return;
  const std::uint64_t tail = generation.tail.load(std::memory_order_relaxed);
  const std::uint64_t live = generation.live_count.load(std::memory_order_relaxed);
  // Stores of large values keep iterating through the index, where per-entry work
  // is dwarfed by the values.
  if (!engine::LiveBits::worth_keeping(tail, live)) return;
  auto bits = std::make_unique<engine::LiveBits>(live_bits_capacity(tail));
  const IndexTable* table = generation.table_owner.get();
  std::vector<std::uint64_t> tails;
  tails.reserve(live);
  table->for_each_live(0, table->capacity(), [&](std::uint64_t, std::uint64_t entry_tail) { tails.push_back(entry_tail); });
  bits->build_from(tails.data(), tails.size());
  // The seq_cst store publishes everything build_from wrote.
  generation.live.store(bits.get(), std::memory_order_seq_cst);
  generation.live_owner = std::move(bits);
}

void DataStore::Impl::retire_locked(std::shared_ptr<const void> object) const { retired_.push_back(std::move(object)); }

void DataStore::Impl::reclaim_locked() noexcept {
  if (!retired_.empty() && readers_->quiescent()) retired_.clear();
}

void DataStore::Impl::swap_generation_locked(std::shared_ptr<Generation> next, io::FileHandle file,
                                             std::uint64_t physical_size) {
  published_.store(next.get(), std::memory_order_seq_cst);
  retire_locked(std::move(current_));
  current_ = std::move(next);
  file_ = std::move(file);
  physical_size_ = physical_size;
  identity_ = file_.identity();
  reclaim_locked();
}

// ---------------------------------------------------------------------------
// The public DataStore forwards to Impl.

DataStore::DataStore(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
DataStore::DataStore(DataStore&&) noexcept = default;
DataStore& DataStore::operator=(DataStore&&) noexcept = default;
DataStore::~DataStore() = default;

DataStore DataStore::open(const std::filesystem::path& path, const OpenOptions& options) {
  return DataStore(std::make_unique<Impl>(path, options));
}

DataStore DataStore::open_existing(const std::filesystem::path& path, OpenOptions options) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    throw Error(ErrorCode::kNotFound, "Storage file '" + path.string() + "' does not exist.");
  }
  if (!std::filesystem::is_regular_file(path, error)) {
    throw Error(ErrorCode::kInvalidArgument, "'" + path.string() + "' is not a valid file.");
  }
  options.must_exist = true;
  return open(path, options);
}

std::uint64_t DataStore::hash_key(ByteView key) noexcept { return compute_hash(key); }

std::uint64_t DataStore::write(ByteView key, ByteView payload) { return write_with_key_hash(hash_key(key), payload); }

std::uint64_t DataStore::write_with_key_hash(std::uint64_t key_hash, ByteView payload) {
  validate_payload(payload, false);
  const Impl::PendingEntry entry{key_hash, payload, false};
  return impl_->append({&entry, 1});
}

std::uint64_t DataStore::batch_write_with_key_hashes(std::span<const HashedPayload> items, bool allow_null_bytes) {
  std::vector<Impl::PendingEntry> entries;
  entries.reserve(items.size());
  for (const HashedPayload& item : items) {
    validate_payload(item.payload, allow_null_bytes);
    const bool tombstone = item.payload.size() == 1 && item.payload.data()[0] == kTombstoneByte;
    entries.push_back({item.key_hash, item.payload, tombstone});
  }
  return impl_->append(entries);
}

std::uint64_t DataStore::write_stream(ByteView key, std::istream& source) {
  return write_stream_with_key_hash(hash_key(key), [&source](std::span<std::byte> buffer) -> std::size_t {
    source.read(reinterpret_cast<char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
    if (source.bad()) throw Error(ErrorCode::kIo, "read error in the source stream");
    return static_cast<std::size_t>(source.gcount());
  });
}

std::uint64_t DataStore::write_stream(ByteView key, const StreamReader& source) {
  return write_stream_with_key_hash(hash_key(key), source);
}

std::uint64_t DataStore::write_stream(ByteView key, EntryStream& source) {
  return write_stream_with_key_hash(hash_key(key),
                                    [&source](std::span<std::byte> buffer) { return source.read(buffer); });
}

std::uint64_t DataStore::write_stream_with_key_hash(std::uint64_t key_hash, const StreamReader& source) {
  return impl_->append_stream(key_hash, source);
}

std::optional<EntryHandle> DataStore::read(ByteView key) const { return impl_->read_hash(hash_key(key)); }

std::optional<EntryHandle> DataStore::read_with_key_hash(std::uint64_t key_hash) const {
  return impl_->read_hash(key_hash);
}

std::vector<std::optional<EntryHandle>> DataStore::batch_read_hashed_keys(std::span<const std::uint64_t> key_hashes) const {
  return impl_->read_hashes(key_hashes);
}

std::vector<std::optional<EntryHandle>> DataStore::batch_read_hashed_keys(std::span<const std::uint64_t> key_hashes,
                                                                          std::span<const ByteView> keys) const {
  if (key_hashes.size() != keys.size()) {
    throw Error(ErrorCode::kInvalidArgument, "Mismatched lengths for hashed and non-hashed keys.");
  }
  auto results = impl_->read_hashes(key_hashes);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (hash_key(keys[i]) != key_hashes[i]) results[i].reset();
  }
  return results;
}

std::optional<EntryHandle> DataStore::read_last_entry() const { return impl_->read_last(); }

std::optional<EntryMetadata> DataStore::read_metadata(ByteView key) const {
  auto entry = read(key);
  if (!entry) return std::nullopt;
  return entry->metadata();
}

bool DataStore::exists(ByteView key) const { return read(key).has_value(); }
bool DataStore::exists_with_key_hash(std::uint64_t key_hash) const { return read_with_key_hash(key_hash).has_value(); }
std::size_t DataStore::len() const noexcept { return impl_->live_count(); }
std::uint64_t DataStore::file_size() const noexcept { return impl_->tail(); }
const std::filesystem::path& DataStore::path() const noexcept { return impl_->path(); }
bool DataStore::index_loaded_from_snapshot() const noexcept { return impl_->loaded_from_snapshot(); }

std::uint64_t DataStore::remove(ByteView key) {
  const std::uint64_t key_hash = hash_key(key);
  return impl_->remove_hashes({&key_hash, 1});
}

std::uint64_t DataStore::batch_remove_key_hashes(std::span<const std::uint64_t> key_hashes) {
  return impl_->remove_hashes(key_hashes);
}

std::uint64_t DataStore::rename(ByteView old_key, ByteView new_key) {
  if (old_key == new_key) throw Error(ErrorCode::kInvalidArgument, "Cannot rename a key to itself");
  return impl_->rename(hash_key(old_key), hash_key(new_key));
}

std::uint64_t DataStore::copy(ByteView key, DataStore& target) const {
  if (impl_->identity() == target.impl_->identity()) {
    throw Error(ErrorCode::kInvalidArgument, "Cannot copy entry to the same storage (\"" + impl_->path().string() +
                                                 "\"). Use `rename` instead.");
  }
  auto entry = read(key);
  if (!entry) throw Error(ErrorCode::kNotFound, "Key not found: \"" + std::string(key.as_string_view()) + "\"");
  return target.write_with_key_hash(entry->key_hash(), entry->as_slice());
}

std::uint64_t DataStore::transfer(ByteView key, DataStore& target) {
  copy(key, target);
  return remove(key);
}

EntryRange DataStore::iter_entries() const { return impl_->iterate(); }

void DataStore::par_iter_entries(const std::function<void(const EntryHandle&)>& visit) const {
  impl_->parallel_iterate(visit);
}

void DataStore::compact() { impl_->compact(); }
std::uint64_t DataStore::estimate_compaction_savings() const { return impl_->compaction_savings(); }
VerifyReport DataStore::verify() const { return impl_->verify(); }
void DataStore::sync() { impl_->sync(); }
std::uint64_t DataStore::refresh() { return impl_->refresh(); }
bool DataStore::is_read_only() const noexcept { return impl_->read_only(); }

}  // namespace simd_r_drive

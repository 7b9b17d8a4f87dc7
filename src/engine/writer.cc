#include "engine/writer.h"

#include <algorithm>
#include <string>

#include "engine/index_snapshot.h"
#include "engine/index_upkeep.h"
#include "engine/live_bits.h"
#include "engine/logger.h"
#include "engine/open_policy.h"
#include "engine/read_path.h"
#include "simd_r_drive/error.h"

namespace simd_r_drive::engine {

namespace {

// The modes that do not sync per write take 2 MiB page-cache folios for appended
// data (Appender::advise_append_zone explains the trade).
bool wants_huge_folios(Durability durability) noexcept {
  return durability == Durability::kFlush || durability == Durability::kSyncPeriodically;
}

// Where the padding record points (appender.h). In the modes that acknowledge a write
// only once a sync covered it, the record follows the syncs: after a power loss it
// then never names bytes that did not reach the disk, and an acknowledged write is
// still named before it is acknowledged. In the others it follows every write, since
// a write is acknowledged before any sync.
Appender::PaddingAnchor padding_anchor_for(Durability durability) noexcept {
  return durability == Durability::kSyncEachWrite || durability == Durability::kGroupCommit
             ? Appender::PaddingAnchor::kSyncedTail
             : Appender::PaddingAnchor::kTail;
}

}  // namespace

Writer::Writer(const std::filesystem::path& path, const OpenOptions& options, Publication& publication)
    : path_(path),
      options_(options),
      publication_(publication),
      sync_(options.durability, options.sync_interval, path, *this) {
  // Opened before the lock so that a missing file is reported before a lock file is
  // created; nothing reads it until the lock is held, since another writer might be
  // changing it.
  io::FileHandle file(path, options.must_exist ? io::FileHandle::Mode::kOpenExisting
                                               : io::FileHandle::Mode::kOpenOrCreate);
  std::optional<LockFile::State> previous;
  lock_ = LockFile::acquire(path, &previous);
  // The store file is locked too, so that a second name for it (a hard link) does
  // not let a second writer in. The lock is taken through a descriptor of its own:
  // an OFD lock lives as long as its open file description, and mappings (which
  // handles keep alive after close) hold the description they were made from.
  file_lock_ = io::FileHandle(path, io::FileHandle::Mode::kOpenExisting);
  if (!file_lock_.try_lock_exclusive()) {
    throw Error(ErrorCode::kLocked, "'" + path.string() + "' is locked by another writer (through another "
                                    "name of the same file); only one DataStore may write a store at a time.");
  }
  identity_ = file.identity();
  const std::uint64_t file_len = file.size();
  remove_stale_temporaries(path_);

  std::lock_guard lock(publication_.change_mutex());
  const bool huge_folios = wants_huge_folios(options.durability);
  // A crash while open moves entries another writer appended (open_policy.h) must
  // make the next open start the move over: the lock file then shows this writer
  // died with its store ending at our own entries.
  auto before_repair = [this](std::uint64_t own_tail) { lock_->publish_file(identity_, own_tail); };
  OpenedStore opened =
      open_store(file, file_len, {path_, options_, identity_, previous, huge_folios, before_repair}, publication_);
  loaded_from_snapshot_ = opened.from_snapshot;
  snapshot_covers_ = opened.snapshot_covers;
  appender_.emplace(std::move(file), opened.file_length, huge_folios, padding_anchor_for(options.durability),
                    options.address_space_reservation, [this] { sync_.barrier(); });
  publication_.install(std::move(opened.generation));

  const std::uint64_t tail = publication_.current().tail.load(std::memory_order_relaxed);
  lock_->publish_file(identity_, tail);
  // Only a sync vouches for bytes on the disk: the durable mark stays where the last
  // writer's last sync left it on this very file (0 for a file new to us).
  const bool same_file = previous && previous->identity == identity_;
  lock_->publish_durable_tail(same_file ? std::min(tail, previous->durable_tail) : 0);
  sync_.start();
}

Writer::~Writer() {
  sync_.stop();
  std::lock_guard lock(publication_.change_mutex());
  close();
}

void Writer::close() noexcept {
  try {
    // Hand back the preallocated space so the file ends exactly at the tail, the form
    // in which both engines expect a closed store.
    Generation& generation = publication_.current();
    const std::uint64_t tail = generation.tail.load(std::memory_order_relaxed);
    if (appender_->physical_size() != tail) appender_->truncate(tail);
    if (options_.durability != Durability::kFlush && !sync_.failed()) {
      // Also makes the trimmed length durable.
      appender_->file().sync_data();
      lock_->publish_durable_tail(tail);
    }
    const std::uint64_t live = generation.live_count.load(std::memory_order_relaxed);
    if (live >= options_.index_snapshot_min_keys) {
      // A store that was only read leaves its snapshot as it found it, unless it
      // found it damaged.
      // A snapshot found damaged (a block failed its checksum) is replaced.
      if (snapshot_covers_ != tail || generation.table_owner->failed()) {
        // Saved with the snapshot, LiveBits spare the next open's first iteration
        // their build, which is cheaper here, while the index is still hot.
        // Bits that are no longer worth keeping (a store of large values: they grow
        // with the file, 5 bits per 16 bytes, not with the entries) are left out; the
        // next open then iterates without them, as for any such store. Such bits are
        // neither built nor read back from the old snapshot here.
        const LiveBits* saved_bits = nullptr;
        if (LiveBits::worth_keeping(tail, live)) {
          build_live_bits(generation);
          saved_bits = generation.live_owner.get();
        }
        save_snapshot(path_, *generation.table_owner, saved_bits, live,
                      generation.mapping.load(std::memory_order_relaxed)->data(), tail);
      }
    } else {
      remove_snapshot(path_);
    }
    // Last: a clean mark tells the next writer that no checksum hunt is needed.
    lock_->publish_tail(tail);
    lock_->mark_clean(true);
  } catch (const std::exception& error) {
    log_warning(std::string("closing store: ") + error.what());
  }
}

void Writer::require_writable() const { sync_.require_no_failure(); }

void Writer::publish_tail_locked(std::uint64_t tail) noexcept {
  publication_.current().tail.store(tail, std::memory_order_release);
  lock_->publish_tail(tail);
  sync_.note_write();
}

std::uint64_t Writer::append_locked(std::span<const PendingEntry> entries) {
  Generation& generation = publication_.current();
  if (entries.empty()) return generation.tail.load(std::memory_order_relaxed);
  // The slots are updated after the bytes are written; asking for them now lets the
  // cache misses of a whole batch overlap the copy instead of stalling one by one.
  const IndexTable* table = generation.table_owner.get();
  for (const PendingEntry& entry : entries) table->prefetch(entry.key_hash);
  const std::span<const std::uint64_t> tails = appender_->append(generation, entries);
  // Publish: index slots first (in batch order, so the later of two items for one
  // key wins), then the tail.
  for (std::size_t i = 0; i < entries.size(); ++i) {
    index_entry(publication_, generation, entries[i].key_hash, tails[i], entries[i].tombstone);
  }
  const std::uint64_t new_tail = tails.back();
  publish_tail_locked(new_tail);
  publication_.reclaim();
  return new_tail;
}

std::uint64_t Writer::append(std::span<const PendingEntry> entries) {
  std::unique_lock lock(publication_.change_mutex());
  require_writable();
  const std::uint64_t tail = append_locked(entries);
  sync_.finish_write(lock);
  return tail;
}

std::uint64_t Writer::append_stream(std::uint64_t key_hash, const StreamReader& source) {
  std::unique_lock lock(publication_.change_mutex());
  require_writable();
  Generation& generation = publication_.current();
  const std::uint64_t tail = appender_->append_stream(generation, key_hash, source);
  index_entry(publication_, generation, key_hash, tail, false);
  publish_tail_locked(tail);
  publication_.reclaim();
  sync_.finish_write(lock);
  return tail;
}

std::uint64_t Writer::remove(std::span<const std::uint64_t> key_hashes) {
  std::unique_lock lock(publication_.change_mutex());
  require_writable();
  std::vector<PendingEntry> tombstones;
  const Generation& generation = publication_.current();
  const IndexTable* table = generation.table_owner.get();
  const RecordKeys keys = generation.writer_record_keys();
  for (std::uint64_t key_hash : key_hashes) {
    const bool duplicate = std::any_of(tombstones.begin(), tombstones.end(),
                                       [&](const PendingEntry& entry) { return entry.key_hash == key_hash; });
    if (!duplicate && table->find(key_hash, keys) != 0) tombstones.push_back({key_hash, {}, true});
  }
  if (tombstones.empty()) return publication_.current().tail.load(std::memory_order_relaxed);
  const std::uint64_t tail = append_locked(tombstones);
  sync_.finish_write(lock);
  return tail;
}

std::uint64_t Writer::rename(std::uint64_t old_hash, std::uint64_t new_hash) {
  std::unique_lock lock(publication_.change_mutex());
  require_writable();
  Generation& generation = publication_.current();
  const std::uint64_t tail = generation.table_owner->find(old_hash, generation.writer_record_keys());
  std::optional<EntryHandle> old_entry;
  if (tail != 0) old_entry = handle_at(*generation.mapping.load(std::memory_order_relaxed), tail, false);
  if (!old_entry) throw Error(ErrorCode::kNotFound, "Old key not found");
  // The same bytes the original writes (new entry, then a tombstone for the old key),
  // but in one append, so a crash cannot leave the value under both keys or neither.
  const PendingEntry entries[] = {{new_hash, ByteView(old_entry->data(), old_entry->size()), false},
                                  {old_hash, {}, true}};
  const std::uint64_t new_tail = append_locked(entries);
  sync_.finish_write(lock);
  return new_tail;
}

void Writer::sync() { sync_.sync_all(); }

io::FileIdentity Writer::identity() const {
  std::lock_guard lock(publication_.change_mutex());
  return identity_;
}

std::uint64_t Writer::file_length() const {
  std::lock_guard lock(publication_.change_mutex());
  return appender_->physical_size();
}

Writer::Reserved Writer::reserved_space() const {
  std::lock_guard lock(publication_.change_mutex());
  return {appender_->physical_size(), appender_->padding_offset(), appender_->padding_anchor()};
}

std::uint64_t Writer::tail_to_sync() const noexcept { return published_tail(publication_); }

void Writer::sync_file() { appender_->file().sync_data(); }

void Writer::durable_through(std::uint64_t tail) noexcept {
  lock_->publish_durable_tail(tail);
  appender_->padding_durable_through(tail);
}

}  // namespace simd_r_drive::engine

// KeyIndex: key hash -> tail of the newest entry for that key.
//
// An open-addressing table with linear probing and 8 bytes a slot: a 16-bit tag
// taken from the key hash, a deleted bit, and the 47-bit tail of the key's newest
// record (its tombstone, for a deleted key). The full key hash is not kept in the
// table: the record at the tail holds it (its metadata's first field), so a slot
// whose tag matches is confirmed by reading the record's key hash. For a read that
// is the line it fetches next anyway; a probe that passes slots of other keys reads
// one of their records only when 16 bits of tag agree (1 time in 65,536).
//
// Whoever probes passes a KeyOf: a callable std::optional<std::uint64_t>(tail) that
// gives the key hash of the record ending at `tail` (nullopt when no record there can
// be read), with a prefetch(tail) member; RecordKeys below reads them from a mapped
// store file.
//
// The capacity is any multiple of kCapacityGranule slots. The home slot is a
// multiply-shift range reduction of the mixed hash (no power of two needed), and the
// table grows by half when 3/4 full, so it stays between 1/2 and 3/4 full: 10.7 to
// 16 bytes per key. Keys are XXH3 digests already; the mixing multiply keeps
// structured caller-supplied hashes (write_with_key_hash with 1, 2, 3, ... or
// multiples of a power of two) from piling into one run, and the tag comes from a
// second multiply, so its bits are not the bits that chose the home slot.
//
// Empty slots are 0. A slot's word (tag, deleted bit, tail) is published with one
// release store, and a record is written before any slot names it; so readers need
// no lock: they load the word with acquire and then may read the record.
//
// A table loaded from an index snapshot lies in a read-only mapping and is checked
// lazily: the snapshot holds a CRC-32 per block of kBlockSlots slots, and the first
// thread to probe a block checksums it and sets the block's "verified" bit (an
// atomic word, release/acquire) before any slot of it is used. Threads that race
// on an unverified block each compute the same checksum over the same immutable
// bytes; whichever sets the bit first, no slot is read before some thread saw its
// block's checksum hold. A block that fails marks the table failed: from then on
// every question that reaches a block not checked before goes to a table rebuilt
// from the store file (the rebuild function given at load, run once under a mutex
// by the first thread to need it), so no damaged slot ever answers. Blocks checked
// before hold what was saved, which the header tied to this very store, and keep
// answering. Opening costs the header and the block checksums (4 bytes per 32 KiB
// of slots) instead of a pass over every slot.
//
// Thread-safety: one writer (the store's write mutex) and any number of concurrent
// readers. Growing replaces the table: the store publishes the new one and retires
// the old one until no reader can still be looking at it. grown() of an owned table
// may also run on another thread while the writer changes the table (it reads only
// slot words, atomically; see its last_tail).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "format/coding.h"
#include "format/entry_layout.h"

namespace simd_r_drive::engine {

// The largest tail a slot can hold: a store file ends below 128 TiB.
inline constexpr std::uint64_t kMaxIndexedTail = (std::uint64_t{1} << 47) - 1;

// What a slot held before a change: nothing (tail 0), or a key's newest tail and
// whether that newest record is a tombstone.
struct SlotEntry {
  std::uint64_t tail = 0;
  bool deleted = false;
  bool live() const noexcept { return tail != 0 && !deleted; }
};

// The key hashes of the records of a mapped store file, for IndexTable's probes.
// Thread-safety: immutable; safe to share.
class RecordKeys {
 public:
  // Records ending anywhere in [0, size) of `base` may be read.
  RecordKeys(const std::byte* base, std::uint64_t size) noexcept : base_(base), size_(size) {}
  std::optional<std::uint64_t> operator()(std::uint64_t tail) const noexcept {
    if (tail < format::kMinEntryTail || tail > size_) return std::nullopt;
    return format::load_u64_le(base_ + tail - kMetadataSize + format::kKeyHashField);
  }
  void prefetch(std::uint64_t tail) const noexcept {
    if (tail >= format::kMinEntryTail && tail <= size_) __builtin_prefetch(base_ + tail - kMetadataSize);
  }

 private:
  const std::byte* base_;
  std::uint64_t size_;
};

class IndexTable {
 public:
  // Capacities are multiples of this many slots (8 KiB), which keeps what a
  // snapshot saves after the table page aligned.
  static constexpr std::size_t kCapacityGranule = 1024;
  static constexpr std::size_t kSlotBytes = 8;
  // Room for `expected_keys` at a load factor of about 2/3.
  static std::unique_ptr<IndexTable> with_room_for(std::size_t expected_keys);
  explicit IndexTable(std::size_t capacity);  // a multiple of kCapacityGranule
  // Slots per lazily checked block of a mapped table (32 KiB of slots).
  static constexpr std::size_t kBlockSlots = 4096;
  // How many blocks a table of `capacity` slots has (the last may be short).
  static std::size_t blocks_of(std::size_t capacity) noexcept { return (capacity + kBlockSlots - 1) / kBlockSlots; }
  // The CRC-32 of each block of `slots` (raw_slots() of a table), for snapshots.
  static std::vector<std::uint32_t> block_checksums(const std::byte* slots, std::size_t capacity);

  // A read-only table whose `capacity` slots lie at `slots`, inside the read-only
  // mapping [region, region + region_bytes) of an index snapshot; the table unmaps
  // the region when it dies. Blocks are checked lazily against `block_crcs` (see
  // above); `rebuild` builds the same table from the store itself, for when one
  // fails (it may throw only std::bad_alloc, which then ends the process: the
  // readers that call it are noexcept). The writer must replace such a table
  // (owned_copy or grown) before it changes a slot: changing one would fault.
  static std::unique_ptr<IndexTable> over_mapped_slots(void* region, std::size_t region_bytes,
                                                       const std::byte* slots, std::size_t capacity,
                                                       std::vector<std::uint32_t> block_crcs,
                                                       std::function<std::unique_ptr<IndexTable>()> rebuild);
  ~IndexTable();
  IndexTable(const IndexTable&) = delete;
  IndexTable& operator=(const IndexTable&) = delete;

  // The tail of the key's live entry, or 0 (absent or deleted).
  template <class KeyOf>
  std::uint64_t find(std::uint64_t key_hash, const KeyOf& key_of) const noexcept {
    const std::uint64_t tag = tag_of(key_hash);
    const std::optional<std::uint64_t> word =
        walk(key_hash, [&](std::uint64_t w) { return (w & kTagBits) == tag && key_of(w & kTailMask) == key_hash; });
    if (!word) return rebuilt().find(key_hash, key_of);
    return (*word & kDeletedBit) != 0 ? 0 : (*word & kTailMask);
  }
  // Whether the record ending at `tail`, whose key hash is `key_hash`, is that key's
  // live entry. Reads no record: tails are unique to their records.
  bool holds(std::uint64_t key_hash, std::uint64_t tail) const noexcept {
    const std::uint64_t wanted = tag_of(key_hash) | tail;
    const std::optional<std::uint64_t> word =
        walk(key_hash, [&](std::uint64_t w) { return (w & (kTagBits | kTailMask)) == wanted; });
    if (!word) return rebuilt().holds(key_hash, tail);
    return *word != 0 && (*word & kDeletedBit) == 0;
  }
  // The first slot of the key's run whose tag matches, unconfirmed: a batch reads it
  // to fetch the candidate records of many keys at once, then confirms each with
  // find_confirmed. Tail 0: the key is absent. nullopt: a block of a mapped table
  // failed its check; ask find.
  std::optional<SlotEntry> candidate(std::uint64_t key_hash) const noexcept {
    const std::uint64_t tag = tag_of(key_hash);
    const std::optional<std::uint64_t> word = walk(key_hash, [&](std::uint64_t w) { return (w & kTagBits) == tag; });
    if (!word) return std::nullopt;
    return entry_of(*word);
  }
  // find, given what candidate() returned for the key.
  template <class KeyOf>
  std::uint64_t find_confirmed(std::uint64_t key_hash, const std::optional<SlotEntry>& candidate,
                               const KeyOf& key_of) const noexcept {
    if (candidate && candidate->tail == 0) return 0;
    if (candidate && key_of(candidate->tail) == key_hash) return candidate->deleted ? 0 : candidate->tail;
    return find(key_hash, key_of);  // another key's tag, or a failed block
  }
  void prefetch(std::uint64_t key_hash) const noexcept { __builtin_prefetch(&slots_[home(key_hash)]); }

  // Writer only. Makes the record ending at `tail` the key's newest (a tombstone when
  // `deleted`) and returns what the slot held before. Deleting a key the table does
  // not hold records nothing.
  template <class KeyOf>
  SlotEntry upsert(std::uint64_t key_hash, std::uint64_t tail, bool deleted, const KeyOf& key_of) noexcept {
    const std::size_t i = writer_slot(key_hash, key_of);
    const std::uint64_t before = slots_[i].load(std::memory_order_relaxed);
    if (before == 0 && deleted) return {};
    fill(i, key_hash, tail, deleted, before == 0);
    return entry_of(before);
  }
  // Writer only (open-time build, newest entry first): records the entry only if the
  // key has no slot yet. Returns true if it did.
  template <class KeyOf>
  bool insert_if_absent(std::uint64_t key_hash, std::uint64_t tail, bool deleted, const KeyOf& key_of) noexcept {
    const std::size_t i = writer_slot(key_hash, key_of);
    if (slots_[i].load(std::memory_order_relaxed) != 0) return false;
    fill(i, key_hash, tail, deleted, true);
    return true;
  }
  // Writer only: records an entry of a key the caller knows the table does not hold
  // (a compacted file's keys are distinct), reading no record.
  void insert_distinct(std::uint64_t key_hash, std::uint64_t tail, bool deleted) noexcept {
    std::size_t i = home(key_hash);
    while (slots_[i].load(std::memory_order_relaxed) != 0) i = next(i);
    fill(i, key_hash, tail, deleted, true);
  }

  bool is_crowded() const noexcept { return used_ * 4 >= capacity() * 3; }
  // Past this load a table being grown in the background (index_growth.h) stops
  // taking new keys until the larger one is ready: probes lengthen quickly beyond it.
  bool is_nearly_full() const noexcept { return used_ * 8 >= capacity() * 7; }
  // A table half again as large holding the same live keys (deleted ones are
  // dropped); reads every live key's record through `key_of` for its full hash.
  // Slots naming a record that ends past `last_tail` are left out: a copy made on
  // another thread while the writer goes on changing this table (index_growth.h)
  // takes those from the writer's list of its changes. Returns nullptr once
  // `cancelled` is set. Throws Error(kCorruption) if a live slot's record at or
  // below `last_tail` cannot be read.
  template <class KeyOf>
  std::unique_ptr<IndexTable> grown(const KeyOf& key_of, std::uint64_t last_tail = kMaxIndexedTail,
                                    const std::atomic<bool>* cancelled = nullptr) const {
    const IndexTable& source = settled();
    auto bigger = std::make_unique<IndexTable>(grown_capacity(source.capacity()));
    // The records lie scattered over the file, and the keys' new slots over the new
    // table. A live slot's record is fetched kAhead slots before its key is read, and
    // a key's new slot kAhead keys before it is filled (the keys wait in a ring), so
    // both kinds of miss overlap, with no list of every key in between.
    constexpr std::size_t kAhead = 16;
    std::array<std::pair<std::uint64_t, std::uint64_t>, kAhead> waiting;  // (key hash, tail)
    std::size_t keys_read = 0;
    const std::size_t slots = source.capacity_;
    // Relaxed loads suffice on another thread too: a word naming a record at or below
    // `last_tail` was stored before that thread started, and other words are skipped.
    auto copied = [last_tail](const SlotEntry& entry) { return entry.live() && entry.tail <= last_tail; };
    constexpr std::size_t kCancelCheckSlots = 4096;
    for (std::size_t i = 0; i < slots; ++i) {
      if (cancelled != nullptr && i % kCancelCheckSlots == 0 && cancelled->load(std::memory_order_relaxed)) {
        return nullptr;
      }
      if (i + kAhead < slots) {
        const std::uint64_t ahead = source.slots_[i + kAhead].load(std::memory_order_relaxed);
        if (copied(entry_of(ahead))) key_of.prefetch(ahead & kTailMask);
      }
      const SlotEntry entry = entry_of(source.slots_[i].load(std::memory_order_relaxed));
      if (!copied(entry)) continue;
      const std::uint64_t tail = entry.tail;
      const std::optional<std::uint64_t> key = key_of(tail);
      if (!key) throw_unreadable_record(tail);
      bigger->prefetch(*key);
      auto& place = waiting[keys_read % kAhead];
      if (keys_read >= kAhead) bigger->insert_distinct(place.first, place.second, false);
      place = {*key, tail};
      ++keys_read;
    }
    for (std::size_t k = keys_read - std::min(keys_read, kAhead); k < keys_read; ++k) {
      bigger->insert_distinct(waiting[k % kAhead].first, waiting[k % kAhead].second, false);
    }
    return bigger;
  }
  // The capacity grown() gives a table of `capacity` slots.
  // Rounded down, so that a grown table is at least half full (at most 16 bytes
  // per key); tables below 2048 slots grow to the next granule.
  static std::size_t grown_capacity(std::size_t capacity) noexcept {
    return std::max(capacity + kCapacityGranule, (capacity + capacity / 2) / kCapacityGranule * kCapacityGranule);
  }
  // True for a table made by over_mapped_slots, whose slots cannot be written.
  bool is_mapped() const noexcept { return region_ != slots_; }
  // The same slots in writable memory of the table's own (huge pages); of a mapped
  // table, after checking every block (or a copy of the rebuilt table if one fails).
  std::unique_ptr<IndexTable> owned_copy() const;

  // The table whose slots can be read whole (live_tails, raw_slots): this one,
  // once every block is checked, or the rebuilt table if a block failed. An owned
  // table is settled already.
  const IndexTable& settled() const;
  // Mapped tables: whether a block failed its checksum (and answers come from the
  // rebuilt table), and how many blocks are checked so far.
  bool failed() const noexcept { return lazy_ != nullptr && lazy_->failed.load(std::memory_order_acquire); }
  std::size_t verified_blocks() const noexcept;

  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t used() const noexcept { return used_; }
  // After the slots were filled from a snapshot (through raw_slots()).
  void set_used(std::size_t used) noexcept { used_ = used; }
  // The slots as bytes (kSlotBytes per slot, native byte order), for snapshots. Of
  // a mapped table, unchecked: call it on settled().
  const std::byte* raw_slots() const noexcept { return reinterpret_cast<const std::byte*>(slots_); }
  std::size_t raw_size() const noexcept { return capacity() * kSlotBytes; }
  // The tails of every live key (of the settled table), in slot order.
  std::vector<std::uint64_t> live_tails() const;

 private:
  IndexTable() = default;
  using Slot = std::atomic<std::uint64_t>;
  static_assert(sizeof(Slot) == kSlotBytes);
  static constexpr std::uint64_t kTailMask = kMaxIndexedTail;
  static constexpr std::uint64_t kDeletedBit = std::uint64_t{1} << 47;
  static constexpr std::uint64_t kTagBits = ~std::uint64_t{0} << 48;
  // The lazy checking of a mapped table (see the top of this file).
  struct LazyCheck {
    std::vector<std::uint32_t> block_crcs;
    std::unique_ptr<std::atomic<std::uint64_t>[]> verified;  // a bit per block
    std::atomic<bool> failed{false};
    std::function<std::unique_ptr<IndexTable>()> rebuild;
    std::mutex rebuild_mutex;
    std::unique_ptr<IndexTable> rebuilt_owner;       // under rebuild_mutex
    std::atomic<const IndexTable*> rebuilt{nullptr};  // published with release
  };

  static std::uint64_t tag_of(std::uint64_t key_hash) noexcept {
    return (key_hash * 0xD6E8FEB86659FD93ull) & kTagBits;
  }
  static SlotEntry entry_of(std::uint64_t word) noexcept { return {word & kTailMask, (word & kDeletedBit) != 0}; }
  static std::size_t rounded_capacity(std::size_t slots) noexcept {
    return (slots + kCapacityGranule - 1) / kCapacityGranule * kCapacityGranule;
  }
  [[noreturn]] static void throw_unreadable_record(std::uint64_t tail);
  // The high half of a 64 x 64-bit product: home() maps the mixed hash onto
  // [0, capacity) as a fraction of 2^64 (a GCC and Clang extension).
  __extension__ using Wide = unsigned __int128;
  std::size_t home(std::uint64_t key_hash) const noexcept {
    const std::uint64_t mixed = key_hash * 0x9E3779B97F4A7C15ull;
    return static_cast<std::size_t>((static_cast<Wide>(mixed) * capacity_) >> 64);
  }
  std::size_t next(std::size_t i) const noexcept { return i + 1 == capacity_ ? 0 : i + 1; }

  // Writer only: the slot holding the key (its tag matches and its record's key hash
  // is the key's), or the empty slot that ends the key's run.
  template <class KeyOf>
  std::size_t writer_slot(std::uint64_t key_hash, const KeyOf& key_of) const noexcept {
    const std::uint64_t tag = tag_of(key_hash);
    for (std::size_t i = home(key_hash);; i = next(i)) {
      const std::uint64_t word = slots_[i].load(std::memory_order_relaxed);
      if (word == 0 || ((word & kTagBits) == tag && key_of(word & kTailMask) == key_hash)) return i;
    }
  }
  // Writer only: publishes slot i's word (release: the record it names was written
  // before); `was_empty` counts it as used.
  void fill(std::size_t i, std::uint64_t key_hash, std::uint64_t tail, bool deleted, bool was_empty) noexcept {
    slots_[i].store(tag_of(key_hash) | (deleted ? kDeletedBit : 0) | tail, std::memory_order_release);
    if (was_empty) ++used_;
  }
  // Walks the key's probe run from its home slot until `stop(word)` holds or an empty
  // slot is met, and returns the word it stopped at (0: empty). In a mapped table it
  // checks each block it enters; nullopt means one failed, and rebuilt() answers.
  template <class Stop>
  std::optional<std::uint64_t> walk(std::uint64_t key_hash, const Stop& stop) const noexcept {
    std::size_t i = home(key_hash);
    if (lazy_ != nullptr && !block_ready(i / kBlockSlots)) [[unlikely]] return std::nullopt;
    for (;;) {
      const std::uint64_t word = slots_[i].load(std::memory_order_acquire);
      if (word == 0 || stop(word)) return word;
      i = next(i);
      if (lazy_ != nullptr && i % kBlockSlots == 0 && !block_ready(i / kBlockSlots)) [[unlikely]] return std::nullopt;
    }
  }
  // Whether block `block` of a mapped table may be read: checked now or before (the
  // bit is read with acquire: the checking thread read the slots before setting
  // it). False once any block failed.
  bool block_ready(std::size_t block) const noexcept {
    const std::uint64_t bit = std::uint64_t{1} << (block % 64);
    if ((lazy_->verified[block / 64].load(std::memory_order_acquire) & bit) != 0) [[likely]] return true;
    return check_block(block);
  }
  bool check_block(std::size_t block) const noexcept;
  bool verify_all() const noexcept;
  const IndexTable& rebuilt() const;

  Slot* slots_ = nullptr;
  std::size_t bytes_ = 0;
  // The memory the table unmaps: its own slots, or a snapshot mapping around them.
  void* region_ = nullptr;
  std::size_t region_bytes_ = 0;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;  // slots holding a key, deleted ones included
  std::unique_ptr<LazyCheck> lazy_;  // mapped tables only
};

}  // namespace simd_r_drive::engine

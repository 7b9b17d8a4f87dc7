// KeyIndex: key hash -> tail of the newest entry for that key.
//
// An open-addressing table with linear probing. Keys are XXH3 digests already, so
// the slot is taken from the hash's bits after one multiply (Fibonacci hashing),
// which costs a cycle and keeps structured caller-supplied hashes (write_with_key_hash
// with 1, 2, 3, ... or multiples of a power of two) from piling into one run.
//
// Values are entry tails (> 0). 0 marks an empty slot; kDeletedTail marks a key whose
// newest record is a tombstone. A slot's key is written once, before its tail is
// published with a release store, and never changes afterwards; so readers need no
// lock: they load the tail with acquire and then read the key.
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
// answering. Opening costs the header and the block
// checksums (4 bytes per 64 KiB of slots) instead of a pass over every slot.
//
// Thread-safety: one writer (the store's write mutex) and any number of concurrent
// readers. Growing replaces the table: the store publishes the new one and retires
// the old one until no reader can still be looking at it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace simd_r_drive::engine {

inline constexpr std::uint64_t kDeletedTail = ~std::uint64_t{0};

class IndexTable {
 public:
  // Room for `expected_keys` at a load factor of at most 1/2.
  static std::unique_ptr<IndexTable> with_room_for(std::size_t expected_keys);
  explicit IndexTable(std::size_t capacity);  // a power of two
  // Slots per lazily checked block of a mapped table (64 KiB of slots).
  static constexpr std::size_t kBlockSlots = 4096;
  // How many blocks a table of `capacity` slots has (the last may be short only
  // when the capacity is below kBlockSlots).
  static std::size_t blocks_of(std::size_t capacity) noexcept { return (capacity + kBlockSlots - 1) / kBlockSlots; }
  // The CRC-32 of each block of `slots` (raw_slots() of a table), for snapshots.
  static std::vector<std::uint32_t> block_checksums(const std::byte* slots, std::size_t capacity);

  // A read-only table whose `capacity` slots lie at `slots`, inside the read-only
  // mapping [region, region + region_bytes) of an index snapshot; the table unmaps
  // the region when it dies. Blocks are checked lazily against `block_crcs` (see
  // above); `rebuild` builds the same table from the store itself, for when one
  // fails (it may throw only std::bad_alloc, which then ends the process: the
  // readers that call it are noexcept). The writer must replace such a table
  // (owned_copy or grown) before it changes a slot: upsert and insert_if_absent on
  // it would fault.
  static std::unique_ptr<IndexTable> over_mapped_slots(void* region, std::size_t region_bytes,
                                                       const std::byte* slots, std::size_t capacity,
                                                       std::vector<std::uint32_t> block_crcs,
                                                       std::function<std::unique_ptr<IndexTable>()> rebuild);
  ~IndexTable();
  IndexTable(const IndexTable&) = delete;
  IndexTable& operator=(const IndexTable&) = delete;

  // The tail of the key's live entry, or 0 (absent or deleted).
  std::uint64_t find(std::uint64_t key_hash) const noexcept {
    std::size_t i = home(key_hash);
    // A mapped table answers inline from a block already checked; the first probe
    // of a block, and a probe that runs on into the next block, take the checked
    // path (find_checked), which checks it.
    if (lazy_ != nullptr && !block_checked(i / kBlockSlots)) [[unlikely]] return find_checked(key_hash);
    for (;; i = (i + 1) & mask_) {
      const std::uint64_t tail = slots_[i].tail.load(std::memory_order_acquire);
      if (tail == 0) return 0;
      if (slots_[i].key.load(std::memory_order_relaxed) == key_hash) return tail == kDeletedTail ? 0 : tail;
      if (((i + 1) & (kBlockSlots - 1)) == 0 && lazy_ != nullptr) [[unlikely]] return find_checked(key_hash);
    }
  }
  void prefetch(std::uint64_t key_hash) const noexcept { __builtin_prefetch(&slots_[home(key_hash)]); }

  // Writer only. Sets the key's tail (kDeletedTail to delete) and returns what it
  // was before: 0 if the key was never seen, kDeletedTail if deleted, else a tail.
  std::uint64_t upsert(std::uint64_t key_hash, std::uint64_t tail) noexcept;
  // Writer only (open-time build, newest entry first): sets the tail only if the key
  // has no slot yet. Returns true if it did.
  bool insert_if_absent(std::uint64_t key_hash, std::uint64_t tail) noexcept;

  bool is_crowded() const noexcept { return used_ * 10 >= capacity() * 7; }
  // A table twice as large holding the same live keys (deleted ones are dropped).
  std::unique_ptr<IndexTable> grown() const;
  // True for a table made by over_mapped_slots, whose slots cannot be written.
  bool is_mapped() const noexcept { return region_ != slots_; }
  // The same slots in writable memory of the table's own (huge pages); of a mapped
  // table, after checking every block (or a copy of the rebuilt table if one fails).
  std::unique_ptr<IndexTable> owned_copy() const;

  // The table whose slots can be read whole (for_each_live, raw_slots): this one,
  // once every block is checked, or the rebuilt table if a block failed. An owned
  // table is settled already.
  const IndexTable& settled() const;
  // Mapped tables: whether a block failed its checksum (and answers come from the
  // rebuilt table), and how many blocks are checked so far.
  bool failed() const noexcept { return lazy_ != nullptr && lazy_->failed.load(std::memory_order_acquire); }
  std::size_t verified_blocks() const noexcept;

  std::size_t capacity() const noexcept { return mask_ + 1; }
  std::size_t used() const noexcept { return used_; }
  // After the slots were filled from a snapshot (through raw_slots()).
  void set_used(std::size_t used) noexcept { used_ = used; }
  // The slots as bytes (16 per slot: key hash, tail; native byte order), for
  // snapshots. Of a mapped table, unchecked: call it on settled().
  const std::byte* raw_slots() const noexcept { return reinterpret_cast<const std::byte*>(slots_); }
  std::size_t raw_size() const noexcept { return capacity() * sizeof(Slot); }
  // Visits (key hash, tail) of every live key (of the settled table).
  template <class Visit>
  void for_each_live(Visit&& visit) const {
    const IndexTable& table = settled();
    for (std::size_t i = 0; i < table.capacity(); ++i) {
      const std::uint64_t tail = table.slots_[i].tail.load(std::memory_order_acquire);
      if (tail != 0 && tail != kDeletedTail) visit(table.slots_[i].key.load(std::memory_order_relaxed), tail);
    }
  }

 private:
  IndexTable() = default;
  struct Slot {
    std::atomic<std::uint64_t> key;
    std::atomic<std::uint64_t> tail;
  };
  static_assert(sizeof(Slot) == 16);
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
  std::uint64_t find_checked(std::uint64_t key_hash) const noexcept;
  // Whether block `block` of a mapped table passed its check already (acquire: its
  // slots were read by the checking thread before the bit was set).
  bool block_checked(std::size_t block) const noexcept {
    return (lazy_->verified[block / 64].load(std::memory_order_acquire) & (std::uint64_t{1} << (block % 64))) != 0;
  }
  // Whether block `block` may be read: checked now or before. False once any
  // block failed.
  bool block_ready(std::size_t block) const noexcept;
  bool verify_all() const noexcept;
  const IndexTable& rebuilt() const;

  std::size_t home(std::uint64_t key_hash) const noexcept {
    return static_cast<std::size_t>((key_hash * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }

  Slot* slots_ = nullptr;
  std::size_t bytes_ = 0;
  // The memory the table unmaps: its own slots, or a snapshot mapping around them.
  void* region_ = nullptr;
  std::size_t region_bytes_ = 0;
  std::size_t mask_ = 0;
  unsigned shift_ = 0;
  std::size_t used_ = 0;  // slots holding a key, deleted ones included
  std::unique_ptr<LazyCheck> lazy_;  // mapped tables only
};

}  // namespace simd_r_drive::engine

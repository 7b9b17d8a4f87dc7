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
// Thread-safety: one writer (the store's write mutex) and any number of concurrent
// readers. Growing replaces the table: the store publishes the new one and retires
// the old one until no reader can still be looking at it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace simd_r_drive::engine {

inline constexpr std::uint64_t kDeletedTail = ~std::uint64_t{0};

class IndexTable {
 public:
  // Room for `expected_keys` at a load factor of at most 1/2.
  static std::unique_ptr<IndexTable> with_room_for(std::size_t expected_keys);
  explicit IndexTable(std::size_t capacity);  // a power of two
  // A read-only table whose `capacity` slots lie at `slots`, inside the read-only
  // mapping [region, region + region_bytes) of an index snapshot; the table unmaps
  // the region when it dies. Opening a store this way costs one checksum pass over
  // page-cache pages instead of zeroing and copying the table into fresh memory.
  // The writer must replace such a table (owned_copy or grown) before it changes a
  // slot: upsert and insert_if_absent on it would fault.
  static std::unique_ptr<IndexTable> over_mapped_slots(void* region, std::size_t region_bytes,
                                                       const std::byte* slots, std::size_t capacity);
  ~IndexTable();
  IndexTable(const IndexTable&) = delete;
  IndexTable& operator=(const IndexTable&) = delete;

  // The tail of the key's live entry, or 0 (absent or deleted).
  std::uint64_t find(std::uint64_t key_hash) const noexcept {
    for (std::size_t i = home(key_hash);; i = (i + 1) & mask_) {
      const std::uint64_t tail = slots_[i].tail.load(std::memory_order_acquire);
      if (tail == 0) return 0;
      if (slots_[i].key.load(std::memory_order_relaxed) == key_hash) return tail == kDeletedTail ? 0 : tail;
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
  // The same slots in writable memory of the table's own (huge pages).
  std::unique_ptr<IndexTable> owned_copy() const;

  std::size_t capacity() const noexcept { return mask_ + 1; }
  std::size_t used() const noexcept { return used_; }
  // After the slots were filled from a snapshot (through raw_slots()).
  void set_used(std::size_t used) noexcept { used_ = used; }
  // The slots as bytes (16 per slot: key hash, tail; native byte order), for snapshots.
  const std::byte* raw_slots() const noexcept { return reinterpret_cast<const std::byte*>(slots_); }
  std::size_t raw_size() const noexcept { return capacity() * sizeof(Slot); }
  // Visits (key hash, tail) of every live key whose slot lies in [first, last).
  template <class Visit>
  void for_each_live(std::size_t first, std::size_t last, Visit&& visit) const {
    for (std::size_t i = first; i < last; ++i) {
      const std::uint64_t tail = slots_[i].tail.load(std::memory_order_acquire);
      if (tail != 0 && tail != kDeletedTail) visit(slots_[i].key.load(std::memory_order_relaxed), tail);
    }
  }

 private:
  IndexTable() = default;
  struct Slot {
    std::atomic<std::uint64_t> key;
    std::atomic<std::uint64_t> tail;
  };
  static_assert(sizeof(Slot) == 16);
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
};

}  // namespace simd_r_drive::engine

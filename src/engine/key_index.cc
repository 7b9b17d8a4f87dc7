#include "engine/key_index.h"

#include <sys/mman.h>

#include <bit>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

namespace simd_r_drive::engine {

std::unique_ptr<IndexTable> IndexTable::with_room_for(std::size_t expected_keys) {
  std::size_t capacity = 1024;
  while (capacity < expected_keys * 2) capacity *= 2;
  return std::make_unique<IndexTable>(capacity);
}

IndexTable::IndexTable(std::size_t capacity) : mask_(capacity - 1) {
  shift_ = 64u - static_cast<unsigned>(std::countr_zero(capacity));
  bytes_ = capacity * sizeof(Slot);
  // Anonymous pages arrive zeroed (every slot empty), and a large table asks for
  // transparent huge pages: random probes then miss the TLB far less often.
  void* memory = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  if (bytes_ >= (2u << 20)) ::madvise(memory, bytes_, MADV_HUGEPAGE);
  slots_ = static_cast<Slot*>(memory);
  region_ = memory;
  region_bytes_ = bytes_;
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
}

std::unique_ptr<IndexTable> IndexTable::over_mapped_slots(void* region, std::size_t region_bytes,
                                                         const std::byte* slots, std::size_t capacity) {
  std::unique_ptr<IndexTable> table(new IndexTable());
  table->region_ = region;
  table->region_bytes_ = region_bytes;
  table->mask_ = capacity - 1;
  table->shift_ = 64u - static_cast<unsigned>(std::countr_zero(capacity));
  table->bytes_ = capacity * sizeof(Slot);
  // The slots are only ever read through this pointer (see is_mapped()).
  table->slots_ = reinterpret_cast<Slot*>(const_cast<std::byte*>(slots));
  return table;
}

IndexTable::~IndexTable() {
  if (region_ != nullptr) ::munmap(region_, region_bytes_);
}

std::unique_ptr<IndexTable> IndexTable::owned_copy() const {
  auto copy = std::make_unique<IndexTable>(capacity());
  std::memcpy(static_cast<void*>(copy->slots_), static_cast<const void*>(slots_), bytes_);
  copy->used_ = used_;
  return copy;
}

std::uint64_t IndexTable::upsert(std::uint64_t key_hash, std::uint64_t tail) noexcept {
  for (std::size_t i = home(key_hash);; i = (i + 1) & mask_) {
    const std::uint64_t current = slots_[i].tail.load(std::memory_order_relaxed);
    if (current == 0) {
      if (tail == kDeletedTail) return 0;  // deleting a key never seen: nothing to record
      slots_[i].key.store(key_hash, std::memory_order_relaxed);
      slots_[i].tail.store(tail, std::memory_order_release);
      ++used_;
      return 0;
    }
    if (slots_[i].key.load(std::memory_order_relaxed) == key_hash) {
      slots_[i].tail.store(tail, std::memory_order_release);
      return current;
    }
  }
}

bool IndexTable::insert_if_absent(std::uint64_t key_hash, std::uint64_t tail) noexcept {
  for (std::size_t i = home(key_hash);; i = (i + 1) & mask_) {
    if (slots_[i].tail.load(std::memory_order_relaxed) == 0) {
      slots_[i].key.store(key_hash, std::memory_order_relaxed);
      slots_[i].tail.store(tail, std::memory_order_release);
      ++used_;
      return true;
    }
    if (slots_[i].key.load(std::memory_order_relaxed) == key_hash) return false;
  }
}

std::unique_ptr<IndexTable> IndexTable::grown() const {
  auto bigger = std::make_unique<IndexTable>(capacity() * 2);
  // Read this table in order, then insert with the new slots prefetched a few keys
  // ahead, so that the random misses in the bigger table overlap.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> live;
  live.reserve(used_);
  for_each_live(0, capacity(), [&](std::uint64_t key, std::uint64_t tail) { live.emplace_back(key, tail); });
  constexpr std::size_t kLookahead = 16;
  for (std::size_t i = 0; i < live.size(); ++i) {
    if (i + kLookahead < live.size()) bigger->prefetch(live[i + kLookahead].first);
    bigger->insert_if_absent(live[i].first, live[i].second);
  }
  return bigger;
}

}  // namespace simd_r_drive::engine

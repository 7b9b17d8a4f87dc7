#include "engine/key_index.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "format/checksum.h"

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

std::vector<std::uint32_t> IndexTable::block_checksums(const std::byte* slots, std::size_t capacity) {
  std::vector<std::uint32_t> crcs(blocks_of(capacity));
  for (std::size_t block = 0; block < crcs.size(); ++block) {
    const std::size_t first = block * kBlockSlots;
    const std::size_t count = std::min(kBlockSlots, capacity - first);
    crcs[block] = format::crc32_extend(0, slots + first * sizeof(Slot), count * sizeof(Slot));
  }
  return crcs;
}

std::unique_ptr<IndexTable> IndexTable::over_mapped_slots(void* region, std::size_t region_bytes,
                                                         const std::byte* slots, std::size_t capacity,
                                                         std::vector<std::uint32_t> block_crcs,
                                                         std::function<std::unique_ptr<IndexTable>()> rebuild) {
  std::unique_ptr<IndexTable> table(new IndexTable());
  table->lazy_ = std::make_unique<LazyCheck>();
  table->lazy_->block_crcs = std::move(block_crcs);
  table->lazy_->verified = std::make_unique<std::atomic<std::uint64_t>[]>((blocks_of(capacity) + 63) / 64);
  table->lazy_->rebuild = std::move(rebuild);
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
  const IndexTable& source = settled();
  auto copy = std::make_unique<IndexTable>(source.capacity());
  std::memcpy(static_cast<void*>(copy->slots_), static_cast<const void*>(source.slots_), source.bytes_);
  copy->used_ = source.used_;
  return copy;
}

bool IndexTable::block_ready(std::size_t block) const noexcept {
  std::atomic<std::uint64_t>& word = lazy_->verified[block / 64];
  const std::uint64_t bit = std::uint64_t{1} << (block % 64);
  if ((word.load(std::memory_order_acquire) & bit) != 0) return true;
  if (lazy_->failed.load(std::memory_order_acquire)) return false;
  const std::size_t first = block * kBlockSlots;
  const std::size_t count = std::min(kBlockSlots, capacity() - first);
  const std::uint32_t crc =
      format::crc32_extend(0, reinterpret_cast<const std::byte*>(slots_ + first), count * sizeof(Slot));
  if (block >= lazy_->block_crcs.size() || crc != lazy_->block_crcs[block]) {
    lazy_->failed.store(true, std::memory_order_release);
    return false;
  }
  word.fetch_or(bit, std::memory_order_release);
  return true;
}

bool IndexTable::verify_all() const noexcept {
  for (std::size_t block = 0; block < blocks_of(capacity()); ++block) {
    if (!block_ready(block)) return false;
  }
  return true;
}

std::size_t IndexTable::verified_blocks() const noexcept {
  if (lazy_ == nullptr) return blocks_of(capacity());
  std::size_t count = 0;
  for (std::size_t w = 0; w < (blocks_of(capacity()) + 63) / 64; ++w) {
    count += static_cast<std::size_t>(std::popcount(lazy_->verified[w].load(std::memory_order_acquire)));
  }
  return count;
}

const IndexTable& IndexTable::rebuilt() const {
  if (const IndexTable* done = lazy_->rebuilt.load(std::memory_order_acquire)) return *done;
  std::lock_guard lock(lazy_->rebuild_mutex);
  if (!lazy_->rebuilt_owner) {
    lazy_->rebuilt_owner = lazy_->rebuild();
    lazy_->rebuilt.store(lazy_->rebuilt_owner.get(), std::memory_order_release);
  }
  return *lazy_->rebuilt_owner;
}

const IndexTable& IndexTable::settled() const {
  if (lazy_ == nullptr || verify_all()) return *this;
  return rebuilt();
}

std::uint64_t IndexTable::find_checked(std::uint64_t key_hash) const noexcept {
  if (!lazy_->failed.load(std::memory_order_acquire)) {
    std::size_t i = home(key_hash);
    bool ready = block_ready(i / kBlockSlots);
    while (ready) {
      const std::uint64_t tail = slots_[i].tail.load(std::memory_order_acquire);
      if (tail == 0) return 0;
      if (slots_[i].key.load(std::memory_order_relaxed) == key_hash) return tail == kDeletedTail ? 0 : tail;
      i = (i + 1) & mask_;
      // A probe that runs into the next block checks that one too.
      if (i % kBlockSlots == 0) ready = block_ready(i / kBlockSlots);
    }
  }
  // A block failed: the snapshot is damaged, and the table rebuilt from the store
  // answers instead (built here by the first thread to need it).
  return rebuilt().find(key_hash);
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
  const IndexTable& source = settled();
  auto bigger = std::make_unique<IndexTable>(source.capacity() * 2);
  // Read this table in order, then insert with the new slots prefetched a few keys
  // ahead, so that the random misses in the bigger table overlap.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> live;
  live.reserve(source.used_);
  for_each_live([&](std::uint64_t key, std::uint64_t tail) { live.emplace_back(key, tail); });
  constexpr std::size_t kLookahead = 16;
  for (std::size_t i = 0; i < live.size(); ++i) {
    if (i + kLookahead < live.size()) bigger->prefetch(live[i + kLookahead].first);
    bigger->insert_if_absent(live[i].first, live[i].second);
  }
  return bigger;
}

}  // namespace simd_r_drive::engine

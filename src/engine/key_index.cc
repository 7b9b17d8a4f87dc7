#include "engine/key_index.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "format/checksum.h"
#include "io/mapping.h"
#include "simd_r_drive/error.h"

namespace simd_r_drive::engine {

std::unique_ptr<IndexTable> IndexTable::with_room_for(std::size_t expected_keys) {
  return std::make_unique<IndexTable>(std::max(kCapacityGranule, rounded_capacity(expected_keys + expected_keys / 2)));
}

IndexTable::IndexTable(std::size_t capacity) : capacity_(capacity) {
  bytes_ = capacity * kSlotBytes;
  // Anonymous pages arrive zeroed (every slot empty), and a large table asks for
  // transparent huge pages: random probes then miss the TLB far less often.
  void* memory = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  if (bytes_ >= (2u << 20)) ::madvise(memory, bytes_, MADV_HUGEPAGE);
  // Faulted in for writing now, not slot by slot: a probe reads a slot before the
  // insert writes it, so an untouched page was first mapped to the shared zero page
  // and then copied on the write, a second fault whose TLB flush interrupts every
  // CPU running the process (and a huge zero page split into 4 KiB pages first). A
  // table grown on a thread of its own took 160-195 ns a key that way, 4 to 5 times
  // the copy itself, long enough for the writer to reach 7/8 full and wait for it.
  (void)io::populate_for_writing(memory, bytes_);
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
    crcs[block] = format::crc32_extend(0, slots + first * kSlotBytes, count * kSlotBytes);
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
  table->capacity_ = capacity;
  table->bytes_ = capacity * kSlotBytes;
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

bool IndexTable::check_block(std::size_t block) const noexcept {
  if (lazy_->failed.load(std::memory_order_acquire)) return false;
  const std::size_t first = block * kBlockSlots;
  const std::size_t count = std::min(kBlockSlots, capacity() - first);
  const std::uint32_t crc =
      format::crc32_extend(0, reinterpret_cast<const std::byte*>(slots_ + first), count * kSlotBytes);
  if (block >= lazy_->block_crcs.size() || crc != lazy_->block_crcs[block]) {
    lazy_->failed.store(true, std::memory_order_release);
    return false;
  }
  lazy_->verified[block / 64].fetch_or(std::uint64_t{1} << (block % 64), std::memory_order_release);
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

std::vector<std::uint64_t> IndexTable::live_tails() const {
  const IndexTable& table = settled();
  std::vector<std::uint64_t> tails;
  tails.reserve(table.used_);
  for (std::size_t i = 0; i < table.capacity_; ++i) {
    const SlotEntry entry = entry_of(table.slots_[i].load(std::memory_order_acquire));
    if (entry.live()) tails.push_back(entry.tail);
  }
  return tails;
}

void IndexTable::throw_unreadable_record(std::uint64_t tail) {
  throw Error(ErrorCode::kCorruption, "the index names a record ending at offset " + std::to_string(tail) +
                                          " that the store file does not hold");
}

}  // namespace simd_r_drive::engine

#include "engine/live_bits.h"

#include <sys/mman.h>

#include <bit>
#include <new>

namespace simd_r_drive::engine {

LiveBits::LiveBits(std::uint64_t tail_capacity) : LiveBits(ByWords{}, (tail_capacity / kGranule + 63) / 64 + 1) {}

std::unique_ptr<LiveBits> LiveBits::with_words(std::uint64_t words) {
  return std::unique_ptr<LiveBits>(new LiveBits(ByWords{}, words));
}

LiveBits::LiveBits(ByWords, std::uint64_t words) {
  words_ = words;
  bytes_ = words_ * sizeof(std::uint64_t) + words_ * 32;  // bits, then 4-bit offsets
  // Anonymous pages arrive zeroed: every entry starts out not live.
  void* memory = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  words_ptr_ = static_cast<std::atomic<std::uint64_t>*>(memory);
  nibbles_ptr_ = reinterpret_cast<std::atomic<std::uint8_t>*>(words_ptr_ + words_);
}

LiveBits::LiveBits(void* memory, std::uint64_t words) {
  words_ = words;
  bytes_ = words_ * sizeof(std::uint64_t) + words_ * 32;
  words_ptr_ = static_cast<std::atomic<std::uint64_t>*>(memory);
  nibbles_ptr_ = reinterpret_cast<std::atomic<std::uint8_t>*>(words_ptr_ + words_);
}

std::unique_ptr<LiveBits> LiveBits::mapped_from(int fd, std::uint64_t offset, std::uint64_t words) {
  const std::size_t bytes = words * sizeof(std::uint64_t) + words * 32;
  void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, static_cast<off_t>(offset));
  if (memory == MAP_FAILED) return nullptr;
  return std::unique_ptr<LiveBits>(new LiveBits(memory, words));
}

LiveBits::~LiveBits() { ::munmap(words_ptr_, bytes_); }

void LiveBits::build_from(const std::uint64_t* tails, std::size_t count) noexcept {
  constexpr std::size_t kLookahead = 16;
  for (std::size_t i = 0; i < count; ++i) {
    if (i + kLookahead < count) {
      __builtin_prefetch(&word(tails[i + kLookahead]), 1);
      __builtin_prefetch(&nibbles_ptr_[tails[i + kLookahead] / kGranule / 2], 1);
    }
    const std::uint64_t tail = tails[i];
    std::atomic<std::uint8_t>& pair = nibbles_ptr_[tail / kGranule / 2];
    const unsigned shift = (tail / kGranule % 2) * 4;
    pair.store(static_cast<std::uint8_t>((pair.load(std::memory_order_relaxed) & ~(0xFu << shift)) |
                                         ((tail % kGranule) << shift)),
               std::memory_order_relaxed);
    std::atomic<std::uint64_t>& w = word(tail);
    w.store(w.load(std::memory_order_relaxed) | bit(tail), std::memory_order_relaxed);
  }
}

std::unique_ptr<LiveBits> LiveBits::grown(std::uint64_t tail_capacity) const {
  auto bigger = std::make_unique<LiveBits>(tail_capacity);
  // Only the non-zero words are copied, and only the offsets of their set bits: pages
  // of either copy that hold no live entry are never touched. In a store of large
  // values most pages of the offsets are such pages, and reading them all (4/5 of the
  // bits' size) made each growth cost in proportion to the file, not to its entries.
  for (std::uint64_t w = 0; w < words_; ++w) {
    std::uint64_t bits = words_ptr_[w].load(std::memory_order_relaxed);
    if (bits == 0) continue;
    bigger->words_ptr_[w].store(bits, std::memory_order_relaxed);
    while (bits != 0) {
      // A byte holds the offsets of two neighbouring granules; copying it whole for
      // either one is exact, since an offset is only read for a set bit.
      const std::uint64_t pair = (w * 64 + static_cast<std::uint64_t>(std::countr_zero(bits))) / 2;
      bigger->nibbles_ptr_[pair].store(nibbles_ptr_[pair].load(std::memory_order_relaxed), std::memory_order_relaxed);
      bits &= bits - 1;
    }
  }
  return bigger;
}

}  // namespace simd_r_drive::engine

#include "engine/live_bits.h"

#include <sys/mman.h>

#include <new>

namespace simd_r_drive::engine {

LiveBits::LiveBits(std::uint64_t tail_capacity) {
  words_ = (tail_capacity / kGranule + 63) / 64 + 1;
  bytes_ = words_ * sizeof(std::uint64_t) + words_ * 32;  // bits, then 4-bit offsets
  // Anonymous pages arrive zeroed: every entry starts out not live.
  void* memory = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  words_ptr_ = static_cast<std::atomic<std::uint64_t>*>(memory);
  nibbles_ptr_ = reinterpret_cast<std::atomic<std::uint8_t>*>(words_ptr_ + words_);
}

LiveBits::~LiveBits() { ::munmap(words_ptr_, bytes_); }

std::unique_ptr<LiveBits> LiveBits::grown(std::uint64_t tail_capacity) const {
  auto bigger = std::make_unique<LiveBits>(tail_capacity);
  for (std::uint64_t w = 0; w < words_; ++w) {
    bigger->words_ptr_[w].store(words_ptr_[w].load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  for (std::uint64_t b = 0; b < words_ * 32; ++b) {
    bigger->nibbles_ptr_[b].store(nibbles_ptr_[b].load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  return bigger;
}

}  // namespace simd_r_drive::engine

#include "engine/reader_registry.h"

namespace simd_r_drive::engine {

std::size_t ReaderRegistry::stripe_index() noexcept {
  // Threads take stripes round-robin on first use, so up to kStripes concurrent
  // readers never share a counter's cache line.
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed) % kStripes;
  return mine;
}

}  // namespace simd_r_drive::engine

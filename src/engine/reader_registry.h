// ReaderRegistry: lets the single writer free an index table or generation only
// once no reader can still be using it, without readers ever taking a lock.
//
// A reader brackets its use of shared structures with a Guard, which increments a
// counter on one of several cache-line-sized stripes (one per thread, chosen once)
// and decrements it on exit. The writer first unpublishes an object (a sequentially
// consistent pointer store), keeps it in a retire list, and frees the list whenever
// it observes every stripe at zero. A reader that increments its stripe after the
// writer read that stripe is ordered after the unpublishing store, so it can only see
// the new object; a reader that incremented before is seen as active. The writer
// never waits: it just tries again after a later write.
//
// Thread-safety: Guard may be taken from any thread; quiescent() is for the writer.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace simd_r_drive::engine {

class ReaderRegistry {
 private:
  static constexpr std::size_t kStripes = 16;
  struct alignas(64) Stripe {
    std::atomic<std::uint64_t> active{0};
  };
  static std::size_t stripe_index() noexcept;

 public:
  class Guard {
   public:
    explicit Guard(const ReaderRegistry& registry) noexcept : stripe_(&registry.stripes_[stripe_index()]) {
      stripe_->active.fetch_add(1, std::memory_order_seq_cst);
    }
    ~Guard() { stripe_->active.fetch_sub(1, std::memory_order_release); }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    Stripe* stripe_;
  };

  bool quiescent() const noexcept {
    for (const Stripe& stripe : stripes_) {
      if (stripe.active.load(std::memory_order_seq_cst) != 0) return false;
    }
    return true;
  }

 private:
  mutable std::array<Stripe, kStripes> stripes_{};
};

}  // namespace simd_r_drive::engine

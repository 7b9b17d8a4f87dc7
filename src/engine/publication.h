// Publication: the generation readers see, and when what they saw may be freed.
//
// Readers load the published generation inside a ReaderRegistry::Guard and take no
// lock. Whoever changes the store holds change_mutex(): the writer, a follower's
// refresh, and the first build of LiveBits. The changer owns the current generation;
// it replaces a published object (a generation, an index table, LiveBits) by
// publishing its successor first and retiring the old one, and retired objects are
// freed once no guard is held (reader_registry.h explains why that is safe).
//
// Thread-safety: guard(), published() and acquire() from any thread; everything else
// under change_mutex().
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/reader_registry.h"
#include "engine/store_state.h"

namespace simd_r_drive::engine {

class Publication {
 public:
  Publication() = default;
  Publication(const Publication&) = delete;
  Publication& operator=(const Publication&) = delete;

  std::mutex& change_mutex() const noexcept { return change_mutex_; }
  const ReaderRegistry& readers() const noexcept { return *readers_; }
  // For objects that outlive a call and take guards of their own (iteration ranges).
  const std::shared_ptr<ReaderRegistry>& readers_shared() const noexcept { return readers_; }

  // ---- readers: inside a ReaderRegistry::Guard on readers() ----
  Generation* published() const noexcept { return published_.load(std::memory_order_seq_cst); }
  // A reference to the published generation that outlives the guard.
  std::shared_ptr<Generation> acquire() const {
    ReaderRegistry::Guard guard(*readers_);
    return published()->shared_from_this();
  }

  // ---- the changer: under change_mutex() ----
  Generation& current() const noexcept { return *current_; }
  const std::shared_ptr<Generation>& current_shared() const noexcept { return current_; }
  bool has_current() const noexcept { return current_ != nullptr; }
  // Makes `next` the current and published generation; the previous one (if any) is
  // retired, so readers in the middle of it finish undisturbed.
  void install(std::shared_ptr<Generation> next) {
    published_.store(next.get(), std::memory_order_seq_cst);
    if (current_) retire(std::move(current_));
    current_ = std::move(next);
    reclaim();
  }
  // Keeps `object`, already unpublished, until no reader can still be using it.
  void retire(std::shared_ptr<const void> object) const { retired_.push_back(std::move(object)); }
  void reclaim() const noexcept {
    if (!retired_.empty() && readers_->quiescent()) retired_.clear();
  }

 private:
  mutable std::mutex change_mutex_;
  std::shared_ptr<Generation> current_;
  std::atomic<Generation*> published_{nullptr};
  mutable std::vector<std::shared_ptr<const void>> retired_;
  std::shared_ptr<ReaderRegistry> readers_ = std::make_shared<ReaderRegistry>();
};

}  // namespace simd_r_drive::engine

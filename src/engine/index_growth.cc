#include "engine/index_growth.h"

#include <unistd.h>

#include <utility>

namespace simd_r_drive::engine {

IndexGrowth::IndexGrowth(const IndexTable& source, RecordKeys records, std::uint64_t last_copied_tail,
                         std::shared_ptr<const void> keep_alive, std::function<void()> before_copy)
    : source_(source),
      records_(records),
      last_copied_tail_(last_copied_tail),
      keep_alive_(std::move(keep_alive)),
      before_copy_(std::move(before_copy)),
      owner_pid_(static_cast<int>(::getpid())) {
  thread_ = std::thread([this] { run(); });
}

IndexGrowth::~IndexGrowth() {
  if (!thread_.joinable()) return;
  cancelled_.store(true, std::memory_order_relaxed);
  // A forked child inherits the thread's handle but not the thread.
  if (::getpid() == owner_pid_) {
    thread_.join();
  } else {
    thread_.detach();
  }
}

void IndexGrowth::note(std::uint64_t key_hash, std::uint64_t tail, bool deleted) {
  const std::size_t i = noted_.load(std::memory_order_relaxed);
  // Not zeroed: a page of the chunk is first touched when a change is written to it.
  if (i % kChunkChanges == 0) chunks_[i / kChunkChanges] = std::make_unique_for_overwrite<Change[]>(kChunkChanges);
  chunks_[i / kChunkChanges][i % kChunkChanges] = {key_hash, tail, deleted};
  noted_.store(i + 1, std::memory_order_release);
}

std::optional<std::uint64_t> IndexGrowth::GrowthKeys::operator()(std::uint64_t tail) const noexcept {
  if (tail <= growth_.last_copied_tail_) return growth_.records_(tail);
  std::size_t low = 0;
  std::size_t high = listed_;
  while (low < high) {
    const std::size_t middle = low + (high - low) / 2;
    if (growth_.at(middle).tail < tail) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  if (low < listed_ && growth_.at(low).tail == tail) return growth_.at(low).key_hash;
  return std::nullopt;
}

void IndexGrowth::run() {
  if (before_copy_) before_copy_();
  try {
    result_ = source_.grown(records_, last_copied_tail_, &cancelled_);
  } catch (...) {
    failure_ = std::current_exception();
  }
  // Catch up with the list: changes listed while this thread replays are replayed
  // in the next round, until a round finds none.
  while (result_ && !cancelled_.load(std::memory_order_relaxed)) {
    const std::size_t listed = noted_.load(std::memory_order_acquire);
    if (listed == replayed_) break;
    replay_until(*result_, listed, GrowthKeys(*this, listed));
  }
  replayed_by_thread_ = replayed_;
  done_.store(true, std::memory_order_release);
}

std::unique_ptr<IndexTable> IndexGrowth::wait() {
  if (thread_.joinable()) thread_.join();
  if (failure_) std::rethrow_exception(failure_);
  return std::move(result_);
}

}  // namespace simd_r_drive::engine

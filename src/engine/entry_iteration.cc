// Sequential and parallel iteration over live entries.
#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/data_store_impl.h"
#include "engine/iteration_state.h"

namespace simd_r_drive {



const EntryHandle& EntryIterator::operator*() const { return state_->current(); }

EntryIterator& EntryIterator::operator++() {
  state_->advance();
  return *this;
}

bool EntryIterator::at_end() const noexcept { return !state_ || state_->at_end(); }

EntryIterator EntryRange::begin() { return EntryIterator(state_); }

EntryRange DataStore::Impl::iterate() const {
  std::shared_ptr<engine::Generation> generation;
  {
    engine::ReaderRegistry::Guard guard(*readers_);
    generation = published_.load(std::memory_order_seq_cst)->shared_from_this();
  }
  return EntryRange(std::make_shared<detail::IterationState>(std::move(generation), readers_));
}

void DataStore::Impl::parallel_iterate(const std::function<void(const EntryHandle&)>& visit) const {
  // Scan the index table in parallel slices: every live key has exactly one slot, so
  // each live entry is visited once. Workers take slices from a shared counter, so an
  // uneven table still spreads evenly. The guard is held throughout; that only
  // defers the freeing of retired tables, it never blocks a writer.
  engine::ReaderRegistry::Guard guard(*readers_);
  engine::Generation* generation = published_.load(std::memory_order_seq_cst);
  const std::uint64_t tail = generation->tail.load(std::memory_order_acquire);
  const engine::IndexTable* table = generation->table.load(std::memory_order_seq_cst);
  io::Mapping* mapping = generation->mapping.load(std::memory_order_acquire);

  constexpr std::size_t kSlice = 4096;
  const std::size_t slices = (table->capacity() + kSlice - 1) / kSlice;
  std::atomic<std::size_t> next_slice{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto work = [&] {
    try {
      for (std::size_t slice; !failed.load(std::memory_order_relaxed) &&
                              (slice = next_slice.fetch_add(1, std::memory_order_relaxed)) < slices;) {
        const std::size_t first = slice * kSlice;
        table->for_each_live(first, std::min(first + kSlice, table->capacity()),
                             [&](std::uint64_t, std::uint64_t entry_tail) {
                               if (entry_tail > tail) return;  // written after the iteration began
                               if (auto entry = handle_at(*mapping, entry_tail, false)) visit(*entry);
                             });
      }
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
      failed.store(true, std::memory_order_relaxed);
    }
  };
  const std::size_t helpers =
      std::min<std::size_t>(std::max(1u, std::thread::hardware_concurrency()), slices) - 1;
  std::vector<std::thread> threads;
  threads.reserve(helpers);
  for (std::size_t i = 0; i < helpers; ++i) threads.emplace_back(work);
  work();
  for (std::thread& thread : threads) thread.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace simd_r_drive

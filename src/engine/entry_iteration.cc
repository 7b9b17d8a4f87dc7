// Sequential and parallel iteration over live entries.
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

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
  // each live entry is visited once. The guard is held throughout; that only defers
  // the freeing of retired tables, it never blocks a writer.
  engine::ReaderRegistry::Guard guard(*readers_);
  engine::Generation* generation = published_.load(std::memory_order_seq_cst);
  const std::uint64_t tail = generation->tail.load(std::memory_order_acquire);
  const engine::IndexTable* table = generation->table.load(std::memory_order_seq_cst);
  io::Mapping* mapping = generation->mapping.load(std::memory_order_acquire);
  tbb::parallel_for(tbb::blocked_range<std::size_t>(0, table->capacity(), 4096),
                    [&](const tbb::blocked_range<std::size_t>& slice) {
                      table->for_each_live(slice.begin(), slice.end(), [&](std::uint64_t, std::uint64_t entry_tail) {
                        if (entry_tail > tail) return;  // written after the iteration began
                        if (auto entry = handle_at(*mapping, entry_tail, false)) visit(*entry);
                      });
                    });
}

}  // namespace simd_r_drive

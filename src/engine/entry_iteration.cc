// Sequential and parallel iteration over live entries.
#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/entry_iteration.h"
#include "engine/index_upkeep.h"
#include "engine/iteration_state.h"
#include "format/entry_layout.h"

namespace simd_r_drive {

const EntryHandle& EntryIterator::operator*() const { return state_->current(); }

EntryIterator& EntryIterator::operator++() {
  state_->advance();
  return *this;
}

bool EntryIterator::at_end() const noexcept { return !state_ || state_->at_end(); }

EntryIterator EntryRange::begin() { return EntryIterator(state_); }

namespace engine {

EntryRange iterate(const Publication& publication) {
  ensure_live_bits(publication);
  return EntryRange(std::make_shared<detail::IterationState>(publication.acquire(), publication.readers_shared()));
}

namespace {

// Runs `work` on one thread per core (the caller's included) and rethrows the first
// exception any of them threw; `failed` tells the others to stop early.
template <class Work>
void on_every_core(std::size_t max_threads, Work&& work) {
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto guarded = [&] {
    try {
      work(failed);
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
      failed.store(true, std::memory_order_relaxed);
    }
  };
  const std::size_t helpers =
      std::min<std::size_t>(std::max(1u, std::thread::hardware_concurrency()), std::max<std::size_t>(max_threads, 1)) - 1;
  std::vector<std::thread> threads;
  threads.reserve(helpers);
  for (std::size_t i = 0; i < helpers; ++i) threads.emplace_back(guarded);
  guarded();
  for (std::thread& thread : threads) thread.join();
  if (first_error) std::rethrow_exception(first_error);
}

// Every live entry from LiveBits, in slices of the file that workers take in turn:
// no serial phase at all.
void parallel_scan_bits(const LiveBits& bits, const std::shared_ptr<io::Mapping>& mapping,
                        std::uint64_t tail, const std::function<void(const EntryHandle&)>& visit) {
  constexpr std::uint64_t kSlice = 1u << 20;  // bytes of file per slice
  const std::uint64_t slices = tail / kSlice + 1;
  std::atomic<std::uint64_t> next_slice{0};
  const std::byte* base = mapping->data();
  on_every_core(slices, [&](const std::atomic<bool>& failed) {
    EntryHandle handle = DataStore::Impl::make_handle(mapping, nullptr, 0, 0, EntryMetadata{});
    for (std::uint64_t slice; !failed.load(std::memory_order_relaxed) &&
                              (slice = next_slice.fetch_add(1, std::memory_order_relaxed)) < slices;) {
      const std::uint64_t low = slice * kSlice;
      for (std::uint64_t at = std::min(tail, low + kSlice - 1);;) {
        const std::optional<format::Record> record = detail::previous_live_record(bits, base, at, low);
        if (!record) break;
        DataStore::Impl::repoint(handle, base + record->payload.start, record->payload.size(), record->payload.start,
                                 record->metadata);
        visit(handle);
      }
    }
  });
}

}  // namespace

void parallel_iterate(const Publication& publication, const std::function<void(const EntryHandle&)>& visit) {
  ensure_live_bits(publication);
  // Phase 1, one thread: walk the chain and list every record that is not a
  // tombstone. This is a sequential read of the records, with no index lookups.
  // Phase 2, all cores: split that list; each worker checks its records against the
  // index (slots prefetched a batch ahead) and visits the live ones. The index
  // probes, the costly part, run in parallel. The guard is held throughout; that
  // only defers the freeing of retired tables, it never blocks a writer.
  std::shared_ptr<Generation> generation = publication.acquire();
  ReaderRegistry::Guard guard(publication.readers());
  std::shared_ptr<io::Mapping> mapping = generation->mapping.load(std::memory_order_acquire)->shared_from_this();
  const std::byte* base = mapping->data();
  if (const LiveBits* bits = generation->live.load(std::memory_order_seq_cst)) {
    parallel_scan_bits(*bits, mapping, generation->tail.load(std::memory_order_acquire), visit);
    return;
  }
  // Only the tails are kept (8 bytes each); workers decode the records again, which
  // is cheap because each works through a run of neighbouring records.
  std::vector<std::uint64_t> tails;
  for (std::uint64_t cursor = generation->tail.load(std::memory_order_acquire); cursor >= format::kMinEntryTail;) {
    tails.push_back(cursor);
    cursor = format::load_u64_le(base + cursor - kMetadataSize + format::kPrevOffsetField);
  }
  const IndexTable* table = generation->table.load(std::memory_order_seq_cst);

  constexpr std::size_t kChunk = 16384;
  constexpr std::size_t kLookahead = 32;
  const std::size_t chunks = (tails.size() + kChunk - 1) / kChunk;
  std::atomic<std::size_t> next_chunk{0};
  on_every_core(chunks, [&](const std::atomic<bool>& failed) {
    // One handle per worker, re-pointed per entry, pinning the mapping once.
    EntryHandle handle = DataStore::Impl::make_handle(mapping, nullptr, 0, 0, EntryMetadata{});
    for (std::size_t chunk; !failed.load(std::memory_order_relaxed) &&
                            (chunk = next_chunk.fetch_add(1, std::memory_order_relaxed)) < chunks;) {
      const std::size_t first = chunk * kChunk;
      const std::size_t last = std::min(first + kChunk, tails.size());
      const auto key_hash_at = [&](std::size_t i) {
        return format::load_u64_le(base + tails[i] - kMetadataSize + format::kKeyHashField);
      };
      for (std::size_t i = first; i < std::min(first + kLookahead, last); ++i) table->prefetch(key_hash_at(i));
      for (std::size_t i = first; i < last; ++i) {
        if (i + kLookahead < last) table->prefetch(key_hash_at(i + kLookahead));
        const std::uint64_t tail = tails[i];
        if (!table->holds(key_hash_at(i), tail)) continue;  // stale version, or deleted
        const std::optional<format::Record> record = format::decode_record(base, tail, tail);
        if (!record || record->payload.tombstone) continue;
        DataStore::Impl::repoint(handle, base + record->payload.start, record->payload.size(),
                                 record->payload.start, record->metadata);
        visit(handle);
      }
    }
  });
}

}  // namespace engine

}  // namespace simd_r_drive

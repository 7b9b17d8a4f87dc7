// detail::IterationState: the cursor behind EntryRange / EntryIterator, also used by
// compaction to list live entries.
//
// Thread-safety: one thread at a time; the generation it reads is shared safely.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "engine/data_store_impl.h"
#include "engine/reader_registry.h"
#include "engine/store_state.h"
#include "format/entry_layout.h"
#include "simd_r_drive/entry_handle.h"

namespace simd_r_drive {

namespace detail {

// The live entry with the largest tail that is at most `at` and at least `low`, read
// from `bits` and the mapped file `base`; `at` moves below it, so calling again
// yields the next older one. Records that do not decode (damage) are skipped.
// nullopt once the range holds no more. The scan behind iteration, parallel
// iteration and compaction's listing.
inline std::optional<format::Record> previous_live_record(const engine::LiveBits& bits, const std::byte* base,
                                                          std::uint64_t& at, std::uint64_t low) noexcept {
  for (;;) {
    const std::uint64_t tail = bits.previous(at);
    if (tail < low || tail < format::kMinEntryTail) return std::nullopt;
    at = tail - 1;
    std::optional<format::Record> record = format::decode_record(base, tail, tail);
    if (record && !record->payload.tombstone) return record;
  }
}

// Walks the chain backwards from the tail seen at creation. An entry is yielded when
// it is not a tombstone and the index still names it as its key's newest entry, which
// skips older versions and deleted keys without a set of keys seen so far.
//
// Entries are produced in batches: the walk reads ahead a batch of records and
// prefetches their index slots before checking any, so the index misses overlap.
class IterationState {
 public:
  IterationState(std::shared_ptr<engine::Generation> generation, std::shared_ptr<engine::ReaderRegistry> readers)
      : generation_(std::move(generation)),
        readers_(std::move(readers)),
        mapping_(generation_->mapping.load(std::memory_order_acquire)->shared_from_this()),
        cursor_(generation_->tail.load(std::memory_order_acquire)),
        current_(DataStore::Impl::make_handle(mapping_, nullptr, 0, 0, EntryMetadata{})) {
    // Decided once: LiveBits, once built for a generation, stay (grown copies only).
    scan_bits_ = generation_->live.load(std::memory_order_acquire) != nullptr;
    walk_cursor_ = cursor_;
    pending_.reserve(kBatch);
    incoming_.reserve(kBatch);
    advance();
  }

  bool at_end() const noexcept { return at_end_; }
  // The same handle object, re-pointed at each entry: it pins the mapping once for
  // the whole iteration, so stepping costs no reference counting. Callers who keep
  // an entry copy the handle, which takes its own reference.
  const EntryHandle& current() const noexcept { return current_; }

  void advance() {
    while (next_ == ready_.size()) {
      if (cursor_ == 0) {
        at_end_ = true;
        return;
      }
      refill();
    }
    const Ready& entry = ready_[next_++];
    DataStore::Impl::repoint(current_, mapping_->data() + entry.payload.start, entry.payload.size(),
                             entry.payload.start, entry.metadata);
  }

 private:
  using Ready = format::Record;

  // Reads the next batch of records going backwards and prefetches their index
  // slots, then checks the batch read the time before, whose slots have had a whole
  // batch worth of time to arrive. Entries still their key's newest are kept.
  void refill() {
    ready_.clear();
    next_ = 0;
    if (scan_bits_) {
      refill_from_bits();
      return;
    }
    engine::ReaderRegistry::Guard guard(*readers_);
    const engine::IndexTable* table = generation_->table.load(std::memory_order_seq_cst);
    std::swap(pending_, incoming_);
    incoming_.clear();
    const std::byte* base = mapping_->data();
    while (walk_cursor_ != 0 && incoming_.size() < kBatch) {
      const std::optional<format::Record> record = format::decode_record(base, walk_cursor_, walk_cursor_);
      if (!record) {  // cannot happen on a validated chain; stop rather than read garbage
        walk_cursor_ = 0;
        break;
      }
      if (!record->payload.tombstone) {
        table->prefetch(record->metadata.key_hash);
        incoming_.push_back({walk_cursor_, *record});
      }
      walk_cursor_ = record->metadata.prev_offset;
    }
    for (const Candidate& candidate : pending_) {
      if (table->holds(candidate.entry.metadata.key_hash, candidate.tail)) ready_.push_back(candidate.entry);
    }
    pending_.clear();
    if (walk_cursor_ == 0 && incoming_.empty()) cursor_ = 0;  // nothing left to read or check
  }

  // The fast path: live entries straight from LiveBits, high tails first, reading
  // only the bits and the live entries' own records.
  void refill_from_bits() {
    constexpr std::size_t kScanBatch = 256;
    engine::ReaderRegistry::Guard guard(*readers_);
    const engine::LiveBits* bits = generation_->live.load(std::memory_order_seq_cst);
    const std::byte* base = mapping_->data();
    while (ready_.size() < kScanBatch) {
      const std::optional<format::Record> record = previous_live_record(*bits, base, cursor_, 0);
      if (!record) {
        cursor_ = 0;
        return;
      }
      ready_.push_back(*record);
    }
  }

  bool scan_bits_ = false;
  static constexpr std::size_t kBatch = 64;
  struct Candidate {
    std::uint64_t tail;
    Ready entry;
  };
  std::vector<Candidate> pending_;   // read and prefetched, checked at the next refill
  std::vector<Candidate> incoming_;  // being read now
  std::uint64_t walk_cursor_ = 0;    // next record to read

  std::shared_ptr<engine::Generation> generation_;
  std::shared_ptr<engine::ReaderRegistry> readers_;
  std::shared_ptr<io::Mapping> mapping_;
  std::uint64_t cursor_;  // 0 once every record has been read and checked
  std::vector<Ready> ready_;
  std::size_t next_ = 0;
  bool at_end_ = false;
  EntryHandle current_;
};

}  // namespace detail

}  // namespace simd_r_drive

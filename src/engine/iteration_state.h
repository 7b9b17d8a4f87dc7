// detail::IterationState: the cursor behind EntryRange / EntryIterator, also used by
// compaction to list live entries.
//
// Thread-safety: one thread at a time; the generation it reads is shared safely.
#pragma once

#include <vector>
#include <memory>

#include "engine/reader_registry.h"
#include "engine/store_state.h"
#include "format/entry_layout.h"
#include "simd_r_drive/entry_handle.h"

namespace simd_r_drive {

namespace detail {

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
        current_(mapping_, nullptr, 0, 0, EntryMetadata{}) {
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
    current_.data_ = mapping_->data() + entry.range.start;
    current_.size_ = entry.range.size();
    current_.start_offset_ = entry.range.start;
    current_.metadata_ = entry.metadata;
  }

 private:
  struct Ready {
    EntryMetadata metadata;
    format::PayloadRange range;
  };

  // Reads the next batch of records going backwards, prefetches their index slots,
  // and keeps the entries that are still their key's newest.
  void refill() {
    constexpr std::size_t kBatch = 64;
    struct Candidate {
      std::uint64_t tail;
      Ready entry;
    };
    Candidate candidates[kBatch];
    std::size_t count = 0;
    const std::byte* base = mapping_->data();
    ready_.clear();
    next_ = 0;
    engine::ReaderRegistry::Guard guard(*readers_);
    const engine::IndexTable* table = generation_->table.load(std::memory_order_seq_cst);
    while (cursor_ != 0 && count < kBatch) {
      if (cursor_ < format::kMinEntryTail) {
        cursor_ = 0;
        break;
      }
      const std::uint64_t metadata_offset = cursor_ - kMetadataSize;
      const EntryMetadata metadata = format::decode_metadata(base + metadata_offset);
      const auto range = format::derive_payload_range(base, cursor_, metadata_offset, metadata.prev_offset);
      if (!range) {  // cannot happen on a validated chain; stop rather than read garbage
        cursor_ = 0;
        break;
      }
      if (!range->tombstone) {
        table->prefetch(metadata.key_hash);
        candidates[count++] = {cursor_, {metadata, *range}};
      }
      cursor_ = metadata.prev_offset;
    }
    for (std::size_t i = 0; i < count; ++i) {
      if (table->find(candidates[i].entry.metadata.key_hash) == candidates[i].tail) ready_.push_back(candidates[i].entry);
    }
  }

  std::shared_ptr<engine::Generation> generation_;
  std::shared_ptr<engine::ReaderRegistry> readers_;
  std::shared_ptr<io::Mapping> mapping_;
  std::uint64_t cursor_;
  std::vector<Ready> ready_;
  std::size_t next_ = 0;
  bool at_end_ = false;
  EntryHandle current_;
};

}  // namespace detail

}  // namespace simd_r_drive

// detail::IterationState: the cursor behind EntryRange / EntryIterator, also used by
// compaction to list live entries.
//
// Thread-safety: one thread at a time; the generation it reads is shared safely.
#pragma once

#include <deque>
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
      : generation_(std::move(generation)), readers_(std::move(readers)) {
    cursor_ = generation_->tail.load(std::memory_order_acquire);
    mapping_ = generation_->mapping.load(std::memory_order_acquire)->shared_from_this();
    advance();
  }

  bool at_end() const noexcept { return ready_.empty(); }
  const EntryHandle& current() const { return ready_.front(); }
  void advance() {
    if (!ready_.empty()) ready_.pop_front();
    while (ready_.empty() && cursor_ != 0) refill();
  }

 private:
  void refill() {
    constexpr std::size_t kBatch = 64;
    struct Candidate {
      std::uint64_t tail;
      EntryMetadata metadata;
      format::PayloadRange range;
    };
    Candidate candidates[kBatch];
    std::size_t count = 0;
    const std::byte* base = mapping_->data();
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
        candidates[count++] = {cursor_, metadata, *range};
      }
      cursor_ = metadata.prev_offset;
    }
    for (std::size_t i = 0; i < count; ++i) {
      const Candidate& candidate = candidates[i];
      if (table->find(candidate.metadata.key_hash) != candidate.tail) continue;
      ready_.emplace_back(mapping_, base + candidate.range.start, candidate.range.size(), candidate.range.start,
                          candidate.metadata);
    }
  }

  std::shared_ptr<engine::Generation> generation_;
  std::shared_ptr<engine::ReaderRegistry> readers_;
  std::shared_ptr<io::Mapping> mapping_;
  std::uint64_t cursor_ = 0;
  std::deque<EntryHandle> ready_;
};

}  // namespace detail

}  // namespace simd_r_drive

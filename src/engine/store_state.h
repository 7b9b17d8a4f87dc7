// The state readers share with the writer.
//
// A Generation is one consistent view of the store: the file's mappings, the index
// whose tails point into that file, the tail, and the live-key count. Writes update
// a generation in place (index slots, then the tail, both published with release
// stores). compact() builds a whole new generation over the new file and swaps the
// store's pointer to it, so a reader can never pair the new index with the old file.
//
// Thread-safety: fields marked "writer" are touched only under the store's write
// mutex; the atomics are read by any thread inside a ReaderRegistry::Guard (or while
// holding a shared_ptr to the generation).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/index_growth.h"
#include "engine/key_index.h"
#include "engine/live_bits.h"
#include "io/mapping.h"

namespace simd_r_drive::engine {

struct Generation : std::enable_shared_from_this<Generation> {
  // writer: every mapping made of this generation's file; the last one is current.
  // Older ones stay here, unused, until the generation dies (their handles pin them
  // independently).
  std::vector<std::shared_ptr<io::Mapping>> mappings;
  std::atomic<io::Mapping*> mapping{nullptr};

  // writer: owns the current table.
  std::unique_ptr<IndexTable> table_owner;
  std::atomic<IndexTable*> table{nullptr};
  // writer: the larger table being copied from table_owner on another thread, if
  // any (index_growth.h). Declared after what it reads, so it stops first.
  std::unique_ptr<IndexGrowth> growth;

  // writer: liveness by position (live_bits.h), built on first iteration when small
  // enough to be worth it; nullptr until then.
  std::unique_ptr<LiveBits> live_owner;
  std::atomic<LiveBits*> live{nullptr};
  // writer: LiveBits saved in the index snapshot this generation was opened from,
  // not read yet (index_snapshot.h); read by the first build_live_bits or change.
  std::function<std::unique_ptr<LiveBits>()> saved_live_bits;

  std::atomic<std::uint64_t> tail{0};
  std::atomic<std::uint64_t> live_count{0};

  // Writer: publish a mapping (before any index slot that points past the old one).
  void publish_mapping(std::shared_ptr<io::Mapping> next) {
    mappings.push_back(std::move(next));
    mapping.store(mappings.back().get(), std::memory_order_seq_cst);
  }
  // Writer: the key hashes of records, through the current mapping, which covers
  // every record the table names (the KeyOf of the writer's index probes).
  RecordKeys writer_record_keys() const noexcept {
    const io::Mapping& current = *mapping.load(std::memory_order_relaxed);
    return RecordKeys(current.data(), current.capacity());
  }
};

}  // namespace simd_r_drive::engine

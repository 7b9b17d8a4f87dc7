#include "engine/index_upkeep.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "format/entry_layout.h"

namespace simd_r_drive::engine {

namespace {

// LiveBits cover the tail plus a quarter for growth (doubling later if needed): every
// byte of headroom is also read and checksummed when an index snapshot is loaded.
std::uint64_t live_bits_capacity(std::uint64_t tail) noexcept {
  return std::max<std::uint64_t>(tail + tail / 4, 1u << 20);
}

// Reads the LiveBits saved in the snapshot, if the generation has some not read
// yet; keeps them if they pass their checksum and still cover the file.
void load_saved_live_bits(Generation& generation) {
  if (!generation.saved_live_bits) return;
  std::unique_ptr<LiveBits> bits = generation.saved_live_bits();
  generation.saved_live_bits = nullptr;
  if (!bits || !bits->covers(generation.tail.load(std::memory_order_relaxed))) return;
  // The seq_cst store publishes the bits read.
  generation.live.store(bits.get(), std::memory_order_seq_cst);
  generation.live_owner = std::move(bits);
}

void replace_table(const Publication& publication, Generation& generation, std::unique_ptr<IndexTable> replacement) {
  generation.table.store(replacement.get(), std::memory_order_seq_cst);
  publication.retire(std::shared_ptr<const void>(std::move(generation.table_owner)));
  generation.table_owner = std::move(replacement);
}

// Starts growing the table on another thread (index_growth.h): it copies the slots
// naming records that end at or below `tail`, the entry being indexed now (every
// record the table names so far, since entries are indexed in file order).
void start_growth(Generation& generation, std::uint64_t tail) {
  std::shared_ptr<const io::Mapping> mapping = generation.mappings.back();
  const RecordKeys records(mapping->data(), tail);
  generation.growth = std::make_unique<IndexGrowth>(*generation.table_owner, records, tail, std::move(mapping));
}

// The table the entry ending at `tail` goes into: the current one, or its
// replacement when it must grow, has grown in the background, or still lies in a
// snapshot's read-only mapping.
IndexTable* next_table(const Publication& publication, Generation& generation, const RecordKeys& keys,
                       std::uint64_t tail, bool may_add_key) {
  IndexTable* table = generation.table_owner.get();
  if (table->is_mapped()) {
    // A table still lying in the snapshot's read-only mapping is copied into memory
    // of its own at the first change: opening stays a checksum pass, and only a
    // store that writes pays the copy. (A growth never starts from such a table.)
    replace_table(publication, generation, table->owned_copy());
    table = generation.table_owner.get();
  }
  if (generation.growth) {
    if (generation.growth->ready() || generation.growth->full() || (may_add_key && table->is_nearly_full())) {
      std::unique_ptr<IndexGrowth> growth = std::move(generation.growth);
      replace_table(publication, generation, growth->finish(keys));
    }
    return generation.table_owner.get();
  }
  if (may_add_key && table->is_crowded()) {
    if (table->capacity() >= IndexGrowth::kMinBackgroundCapacity) {
      start_growth(generation, tail);
    } else {
      replace_table(publication, generation, table->grown(keys));
    }
  }
  return generation.table_owner.get();
}

}  // namespace

void index_entry(const Publication& publication, Generation& generation, std::uint64_t key_hash,
                 std::uint64_t tail, bool tombstone) {
  // Saved LiveBits describe the file as the snapshot left it: read before the first
  // change, or they would miss it.
  if (generation.saved_live_bits) load_saved_live_bits(generation);
  const RecordKeys keys = generation.writer_record_keys();
  IndexTable* table = next_table(publication, generation, keys, tail, !tombstone);
  const SlotEntry before = table->upsert(key_hash, tail, tombstone, keys);
  if (generation.growth) generation.growth->note(key_hash, tail, tombstone);
  const bool was_live = before.live();
  if (LiveBits* bits = generation.live_owner.get()) {
    if (was_live) bits->clear(before.tail);
    if (!tombstone) {
      if (!bits->covers(tail)) {
        std::unique_ptr<LiveBits> bigger = bits->grown(tail * 2);
        generation.live.store(bigger.get(), std::memory_order_seq_cst);
        publication.retire(std::shared_ptr<const void>(std::move(generation.live_owner)));
        generation.live_owner = std::move(bigger);
        bits = generation.live_owner.get();
      }
      bits->set(tail);
    }
  }
  if (tombstone && was_live) generation.live_count.fetch_sub(1, std::memory_order_release);
  if (!tombstone && !was_live) generation.live_count.fetch_add(1, std::memory_order_release);
}

void index_appended(const Publication& publication, Generation& generation,
                    std::span<const std::uint64_t> tails_newest_first) {
  const std::byte* base = generation.mapping.load(std::memory_order_relaxed)->data();
  for (auto it = tails_newest_first.rbegin(); it != tails_newest_first.rend(); ++it) {
    const std::optional<format::Record> record = format::decode_record(base, *it, *it);
    if (!record) continue;  // tails_above checked every record; never taken
    index_entry(publication, generation, record->metadata.key_hash, *it, record->payload.tombstone);
  }
}

void build_live_bits(Generation& generation) {
  if (generation.live_owner) return;
  load_saved_live_bits(generation);
  if (generation.live_owner) return;
  const std::uint64_t tail = generation.tail.load(std::memory_order_relaxed);
  const std::uint64_t live = generation.live_count.load(std::memory_order_relaxed);
  if (!LiveBits::worth_keeping(tail, live)) return;
  auto bits = std::make_unique<LiveBits>(live_bits_capacity(tail));
  const std::vector<std::uint64_t> tails = generation.table_owner->live_tails();
  bits->build_from(tails.data(), tails.size());
  // The seq_cst store publishes everything build_from wrote.
  generation.live.store(bits.get(), std::memory_order_seq_cst);
  generation.live_owner = std::move(bits);
}

void ensure_live_bits(const Publication& publication) {
  {
    ReaderRegistry::Guard guard(publication.readers());
    const Generation* generation = publication.published();
    if (generation->live.load(std::memory_order_acquire) != nullptr) return;
    if (!LiveBits::worth_keeping(generation->tail.load(std::memory_order_acquire),
                                 generation->live_count.load(std::memory_order_acquire))) {
      return;
    }
  }
  std::lock_guard lock(publication.change_mutex());
  build_live_bits(publication.current());
}

std::shared_ptr<Generation> build_generation(std::shared_ptr<io::Mapping> mapping, std::uint64_t tail,
                                             std::span<const std::pair<std::uint64_t, std::uint64_t>> newest_first,
                                             bool keys_distinct) {
  auto generation = std::make_shared<Generation>();
  generation->table_owner = IndexTable::with_room_for(newest_first.size());
  IndexTable& table = *generation->table_owner;
  std::vector<std::uint64_t> live_tails;
  live_tails.reserve(newest_first.size());
  const RecordKeys keys(mapping->data(), tail);
  // Prefetch the slots a few entries ahead so that the cache misses of the
  // inserts overlap instead of being paid one after another.
  constexpr std::size_t kLookahead = 16;
  for (std::size_t i = 0; i < newest_first.size(); ++i) {
    if (i + kLookahead < newest_first.size()) table.prefetch(newest_first[i + kLookahead].first);
    const auto [key_hash, marked_tail] = newest_first[i];
    const std::uint64_t entry_tail = marked_tail & ~kTombstoneMark;
    const bool tombstone = (marked_tail & kTombstoneMark) != 0;
    if (keys_distinct) {
      table.insert_distinct(key_hash, entry_tail, tombstone);
    } else if (!table.insert_if_absent(key_hash, entry_tail, tombstone, keys)) {
      continue;
    }
    if (!tombstone) live_tails.push_back(entry_tail);
  }
  const std::uint64_t live = live_tails.size();
  // The live tails arrive in descending order here, so building LiveBits now writes
  // them in order: far cheaper than later, from the index's scattered slots.
  if (LiveBits::worth_keeping(tail, live)) {
    generation->live_owner = std::make_unique<LiveBits>(live_bits_capacity(tail));
    generation->live_owner->build_from(live_tails.data(), live_tails.size());
    generation->live.store(generation->live_owner.get(), std::memory_order_seq_cst);
  }
  generation->table.store(&table, std::memory_order_seq_cst);
  generation->publish_mapping(std::move(mapping));
  generation->tail.store(tail, std::memory_order_seq_cst);
  generation->live_count.store(live, std::memory_order_seq_cst);
  return generation;
}

}  // namespace simd_r_drive::engine

#include "engine/read_path.h"

#include <algorithm>
#include <array>

#include "engine/data_store_impl.h"
#include "format/entry_layout.h"

namespace simd_r_drive::engine {

namespace {

// This thread's lease, for the mapping it read from last. The cached lease holds a
// strong reference, so the mapping cannot be freed and another allocated at its
// address while the entry names it: comparing addresses is then exact.
struct CachedLease {
  const io::Mapping* mapping = nullptr;
  std::shared_ptr<std::shared_ptr<io::Mapping>> lease;
};
thread_local CachedLease t_cached_lease;

}  // namespace

std::shared_ptr<const void> pin(io::Mapping& mapping) {
  CachedLease& cached = t_cached_lease;
  if (cached.mapping == &mapping) return cached.lease;
  auto lease = std::make_shared<std::shared_ptr<io::Mapping>>(mapping.shared_from_this());
  cached = {&mapping, lease};
  return lease;
}

void drop_this_threads_lease() noexcept { t_cached_lease = {}; }

std::optional<EntryHandle> handle_at(io::Mapping& mapping, std::uint64_t tail, bool allow_tombstone) {
  const std::byte* base = mapping.data();
  const std::optional<format::Record> record = format::decode_record(base, mapping.capacity(), tail);
  if (!record || (record->payload.tombstone && !allow_tombstone)) return std::nullopt;
  return DataStore::Impl::make_handle(pin(mapping), base + record->payload.start, record->payload.size(),
                                      record->payload.start, record->metadata);
}

std::optional<EntryHandle> read_hash(const Publication& publication, std::uint64_t key_hash) {
  ReaderRegistry::Guard guard(publication.readers());
  Generation* generation = publication.published();
  const IndexTable* table = generation->table.load(std::memory_order_seq_cst);
  const PublishedRecordKeys keys(*generation);
  const std::uint64_t tail = table->find(key_hash, keys);
  if (tail == 0) return std::nullopt;
  return handle_at(keys.mapping(), tail, false);
}

bool visit_hash(const Publication& publication, std::uint64_t key_hash, void (*visit)(void*, ByteView),
                void* context) {
  ReaderRegistry::Guard guard(publication.readers());
  Generation* generation = publication.published();
  const IndexTable* table = generation->table.load(std::memory_order_seq_cst);
  const PublishedRecordKeys keys(*generation);
  const std::uint64_t tail = table->find(key_hash, keys);
  if (tail == 0) return false;
  // The guard keeps the mapping alive until the visit returns.
  const io::Mapping& mapping = keys.mapping();
  const std::optional<format::Record> record = format::decode_record(mapping.data(), mapping.capacity(), tail);
  if (!record || record->payload.tombstone) return false;
  visit(context, ByteView(mapping.data() + record->payload.start, record->payload.size()));
  return true;
}

namespace {

// Visits (i, record) of every hash whose key is live, in order. The hashes go in
// chunks, so that the cache misses of different keys overlap instead of following one
// another: while a chunk is looked up, the next chunk's index slots are on their way,
// and a chunk's records are fetched while the rest of its slots are read. A chunk's
// lines fit in the first-level cache, which a batch prefetched whole would overflow.
template <class Visit>
void lookup_records(const IndexTable& table, const PublishedRecordKeys& keys, std::span<const std::uint64_t> key_hashes,
                    Visit&& visit) {
  constexpr std::size_t kChunk = 64;
  const std::size_t count = key_hashes.size();
  std::array<std::optional<SlotEntry>, kChunk> candidates;
  std::array<std::uint64_t, kChunk> tails;
  for (std::size_t i = 0; i < std::min(count, kChunk); ++i) table.prefetch(key_hashes[i]);
  for (std::size_t first = 0; first < count; first += kChunk) {
    const std::size_t last = std::min(count, first + kChunk);
    for (std::size_t i = last; i < std::min(count, last + kChunk); ++i) table.prefetch(key_hashes[i]);
    // Each key's candidate record is fetched as soon as its slot is read, and
    // confirmed (its key hash compared) once the whole chunk's are on their way.
    for (std::size_t i = first; i < last; ++i) {
      candidates[i - first] = table.candidate(key_hashes[i]);
      if (candidates[i - first] && candidates[i - first]->tail != 0) keys.prefetch(candidates[i - first]->tail);
    }
    for (std::size_t i = first; i < last; ++i) tails[i - first] = table.find_confirmed(key_hashes[i], candidates[i - first], keys);
    // keys.mapping() now covers every tail of the chunk.
    io::Mapping& mapping = keys.mapping();
    for (std::size_t i = first; i < last; ++i) {
      if (tails[i - first] == 0) continue;
      const std::optional<format::Record> record =
          format::decode_record(mapping.data(), mapping.capacity(), tails[i - first]);
      if (record && !record->payload.tombstone) visit(i, *record, mapping);
    }
  }
}

}  // namespace

std::vector<std::optional<EntryHandle>> read_hashes(const Publication& publication,
                                                    std::span<const std::uint64_t> key_hashes) {
  std::vector<std::optional<EntryHandle>> results(key_hashes.size());
  ReaderRegistry::Guard guard(publication.readers());
  Generation* generation = publication.published();
  const IndexTable* table = generation->table.load(std::memory_order_seq_cst);
  const PublishedRecordKeys keys(*generation);
  std::shared_ptr<const void> lease;
  const io::Mapping* leased = nullptr;
  lookup_records(*table, keys, key_hashes, [&](std::size_t i, const format::Record& record, io::Mapping& mapping) {
    if (leased != &mapping) {
      lease = pin(mapping);
      leased = &mapping;
    }
    results[i] = DataStore::Impl::make_handle(lease, mapping.data() + record.payload.start, record.payload.size(),
                                              record.payload.start, record.metadata);
  });
  return results;
}

BatchViews read_hash_views(const Publication& publication, std::span<const std::uint64_t> key_hashes) {
  BatchViews out;
  out.values.resize(key_hashes.size());
  ReaderRegistry::Guard guard(publication.readers());
  Generation* generation = publication.published();
  const IndexTable* table = generation->table.load(std::memory_order_seq_cst);
  const PublishedRecordKeys keys(*generation);
  // Nearly always one mapping; a batch that meets the writer's move to a larger one
  // pins both.
  std::vector<io::Mapping*> used;
  lookup_records(*table, keys, key_hashes, [&](std::size_t i, const format::Record& record, io::Mapping& mapping) {
    out.values[i] = ByteView(mapping.data() + record.payload.start, record.payload.size());
    ++out.found;
    if (used.empty() || used.back() != &mapping) used.push_back(&mapping);
  });
  if (used.size() == 1) {
    out.pin = pin(*used.front());
  } else if (used.size() > 1) {
    auto pins = std::make_shared<std::vector<std::shared_ptr<const void>>>();
    for (io::Mapping* mapping : used) pins->push_back(pin(*mapping));
    out.pin = std::move(pins);
  }
  return out;
}

std::optional<EntryHandle> read_last(const Publication& publication) {
  ReaderRegistry::Guard guard(publication.readers());
  Generation* generation = publication.published();
  const std::uint64_t tail = generation->tail.load(std::memory_order_acquire);
  if (tail == 0) return std::nullopt;
  return handle_at(*generation->mapping.load(std::memory_order_acquire), tail, true);
}

std::uint64_t published_tail(const Publication& publication) noexcept {
  ReaderRegistry::Guard guard(publication.readers());
  return publication.published()->tail.load(std::memory_order_acquire);
}

std::size_t published_live_count(const Publication& publication) noexcept {
  ReaderRegistry::Guard guard(publication.readers());
  return publication.published()->live_count.load(std::memory_order_acquire);
}

}  // namespace simd_r_drive::engine

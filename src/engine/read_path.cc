#include "engine/read_path.h"

#include <algorithm>
#include <array>

#include "engine/data_store_impl.h"
#include "format/entry_layout.h"

namespace simd_r_drive::engine {

std::shared_ptr<const void> pin(io::Mapping& mapping) {
  // The thread caches its lease for the mapping it read from last. The cached lease
  // holds a strong reference, so the mapping cannot be freed and another allocated at
  // its address while the entry names it: comparing addresses is then exact.
  struct CachedLease {
    const io::Mapping* mapping = nullptr;
    std::shared_ptr<std::shared_ptr<io::Mapping>> lease;
  };
  thread_local CachedLease cached;
  if (cached.mapping == &mapping) return cached.lease;
  auto lease = std::make_shared<std::shared_ptr<io::Mapping>>(mapping.shared_from_this());
  cached = {&mapping, lease};
  return lease;
}

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
  const std::uint64_t tail = generation->table.load(std::memory_order_seq_cst)->find(key_hash);
  if (tail == 0) return std::nullopt;
  // Loaded after the index slot: the writer publishes a mapping before any slot
  // that points into it, so this mapping covers `tail`.
  return handle_at(*generation->mapping.load(std::memory_order_acquire), tail, false);
}

bool visit_hash(const Publication& publication, std::uint64_t key_hash, void (*visit)(void*, ByteView),
                void* context) {
  ReaderRegistry::Guard guard(publication.readers());
  Generation* generation = publication.published();
  const std::uint64_t tail = generation->table.load(std::memory_order_seq_cst)->find(key_hash);
  if (tail == 0) return false;
  // Loaded after the slot, as in read_hash. The guard keeps this generation's mapping
  // alive until the visit returns.
  const io::Mapping& mapping = *generation->mapping.load(std::memory_order_acquire);
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
void lookup_records(const IndexTable& table, const io::Mapping& mapping, std::span<const std::uint64_t> key_hashes,
                    Visit&& visit) {
  constexpr std::size_t kChunk = 64;
  const std::size_t count = key_hashes.size();
  const std::byte* base = mapping.data();
  const std::uint64_t capacity = mapping.capacity();
  std::array<std::uint64_t, kChunk> tails;
  for (std::size_t i = 0; i < std::min(count, kChunk); ++i) table.prefetch(key_hashes[i]);
  for (std::size_t first = 0; first < count; first += kChunk) {
    const std::size_t last = std::min(count, first + kChunk);
    for (std::size_t i = last; i < std::min(count, last + kChunk); ++i) table.prefetch(key_hashes[i]);
    for (std::size_t i = first; i < last; ++i) {
      const std::uint64_t tail = table.find(key_hashes[i]);
      tails[i - first] = tail;
      if (tail >= format::kMinEntryTail && tail <= capacity) __builtin_prefetch(base + tail - kMetadataSize);
    }
    for (std::size_t i = first; i < last; ++i) {
      if (tails[i - first] == 0) continue;
      const std::optional<format::Record> record = format::decode_record(base, capacity, tails[i - first]);
      if (record && !record->payload.tombstone) visit(i, *record);
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
  // Loaded after the table: the writer publishes a mapping before any slot that
  // points into it, so this mapping covers every tail found.
  io::Mapping& mapping = *generation->mapping.load(std::memory_order_acquire);
  std::shared_ptr<const void> lease;
  lookup_records(*table, mapping, key_hashes, [&](std::size_t i, const format::Record& record) {
    if (!lease) lease = pin(mapping);
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
  io::Mapping& mapping = *generation->mapping.load(std::memory_order_acquire);
  lookup_records(*table, mapping, key_hashes, [&](std::size_t i, const format::Record& record) {
    out.values[i] = ByteView(mapping.data() + record.payload.start, record.payload.size());
    ++out.found;
  });
  if (out.found != 0) out.pin = pin(mapping);
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

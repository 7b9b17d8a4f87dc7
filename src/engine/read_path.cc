#include "engine/read_path.h"

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

std::vector<std::optional<EntryHandle>> read_hashes(const Publication& publication,
                                                    std::span<const std::uint64_t> key_hashes) {
  std::vector<std::optional<EntryHandle>> results(key_hashes.size());
  ReaderRegistry::Guard guard(publication.readers());
  Generation* generation = publication.published();
  const IndexTable* table = generation->table.load(std::memory_order_seq_cst);
  // Three passes so that the memory accesses of different keys overlap: touch every
  // slot, then every metadata record, then build the handles.
  for (std::uint64_t key_hash : key_hashes) table->prefetch(key_hash);
  std::vector<std::uint64_t> tails(key_hashes.size());
  for (std::size_t i = 0; i < key_hashes.size(); ++i) tails[i] = table->find(key_hashes[i]);
  io::Mapping* mapping = generation->mapping.load(std::memory_order_acquire);
  for (std::uint64_t tail : tails) {
    if (tail != 0 && tail <= mapping->capacity()) __builtin_prefetch(mapping->data() + tail - kMetadataSize);
  }
  for (std::size_t i = 0; i < tails.size(); ++i) {
    if (tails[i] != 0) results[i] = handle_at(*mapping, tails[i], false);
  }
  return results;
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

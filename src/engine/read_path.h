// The read path: entries looked up in the published generation. No lock is taken
// and no writer is waited for; a reader brackets its loads with a guard so that the
// writer frees nothing it may still be reading (publication.h).
//
// Thread-safety: every function may be called from any thread at any time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "engine/key_index.h"
#include "engine/publication.h"
#include "engine/store_state.h"
#include "io/mapping.h"
#include "simd_r_drive/entry_handle.h"

namespace simd_r_drive::engine {

// What a handle holds to keep `mapping` alive: this thread's lease on it. Every
// handle pinning the mapping directly would make all reading threads bump one shared
// reference count, whose cache line then bounces between cores. A lease is a
// reference to the mapping with a control block of its own; each thread keeps one,
// for the mapping it read from last. So a thread keeps the last mapping it read from
// (address space; for a deleted file, its pages) until it reads from another mapping,
// drops its lease or exits, even after the store is closed.
std::shared_ptr<const void> pin(io::Mapping& mapping);

// Lets go of this thread's lease (a store being closed drops the closing thread's, so
// that a program that reads and closes on one thread keeps nothing mapped). Handles
// made with it keep the mapping as before; the next read takes a new lease.
void drop_this_threads_lease() noexcept;

// A handle for the entry whose record ends at `tail` in `mapping`, or nullopt if the
// record is malformed, or is a tombstone and `allow_tombstone` is false.
std::optional<EntryHandle> handle_at(io::Mapping& mapping, std::uint64_t tail, bool allow_tombstone);

// The key hashes of a generation's records, for a reader's index probes (the KeyOf of
// key_index.h). It reads through the mapping that was newest when it was made, and
// moves to the newest one when a slot names a record past it: a slot loaded after
// the mapping may be newer than it, and the writer publishes a mapping that covers
// a record before any slot that names it. mapping() covers every record confirmed
// so far. The reader's guard keeps every mapping it saw alive.
// Thread-safety: one per reading call; not shared.
class PublishedRecordKeys {
 public:
  explicit PublishedRecordKeys(const Generation& generation) noexcept
      : generation_(generation), mapping_(generation.mapping.load(std::memory_order_acquire)) {}
  std::optional<std::uint64_t> operator()(std::uint64_t tail) const noexcept {
    if (tail > mapping_->capacity()) [[unlikely]] mapping_ = generation_.mapping.load(std::memory_order_acquire);
    return RecordKeys(mapping_->data(), mapping_->capacity())(tail);
  }
  void prefetch(std::uint64_t tail) const noexcept { RecordKeys(mapping_->data(), mapping_->capacity()).prefetch(tail); }
  io::Mapping& mapping() const noexcept { return *mapping_; }

 private:
  const Generation& generation_;
  mutable io::Mapping* mapping_;
};

std::optional<EntryHandle> read_hash(const Publication& publication, std::uint64_t key_hash);
// Calls visit(context, value) with the live value of `key_hash`, in place, and returns
// true; false if the key is absent. The view is valid during the call only.
bool visit_hash(const Publication& publication, std::uint64_t key_hash, void (*visit)(void*, ByteView),
                void* context);
// One result per hash, in order.
std::vector<std::optional<EntryHandle>> read_hashes(const Publication& publication,
                                                    std::span<const std::uint64_t> key_hashes);
// One result per hash, in order, as views (empty for an absent key) that `pin` keeps
// valid; `found` counts the non-empty ones. The pin is null when nothing was found.
struct BatchViews {
  std::shared_ptr<const void> pin;
  std::vector<ByteView> values;
  std::size_t found = 0;
};
BatchViews read_hash_views(const Publication& publication, std::span<const std::uint64_t> key_hashes);
// The physically last record, which may be a tombstone.
std::optional<EntryHandle> read_last(const Publication& publication);
std::uint64_t published_tail(const Publication& publication) noexcept;
std::size_t published_live_count(const Publication& publication) noexcept;

}  // namespace simd_r_drive::engine

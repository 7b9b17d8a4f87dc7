// DataStore::Impl: what a DataStore is made of. The parts each do one job:
//
//   Publication     the generation readers see, and safe reclamation  (publication.h)
//   read path       lookups in the published generation, no lock       (read_path.h)
//   Writer          the single writer: locks, appends, index upkeep,
//                   durability, compaction                             (writer.h)
//   Follower        a read-only store that follows a writer            (follower.h)
//
// A writable store has a Writer, a read-only store of a file has a Follower, and a
// store nested in another store's value (open_nested) has neither: its one
// generation never changes.
//
// Impl is also the engine's only way to make and re-point EntryHandles and to make
// ValueBatches, whose constructors are private to the public API (both befriend
// DataStore, and through it this nested class).
//
// Thread-safety: see DataStore.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "engine/publication.h"
#include "simd_r_drive/data_store.h"

namespace simd_r_drive {

namespace engine {
class Writer;
class Follower;
}  // namespace engine

class DataStore::Impl {
 public:
  // A store file, opened as `options` say.
  Impl(const std::filesystem::path& path, const OpenOptions& options);
  // A store held in another store's value (DataStore::open_nested).
  explicit Impl(const EntryHandle& outer_value);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  const OpenOptions& options() const noexcept { return options_; }
  const engine::Publication& publication() const noexcept { return publication_; }
  engine::Publication& publication() noexcept { return publication_; }
  // The writer, or nullptr for a read-only store.
  engine::Writer* writer() const noexcept { return writer_.get(); }
  engine::Follower* follower() const noexcept { return follower_.get(); }
  bool is_nested() const noexcept { return !writer_ && !follower_; }
  // Throws Error(kInvalidArgument) unless the store can be written.
  engine::Writer& require_writer() const;

  // ---- EntryHandle's engine-only side ----
  static EntryHandle make_handle(std::shared_ptr<const void> pin, const std::byte* data, std::size_t size,
                                 std::uint64_t start_offset, const EntryMetadata& metadata) noexcept {
    return EntryHandle(std::move(pin), data, size, start_offset, metadata);
  }
  static ValueBatch make_value_batch(std::shared_ptr<const void> pin, std::vector<ByteView> values,
                                     std::size_t found) noexcept {
    return ValueBatch(std::move(pin), std::move(values), found);
  }
  // Re-points a handle at another entry of the mapping it already pins, without
  // touching the reference count: iterators step through millions of entries with one
  // pinned handle, and a shared counter bumped per entry would bounce between cores.
  static void repoint(EntryHandle& handle, const std::byte* data, std::size_t size, std::uint64_t start_offset,
                      const EntryMetadata& metadata) noexcept {
    handle.data_ = data;
    handle.size_ = size;
    handle.start_offset_ = start_offset;
    handle.metadata_ = metadata;
  }

 private:
  std::filesystem::path path_;
  OpenOptions options_;
  engine::Publication publication_;
  std::unique_ptr<engine::Writer> writer_;
  std::unique_ptr<engine::Follower> follower_;
};

}  // namespace simd_r_drive

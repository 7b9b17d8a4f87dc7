#include "engine/records.h"

#include <optional>
#include <string>
#include <vector>

#include "engine/read_path.h"
#include "format/entry_layout.h"
#include "simd_r_drive/error.h"

namespace simd_r_drive {

std::string_view to_string(RecordKind kind) noexcept {
  switch (kind) {
    case RecordKind::kLive: return "live";
    case RecordKind::kSuperseded: return "superseded";
    case RecordKind::kDeleted: return "deleted";
    case RecordKind::kTombstone: return "tombstone";
  }
  return "unknown";
}

namespace detail {

// Walks the chain of one generation from the tail it had when the range was made.
// Kinds come from the generation's index, read inside a guard per record.
class RecordCursor {
 public:
  RecordCursor(std::shared_ptr<engine::Generation> generation, std::shared_ptr<engine::ReaderRegistry> readers,
               RecordOrder order)
      : generation_(std::move(generation)),
        readers_(std::move(readers)),
        mapping_(generation_->mapping.load(std::memory_order_acquire)->shared_from_this()),
        order_(order) {
    const std::uint64_t tail = generation_->tail.load(std::memory_order_acquire);
    if (order_ == RecordOrder::kOldestFirst) {
      for (std::uint64_t cursor = tail; cursor != 0; cursor = decode(cursor).metadata.prev_offset) {
        oldest_first_.push_back(cursor);
      }
      next_ = oldest_first_.size();
    } else {
      cursor_ = tail;
    }
    advance();
  }

  bool at_end() const noexcept { return !current_; }
  const RecordInfo& current() const noexcept { return *current_; }

  void advance() {
    std::uint64_t tail = 0;
    if (order_ == RecordOrder::kOldestFirst) {
      if (next_ != 0) tail = oldest_first_[--next_];
    } else {
      tail = cursor_;
    }
    if (tail == 0) {
      current_.reset();
      return;
    }
    const format::Record record = decode(tail);
    cursor_ = record.metadata.prev_offset;
    current_.emplace(RecordInfo{kind_of(record), *engine::handle_at(*mapping_, tail, true), tail});
  }

 private:
  // Every record below a generation's tail decodes: open and every append checked
  // them. A failure here means the mapped file changed under the store.
  format::Record decode(std::uint64_t tail) const {
    const std::optional<format::Record> record = format::decode_record(mapping_->data(), tail, tail);
    if (!record) {
      throw Error(ErrorCode::kCorruption, "the chain is malformed at the record ending at offset " +
                                              std::to_string(tail) + " (the file changed under the store?)");
    }
    return *record;
  }

  RecordKind kind_of(const format::Record& record) const {
    if (record.payload.tombstone) return RecordKind::kTombstone;
    engine::ReaderRegistry::Guard guard(*readers_);
    const std::uint64_t newest = generation_->table.load(std::memory_order_seq_cst)
                                     ->find(record.metadata.key_hash, engine::PublishedRecordKeys(*generation_));
    if (newest == record.tail) return RecordKind::kLive;
    return newest == 0 ? RecordKind::kDeleted : RecordKind::kSuperseded;
  }

  std::shared_ptr<engine::Generation> generation_;
  std::shared_ptr<engine::ReaderRegistry> readers_;
  std::shared_ptr<io::Mapping> mapping_;
  RecordOrder order_;
  std::uint64_t cursor_ = 0;                 // newest first: the next record's tail
  std::vector<std::uint64_t> oldest_first_;  // oldest first: the chain, newest first
  std::size_t next_ = 0;
  std::optional<RecordInfo> current_;
};

}  // namespace detail

RecordInfo RecordIterator::operator*() const { return cursor_->current(); }

RecordIterator& RecordIterator::operator++() {
  cursor_->advance();
  return *this;
}

bool RecordIterator::at_end() const noexcept { return !cursor_ || cursor_->at_end(); }

namespace engine {

RecordRange iterate_records(const Publication& publication, RecordOrder order) {
  return RecordRange(std::make_shared<detail::RecordCursor>(publication.acquire(), publication.readers_shared(), order));
}

StoreStats count_records(const Publication& publication) {
  const std::shared_ptr<Generation> generation = publication.acquire();
  const std::shared_ptr<io::Mapping> mapping = generation->mapping.load(std::memory_order_acquire)->shared_from_this();
  const std::byte* base = mapping->data();
  StoreStats stats;
  stats.file_size = generation->tail.load(std::memory_order_acquire);
  for (std::uint64_t cursor = stats.file_size; cursor != 0;) {
    const std::optional<format::Record> record = format::decode_record(base, cursor, cursor);
    if (!record) {
      throw Error(ErrorCode::kCorruption, "the chain is malformed at the record ending at offset " +
                                              std::to_string(cursor) + " (the file changed under the store?)");
    }
    ++stats.entries;
    if (record->payload.tombstone) {
      ++stats.tombstones;
    } else {
      ReaderRegistry::Guard guard(publication.readers());
      if (generation->table.load(std::memory_order_seq_cst)->holds(record->metadata.key_hash, cursor)) {
        ++stats.live_keys;
        stats.live_payload_bytes += record->payload.size();
      } else {
        ++stats.stale_entries;
      }
    }
    cursor = record->metadata.prev_offset;
  }
  return stats;
}

}  // namespace engine

}  // namespace simd_r_drive

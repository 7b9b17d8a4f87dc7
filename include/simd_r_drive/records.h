// The records API: every record on a store's chain, not only the live values.
//
// A store file is a chain of entries, each ending with a 20-byte record (key hash,
// back-link, CRC-32). Besides each key's live value, the chain holds older values of
// keys written again, values of keys deleted since, and tombstones (delete markers).
// iter_records() lists them all with their offsets, for inspection and export tools;
// iter_entries() is the fast way to visit live values only.
//
//   for (const simd_r_drive::RecordInfo& record : store.iter_records()) { ... }
//
// A range covers the records that existed when iter_records() was called, and keeps
// the mapping it reads alive, also across compact(). A record's kind is decided
// against the index when the record is reached: a value overwritten meanwhile shows
// as superseded.
//
// Thread-safety: RecordInfo is a value type. A range and its iterators belong to one
// thread at a time; any number of threads may each iterate a range of their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string_view>

#include "simd_r_drive/export.h"
#include "simd_r_drive/entry_handle.h"
#include "simd_r_drive/format.h"

namespace simd_r_drive {

enum class RecordKind {
  kLive,        // the key's current value
  kSuperseded,  // an older value of a key written again since
  kDeleted,     // a value of a key that is deleted now
  kTombstone,   // a delete marker
};

// "live", "superseded", "deleted" or "tombstone".
SRD_API std::string_view to_string(RecordKind kind) noexcept;

struct RecordInfo {
  RecordKind kind;
  // The payload in place (a tombstone's single byte too), with the record's key hash,
  // back-link and stored checksum (entry.metadata()). entry.is_valid_checksum()
  // recomputes the CRC-32.
  EntryHandle entry;
  // One past the 20-byte record: the file's length right after this entry.
  std::uint64_t tail;

  std::uint64_t payload_offset() const noexcept { return entry.start_offset(); }
  std::uint64_t payload_size() const noexcept { return entry.size(); }
  std::uint64_t metadata_offset() const noexcept { return tail - kMetadataSize; }
  const EntryMetadata& metadata() const noexcept { return entry.metadata(); }
};

enum class RecordOrder {
  kNewestFirst,  // the chain's own order: no memory beyond the current record
  kOldestFirst,  // as the bytes lie in the file: lists the chain first (8 bytes per record)
};

namespace detail {
class RecordCursor;  // defined in the engine
}

class SRD_API RecordIterator {
 public:
  using value_type = RecordInfo;
  using difference_type = std::ptrdiff_t;
  using iterator_concept = std::input_iterator_tag;

  RecordIterator() = default;
  // The current record, as a value: it stays valid after ++.
  RecordInfo operator*() const;
  RecordIterator& operator++();
  void operator++(int) { ++*this; }
  friend bool operator==(const RecordIterator& it, std::default_sentinel_t) noexcept { return it.at_end(); }

 private:
  friend class RecordRange;
  explicit RecordIterator(std::shared_ptr<detail::RecordCursor> cursor) noexcept : cursor_(std::move(cursor)) {}
  bool at_end() const noexcept;
  std::shared_ptr<detail::RecordCursor> cursor_;
};

class RecordRange {
 public:
  explicit RecordRange(std::shared_ptr<detail::RecordCursor> cursor) noexcept : cursor_(std::move(cursor)) {}
  // A range is single-pass: begin() may be called once.
  RecordIterator begin() { return RecordIterator(cursor_); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  std::shared_ptr<detail::RecordCursor> cursor_;
};

}  // namespace simd_r_drive

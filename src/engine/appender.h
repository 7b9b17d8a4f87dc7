// The append path: lays entries out after the tail and puts their bytes into the
// file, grows the file ahead of the tail, and takes back a write that failed.
//
// It knows the file and the format, nothing of the index or of durability: the
// writer indexes and publishes what the appender wrote (writer.h). Writes are copied
// into the writable shared mapping, which needs no system call. Without huge folios (the
// modes that sync each write), a batch whose payloads total kDirectWriteThreshold or
// more goes out with one pwritev instead, because the kernel copies large runs into the
// page cache faster than 4 KiB first-touch page faults allow; with them, the mapping
// takes every batch (appender.cc says why). Streams are written with pwrite, one chunk
// at a time.
//
// It also keeps the padding record (format/entry_layout.h) at the end of the
// reserved space, so that the file a crash leaves is walkable by the Rust original:
//  * growth writes the new padding record with the write that extends the file, so
//    the file never ends in zeros, and only then zeroes the old one;
//  * in the modes without a sync per write, every append then points the record at
//    the new tail: one 8-byte and one 4-byte store into a mapping of the record's page,
//    no system call, before the writer publishes the write;
//  * in the modes with a sync per write, the record follows what the last sync
//    covered instead (padding_durable_through), so that after a power loss it never
//    names bytes that did not reach the disk.
// Closing, and the rollback of a failed write, cut the file back to the tail, which
// removes the record with the rest of the reserved space.
//
// Thread-safety: the store's writer only, under the publication's change mutex;
// padding_durable_through may also run on the thread that leads a group sync.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

#include "engine/append_zone_warmer.h"
#include "engine/store_state.h"
#include "format/checksum.h"
#include "format/entry_layout.h"
#include "io/file_handle.h"
#include "io/mapping.h"
#include "simd_r_drive/byte_view.h"
#include "simd_r_drive/data_store.h"
#include "simd_r_drive/format.h"

namespace simd_r_drive::engine {

// One entry of an append: a value, or a tombstone for key_hash.
struct PendingEntry {
  std::uint64_t key_hash;
  ByteView payload;  // ignored for tombstones
  bool tombstone;
};

class Appender {
 public:
  // Without huge folios, batches with at least this many payload bytes are written
  // with pwritev.
  static constexpr std::uint64_t kDirectWriteThreshold = 256 * 1024;

  // Where the padding record's back-link points.
  enum class PaddingAnchor {
    kTail,         // the tail of the last write (kFlush, kSyncPeriodically)
    kSyncedTail,   // the tail the last sync covered (kSyncEachWrite, kGroupCommit)
  };

  // `file` holds the store and ends at its tail (`physical_size`). With
  // `huge_folios`, the part of each mapping past the tail is advised to take 2 MiB
  // page-cache folios (see advise_append_zone). With PaddingAnchor::kSyncedTail,
  // `sync_barrier` is called after growth wrote the new padding record and before
  // the old one is zeroed (it syncs the file, and throws if that fails). A mapping
  // the file outgrows is replaced by one of io::reservation_for(tail,
  // `reservation_minimum`) bytes (OpenOptions::address_space_reservation).
  Appender(io::FileHandle file, std::uint64_t physical_size, bool huge_folios, PaddingAnchor anchor,
           std::uint64_t reservation_minimum, std::function<void()> sync_barrier = {});
  ~Appender();

  // Writes `entries` after the generation's tail and returns each entry's new tail
  // (valid until the next call). Nothing is indexed or published. On failure the
  // file is cut back to the old tail and the error rethrown.
  std::span<const std::uint64_t> append(Generation& generation, std::span<const PendingEntry> entries);
  // Streams one value from `source` after the tail and returns the new tail. The
  // value may not be empty nor all zero bytes; on any failure (the source's included)
  // the file is cut back and nothing of the value stays.
  std::uint64_t append_stream(Generation& generation, std::uint64_t key_hash, const StreamReader& source);

  // Makes sure the file, with room for the padding record after `needed_tail`, and
  // the generation's mapping reach `needed_tail`.
  void reserve(Generation& generation, std::uint64_t needed_tail);
  // PaddingAnchor::kSyncedTail: a sync covered every byte below `tail`; the padding
  // record may name it. Errors are logged: the record then keeps naming an older
  // tail, which is still a walkable end of the store.
  void padding_durable_through(std::uint64_t tail) noexcept;
  // Huge-folio advice for the part of `mapping` past `tail`, where the mode wants it.
  void advise_append_zone(const io::Mapping& mapping, std::uint64_t tail) const noexcept;
  bool huge_folios() const noexcept { return huge_folios_; }

  io::FileHandle& file() noexcept { return file_; }
  const io::FileHandle& file() const noexcept { return file_; }
  std::uint64_t physical_size() const noexcept { return physical_size_; }
  // The padding record is the last 20 bytes of a page of its own after the space for
  // data, which ends on a 2 MiB boundary: the page size, at least 4 KiB.
  static std::uint64_t padding_page_size() noexcept;
  // Where the padding record starts (0 if the file ends at the tail), and the tail it
  // names. For tests and verify().
  std::uint64_t padding_offset() const;
  std::uint64_t padding_anchor() const;
  // After compaction: the new file, allocated to `physical_size`.
  void replace_file(io::FileHandle file, std::uint64_t physical_size) noexcept;
  // Cuts the file to `tail` (close, and the rollback of a failed write).
  void truncate(std::uint64_t tail);

 private:
  void rollback(std::uint64_t tail) noexcept;
  // Extends the file to `target`, moving the padding record to its new end (padding
  // mutex held).
  void grow(std::uint64_t target);
  // PaddingAnchor::kTail: points the padding record at `tail` through its page's
  // mapping.
  void anchor_padding_in_mapping(std::uint64_t tail) noexcept;
  std::uint64_t payload_start(std::uint64_t anchor) const noexcept { return anchor + format::prepad(anchor); }
  // Where the space for data ends (the padding record's page follows it).
  std::uint64_t data_end() const noexcept { return padding_ ? physical_size_ - padding_page_size() : physical_size_; }
  // Asks the warmer to fault in the look-ahead past `tail`, when what it was last
  // asked for runs short.
  void warm_past(const Generation& generation, std::uint64_t tail);

  io::FileHandle file_;
  std::uint64_t physical_size_;
  bool huge_folios_;
  const PaddingAnchor anchor_mode_;
  const std::uint64_t reservation_minimum_;
  const std::function<void()> sync_barrier_;
  // The padding record: whether one ends the file (at physical_size_ - 20), the tail
  // it names, and the CRC of the zeros between that tail's next multiple of 64 and
  // the record. Guarded by padding_mutex_ where padding_durable_through can run
  // concurrently (kSyncedTail); in kTail mode only the writer touches them.
  mutable std::mutex padding_mutex_;
  bool padding_ = false;
  // kTail: the record's page, mapped on its own (io::WindowMapping says why).
  io::WindowMapping padding_page_;
  std::uint64_t anchor_;
  format::ZeroRunCrc zeros_;
  // With huge folios: faults the append zone in ahead of the writes (append_zone_warmer.h),
  // kWarmAhead past the tail; the file and the mapping are grown that far ahead too.
  // Only once the tail has reached kWarmFrom: a small store's writes fault few folios
  // in, and it keeps no thread and no look-ahead of zeros. warm_requested_to_: how far
  // the warmer was last asked to go in the current mapping (0 after a new mapping or
  // file).
  static constexpr std::uint64_t kWarmAhead = 16u << 20;
  static constexpr std::uint64_t kWarmFrom = 4u << 20;
  std::unique_ptr<AppendZoneWarmer> warmer_;
  std::uint64_t warm_requested_to_ = 0;
  // A growth for the look-ahead alone failed (a full disk, say): no more are tried
  // until a write needs the file to grow.
  bool grow_ahead_failed_ = false;
  // Reused by every append, so a single write allocates nothing.
  std::vector<std::array<std::byte, kMetadataSize>> scratch_records_;
  std::vector<std::uint64_t> scratch_tails_;
};

}  // namespace simd_r_drive::engine

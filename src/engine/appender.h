// The append path: lays entries out after the tail and puts their bytes into the
// file, grows the file ahead of the tail, and takes back a write that failed.
//
// It knows the file and the format, nothing of the index or of durability: the
// writer indexes and publishes what the appender wrote (writer.h). Small writes are
// copied into the writable shared mapping, which needs no system call; a batch whose
// payloads total kDirectWriteThreshold or more goes out with one pwritev, because the
// kernel copies large runs into the page cache faster than first-touch page faults
// allow. Streams are written with pwrite, one chunk at a time.
//
// Thread-safety: the store's writer only, under the publication's change mutex.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/store_state.h"
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
  // Batches with at least this many payload bytes are written with pwritev.
  static constexpr std::uint64_t kDirectWriteThreshold = 256 * 1024;

  // `file` holds the store; `physical_size` is its length, preallocation included.
  // With `huge_folios`, the part of each mapping past the tail is advised to take
  // 2 MiB page-cache folios (see advise_append_zone).
  Appender(io::FileHandle file, std::uint64_t physical_size, bool huge_folios);

  // Writes `entries` after the generation's tail and returns each entry's new tail
  // (valid until the next call). Nothing is indexed or published. On failure the
  // file is cut back to the old tail and the error rethrown.
  std::span<const std::uint64_t> append(Generation& generation, std::span<const PendingEntry> entries);
  // Streams one value from `source` after the tail and returns the new tail. The
  // value may not be empty nor all zero bytes; on any failure (the source's included)
  // the file is cut back and nothing of the value stays.
  std::uint64_t append_stream(Generation& generation, std::uint64_t key_hash, const StreamReader& source);

  // Makes sure the file and the generation's mapping reach `needed_tail`.
  void reserve(Generation& generation, std::uint64_t needed_tail);
  // Huge-folio advice for the part of `mapping` past `tail`, where the mode wants it.
  void advise_append_zone(const io::Mapping& mapping, std::uint64_t tail) const noexcept;
  bool huge_folios() const noexcept { return huge_folios_; }

  io::FileHandle& file() noexcept { return file_; }
  const io::FileHandle& file() const noexcept { return file_; }
  std::uint64_t physical_size() const noexcept { return physical_size_; }
  // After compaction: the new file, allocated to `physical_size`.
  void replace_file(io::FileHandle file, std::uint64_t physical_size) noexcept;
  // Cuts the file to `tail` (close, and the rollback of a failed write).
  void truncate(std::uint64_t tail);

 private:
  void rollback(std::uint64_t tail) noexcept;

  io::FileHandle file_;
  std::uint64_t physical_size_;
  bool huge_folios_;
  // Reused by every append, so a single write allocates nothing.
  std::vector<std::array<std::byte, kMetadataSize>> scratch_records_;
  std::vector<std::uint64_t> scratch_tails_;
};

}  // namespace simd_r_drive::engine

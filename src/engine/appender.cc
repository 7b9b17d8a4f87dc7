#include "engine/appender.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "engine/logger.h"
#include "format/checksum.h"
#include "format/entry_layout.h"
#include "simd_r_drive/error.h"
#include "simd_r_drive/hashing.h"

namespace simd_r_drive::engine {

namespace {

constexpr std::array<std::byte, kPayloadAlignment> kZeroPad{};
// Chunk size a stream is pulled in: one chunk of memory, however large the value.
constexpr std::size_t kStreamChunkSize = 64 * 1024;

std::uint32_t checksum_of(const PendingEntry& entry) {
  return entry.tombstone ? format::kTombstoneChecksum : compute_checksum(entry.payload);
}

bool all_zero(const std::byte* data, std::size_t size) noexcept {
  return size == 0 || (data[0] == std::byte{0} && std::memcmp(data, data + 1, size - 1) == 0);
}

}  // namespace

Appender::Appender(io::FileHandle file, std::uint64_t physical_size, bool huge_folios, PaddingAnchor anchor,
                   std::uint64_t reservation_minimum, std::function<void()> sync_barrier)
    : file_(std::move(file)),
      physical_size_(physical_size),
      huge_folios_(huge_folios),
      anchor_mode_(anchor),
      reservation_minimum_(reservation_minimum),
      sync_barrier_(std::move(sync_barrier)),
      anchor_(physical_size) {
  if (huge_folios_) warmer_ = std::make_unique<AppendZoneWarmer>();
}

Appender::~Appender() = default;

std::span<const std::uint64_t> Appender::append(Generation& generation, std::span<const PendingEntry> entries) {
  const std::uint64_t old_tail = generation.tail.load(std::memory_order_relaxed);
  // Lay the batch out: every entry's metadata is encoded before any byte is written.
  auto& records = scratch_records_;
  auto& entry_tails = scratch_tails_;
  records.resize(entries.size());
  entry_tails.resize(entries.size());
  std::uint64_t position = old_tail;
  std::uint64_t payload_bytes = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const PendingEntry& entry = entries[i];
    const std::uint64_t prev = position;
    position += entry.tombstone ? 1 : format::prepad(position) + entry.payload.size();
    format::encode_metadata(records[i].data(), {entry.key_hash, prev, checksum_of(entry)});
    position += kMetadataSize;
    entry_tails[i] = position;
    payload_bytes += entry.tombstone ? 1 : entry.payload.size();
  }
  const std::uint64_t new_tail = position;
  reserve(generation, new_tail);

  static constexpr std::byte kTombstonePayload[1] = {kTombstoneByte};
  // With huge folios the mapping takes every write: a pwritev into pages not yet
  // cached leaves them in small folios, which the reads of the whole file then pay
  // for in page walks, and a first touch of the mapping costs one fault per 2 MiB.
  if (payload_bytes >= kDirectWriteThreshold && !huge_folios_) {
    std::vector<std::span<const std::byte>> pieces;
    pieces.reserve(entries.size() * 3);
    position = old_tail;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].tombstone) {
        pieces.emplace_back(kTombstonePayload, 1);
      } else {
        pieces.emplace_back(kZeroPad.data(), format::prepad(position));
        pieces.push_back(entries[i].payload.span());
      }
      pieces.emplace_back(records[i]);
      position = entry_tails[i];
    }
    try {
      file_.pwrite_all(old_tail, pieces);
    } catch (...) {
      rollback(old_tail);
      throw;
    }
  } else {
    std::byte* base = generation.mapping.load(std::memory_order_relaxed)->data();
    position = old_tail;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].tombstone) {
        base[position++] = kTombstoneByte;
      } else {
        const std::uint64_t pad = format::prepad(position);
        std::memset(base + position, 0, pad);
        std::memcpy(base + position + pad, entries[i].payload.data(), entries[i].payload.size());
        position += pad + entries[i].payload.size();
      }
      std::memcpy(base + position, records[i].data(), kMetadataSize);
      position += kMetadataSize;
    }
  }
  // Every byte of the write is in the page cache (mapping and pwritev share it): the
  // padding record may now name the new tail. A kill before this store leaves the
  // record naming the old tail, and the write inside what reads as its payload.
  if (anchor_mode_ == PaddingAnchor::kTail) anchor_padding_in_mapping(new_tail);
  warm_past(generation, new_tail);
  return entry_tails;
}

std::uint64_t Appender::append_stream(Generation& generation, std::uint64_t key_hash, const StreamReader& source) {
  const std::uint64_t old_tail = generation.tail.load(std::memory_order_relaxed);
  const std::uint64_t start = old_tail + format::prepad(old_tail);
  std::uint64_t position = start;
  std::uint32_t checksum = 0;
  bool only_zero_bytes = true;
  std::vector<std::byte> buffer(kStreamChunkSize);
  try {
    // The pre-pad goes out with the first chunk; space the file already reserved
    // past the tail holds zeros, but writing them keeps this path self-contained.
    std::uint64_t pending_pad = start - old_tail;
    for (;;) {
      const std::size_t got = source(std::span<std::byte>(buffer));
      if (got == 0) break;
      if (got > buffer.size()) throw Error(ErrorCode::kInvalidArgument, "stream reader returned more bytes than asked");
      checksum = format::crc32_extend(checksum, buffer.data(), got);
      only_zero_bytes = only_zero_bytes && all_zero(buffer.data(), got);
      // The chunk, and the record after it, must stay below the padding record:
      // written past it, they would end the file with a value's bytes.
      reserve(generation, position + got + kMetadataSize);
      const std::span<const std::byte> pieces[] = {{kZeroPad.data(), pending_pad}, {buffer.data(), got}};
      file_.pwrite_all(position - pending_pad, pieces);
      pending_pad = 0;
      position += got;
    }
    if (position == start) throw Error(ErrorCode::kInvalidArgument, "Payload cannot be empty.");
    if (only_zero_bytes) {
      throw Error(ErrorCode::kInvalidArgument, "NULL-byte-only streams cannot be written directly.");
    }
    std::array<std::byte, kMetadataSize> record{};
    format::encode_metadata(record.data(), {key_hash, old_tail, checksum});
    const std::span<const std::byte> pieces[] = {record};
    file_.pwrite_all(position, pieces);
    position += kMetadataSize;
  } catch (...) {
    rollback(old_tail);
    throw;
  }
  if (anchor_mode_ == PaddingAnchor::kTail) anchor_padding_in_mapping(position);
  warm_past(generation, position);
  return position;
}

void Appender::reserve(Generation& generation, std::uint64_t needed_tail) {
  if (needed_tail > kMaxIndexedTail) {
    throw Error(ErrorCode::kInvalidArgument, "the write would take the store past 128 TiB, the most its index addresses");
  }
  // Data stays below the padding record's page (padding_page_size). With a warmer,
  // once the store holds kWarmFrom, the file and the mapping also reach kWarmAhead
  // past the tail, so that the pages the next writes touch can be faulted in before
  // they do; that part is best effort.
  const std::uint64_t ahead = warmer_ && !grow_ahead_failed_ && needed_tail >= kWarmFrom ? kWarmAhead : 0;
  const bool needed = !padding_ || needed_tail > data_end();
  if (needed || needed_tail + ahead > data_end()) {
    // Grow in steps of an eighth of the file (2 MiB to 64 MiB), so that appends
    // reserve space rarely and the file never holds much unused space. The space for
    // data ends on a 2 MiB boundary, and the padding record's page lies after it: the
    // kernel only gives a 2 MiB page-cache folio to a range that lies wholly inside
    // the file and has no page cached yet (see advise_append_zone).
    const std::uint64_t step = std::clamp<std::uint64_t>(data_end() / 8, io::kHugePageSize, 64u << 20);
    const std::uint64_t enough = io::whole_huge_pages(std::max(needed_tail, data_end() + step));
    const std::uint64_t target = io::whole_huge_pages(std::max(needed_tail + ahead, data_end() + step));
    try {
      grow(target + padding_page_size());
      if (needed) grow_ahead_failed_ = false;
    } catch (const std::exception& error) {
      // The look-ahead did not fit (a nearly full disk, say). The writes go on
      // without it, faulting their pages in themselves, until the file must grow
      // anyway; a write that does not fit either fails here as before.
      if (target == enough && needed) throw;
      grow_ahead_failed_ = true;
      log_warning(std::string("growing the file ahead of the writes failed: ") + error.what());
      if (needed) grow(enough + padding_page_size());
    }
  }
  const io::Mapping* current = generation.mapping.load(std::memory_order_relaxed);
  if (needed_tail + ahead > current->capacity()) {
    std::shared_ptr<io::Mapping> mapping;
    try {
      mapping = io::map_with_room(file_.fd(), needed_tail + ahead, reservation_minimum_, true);
    } catch (...) {
      if (needed_tail > current->capacity()) throw;
      return;  // only the look-ahead wanted it: warming stops at the mapping's end
    }
    const std::uint64_t tail = generation.tail.load(std::memory_order_relaxed);
    mapping->advise_written_range(tail);
    advise_append_zone(*mapping, tail);
    generation.publish_mapping(std::move(mapping));
    warm_requested_to_ = 0;  // the new mapping's pages are to be faulted in afresh
    // The old mapping lives on for readers and handles that pin it; the writer reads
    // records through the new one from now on (the index confirms keys and grows by
    // reading them), so the old one's pages need not stay mapped twice. The warming
    // thread, where there is one, unmaps them, off the write that got here.
    if (warmer_) {
      warmer_->release(current->shared_from_this());
    } else {
      current->release_resident_pages();
    }
  }
}

void Appender::warm_past(const Generation& generation, std::uint64_t tail) {
  if (!warmer_ || tail < kWarmFrom) return;
  if (tail + kWarmAhead / 2 <= warm_requested_to_) return;
  const std::shared_ptr<io::Mapping>& current = generation.mappings.back();  // the writer's newest
  const std::uint64_t to = std::min({tail + kWarmAhead, data_end(), current->capacity()});
  if (to <= tail) return;
  warmer_->request(current, tail, to);
  warm_requested_to_ = to;
}

std::uint64_t Appender::padding_page_size() noexcept { return io::page_size(); }

void Appender::grow(std::uint64_t target) {
  std::lock_guard lock(padding_mutex_);
  const std::uint64_t old_end = physical_size_;
  const bool had_padding = padding_;
  // Blocks first, without changing the size: a full disk is reported here, before
  // anything is written, and never later as a SIGBUS on a mapped page.
  file_.reserve_blocks(target);
  // The new record is the write that extends the file: 20 bytes in one page, which a
  // kill cannot cut in two, so the file never ends in zeros (which the original
  // would take for an entry that swallows the whole store). A larger write could be
  // cut short part way, with the file extended by zeros.
  const std::uint64_t record_at = target - kMetadataSize;
  const format::ZeroRunCrc zeros(record_at - payload_start(anchor_));
  std::array<std::byte, kMetadataSize> record{};
  format::encode_metadata(record.data(), {kPaddingKeyHash, anchor_, zeros.value()});
  // Mapped before anything changes (a mapping may lie past the file's end until the
  // write below extends the file over it): a failure leaves the old record in place.
  io::WindowMapping new_page;
  if (anchor_mode_ == PaddingAnchor::kTail) {
    new_page = io::WindowMapping(file_.fd(), target - padding_page_size(), padding_page_size());
  }
  const std::span<const std::byte> pieces[] = {record};
  try {
    file_.pwrite_all(record_at, pieces);
  } catch (...) {
    // A failed write extended nothing, or (a short one) not past the record's page:
    // cut back, so that the old record (or the tail) ends the file again.
    try {
      file_.truncate(old_end);
    } catch (const std::exception& error) {
      log_warning(std::string("undoing a failed growth of the file: ") + error.what());
    }
    throw;
  }
  physical_size_ = target;
  padding_ = true;
  zeros_ = zeros;
  padding_page_ = std::move(new_page);
  if (!had_padding) return;
  // The old record's page now lies in the space for data, inside what the new
  // record's payload covers. Where acknowledged writes must survive a power loss, the
  // new end is made durable first: otherwise the disk could hold the cleared page but
  // not yet the new size, and end in zeros.
  if (anchor_mode_ == PaddingAnchor::kSyncedTail && sync_barrier_) sync_barrier_();
  // Zeroing the page with fallocate both clears the old record and drops the page
  // from the page cache, so that its 2 MiB range gets one folio when data reaches it
  // (a hole punched would do the same, but first writes the dirty page back).
  file_.zero_range(old_end - padding_page_size(), padding_page_size());
}

void Appender::anchor_padding_in_mapping(std::uint64_t tail) noexcept {
  if (!padding_ || !padding_page_) return;
  zeros_.drop_front(payload_start(tail) - payload_start(anchor_));
  anchor_ = tail;
  std::byte* record = padding_page_.data() + padding_page_.length() - kMetadataSize;
  format::store_u64_le(record + format::kPrevOffsetField, tail);
  format::store_u32_le(record + format::kChecksumField, zeros_.value());
}

void Appender::padding_durable_through(std::uint64_t tail) noexcept {
  if (anchor_mode_ != PaddingAnchor::kSyncedTail) return;
  std::lock_guard lock(padding_mutex_);
  // Syncs can finish out of order with respect to a rollback or a compaction; the
  // record only ever moves up, and never past the end of the file's data.
  if (tail <= anchor_ || physical_size_ < tail + format::padding_room(tail)) return;
  if (!padding_) {
    anchor_ = tail;  // the next growth writes a record naming it
    return;
  }
  format::ZeroRunCrc zeros = zeros_;
  zeros.drop_front(payload_start(tail) - payload_start(anchor_));
  std::array<std::byte, 12> fields{};
  format::store_u64_le(fields.data(), tail);
  format::store_u32_le(fields.data() + 8, zeros.value());
  const std::span<const std::byte> pieces[] = {fields};
  try {
    file_.pwrite_all(physical_size_ - kMetadataSize + format::kPrevOffsetField, pieces);
  } catch (const std::exception& error) {
    log_warning(std::string("moving the padding record to the synced tail: ") + error.what());
    return;
  }
  anchor_ = tail;
  zeros_ = zeros;
}

std::uint64_t Appender::padding_offset() const {
  std::lock_guard lock(padding_mutex_);
  return padding_ ? physical_size_ - kMetadataSize : 0;
}

std::uint64_t Appender::padding_anchor() const {
  std::lock_guard lock(padding_mutex_);
  return anchor_;
}

void Appender::advise_append_zone(const io::Mapping& mapping, std::uint64_t tail) const noexcept {
  // Huge folios make random reads of appended data cheaper (one TLB entry per 2 MiB),
  // but the kernel tracks a folio's dirtiness as a whole, so a sync after a small
  // write would write back up to 2 MiB: only the modes that do not sync per write
  // take them. Below the tail the pages keep whatever size the page cache gave them.
  // The zone also goes without readahead (io::Mapping::advise_append_zone says why).
  if (huge_folios_) mapping.advise_append_zone(tail);
}

void Appender::replace_file(io::FileHandle file, std::uint64_t physical_size) noexcept {
  std::lock_guard lock(padding_mutex_);
  // Compaction allocates the new file exactly: it ends at its tail, with no padding
  // record, until the next append reserves space.
  file_ = std::move(file);
  physical_size_ = physical_size;
  padding_ = false;
  padding_page_ = io::WindowMapping();
  anchor_ = physical_size;
  warm_requested_to_ = 0;  // a new file, and a new mapping of it
}

void Appender::truncate(std::uint64_t tail) {
  std::lock_guard lock(padding_mutex_);
  file_.truncate(tail);
  physical_size_ = tail;
  padding_ = false;  // the file ends at the tail
  padding_page_ = io::WindowMapping();  // it lies past the end of the file now
  anchor_ = std::min(anchor_, tail);
  warm_requested_to_ = 0;  // a later write asks again, once the file has grown
}

void Appender::rollback(std::uint64_t tail) noexcept {
  // Nothing past `tail` was published. Cut it off so that no stray bytes remain for
  // recovery to sort out after a crash.
  try {
    truncate(tail);
  } catch (const std::exception& error) {
    log_warning(std::string("rolling back a failed write: ") + error.what());
  }
}

}  // namespace simd_r_drive::engine

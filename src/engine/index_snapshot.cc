#include "engine/index_snapshot.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <array>
#include <bit>
#include <cstring>
#include <string>
#include <vector>

#include "engine/logger.h"
#include "format/checksum.h"
#include "format/coding.h"
#include "io/file_handle.h"
#include "simd_r_drive/format.h"
#include "simd_r_drive/store_files.h"

namespace simd_r_drive::engine {

namespace {

// Header layout (little endian), in the first 4 KiB of the snapshot file:
//   0  magic "SRDINDEX"         8
//   8  version (4)              4
//  12  reserved (0)             4
//  16  covered tail             8
//  24  record ending at tail   20   (zeros when the tail is 0)
//  44  reserved (0)             4
//  48  live keys                8
//  56  slot capacity            8
//  64  slots in use             8
//  72  CRC-32 of the store's first min(tail, 64 KiB) bytes   4
//  76  CRC-32 of the block checksums                          4
//  80  LiveBits words (0: none) 8
//  88  CRC-32 of the LiveBits   4
//  92  reserved (0)             4
//  96  blocks of slots          8   (IndexTable::blocks_of(capacity))
// 104  reserved (0)             4
// 108  CRC-32 of bytes 0..108   4
// The table (capacity x IndexTable::kSlotBytes) starts at 4096; the LiveBits follow
// it, then the CRC-32 of each block of IndexTable::kBlockSlots slots (4 bytes each,
// in order). Older versions are not read (2: one checksum over the whole table,
// checked at open; 3: 16-byte slots holding the full key hash): a store whose
// snapshot is older rebuilds its index once, and its next close saves version 4.
constexpr std::array<char, 8> kMagic = {'S', 'R', 'D', 'I', 'N', 'D', 'E', 'X'};
constexpr std::uint32_t kVersion = 4;
constexpr std::size_t kHeaderSize = 112;
constexpr std::uint64_t kBodyOffset = 4096;
constexpr std::uint64_t kPrefixChecked = 64 * 1024;

struct Header {
  std::uint64_t covered_tail = 0;
  std::array<std::byte, kMetadataSize> last_record{};
  std::uint64_t live_count = 0;
  std::uint64_t capacity = 0;
  std::uint64_t used = 0;
  std::uint32_t prefix_crc = 0;
  std::uint32_t blocks_crc = 0;
  std::uint64_t live_words = 0;
  std::uint32_t live_crc = 0;
  std::uint64_t blocks = 0;
};

std::array<std::byte, kHeaderSize> encode(const Header& header) {
  std::array<std::byte, kHeaderSize> out{};
  std::memcpy(out.data(), kMagic.data(), kMagic.size());
  format::store_u32_le(out.data() + 8, kVersion);
  format::store_u64_le(out.data() + 16, header.covered_tail);
  std::memcpy(out.data() + 24, header.last_record.data(), kMetadataSize);
  format::store_u64_le(out.data() + 48, header.live_count);
  format::store_u64_le(out.data() + 56, header.capacity);
  format::store_u64_le(out.data() + 64, header.used);
  format::store_u32_le(out.data() + 72, header.prefix_crc);
  format::store_u32_le(out.data() + 76, header.blocks_crc);
  format::store_u64_le(out.data() + 80, header.live_words);
  format::store_u32_le(out.data() + 88, header.live_crc);
  format::store_u64_le(out.data() + 96, header.blocks);
  format::store_u32_le(out.data() + 108, format::crc32_extend(0, out.data(), 108));
  return out;
}

std::optional<Header> decode(const std::byte* bytes) {
  if (std::memcmp(bytes, kMagic.data(), kMagic.size()) != 0) return std::nullopt;
  if (format::load_u32_le(bytes + 8) != kVersion) return std::nullopt;
  if (format::load_u32_le(bytes + 108) != format::crc32_extend(0, bytes, 108)) return std::nullopt;
  Header header;
  header.covered_tail = format::load_u64_le(bytes + 16);
  std::memcpy(header.last_record.data(), bytes + 24, kMetadataSize);
  header.live_count = format::load_u64_le(bytes + 48);
  header.capacity = format::load_u64_le(bytes + 56);
  header.used = format::load_u64_le(bytes + 64);
  header.prefix_crc = format::load_u32_le(bytes + 72);
  header.blocks_crc = format::load_u32_le(bytes + 76);
  header.live_words = format::load_u64_le(bytes + 80);
  header.live_crc = format::load_u32_le(bytes + 88);
  header.blocks = format::load_u64_le(bytes + 96);
  return header;
}

// Reads `size` bytes at `offset` into `out` in 1 MiB pieces, each checksummed while
// it is still in cache, and compares the CRC with `expected`.
bool read_checked(int fd, std::uint64_t offset, std::byte* out, std::size_t size, std::uint32_t expected) {
  constexpr std::size_t kPiece = 1u << 20;
  std::size_t done = 0;
  std::uint32_t crc = 0;
  while (done < size) {
    const std::size_t want = std::min(kPiece, size - done);
    const ssize_t got = ::pread(fd, out + done, want, static_cast<off_t>(offset + done));
    if (got <= 0) return false;
    crc = format::crc32_extend(crc, out + done, static_cast<std::size_t>(got));
    done += static_cast<std::size_t>(got);
  }
  return crc == expected;
}

std::uint32_t prefix_crc(const std::byte* file, std::uint64_t tail) {
  return format::crc32_extend(0, file, std::min(tail, kPrefixChecked));
}

// Over the raw layout as saved: the bit words, then the offsets.
std::uint32_t live_bits_crc(const LiveBits& bits) {
  const std::span<const std::byte> words = bits.raw_bits();
  const std::span<const std::byte> offsets = bits.raw_offsets();
  return format::crc32_extend(format::crc32_extend(0, words.data(), words.size()), offsets.data(), offsets.size());
}

}  // namespace

std::filesystem::path snapshot_path(const std::filesystem::path& store) { return StoreFiles::of(store).index_snapshot; }

std::optional<LoadedSnapshot> load_snapshot(const std::filesystem::path& store, const std::byte* file,
                                            std::uint64_t file_len, IndexRebuild rebuild) {
  // The slots are saved in native byte order; a big-endian host rebuilds instead.
  if constexpr (std::endian::native != std::endian::little) return std::nullopt;
  const std::filesystem::path path = snapshot_path(store);
  // The writer only ever renames a regular file into place. Anything else found under
  // the name is not a snapshot of ours: a link is not followed (it could lead to any
  // file), and a FIFO or device is neither waited on (O_NONBLOCK) nor read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ELOOP) log_warning("Ignored the index snapshot '" + path.string() + "': it is a symbolic link.");
    return std::nullopt;
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    log_warning("Ignored the index snapshot '" + path.string() + "': it is not a regular file.");
    return std::nullopt;
  }
  // Closed when the last LiveBits loader made of it dies (or below, if none is).
  const auto shared_fd = std::shared_ptr<int>(new int(fd), [](int* owned) {
    ::close(*owned);
    delete owned;
  });
  std::array<std::byte, kHeaderSize> raw{};
  std::optional<Header> header;
  if (::pread(fd, raw.data(), raw.size(), 0) == static_cast<ssize_t>(raw.size())) header = decode(raw.data());
  // Bounds keep every size below computable without overflow: 2^40 slots is 8 TiB.
  constexpr std::uint64_t kMaxCapacity = std::uint64_t{1} << 40;
  constexpr std::uint64_t kMaxLiveWords = std::uint64_t{1} << 40;
  const auto file_matches = [&](const Header& h) {
    // A multiple of IndexTable::kCapacityGranule slots, which keeps the LiveBits page aligned.
    if (h.covered_tail > file_len || h.capacity == 0 || h.capacity > kMaxCapacity ||
        h.capacity % IndexTable::kCapacityGranule != 0) {
      return false;
    }
    if (h.used > h.capacity || h.live_count > h.used || h.live_words > kMaxLiveWords) return false;
    if (h.blocks != IndexTable::blocks_of(h.capacity)) return false;
    if (h.covered_tail >= kMetadataSize &&
        std::memcmp(file + h.covered_tail - kMetadataSize, h.last_record.data(), kMetadataSize) != 0) {
      return false;
    }
    return prefix_crc(file, h.covered_tail) == h.prefix_crc;
  };
  if (!header || !file_matches(*header)) return std::nullopt;
  const std::uint64_t body_size = header->capacity * IndexTable::kSlotBytes;
  const std::uint64_t live_size = LiveBits::raw_bytes(header->live_words);
  const std::uint64_t live_offset = kBodyOffset + body_size;  // page aligned: see file_matches
  const std::uint64_t blocks_offset = live_offset + live_size;
  const std::uint64_t blocks_size = header->blocks * 4;
  if (::lseek(fd, 0, SEEK_END) < static_cast<off_t>(blocks_offset + blocks_size)) return std::nullopt;
  // The block checksums: 4 bytes per 32 KiB of slots, the only part of the body
  // read at open.
  std::vector<std::byte> crc_bytes(blocks_size);
  if (!read_checked(fd, blocks_offset, crc_bytes.data(), crc_bytes.size(), header->blocks_crc)) return std::nullopt;
  std::vector<std::uint32_t> block_crcs(header->blocks);
  for (std::size_t i = 0; i < block_crcs.size(); ++i) block_crcs[i] = format::load_u32_le(crc_bytes.data() + i * 4);
  // The table is used in place, from a read-only mapping of the snapshot: a saved
  // snapshot is written with large writes, so its page-cache pages are 2 MiB folios
  // which the mapping gets with 2 MiB TLB entries, and probes cost what they cost
  // in a table of huge pages of its own. The file is replaced by rename, never
  // rewritten in place, so the mapped bytes stay as saved. Copying the body into
  // fresh memory instead would cost zeroing and copying every slot at open.
  void* region = ::mmap(nullptr, kBodyOffset + body_size, PROT_READ, MAP_SHARED, fd, 0);
  if (region == MAP_FAILED) return std::nullopt;
  // Asks readahead of a snapshot that is not in the page cache for 2 MiB folios.
  (void)::madvise(region, kBodyOffset + body_size, MADV_HUGEPAGE);
  const std::byte* slots = static_cast<const std::byte*>(region) + kBodyOffset;
  const std::uint64_t covered_tail = header->covered_tail;
  auto table = IndexTable::over_mapped_slots(region, kBodyOffset + body_size, slots, header->capacity,
                                             std::move(block_crcs), [rebuild = std::move(rebuild), covered_tail] {
                                               return rebuild(covered_tail);
                                             });
  table->set_used(header->used);
  LoadedSnapshot loaded{std::move(table), {}, covered_tail, header->live_count};
  if (header->live_words != 0 && header->live_words * 64 * LiveBits::kGranule > file_len) {
    loaded.load_live_bits = [shared_fd, words = header->live_words, crc = header->live_crc,
                             live_offset]() -> std::unique_ptr<LiveBits> {
      // Mapped rather than read: no copy into fresh memory, which on a VM that
      // hands freed memory back costs a host fault per page on top of the copy.
      auto bits = LiveBits::mapped_from(*shared_fd, live_offset, words);
      if (!bits || live_bits_crc(*bits) != crc) return nullptr;
      return bits;
    };
  }
  return loaded;
}

void save_snapshot(const std::filesystem::path& store, const IndexTable& table, const LiveBits* live_bits,
                   std::uint64_t live_count, const std::byte* file, std::uint64_t tail) noexcept {
  if constexpr (std::endian::native != std::endian::little) return;
  const std::filesystem::path path = snapshot_path(store);
  // Only the store's writer saves, so the name is this process's alone. It is created
  // with O_EXCL|O_NOFOLLOW: whatever is found under it (a crashed session's leftover,
  // or a link planted to make this write truncate another file) is unlinked, which
  // removes the link itself, never its target; if the create still fails, the save
  // fails (and the next session rebuilds its index).
  const StoreFiles files = StoreFiles::of(store);
  const std::filesystem::path temporary =
      files.store.parent_path() / (files.index_snapshot_temporary_prefix() + std::to_string(::getpid()));
  bool created = false;
  try {
    Header header;
    header.covered_tail = tail;
    if (tail >= kMetadataSize) std::memcpy(header.last_record.data(), file + tail - kMetadataSize, kMetadataSize);
    header.live_count = live_count;
    const IndexTable& slots = table.settled();
    header.capacity = slots.capacity();
    header.used = slots.used();
    header.prefix_crc = prefix_crc(file, tail);
    const std::vector<std::uint32_t> block_crcs = IndexTable::block_checksums(slots.raw_slots(), slots.capacity());
    std::vector<std::byte> crc_bytes(block_crcs.size() * 4);
    for (std::size_t i = 0; i < block_crcs.size(); ++i) format::store_u32_le(crc_bytes.data() + i * 4, block_crcs[i]);
    header.blocks = block_crcs.size();
    header.blocks_crc = format::crc32_extend(0, crc_bytes.data(), crc_bytes.size());
    if (live_bits) {
      header.live_words = live_bits->words();
      header.live_crc = live_bits_crc(*live_bits);
    }
    const auto encoded = encode(header);
    std::vector<std::byte> first_page(kBodyOffset);
    std::memcpy(first_page.data(), encoded.data(), encoded.size());
    {
      std::error_code stale;
      std::filesystem::remove(temporary, stale);
      io::FileHandle out(temporary, io::FileHandle::Mode::kCreateExclusive);
      created = true;
      const std::span<const std::byte> pieces[] = {
          first_page,
          {slots.raw_slots(), slots.raw_size()},
          live_bits ? live_bits->raw_bits() : std::span<const std::byte>(),
          live_bits ? live_bits->raw_offsets() : std::span<const std::byte>(),
          crc_bytes};
      out.pwrite_all(0, pieces);
    }
    // No fsync: a snapshot lost or torn by a power cut fails its checksums and is
    // rebuilt; the store does not depend on it.
    std::filesystem::rename(temporary, path);
  } catch (const std::exception& error) {
    // Removed only if this call created it: otherwise the name is another's (the
    // planted file or link that made the exclusive create fail).
    std::error_code ignored;
    if (created) std::filesystem::remove(temporary, ignored);
    log_warning("could not save the index snapshot " + path.string() + ": " + error.what());
  }
}

void remove_snapshot(const std::filesystem::path& store) noexcept {
  std::error_code ignored;
  std::filesystem::remove(snapshot_path(store), ignored);
}

}  // namespace simd_r_drive::engine

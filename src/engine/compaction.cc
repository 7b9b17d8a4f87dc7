// Compaction (compaction.h).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <exception>
#include <span>

#include "engine/compaction.h"
#include "engine/huge_page_allocator.h"
#include "engine/index_snapshot.h"
#include "engine/index_upkeep.h"
#include "engine/iteration_state.h"
#include "engine/logger.h"
#include "engine/writer.h"
#include "format/checksum.h"
#include "format/entry_layout.h"
#include "simd_r_drive/error.h"
#include "simd_r_drive/store_files.h"

namespace simd_r_drive::engine {

namespace {

// What compaction needs of one live entry. Plain data: collecting a million of these
// costs no reference counting, unlike a million EntryHandles.
struct LiveEntry {
  const std::byte* data;
  std::uint64_t size;
  std::uint64_t key_hash;
  std::uint32_t checksum;
};

using LiveEntries = std::vector<LiveEntry, HugePageAllocator<LiveEntry>>;

// The live entries of a generation, oldest first (the order compaction keeps), and
// what keeps the mapping they point into alive.
struct LiveList {
  LiveEntries entries;
  std::shared_ptr<const void> pin;
};

// Without LiveBits: one iteration, newest first, filling the list from the back (no
// reversal, and no regrowth of a vector of tens of megabytes).
LiveList list_by_iteration(std::shared_ptr<Generation> generation,
                           std::shared_ptr<ReaderRegistry> readers) {
  const std::size_t counted = generation->live_count.load(std::memory_order_acquire);
  auto state = std::make_shared<detail::IterationState>(std::move(generation), std::move(readers));
  LiveEntries entries(counted);
  std::size_t next = counted;
  for (; !state->at_end(); state->advance()) {
    const EntryHandle& entry = state->current();
    const LiveEntry live{entry.data(), entry.size(), entry.key_hash(), entry.checksum()};
    if (next == 0) {
      entries.insert(entries.begin(), live);  // more than counted: cannot happen, but stay correct
    } else {
      entries[--next] = live;
    }
  }
  entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(next));
  return {std::move(entries), std::move(state)};
}

// With LiveBits: the file's two halves are listed at once, on two threads, each
// straight into its place. A popcount of the lower half's bits says where the halves
// meet. A bit whose record does not decode (damage) leaves a gap, closed at the end.
LiveList list_by_bits(const LiveBits& bits, std::shared_ptr<io::Mapping> mapping, std::uint64_t tail) {
  constexpr std::uint64_t kTailsPerWord = 64 * LiveBits::kGranule;
  constexpr std::uint64_t kWorthASecondThread = 8u << 20;  // bytes of file
  const std::uint64_t end = tail + 1;  // tails in [0, end)
  const std::uint64_t mid = tail >= kWorthASecondThread ? tail / 2 / kTailsPerWord * kTailsPerWord : 0;
  const std::size_t below_mid = bits.count_below(mid);
  const std::size_t total = bits.count_below((end + kTailsPerWord - 1) / kTailsPerWord * kTailsPerWord);
  LiveEntries entries(total);
  const std::byte* base = mapping->data();
  // Lists the live entries with tails in [low, high) into entries[first, last),
  // from the back; returns the index of the first one filled.
  auto list_range = [&](std::uint64_t low, std::uint64_t high, std::size_t first, std::size_t last) {
    std::size_t next = last;
    for (std::uint64_t at = high - 1; high > low && next > first;) {
      const std::optional<format::Record> record = detail::previous_live_record(bits, base, at, low);
      if (!record) break;
      entries[--next] = {base + record->payload.start, record->payload.size(), record->metadata.key_hash,
                         record->metadata.checksum};
    }
    return next;
  };
  std::size_t upper_first = below_mid;
  std::exception_ptr upper_error;
  std::thread upper;
  if (mid != 0) {
    upper = std::thread([&] {
      try {
        upper_first = list_range(mid, end, below_mid, total);
      } catch (...) {
        upper_error = std::current_exception();
      }
    });
  } else {
    upper_first = list_range(0, end, 0, total);
  }
  const std::size_t lower_first = mid != 0 ? list_range(0, mid, 0, below_mid) : below_mid;
  if (upper.joinable()) upper.join();
  if (upper_error) std::rethrow_exception(upper_error);
  // Close the gaps: [0, lower_first) and [below_mid, upper_first) hold nothing.
  auto kept = std::move(entries.begin() + static_cast<std::ptrdiff_t>(lower_first),
                        entries.begin() + static_cast<std::ptrdiff_t>(below_mid), entries.begin());
  kept = std::move(entries.begin() + static_cast<std::ptrdiff_t>(upper_first), entries.end(), kept);
  entries.erase(kept, entries.end());
  return {std::move(entries), std::move(mapping)};
}

LiveList list_live_entries(const std::shared_ptr<Generation>& generation,
                           const std::shared_ptr<ReaderRegistry>& readers) {
  std::shared_ptr<io::Mapping> mapping;
  const LiveBits* bits = nullptr;
  std::uint64_t tail = 0;
  {
    // The guard keeps the mapping from being freed between the load and the pin.
    ReaderRegistry::Guard guard(*readers);
    bits = generation->live.load(std::memory_order_acquire);
    tail = generation->tail.load(std::memory_order_acquire);
    mapping = generation->mapping.load(std::memory_order_acquire)->shared_from_this();
  }
  if (bits == nullptr) return list_by_iteration(generation, readers);
  // Held throughout: estimate_compaction_savings() lists without the write lock, and
  // a writer that grows the LiveBits meanwhile retires these, freeing them only once
  // no guard is held. (The helper thread reads them under this thread's guard.)
  ReaderRegistry::Guard guard(*readers);
  return list_by_bits(*bits, std::move(mapping), tail);
}

// Open cuts off a last entry that fails its checksum, since it cannot be told from a
// torn write. Compaction keeps stored checksums, so a value damaged by bit rot stays
// damaged; if it were the newest live value, it would become the compacted file's last
// entry and the next open would drop it (or, were it alone, refuse the file). So the
// newest intact entry moves to the end instead: only the damaged ones after it change
// their order relative to it. Usually one checksum decides this. Returns how many
// damaged entries the intact one moved past, or nullopt if no live entry is intact
// (entries non-empty): then compaction refuses rather than write a file that open
// would empty.
std::optional<std::size_t> move_newest_intact_last(LiveEntries& entries) {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (format::crc32_of_mapped(it->data, it->size) != it->checksum) continue;
    const auto moved_past = static_cast<std::size_t>(it - entries.rbegin());
    const auto intact = std::prev(it.base());
    std::rotate(intact, std::next(intact), entries.end());
    return moved_past;
  }
  if (entries.empty()) return 0;
  return std::nullopt;
}

// A name beside the store that no other compaction uses: never an old leftover. The
// store path is the resolved file (resolve_store_path), so this is beside the real
// file, and the rename below replaces that file, not a symbolic link to it.
std::filesystem::path fresh_temporary_path(const std::filesystem::path& store_path) {
  static std::atomic<unsigned> counter{0};
  const StoreFiles files = StoreFiles::of(store_path);
  return files.store.parent_path() / (files.compaction_temporary_prefix() + std::to_string(::getpid()) + "-" +
                                      std::to_string(counter.fetch_add(1)) + ".tmp");
}

// Writes `entries` one after another from offset 0 of `out` (a mapping of `file`,
// allocated to its full size): pre-pad, payload, then the 20-byte record. Every
// 8 MiB it asks the kernel to start writing back what is done, so the disk works
// while the copy goes on and the sync that follows has less left to wait for.
void copy_entries(std::byte* out, io::FileHandle& file, std::span<const LiveEntry> entries) {
  constexpr std::uint64_t kWritebackStep = 8u << 20;
  std::uint64_t position = 0;
  std::uint64_t written_back = 0;
  for (const LiveEntry& entry : entries) {
    const std::uint64_t prev = position;
    const std::uint64_t pad = format::prepad(position);
    std::memset(out + position, 0, pad);
    std::memcpy(out + position + pad, entry.data, entry.size);
    position += pad + entry.size;
    // The stored checksum is carried over, not recomputed: a damaged payload stays
    // detectable after compaction.
    format::encode_metadata(out + position, {entry.key_hash, prev, entry.checksum});
    position += kMetadataSize;
    if (position - written_back >= kWritebackStep) {
      const std::uint64_t upto = position / kWritebackStep * kWritebackStep;
      file.start_writeback(written_back, upto - written_back);
      written_back = upto;
    }
  }
}

}  // namespace

void Writer::compact() {
  std::lock_guard lock(publication_.change_mutex());
  require_writable();
  build_live_bits(publication_.current());
  LiveList live = list_live_entries(publication_.current_shared(), publication_.readers_shared());
  LiveEntries& entries = live.entries;
  const std::optional<std::size_t> moved_past = move_newest_intact_last(entries);
  if (!moved_past) {
    throw Error(ErrorCode::kCorruption, "Cannot compact '" + path_.string() +
                                            "': every live value fails its checksum, and a compacted file ending in "
                                            "a damaged entry would not open. The store was left as it is.");
  }
  if (*moved_past != 0) {
    log_warning("Compacting '" + path_.string() + "': " + std::to_string(*moved_past) +
                " newest value(s) fail their checksum (see verify()); they are kept, before the newest "
                "intact one.");
  }

  const std::filesystem::path temporary = fresh_temporary_path(path_);
  io::FileHandle output(temporary, io::FileHandle::Mode::kCreateExclusive);
  // Locked like the file it replaces, through a descriptor of its own (see the
  // Writer's constructor). Nobody else knows this brand-new file, so the lock is free.
  io::FileHandle output_lock(temporary, io::FileHandle::Mode::kOpenExisting);
  if (output_lock.identity() != output.identity()) {
    // The name was replaced between the two opens (by a link to another file, say):
    // neither the lock nor, later, the rename would concern the file written here.
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw Error(ErrorCode::kIo, "compaction's new file '" + temporary.string() +
                                    "' was replaced by another while it was being opened; the store was left as "
                                    "it is.");
  }
  output_lock.try_lock_exclusive();
  // Lay the new file out first: every entry's new tail, newest first as
  // build_generation wants them, and the file's size.
  std::vector<std::pair<std::uint64_t, std::uint64_t>, HugePageAllocator<std::pair<std::uint64_t, std::uint64_t>>>
      index_entries(entries.size());  // (key hash, new tail)
  std::uint64_t position = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    position += format::prepad(position) + entries[i].size + kMetadataSize;
    index_entries[entries.size() - 1 - i] = {entries[i].key_hash, position};
  }
  // Everything that can fail for want of space, memory or address space happens
  // before the rename: once the new file has the store's name, the store must
  // switch to it.
  const std::uint64_t old_tail = publication_.current().tail.load(std::memory_order_relaxed);
  std::shared_ptr<Generation> next;
  try {
    // The whole file is allocated up front, so the copy through the mapping below
    // cannot run out of space halfway.
    output.allocate(position);
    auto mapping = io::map_with_room(output.fd(), position, options_.address_space_reservation, true);
    // A bulk copy: 2 MiB folios take one fault per 2 MiB, and later readers get them
    // with 2 MiB TLB entries. The last, partial 2 MiB stays small unless the mode
    // wants huge folios for appends.
    mapping->prefer_huge_pages(0, position);
    appender_->advise_append_zone(*mapping, position);
    // The new index depends on the layout alone, so the second core builds it
    // while this thread copies the bytes and waits for the disk.
    std::exception_ptr build_error;
    std::thread builder([&, mapping] {
      try {
        next = build_generation(mapping, position, index_entries, true);
      } catch (...) {
        build_error = std::current_exception();
      }
    });
    try {
      copy_entries(mapping->data(), output, entries);
      output.sync_data();
    } catch (...) {
      builder.join();
      throw;
    }
    builder.join();
    if (build_error) std::rethrow_exception(build_error);
    // The snapshot describes the old layout; it must not outlive it.
    remove_snapshot(path_);
    snapshot_covers_.reset();
    io::rename_file(temporary, path_);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
  output.renamed_to(path_);
  output_lock.renamed_to(path_);
  // Compaction synced the new file before renaming it into place: every write so far
  // is durable in it.
  sync_.replace_file([&] {
    publication_.install(std::move(next));
    appender_->replace_file(std::move(output), position);
    identity_ = appender_->file().identity();
    file_lock_ = std::move(output_lock);
    lock_->publish_file(identity_, position);
    lock_->publish_durable_tail(position);
  });
  try {
    io::sync_directory(path_.parent_path());
  } catch (const Error& error) {
    throw Error(ErrorCode::kIo, std::string("compaction finished and the store uses the new file, but ") +
                                    error.what() + ": after a power loss the old file may be back in its place.");
  }
  log_info("Compacted '" + path_.string() + "': " + std::to_string(old_tail) + " -> " + std::to_string(position) +
           " bytes, " + std::to_string(entries.size()) + " live entries.");
}

std::uint64_t compaction_savings(const Publication& publication) {
  ensure_live_bits(publication);
  std::shared_ptr<Generation> generation = publication.acquire();
  const std::uint64_t tail = generation->tail.load(std::memory_order_acquire);
  // Lay the live entries out exactly as compact() would and compare.
  std::uint64_t compacted = 0;
  LiveList live = list_live_entries(generation, publication.readers_shared());
  LiveEntries& entries = live.entries;
  if (!move_newest_intact_last(entries)) return 0;  // compact() would refuse
  for (const LiveEntry& entry : entries) {
    compacted += format::prepad(compacted) + entry.size + kMetadataSize;
  }
  return tail > compacted ? tail - compacted : 0;
}

}  // namespace simd_r_drive::engine

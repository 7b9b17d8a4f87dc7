// compact() and estimate_compaction_savings().
//
// Compaction copies the live entries, oldest first, into a new file beside the store,
// syncs it, renames it over the store and syncs the directory; then it swaps in a new
// generation (mapping + index + tail) built from what it wrote. Readers keep using the
// old generation until the swap and their handles keep the old mapping alive after it,
// so nothing needs reopening. Writers wait on the write mutex meanwhile.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <string>

#include "engine/data_store_impl.h"
#include "engine/index_snapshot.h"
#include "engine/iteration_state.h"
#include "engine/logger.h"
#include "format/checksum.h"
#include "format/entry_layout.h"
#include "simd_r_drive/error.h"

namespace simd_r_drive {

namespace {

// What compaction needs of one live entry. Plain data: collecting a million of these
// costs no reference counting, unlike a million EntryHandles.
struct LiveEntry {
  const std::byte* data;
  std::uint64_t size;
  std::uint64_t key_hash;
  std::uint32_t checksum;
};

// The live entries of a generation, oldest first (the order compaction keeps). The
// iteration state pins the mapping they point into while the caller holds `state`.
std::vector<LiveEntry> live_entries_oldest_first(detail::IterationState& state) {
  std::vector<LiveEntry> entries;
  for (; !state.at_end(); state.advance()) {
    const EntryHandle& entry = state.current();
    entries.push_back({entry.data(), entry.size(), entry.key_hash(), entry.checksum()});
  }
  std::reverse(entries.begin(), entries.end());
  return entries;
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
std::optional<std::size_t> move_newest_intact_last(std::vector<LiveEntry>& entries) {
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

// A name beside the store that no other compaction uses: never an old leftover.
std::filesystem::path fresh_temporary_path(const std::filesystem::path& store_path) {
  static std::atomic<unsigned> counter{0};
  return store_path.string() + ".compact-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1)) + ".tmp";
}

// Buffers small writes into large sequential ones; payloads larger than the buffer
// go straight from the old mapping to the file.
class SequentialWriter {
 public:
  explicit SequentialWriter(io::FileHandle& file) : file_(file) { buffer_.reserve(kCapacity); }

  void append(std::span<const std::byte> bytes) {
    if (buffer_.size() + bytes.size() > kCapacity) flush();
    if (bytes.size() >= kCapacity) {
      const std::span<const std::byte> pieces[] = {bytes};
      file_.pwrite_all(written_, pieces);
      written_ += bytes.size();
      return;
    }
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  }
  void flush() {
    if (buffer_.empty()) return;
    const std::span<const std::byte> pieces[] = {buffer_};
    file_.pwrite_all(written_, pieces);
    written_ += buffer_.size();
    buffer_.clear();
  }

 private:
  static constexpr std::size_t kCapacity = 4u << 20;
  io::FileHandle& file_;
  std::vector<std::byte> buffer_;
  std::uint64_t written_ = 0;
};

}  // namespace

void DataStore::Impl::compact() {
  std::lock_guard lock(write_mutex_);
  require_writable_locked();
  ensure_live_bits_locked();
  detail::IterationState state(current_, readers_);
  std::vector<LiveEntry> entries = live_entries_oldest_first(state);
  const std::optional<std::size_t> moved_past = move_newest_intact_last(entries);
  if (!moved_past) {
    throw Error(ErrorCode::kCorruption, "Cannot compact '" + path_.string() +
                                            "': every live value fails its checksum, and a compacted file ending in "
                                            "a damaged entry would not open. The store was left as it is.");
  }
  if (*moved_past != 0) {
    engine::log_warning("Compacting '" + path_.string() + "': " + std::to_string(*moved_past) +
                        " newest value(s) fail their checksum (see verify()); they are kept, before the newest "
                        "intact one.");
  }

  const std::filesystem::path temporary = fresh_temporary_path(path_);
  io::FileHandle output(temporary, io::FileHandle::Mode::kCreateExclusive);
  // Locked like the file it replaces, through a descriptor of its own (see Impl's
  // constructor). Nobody else knows this brand-new file, so the lock is free.
  io::FileHandle output_lock(temporary, io::FileHandle::Mode::kOpenExisting);
  output_lock.try_lock_exclusive();
  std::vector<std::pair<std::uint64_t, std::uint64_t>> index_entries;  // (key hash, new tail)
  index_entries.reserve(entries.size());
  std::uint64_t position = 0;
  try {
    SequentialWriter writer(output);
    static constexpr std::array<std::byte, kPayloadAlignment> kZeroPad{};
    for (const LiveEntry& entry : entries) {
      const std::uint64_t prev = position;
      const std::uint64_t pad = format::prepad(position);
      writer.append({kZeroPad.data(), pad});
      writer.append({entry.data, entry.size});
      // The stored checksum is carried over, not recomputed: a damaged payload stays
      // detectable after compaction.
      std::array<std::byte, kMetadataSize> record{};
      format::encode_metadata(record.data(), {entry.key_hash, prev, entry.checksum});
      writer.append(record);
      position += pad + entry.size + kMetadataSize;
      index_entries.emplace_back(entry.key_hash, position);
    }
    writer.flush();
    output.sync_data();
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
  // Everything that can fail for want of memory or address space happens before the
  // rename: once the new file has the store's name, the store must switch to it.
  const std::uint64_t old_tail = current_->tail.load(std::memory_order_relaxed);
  std::shared_ptr<engine::Generation> next;
  try {
    std::reverse(index_entries.begin(), index_entries.end());
    auto mapping = std::make_shared<io::Mapping>(output.fd(), io::reservation_for(position), true);
    advise_append_zone(*mapping, position);
    next = build_generation(std::move(mapping), position, index_entries);
    // The snapshot describes the old layout; it must not outlive it.
    engine::remove_snapshot(path_);
    snapshot_covers_.reset();
    io::rename_file(temporary, path_);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
  output.renamed_to(path_);
  output_lock.renamed_to(path_);
  replace_file_locked(std::move(next), std::move(output), std::move(output_lock), position);
  try {
    io::sync_directory(path_.parent_path());
  } catch (const Error& error) {
    throw Error(ErrorCode::kIo, std::string("compaction finished and the store uses the new file, but ") +
                                    error.what() + ": after a power loss the old file may be back in its place.");
  }
  engine::log_info("Compacted '" + path_.string() + "': " + std::to_string(old_tail) + " -> " +
                   std::to_string(position) + " bytes, " + std::to_string(entries.size()) + " live entries.");
}

std::uint64_t DataStore::Impl::compaction_savings() const {
  ensure_live_bits();
  std::shared_ptr<engine::Generation> generation;
  {
    engine::ReaderRegistry::Guard guard(*readers_);
    generation = published_.load(std::memory_order_seq_cst)->shared_from_this();
  }
  const std::uint64_t tail = generation->tail.load(std::memory_order_acquire);
  // Lay the live entries out exactly as compact() would and compare.
  std::uint64_t compacted = 0;
  detail::IterationState state(generation, readers_);
  std::vector<LiveEntry> entries = live_entries_oldest_first(state);
  if (!move_newest_intact_last(entries)) return 0;  // compact() would refuse
  for (const LiveEntry& entry : entries) {
    compacted += format::prepad(compacted) + entry.size + kMetadataSize;
  }
  return tail > compacted ? tail - compacted : 0;
}

}  // namespace simd_r_drive

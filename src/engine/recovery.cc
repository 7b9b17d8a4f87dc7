#include "engine/recovery.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "format/checksum.h"
#include "format/entry_layout.h"
#include "simd_r_drive/error.h"

namespace simd_r_drive::engine {

namespace {

using format::kMinEntryTail;
using format::PayloadRange;
using format::Record;

bool is_suspect(const EntryMetadata& metadata) noexcept {
  return format::is_padding(metadata) || format::is_zero_record(metadata);
}

// Whether an entry's payload matches its record: the computed checksum equals the
// stored one, and a tombstone-shaped record carries the tombstone's checksum (its
// byte may be damaged: see format::decode_record).
bool holds(const Record& record, std::uint32_t computed) noexcept {
  return computed == record.metadata.checksum &&
         (!record.payload.tombstone || record.metadata.checksum == format::kTombstoneChecksum);
}

class ChainScanner {
 public:
  ChainScanner(const std::byte* file, std::uint64_t file_len, RecoveryStats& stats)
      : file_(file), file_len_(file_len), stats_(stats) {}

  // The well-formed entry whose record ends at `tail`, if there is one.
  std::optional<Record> record_ending_at(std::uint64_t tail) const noexcept {
    return format::decode_record(file_, file_len_, tail);
  }

  // Walks back-links from `tail` to offset 0; true if every link is well formed.
  // Appends the tails it visits to `tails` when given, and the positions in `tails`
  // of padding and all-zero records to `suspects`.
  bool walk_to_start(std::uint64_t tail, std::vector<std::uint64_t>* tails,
                     std::vector<std::size_t>* suspects = nullptr) {
    while (tail != 0) {
      ++stats_.chain_steps;
      auto record = record_ending_at(tail);
      if (!record) return false;
      if (tails) {
        if (suspects && is_suspect(record->metadata)) suspects->push_back(tails->size());
        tails->push_back(tail);
      }
      tail = record->metadata.prev_offset;
    }
    return true;
  }

  // As walk_to_start, but remembers every verdict so that all walks together follow
  // each link at most once.
  bool reaches_start_memoised(std::uint64_t tail) {
    std::vector<std::uint64_t> path;
    bool verdict = true;
    while (tail != 0) {
      if (auto known = verdicts_.find(tail); known != verdicts_.end()) {
        verdict = known->second;
        break;
      }
      ++stats_.chain_steps;
      auto record = record_ending_at(tail);
      if (!record) {
        verdict = false;
        verdicts_.emplace(tail, false);
        break;
      }
      path.push_back(tail);
      tail = record->metadata.prev_offset;
    }
    for (std::uint64_t visited : path) verdicts_.emplace(visited, verdict);
    return verdict;
  }

  std::uint32_t checksum_of(const PayloadRange& range) noexcept {
    stats_.checksum_bytes += range.size();
    return format::crc32_of_mapped(file_ + range.start, range.size());
  }

  // Prefix CRCs every `spacing` bytes up to `limit`, for checksum_from_prefixes.
  void build_prefixes(std::uint64_t limit) {
    // Every 16 bytes: a candidate's checksum then reads at most 15 bytes besides the
    // table, however long its payload. The table is capped at 16 Mi checkpoints
    // (64 MiB) by spacing them wider in very large files.
    spacing_ = 16;
    while (limit / spacing_ > (16u << 20)) spacing_ *= 2;
    prefixes_.assign(limit / spacing_ + 1, 0);
    std::uint32_t crc = 0;
    for (std::size_t i = 1; i < prefixes_.size(); ++i) {
      crc = format::crc32_extend(crc, file_ + (i - 1) * spacing_, spacing_);
      prefixes_[i] = crc;
    }
    stats_.checksum_bytes += (prefixes_.size() - 1) * spacing_;
  }

  // CRC of [range.start, range.end) from the checkpoints, reading at most
  // 2 * spacing bytes however long the range is.
  std::uint32_t checksum_from_prefixes(const PayloadRange& range) noexcept {
    const std::uint32_t at_start = prefix_crc(range.start);
    const std::uint32_t at_end = prefix_crc(range.end);
    return at_end ^ format::crc32_shift(at_start, range.size());
  }

 private:
  std::uint32_t prefix_crc(std::uint64_t offset) noexcept {
    const std::uint64_t slot = std::min<std::uint64_t>(offset / spacing_, prefixes_.size() - 1);
    const std::uint64_t base = slot * spacing_;
    stats_.checksum_bytes += offset - base;
    return format::crc32_extend(prefixes_[slot], file_ + base, offset - base);
  }

  const std::byte* file_;
  std::uint64_t file_len_;
  RecoveryStats& stats_;
  std::unordered_map<std::uint64_t, bool> verdicts_;
  std::uint64_t spacing_ = 16;
  std::vector<std::uint32_t> prefixes_;
};

// Offset one past the last non-zero byte (0 if every byte is zero).
std::uint64_t end_of_non_zero_data(const std::byte* file, std::uint64_t file_len) noexcept {
  std::uint64_t end = file_len;
  // Word at a time while aligned words remain; zero tails can be long (preallocation).
  while (end >= 8 && (end % 8) != 0 && file[end - 1] == std::byte{0}) --end;
  while (end >= 8) {
    std::uint64_t word;
    std::memcpy(&word, file + end - 8, 8);
    if (word != 0) break;
    end -= 8;
  }
  while (end > 0 && file[end - 1] == std::byte{0}) --end;
  return end;
}

// Drops the newest `count` entries of `result`'s chain.
void drop_newest(RecoveryResult& result, std::size_t count) {
  result.chain_tails.erase(result.chain_tails.begin(), result.chain_tails.begin() + static_cast<std::ptrdiff_t>(count));
  std::erase_if(result.suspects, [count](std::size_t position) { return position < count; });
  for (std::size_t& position : result.suspects) position -= count;
}

}  // namespace

RecoveryResult find_valid_tail(const std::byte* file, std::uint64_t file_len) {
  RecoveryResult result;
  if (file_len < kMinEntryTail) return result;
  ChainScanner scanner(file, file_len, result.stats);

  // The clean case: the whole file is the chain, and its last entry is intact.
  ++result.stats.candidates_examined;
  if (auto top = scanner.record_ending_at(file_len)) {
    std::vector<std::uint64_t> tails;
    std::vector<std::size_t> suspects;
    if (scanner.walk_to_start(file_len, &tails, &suspects) && holds(*top, scanner.checksum_of(top->payload))) {
      result.valid_tail = file_len;
      result.chain_tails = std::move(tails);
      result.suspects = std::move(suspects);
      return result;
    }
  }

  // A damaged end. A real record never ends more than 20 bytes past the last non-zero
  // byte unless it is entirely zero, which recovery does not accept (key hash 0,
  // prev 0, checksum 0 is what a zero-filled tail looks like).
  const std::uint64_t data_end = end_of_non_zero_data(file, file_len);
  if (data_end == 0) return result;
  const std::uint64_t highest = std::min(file_len - 1, data_end + kMetadataSize);

  // Whatever the cause, a last entry whose payload does not match its checksum is
  // not kept: a torn write and a damaged last value look the same, and recovery must
  // never take garbage for an entry. Open logs what it cuts off.
  scanner.build_prefixes(highest);
  for (std::uint64_t tail = highest; tail >= kMinEntryTail; --tail) {
    ++result.stats.candidates_examined;
    auto record = scanner.record_ending_at(tail);
    if (!record) continue;
    if (!scanner.reaches_start_memoised(record->metadata.prev_offset)) continue;
    if (!holds(*record, scanner.checksum_from_prefixes(record->payload))) continue;
    result.valid_tail = tail;
    scanner.walk_to_start(tail, &result.chain_tails, &result.suspects);
    return result;
  }
  return result;
}

std::uint64_t end_before_padding(const std::byte* file, std::uint64_t file_len) noexcept {
  const std::optional<Record> top = format::decode_record(file, file_len, file_len);
  return top && format::is_padding(top->metadata) ? top->metadata_offset() : file_len;
}

StoreRecovery recover_store(const std::byte* file, std::uint64_t file_len, const SwallowingPolicy& policy) {
  constexpr std::uint64_t kOldReservationGranule = 2u << 20;
  StoreRecovery found;
  RecoveryResult chain = find_valid_tail(file, end_before_padding(file, file_len));
  for (std::size_t undone = 0;; ++undone) {
    // The newest record on the chain that swallows the entries below it.
    std::optional<std::size_t> swallower;
    bool foreign = false;
    RecoveryResult below;
    for (const std::size_t position : chain.suspects) {
      const std::uint64_t tail = chain.chain_tails[position];
      const std::optional<Record> record = format::decode_record(file, tail, tail);
      if (!record) continue;  // every tail on the chain decodes
      const std::uint64_t metadata_offset = record->metadata_offset();
      if (format::is_padding(record->metadata)) {
        // This engine never appends after its padding record, and none of its
        // back-links name the record's end (a tail is always at least a padding's
        // room below it): whatever follows was appended by someone else.
        below = find_valid_tail(file, end_before_padding(file, metadata_offset));
        foreign = true;
      } else {
        // A first entry stored under hash 0 whose payload's CRC is 0 reads the same
        // and holds; a zero record of ours never does.
        if (format::crc32_of_mapped(file + record->payload.start, record->payload.size()) == 0) continue;
        const bool ours = policy.crashed_tail && *policy.crashed_tail >= tail;
        below = find_valid_tail(file, metadata_offset);
        if (policy.keep_everything || (!ours && tail % kOldReservationGranule == 0 && below.valid_tail != 0)) {
          foreign = true;
        } else if (!policy.unsynced_above || tail <= *policy.unsynced_above) {
          continue;  // not a shape we know: left as it is, an entry of hash 0
        }
      }
      swallower = position;
      break;
    }
    if (!swallower) break;
    if (undone == kMaxSwallowingRecords) {
      throw Error(ErrorCode::kCorruption,
                  "more than " + std::to_string(kMaxSwallowingRecords) +
                      " records that swallow the entries below them (padding or zero-filled records) lie on the "
                      "chain, the lowest at offset " +
                      std::to_string(chain.chain_tails[*swallower] - kMetadataSize) +
                      "; open refuses to guess. DataStore::salvage keeps the entries it can find.");
    }
    const auto above_end = chain.chain_tails.begin() + static_cast<std::ptrdiff_t>(*swallower);
    if (foreign) {
      found.swallowers.push_back(chain.chain_tails[*swallower] - kMetadataSize);
      found.foreign_tails.insert(found.foreign_tails.end(), chain.chain_tails.begin(), above_end);
    } else {
      found.dropped_above_lost_page += *swallower;
      found.lost_record = chain.chain_tails[*swallower] - kMetadataSize;
    }
    chain = std::move(below);
  }
  found.own = std::move(chain);
  return found;
}

std::optional<std::vector<std::uint64_t>> tails_above(const std::byte* file, std::uint64_t file_len,
                                                      std::uint64_t trusted_tail) {
  std::vector<std::uint64_t> tails;
  if (file_len == trusted_tail) return tails;
  RecoveryStats stats;
  ChainScanner scanner(file, file_len, stats);
  const auto top = scanner.record_ending_at(file_len);
  if (!top || !holds(*top, scanner.checksum_of(top->payload))) return std::nullopt;
  for (std::uint64_t tail = file_len; tail > trusted_tail;) {
    auto record = scanner.record_ending_at(tail);
    if (!record) return std::nullopt;
    if (format::is_padding(record->metadata)) return std::nullopt;
    if (format::is_zero_record(record->metadata) && scanner.checksum_of(record->payload) != 0) return std::nullopt;
    tails.push_back(tail);
    tail = record->metadata.prev_offset;
    if (tail < trusted_tail) return std::nullopt;  // jumped over the trusted end
  }
  return tails;
}

std::size_t cut_unsynced_damage(const std::byte* file, RecoveryResult& result, std::uint64_t durable_tail) {
  RecoveryStats stats;
  ChainScanner scanner(file, result.valid_tail, stats);
  std::size_t cut = 0;  // entries chain_tails[0, cut) are to go
  for (std::size_t i = 0; i < result.chain_tails.size() && result.chain_tails[i] > durable_tail; ++i) {
    const auto record = scanner.record_ending_at(result.chain_tails[i]);
    if (!record || !holds(*record, scanner.checksum_of(record->payload))) cut = i + 1;
  }
  if (cut == 0) return 0;
  drop_newest(result, cut);
  result.valid_tail = result.chain_tails.empty() ? 0 : result.chain_tails.front();
  return cut;
}

bool cut_to_tail(RecoveryResult& result, std::uint64_t tail) {
  if (tail >= result.valid_tail) return false;
  // chain_tails is newest first, so descending.
  const auto keep = std::find(result.chain_tails.begin(), result.chain_tails.end(), tail);
  if (keep == result.chain_tails.end() && tail != 0) return false;
  drop_newest(result, static_cast<std::size_t>(keep - result.chain_tails.begin()));
  result.valid_tail = tail;
  return true;
}

}  // namespace simd_r_drive::engine

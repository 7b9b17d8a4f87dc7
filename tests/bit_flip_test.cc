// Single bit flips in copies of the golden files (tests/compat/golden), one at a time.
//
//  * PayloadFlipIsReported: a flipped payload bit in any entry but the last leaves the
//    store as it was (open keeps it: older entries are checked for structure only),
//    and verify() lists exactly that entry with both checksums; a live entry's handle
//    says is_valid_checksum() == false. A flip in the last entry's payload cannot be
//    told from a torn write, so open cuts that entry off and keeps everything before.
//  * KeyHashFlip: the chain stays whole and verifies; the entry just moves to the
//    flipped hash. ChecksumFlip: like a payload flip.
//  * BackLinkFlip: the chain may break anywhere; open either throws Error (and leaves
//    the file alone) or gives a store that is consistent in itself.
//  * PrePadFlip: pre-pad bytes are covered by nothing, so a flip there changes nothing.
//
// Every open of a flipped file must also pass the consistency checks (iteration,
// reads, verify() and read_last_entry() agree; nothing outside the store's bytes), and
// the ASan build runs all of it. Small files get every bit of the region under test;
// big ones a deterministic sample that still touches every entry.
//
// The expectations come from this file's own reading of the chain (format.md), not
// from the engine. Flips are applied to one copy in place and undone after each
// open, so a 3 MiB golden file is written once, not once per flip.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "simd_r_drive/simd_r_drive.h"
#include "test_support.h"

namespace {

using simd_r_drive::ByteView;
using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using simd_r_drive::OpenOptions;
using simd_r_drive::VerifyReport;
using srd_test::StderrCapture;
using srd_test::TempDir;

using Bytes = std::vector<std::byte>;
constexpr std::uint64_t kMetadataSize = simd_r_drive::kMetadataSize;
constexpr std::uint64_t kAlignment = simd_r_drive::kPayloadAlignment;

std::uint64_t load_le(const std::byte* at, int width) {
  std::uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) value = (value << 8) | std::to_integer<std::uint64_t>(at[i]);
  return value;
}

// ---- the golden files' chains, read independently of the engine -------------------

struct Entry {
  std::uint64_t payload_start = 0;
  std::uint64_t metadata_offset = 0;  // == payload end
  std::uint64_t prev = 0;
  std::uint64_t key_hash = 0;
  std::uint32_t checksum = 0;
  bool tombstone = false;
  std::uint64_t tail() const { return metadata_offset + kMetadataSize; }
};

struct Golden {
  std::string name;
  Bytes bytes;
  std::vector<Entry> chain;  // newest first
};

// Walks the back-links of a well-formed file (format.md, "From a record back to its
// payload"); throws on anything else, since golden files are clean.
std::vector<Entry> parse_chain(const Bytes& file) {
  std::vector<Entry> chain;
  std::uint64_t tail = file.size();
  while (tail != 0) {
    if (tail < kMetadataSize + 1) throw std::runtime_error("golden chain: tail " + std::to_string(tail));
    Entry entry;
    entry.metadata_offset = tail - kMetadataSize;
    entry.key_hash = load_le(file.data() + entry.metadata_offset, 8);
    entry.prev = load_le(file.data() + entry.metadata_offset + 8, 8);
    entry.checksum = static_cast<std::uint32_t>(load_le(file.data() + entry.metadata_offset + 16, 4));
    if (entry.prev >= entry.metadata_offset) throw std::runtime_error("golden chain: bad back-link");
    if (entry.metadata_offset - entry.prev == 1 && file[entry.prev] == std::byte{0}) {
      entry.payload_start = entry.prev;
      entry.tombstone = true;
    } else {
      entry.payload_start = (entry.prev + kAlignment - 1) / kAlignment * kAlignment;
      if (entry.payload_start >= entry.metadata_offset) throw std::runtime_error("golden chain: empty payload");
    }
    chain.push_back(entry);
    tail = entry.prev;
  }
  return chain;
}

const Golden& golden(const std::string& name) {
  static std::map<std::string, Golden> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    Golden g;
    g.name = name;
    g.bytes = srd_test::read_file(srd_test::compat_dir() / (name + ".bin"));
    g.chain = parse_chain(g.bytes);
    it = cache.emplace(name, std::move(g)).first;
  }
  return it->second;
}

// What a store whose chain is `chain` (newest first) holds: the newest record of each
// key hash, unless it is a tombstone.
std::map<std::uint64_t, const Entry*> live_entries(std::span<const Entry> chain) {
  std::map<std::uint64_t, const Entry*> newest;
  for (const Entry& entry : chain) newest.emplace(entry.key_hash, &entry);
  std::erase_if(newest, [](const auto& item) { return item.second->tombstone; });
  return newest;
}

// ---- one copy of a golden file, flipped and restored in place ---------------------

class FlippableCopy {
 public:
  FlippableCopy(const Golden& g, const std::filesystem::path& path) : golden_(g), path_(path), content_(g.bytes) {
    srd_test::write_file(path_, g.bytes);
  }

  const std::filesystem::path& path() const { return path_; }
  const Bytes& content() const { return content_; }

  void flip(std::uint64_t offset, int bit) {
    content_[offset] ^= static_cast<std::byte>(1u << bit);
    put(offset, 1);
    flipped_ = offset;
  }

  // Puts the golden bytes back after a store has closed (open only ever cuts the file
  // short) and forgets what the last open left beside the file, so that every flip is
  // opened as a file new to the engine. Returns "" or what went wrong.
  std::string restore() {
    content_[flipped_] = golden_.bytes[flipped_];
    const std::uint64_t size = std::filesystem::file_size(path_);
    if (size > content_.size()) return "file grew to " + std::to_string(size);
    put(flipped_, 1);
    if (size < content_.size()) put(size, content_.size() - size);
    std::filesystem::remove(path_.string() + ".lock");
    std::filesystem::remove(path_.string() + ".index");
    return "";
  }

 private:
  void put(std::uint64_t offset, std::uint64_t size) {
    const int fd = ::open(path_.c_str(), O_WRONLY);
    if (fd < 0) throw std::runtime_error("cannot open " + path_.string());
    const ssize_t wrote = ::pwrite(fd, content_.data() + offset, size, static_cast<off_t>(offset));
    ::close(fd);
    if (wrote != static_cast<ssize_t>(size)) throw std::runtime_error("short pwrite to " + path_.string());
  }

  const Golden& golden_;
  std::filesystem::path path_;
  Bytes content_;
  std::uint64_t flipped_ = 0;
};

// ---- checks ----------------------------------------------------------------------

// Checks that an open store is consistent in itself and lies within `content` (the
// bytes open saw): iteration, reads by hash, read_last_entry() and verify() agree.
// Appends what is wrong to `problem`.
void check_consistent(const DataStore& store, const Bytes& content, std::string& problem) {
  const std::uint64_t tail = store.file_size();
  if (tail > content.size()) problem += " tail " + std::to_string(tail) + " beyond the file;";
  const VerifyReport report = store.verify();
  if (!report.chain_intact) problem += " verify: chain broken after open (" + report.chain_error + ");";
  if (report.file_size != tail) problem += " verify file_size " + std::to_string(report.file_size) + ";";
  if (report.live_keys != store.len()) problem += " verify live_keys " + std::to_string(report.live_keys) + ";";
  std::set<std::uint64_t> corrupt;
  for (const auto& bad : report.corrupt_entries) corrupt.insert(bad.metadata_offset);

  std::set<std::uint64_t> seen;
  for (const EntryHandle& entry : store.iter_entries()) {
    const std::string at = " entry ending at " + std::to_string(entry.end_offset());
    if (!seen.insert(entry.key_hash()).second) problem += at + ": key hash iterated twice;";
    if (entry.size() == 0 || entry.end_offset() + kMetadataSize > tail) problem += at + ": outside the store;";
    if (entry.is_tombstone()) problem += at + ": tombstone iterated;";
    if (entry.is_valid_checksum() == corrupt.contains(entry.end_offset())) {
      problem += at + ": is_valid_checksum disagrees with verify;";
    }
    if (entry.end_offset() <= content.size() &&
        std::memcmp(entry.data(), content.data() + entry.start_offset(), entry.size()) != 0) {
      problem += at + ": bytes differ from the file;";
    }
    const auto read = store.read_with_key_hash(entry.key_hash());
    if (!read || read->start_offset() != entry.start_offset() || read->end_offset() != entry.end_offset()) {
      problem += at + ": read_with_key_hash disagrees with iteration;";
    }
  }
  if (seen.size() != store.len()) problem += " iterated " + std::to_string(seen.size()) + " of len " + std::to_string(store.len()) + ";";

  const auto last = store.read_last_entry();
  if (last.has_value() != (tail != 0)) problem += " read_last_entry presence;";
  // Open keeps a last entry only if its checksum matches.
  if (last && (last->end_offset() + kMetadataSize != tail || !last->is_valid_checksum())) {
    problem += " last entry not the intact end of the store;";
  }
}

// Checks that `store` holds exactly the entries of `chain` (newest first), read from
// `content`, and that verify() reports exactly the entries ending at `corrupt`. With
// `focus`, only the key hashes in it are read (the ones the flip concerns), and the
// checks that cost a pass over every entry are left out.
void check_state(const DataStore& store, const Golden& g, std::span<const Entry> chain, const Bytes& content,
                 const std::set<std::uint64_t>& corrupt, const std::set<std::uint64_t>* focus, std::string& problem) {
  const std::uint64_t want_tail = chain.empty() ? 0 : chain.front().tail();
  if (store.file_size() != want_tail) {
    problem += " file_size " + std::to_string(store.file_size()) + " (want " + std::to_string(want_tail) + ");";
  }
  const auto live = live_entries(chain);
  if (store.len() != live.size()) problem += " len " + std::to_string(store.len()) + " (want " + std::to_string(live.size()) + ");";
  std::set<std::uint64_t> hashes;
  if (focus != nullptr) {
    hashes = *focus;
  } else {
    for (const Entry& entry : g.chain) hashes.insert(entry.key_hash);
    for (const Entry& entry : chain) hashes.insert(entry.key_hash);
  }
  for (const std::uint64_t hash : hashes) {
    const auto got = store.read_with_key_hash(hash);
    const auto want = live.find(hash);
    const std::string key = " hash " + std::to_string(hash);
    if (want == live.end()) {
      if (got) problem += key + ": present, want absent;";
      continue;
    }
    const Entry& entry = *want->second;
    if (!got) {
      problem += key + ": absent;";
      continue;
    }
    if (got->start_offset() != entry.payload_start || got->end_offset() != entry.metadata_offset) {
      problem += key + ": at " + std::to_string(got->start_offset()) + ".." + std::to_string(got->end_offset()) + ";";
      continue;
    }
    if (got->checksum() != entry.checksum) problem += key + ": stored checksum differs;";
    if (*got != ByteView(content.data() + entry.payload_start, entry.metadata_offset - entry.payload_start)) {
      problem += key + ": bytes differ;";
    }
    if (got->is_valid_checksum() == corrupt.contains(entry.metadata_offset)) {
      problem += key + ": is_valid_checksum() " + (got->is_valid_checksum() ? "true" : "false") + ";";
    }
  }
  const VerifyReport report = store.verify();
  if (report.entries != chain.size()) problem += " verify entries " + std::to_string(report.entries) + ";";
  std::set<std::uint64_t> reported;
  for (const auto& bad : report.corrupt_entries) {
    reported.insert(bad.metadata_offset);
    const std::uint32_t computed = simd_r_drive::compute_checksum(
        ByteView(content.data() + bad.payload_offset, bad.payload_size));
    if (bad.computed_checksum != computed || bad.stored_checksum == computed) {
      problem += " verify's checksums for the entry at " + std::to_string(bad.metadata_offset) + ";";
    }
  }
  if (reported != corrupt) {
    problem += " verify reports " + std::to_string(reported.size()) + " corrupt entries (want " +
               std::to_string(corrupt.size()) + (corrupt.empty() ? "" : " at " + std::to_string(*corrupt.begin())) + ");";
  }
  if (focus == nullptr) check_consistent(store, content, problem);
}

// What one flipped file must open to.
struct Expectation {
  enum Kind {
    kExact,       // exactly `chain` (a prefix, or the flipped chain), with `corrupt` reported
    kConsistent,  // anything consistent in itself, or an Error
  } kind = kExact;
  std::vector<Entry> chain;
  std::set<std::uint64_t> corrupt;
  bool logs = false;  // open cuts something and says so on stderr
  // The key hashes whose state the flip changes: what a light check reads.
  std::set<std::uint64_t> focus;
};

// How much of a file the flips cover. Each open of a flipped copy costs work linear
// in the file (and several times more under ASan), so files up to 1 KiB get every bit
// of every region, and bigger ones a deterministic sample that still touches every
// entry's payload and every bit position of a record field.
struct Coverage {
  bool every_payload_bit;
  std::size_t scattered_payload_bits;  // per entry, besides both ends, in files of few entries
  bool every_record_bit;               // of every entry's record fields
  std::size_t every_record_bit_at_ends;  // of this many newest and oldest entries' fields
  std::size_t record_stride;           // otherwise: every stride-th record's field...
  std::size_t bits_per_record;         // ...gets this many bits, rotating over the entries
  std::size_t thorough_every;          // flips between full checks; the rest read only the focus
  bool read_only_too;                  // also open each flip read-only, which must agree
};

Coverage coverage_of(const Golden& g) {
  const bool huge = g.bytes.size() > (1u << 20);  // stream.bin: each open reads 3 MiB
  Coverage c;
  c.every_payload_bit = g.bytes.size() <= 1024;
  c.scattered_payload_bits = huge ? 8 : 48;
  c.every_record_bit = g.chain.size() <= 64 && g.bytes.size() <= 64 * 1024;
  c.every_record_bit_at_ends = huge ? 0 : g.chain.size() > 64 ? 1 : 2;
  c.record_stride = std::max<std::size_t>(1, g.chain.size() / 128);
  c.bits_per_record = huge ? 8 : 1;
  c.thorough_every = g.chain.size() > 64 ? 16 : 1;
  c.read_only_too = g.bytes.size() <= 64 * 1024 && g.chain.size() <= 64;
  return c;
}

// Opens the flipped copy for writing (and read-only first, when `read_only_too`),
// checks the store against `want` (all of it when `thorough`), and returns "" or what
// is wrong.
std::string open_and_check(const Golden& g, FlippableCopy& copy, const Expectation& want, bool read_only_too,
                           bool thorough) {
  OpenOptions options;
  options.index_snapshot_min_keys = SIZE_MAX;  // every open recovers from the bytes
  std::string problem;
  const auto check = [&](const DataStore& store) {
    if (want.kind == Expectation::kExact) {
      check_state(store, g, want.chain, copy.content(), want.corrupt, thorough ? nullptr : &want.focus, problem);
    } else {
      check_consistent(store, copy.content(), problem);
    }
  };

  // A reader finds the same store as the writer, and changes nothing.
  std::optional<std::uint64_t> read_only_tail;
  if (read_only_too) {
    OpenOptions read_only = options;
    read_only.read_only = true;
    StderrCapture capture;
    try {
      const DataStore store = DataStore::open_existing(copy.path(), read_only);
      read_only_tail = store.file_size();
      check(store);
    } catch (const simd_r_drive::Error& error) {
      if (want.kind == Expectation::kExact) problem += std::string(" open threw: ") + error.what() + ";";
    }
    capture.take();
    if (!problem.empty()) return " read-only:" + problem;
  }

  StderrCapture capture;
  std::optional<std::uint64_t> tail;
  try {
    const DataStore store = DataStore::open_existing(copy.path(), options);
    tail = store.file_size();
    check(store);
  } catch (const simd_r_drive::Error& error) {
    if (want.kind == Expectation::kExact) problem += std::string(" open threw: ") + error.what() + ";";
  }
  const std::string log = capture.take();
  if (read_only_too && read_only_tail != tail) problem += " the read-only and the writable open disagree on the tail;";
  if (want.kind == Expectation::kExact && log.empty() == want.logs) {
    problem += want.logs ? " open cut the last entry without a log line;" : " open logged: " + log;
  }
  // Open never rewrites bytes: it keeps a prefix, or (when it throws) all of them.
  const Bytes after = srd_test::read_file(copy.path());
  const std::uint64_t kept = tail.value_or(copy.content().size());
  if (after.size() != kept || !std::equal(after.begin(), after.end(), copy.content().begin())) {
    problem += " the file after close is not the first " + std::to_string(kept) + " bytes of the flipped copy;";
  }
  return problem;
}

// ---- which bits to flip ----------------------------------------------------------

struct Flip {
  std::uint64_t offset;
  int bit;
};

void add_every_bit(std::vector<Flip>& flips, std::uint64_t begin, std::uint64_t end) {
  for (std::uint64_t offset = begin; offset < end; ++offset) {
    for (int bit = 0; bit < 8; ++bit) flips.push_back({offset, bit});
  }
}

// `count` scattered bits of [begin, end), chosen by `seed`.
void add_scattered_bits(std::vector<Flip>& flips, std::uint64_t begin, std::uint64_t end, std::uint64_t seed,
                        std::size_t count) {
  for (std::size_t i = 0; i < count && begin < end; ++i) {
    const std::uint64_t r = srd_test::mix64(seed * 1000003 + i);
    flips.push_back({begin + r % (end - begin), static_cast<int>((r >> 32) % 8)});
  }
}

// Bits of the record field [offset, offset + size) of every entry: all of them when the
// coverage says so, and for the newest and oldest entries (the ends of the chain are
// where recovery decides); otherwise a few bits of every stride-th entry's field,
// their positions rotating so that each bit position is hit.
std::vector<Flip> record_field_flips(const Golden& g, std::uint64_t offset, std::uint64_t size) {
  const Coverage c = coverage_of(g);
  std::vector<Flip> flips;
  for (std::size_t i = 0; i < g.chain.size(); ++i) {
    const std::uint64_t field = g.chain[i].metadata_offset + offset;
    const std::size_t ends = c.every_record_bit_at_ends;
    if (c.every_record_bit || i < ends || i + ends >= g.chain.size()) {
      add_every_bit(flips, field, field + size);
    } else if (i % c.record_stride == 0) {
      for (std::size_t j = 0; j < c.bits_per_record; ++j) {
        const std::uint64_t bit = (i / c.record_stride + j * 8 * size / c.bits_per_record) % (8 * size);
        flips.push_back({field + bit / 8, static_cast<int>(bit % 8)});
      }
    }
  }
  return flips;
}

// Runs every flip against what `expect_for` says it must open to.
template <class ExpectFor>
void run_flips(const Golden& g, const std::vector<Flip>& flips, ExpectFor expect_for) {
  ASSERT_FALSE(flips.empty());
  const Coverage c = coverage_of(g);
  TempDir dir;
  FlippableCopy copy(g, dir.file(g.name + ".bin"));
  std::vector<std::string> problems;
  for (std::size_t n = 0; n < flips.size(); ++n) {
    const Flip& flip = flips[n];
    copy.flip(flip.offset, flip.bit);
    const bool thorough = n < 16 || n % c.thorough_every == 0;
    std::string problem = open_and_check(g, copy, expect_for(flip), c.read_only_too, thorough);
    const std::string restored = copy.restore();
    if (!restored.empty()) problem += " restore: " + restored;
    if (problem.empty()) continue;
    problems.push_back(g.name + " bit " + std::to_string(flip.bit) + " of byte " + std::to_string(flip.offset) + ":" +
                       problem);
    if (problems.size() == 8) break;  // a systematic failure says enough by then
  }
  for (const std::string& problem : problems) ADD_FAILURE() << problem;
  testing::Test::RecordProperty("flips", static_cast<int>(flips.size()));
}

// The entry whose record holds `offset` in its field [begin, begin + size).
std::size_t entry_with_field(const Golden& g, std::uint64_t offset, std::uint64_t begin, std::uint64_t size) {
  for (std::size_t i = 0; i < g.chain.size(); ++i) {
    const std::uint64_t field = g.chain[i].metadata_offset + begin;
    if (offset >= field && offset < field + size) return i;
  }
  throw std::logic_error("no record field at offset " + std::to_string(offset));
}

// The flipped file's chain is the golden one minus its last entry: open cuts it.
Expectation last_entry_cut(const Golden& g) {
  Expectation want;
  want.chain.assign(g.chain.begin() + 1, g.chain.end());
  want.logs = true;
  want.focus.insert(g.chain.front().key_hash);
  return want;
}

class GoldenBitFlip : public testing::TestWithParam<std::string> {};

TEST_P(GoldenBitFlip, PayloadFlipIsReported) {
  const Golden& g = golden(GetParam());
  const Coverage c = coverage_of(g);
  std::vector<Flip> flips;
  std::map<std::uint64_t, std::size_t> entry_of;  // payload byte offset -> chain index
  for (std::size_t i = 0; i < g.chain.size(); ++i) {
    const Entry& entry = g.chain[i];
    // A tombstone's byte is structure as well as payload: BitFlipTombstone.
    if (entry.tombstone) continue;
    const std::size_t before = flips.size();
    const std::uint64_t begin = entry.payload_start;
    const std::uint64_t end = entry.metadata_offset;
    if (c.every_payload_bit || end - begin <= 2) {
      add_every_bit(flips, begin, end);
    } else if (g.chain.size() <= 64) {
      // Few entries: both ends of each payload, and a scatter in between.
      add_every_bit(flips, begin, begin + 1);
      add_every_bit(flips, end - 1, end);
      add_scattered_bits(flips, begin + 1, end - 1, i, c.scattered_payload_bits);
    } else {
      add_scattered_bits(flips, begin, end, i, 1);
    }
    for (std::size_t f = before; f < flips.size(); ++f) entry_of[flips[f].offset] = i;
  }
  run_flips(g, flips, [&](const Flip& flip) {
    const std::size_t i = entry_of.at(flip.offset);
    if (i == 0) return last_entry_cut(g);
    const Entry& entry = g.chain[i];
    Expectation want;
    want.chain = g.chain;
    // A one-byte payload at an aligned offset that becomes 0x00 reads as a tombstone.
    want.chain[i].tombstone = entry.metadata_offset - entry.payload_start == 1 &&
                              g.bytes[flip.offset] == static_cast<std::byte>(1u << flip.bit);
    want.corrupt.insert(entry.metadata_offset);
    want.focus.insert(entry.key_hash);
    return want;
  });
}

TEST_P(GoldenBitFlip, KeyHashFlipMovesTheEntry) {
  const Golden& g = golden(GetParam());
  run_flips(g, record_field_flips(g, 0, 8), [&](const Flip& flip) {
    const std::size_t i = entry_with_field(g, flip.offset, 0, 8);
    Expectation want;
    want.chain = g.chain;
    want.chain[i].key_hash ^= 1ull << (8 * (flip.offset - g.chain[i].metadata_offset) + flip.bit);
    want.focus = {g.chain[i].key_hash, want.chain[i].key_hash};
    return want;
  });
}

TEST_P(GoldenBitFlip, ChecksumFlipIsReported) {
  const Golden& g = golden(GetParam());
  run_flips(g, record_field_flips(g, 16, 4), [&](const Flip& flip) {
    const std::size_t i = entry_with_field(g, flip.offset, 16, 4);
    if (i == 0) return last_entry_cut(g);
    Expectation want;
    want.chain = g.chain;
    want.chain[i].checksum ^= 1u << (8 * (flip.offset - g.chain[i].metadata_offset - 16) + flip.bit);
    want.corrupt.insert(g.chain[i].metadata_offset);
    want.focus.insert(g.chain[i].key_hash);
    return want;
  });
}

TEST_P(GoldenBitFlip, BackLinkFlipNeverCrashes) {
  const Golden& g = golden(GetParam());
  run_flips(g, record_field_flips(g, 8, 8), [&](const Flip&) {
    Expectation want;
    want.kind = Expectation::kConsistent;
    return want;
  });
}

TEST_P(GoldenBitFlip, PrePadFlipChangesNothing) {
  const Golden& g = golden(GetParam());
  const Coverage c = coverage_of(g);
  std::vector<Flip> flips;
  for (std::size_t i = 0; i < g.chain.size(); ++i) {
    const Entry& entry = g.chain[i];
    if (entry.tombstone || entry.prev == entry.payload_start) continue;
    if (c.every_record_bit) {
      add_every_bit(flips, entry.prev, entry.payload_start);
    } else if (i % c.record_stride == 0) {
      add_scattered_bits(flips, entry.prev, entry.payload_start, i, 2);
    }
  }
  if (flips.empty()) GTEST_SKIP() << g.name << " has no pre-pad bytes";
  run_flips(g, flips, [&](const Flip&) {
    Expectation want;
    want.chain = g.chain;
    return want;
  });
}

// A tombstone's one byte is both its payload and what marks it as a tombstone: with
// the byte flipped, the record no longer parses (no pre-pad, and a payload that does
// not start on a multiple of 64). As the last entry it is cut off like any damaged
// last entry, and the key it deleted is back.
TEST(BitFlipTombstone, LastTombstoneFlipIsCutOff) {
  const Golden& g = golden("basic");
  ASSERT_TRUE(g.chain.front().tombstone);
  std::vector<Flip> flips;
  add_every_bit(flips, g.chain.front().payload_start, g.chain.front().metadata_offset);
  run_flips(g, flips, [&](const Flip&) { return last_entry_cut(g); });
}

// Bits of the tombstones below the last entry: every bit of the first few, then one
// bit of each.
std::vector<Flip> older_tombstone_flips(const Golden& g) {
  std::vector<Flip> flips;
  std::size_t tombstones = 0;
  for (std::size_t i = 1; i < g.chain.size(); ++i) {
    if (!g.chain[i].tombstone) continue;
    if (++tombstones <= 4) {
      add_every_bit(flips, g.chain[i].payload_start, g.chain[i].payload_start + 1);
    } else {
      flips.push_back({g.chain[i].payload_start, static_cast<int>(tombstones % 8)});
    }
  }
  return flips;
}

TEST(BitFlipTombstone, OlderTombstoneFlipNeverCrashes) {
  for (const char* name : {"alignment", "batch"}) {
    run_flips(golden(name), older_tombstone_flips(golden(name)), [](const Flip&) {
      Expectation want;
      want.kind = Expectation::kConsistent;
      return want;
    });
  }
}

// A flipped bit in an older tombstone is reported by verify() and costs nothing else,
// like a flip in any other payload. After an unaligned tail the record can only be a
// tombstone (a value there would have been pre-padded), so the key stays deleted.
// (Before format::derive_payload_range knew this, the chain broke at such a record
// and open kept only what lay below it.)
TEST(BitFlipTombstone, OlderTombstoneFlipIsReported) {
  for (const char* name : {"alignment", "batch"}) {
    const Golden& g = golden(name);
    run_flips(g, older_tombstone_flips(g), [&](const Flip& flip) {
      Expectation want;
      want.chain = g.chain;
      want.corrupt.insert(flip.offset + 1);
      for (Entry& entry : want.chain) {
        if (entry.payload_start != flip.offset) continue;
        want.focus.insert(entry.key_hash);
        // After an aligned tail, one non-zero byte is a value: the key is back, with a
        // value that fails its checksum.
        entry.tombstone = entry.prev % kAlignment != 0;
      }
      return want;
    });
  }
}

// compact() carries a damaged value over with its stored checksum, so verify() still
// reports it. But when that value is the newest live one, it becomes the last entry of
// the compacted file, where the next open cannot tell it from a torn write. The store
// must still open, and still hold the value (reported by verify()). With an older
// intact value, compaction moves that one to the end and must succeed; with none, it
// must refuse (kCorruption) and leave the store as it was.
//
// (Compaction now moves the newest intact value to the end; before, the reopened store
// dropped the damaged value, or refused the file when it was the only live one.)
TEST(BitFlipCompaction, DamagedNewestValueSurvivesCompactionAndReopen) {
  for (const bool alone : {false, true}) {
    SCOPED_TRACE(alone ? "the damaged value is the only one" : "an older intact value too");
    TempDir dir;
    const auto path = dir.file("store.bin");
    std::uint64_t damaged_at = 0;
    {
      DataStore store = DataStore::open(path);
      if (!alone) store.write("older", "an older value that stays intact");
      store.write("damaged", "a value whose bytes get damaged");
      store.write("newest", "the newest value, removed before compacting");
      damaged_at = store.read("damaged")->start_offset() + 3;
    }
    Bytes bytes = srd_test::read_file(path);
    bytes[damaged_at] ^= std::byte{0x20};
    srd_test::write_file(path, bytes);

    StderrCapture capture;
    {
      DataStore store = DataStore::open(path);
      ASSERT_TRUE(store.exists("damaged"));
      EXPECT_FALSE(store.read("damaged")->is_valid_checksum());
      store.remove("newest");
      const std::uint64_t size_before = store.file_size();
      EXPECT_EQ(srd_test::code_of([&] { store.compact(); }), alone ? "corruption" : "no error");
      if (alone) {
        EXPECT_EQ(store.file_size(), size_before) << "a refused compaction changed the store";
      } else {
        EXPECT_LT(store.file_size(), size_before) << "compaction did not rewrite the store";
      }
      EXPECT_EQ(store.verify().corrupt_entries.size(), 1u);
    }
    std::optional<DataStore> reopened;
    EXPECT_EQ(srd_test::code_of([&] { reopened.emplace(DataStore::open(path)); }), "no error");
    if (reopened) {
      EXPECT_TRUE(reopened->exists("damaged"));
      EXPECT_EQ(reopened->exists("older"), !alone);
      EXPECT_EQ(reopened->verify().corrupt_entries.size(), 1u);
    }
    reopened.reset();
    capture.take();
  }
}

// estimate_compaction_savings() is exact (it lays the live entries out as compact()
// does), also when compact() moves a damaged newest value before the newest intact one:
// the pre-pads, and so the compacted size, depend on that order.
//
TEST(BitFlipCompaction, SavingsEstimateStaysExactWhenADamagedValueMoves) {
  TempDir dir;
  const auto path = dir.file("store.bin");
  std::uint64_t damaged_at = 0;
  {
    DataStore store = DataStore::open(path);
    store.write("older", "an older value, 32 bytes long..!");
    store.write("damaged", "a value whose bytes get damaged");
    damaged_at = store.read("damaged")->start_offset() + 3;
    store.write("newest", "removed before compacting");
  }
  Bytes bytes = srd_test::read_file(path);
  bytes[damaged_at] ^= std::byte{0x20};
  srd_test::write_file(path, bytes);

  StderrCapture capture;
  DataStore store = DataStore::open(path);
  store.remove("newest");
  const std::uint64_t before = store.file_size();
  const std::uint64_t estimate = store.estimate_compaction_savings();
  store.compact();
  EXPECT_EQ(before - store.file_size(), estimate);
  EXPECT_EQ(store.estimate_compaction_savings(), 0u);
  capture.take();
}

INSTANTIATE_TEST_SUITE_P(BitFlip, GoldenBitFlip, testing::Values("basic", "prehashed", "alignment", "batch", "stream"),
                         [](const testing::TestParamInfo<std::string>& param_info) { return param_info.param; });

}  // namespace

// Open-time recovery on damaged copies of the golden files.
//
// Every golden file is cut at (nearly) every byte offset and extended with garbage of
// several kinds: zeros, random bytes, copies of its own entries, a copy of itself.
// The rule under test: recovery keeps exactly the largest entry tail that the damage
// left complete, and nothing else; a file with no complete entry is refused
// (kCorruption, file untouched) unless repair_unrecoverable is set. Work is bounded by
// RecoveryStats, never by timing.
//
// Most cuts call engine::find_valid_tail on an exactly-sized heap copy (so ASan sees
// any read past the cut); a sample of cuts, and every appended-garbage case, goes
// through DataStore::open on a file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/recovery.h"
#include "format/entry_layout.h"
#include "simd_r_drive/simd_r_drive.h"
#include "test_support.h"

namespace {

using srd_test::mentions_number;
using srd_test::StderrCapture;

using nlohmann::json;
using simd_r_drive::ByteView;
using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using simd_r_drive::ErrorCode;
using simd_r_drive::OpenOptions;
using simd_r_drive::engine::find_valid_tail;
using simd_r_drive::engine::RecoveryResult;
using simd_r_drive::engine::RecoveryStats;
using srd_test::TempDir;
using srd_test::write_file;

using Bytes = std::vector<std::byte>;
constexpr std::uint64_t kMetadataSize = simd_r_drive::kMetadataSize;

Bytes slurp(const std::filesystem::path& path);

// ---- golden files and their chains ------------------------------------------------

struct Golden {
  std::string name;
  Bytes bytes;
  std::vector<std::uint64_t> tails;            // every entry tail, ascending
  std::vector<std::uint64_t> returned_tails;   // what the manifest's operations returned
  std::size_t live_count = 0;
  std::string sha256;
};

const Golden& golden(const std::string& name) {
  static std::map<std::string, Golden> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  Golden g;
  g.name = name;
  g.bytes = slurp(srd_test::compat_dir() / (name + ".bin"));
  std::ifstream in(srd_test::compat_dir() / (name + ".json"));
  const json m = json::parse(in);
  for (const json& op : m.at("operations")) g.returned_tails.push_back(op.at("returned_tail_offset").get<std::uint64_t>());
  g.live_count = m.at("expected").at("live_count").get<std::size_t>();
  g.sha256 = m.at("expected").at("file_sha256").get<std::string>();
  // The chain, from the golden file itself (written by the original, so trusted).
  std::uint64_t tail = g.bytes.size();
  while (tail != 0 && tail >= kMetadataSize) {
    g.tails.push_back(tail);
    const auto metadata = simd_r_drive::format::decode_metadata(g.bytes.data() + tail - kMetadataSize);
    if (metadata.prev_offset >= tail - kMetadataSize) break;  // reported by the ChainIsSane test
    tail = metadata.prev_offset;
  }
  std::reverse(g.tails.begin(), g.tails.end());
  return cache.emplace(name, std::move(g)).first->second;
}

// The largest entry tail <= cut (0 if none).
std::uint64_t expected_tail(const Golden& g, std::uint64_t cut) {
  auto it = std::upper_bound(g.tails.begin(), g.tails.end(), cut);
  return it == g.tails.begin() ? 0 : *std::prev(it);
}

// The tails of the chain ending at `tail`, newest first.
std::vector<std::uint64_t> expected_chain(const Golden& g, std::uint64_t tail) {
  std::vector<std::uint64_t> chain;
  for (auto it = g.tails.rbegin(); it != g.tails.rend(); ++it) {
    if (*it <= tail) chain.push_back(*it);
  }
  return chain;
}

// Whether `chain` is the golden chain ending at `want`, newest first.
bool chain_matches(const Golden& g, const std::vector<std::uint64_t>& chain, std::uint64_t want) {
  const auto end = std::upper_bound(g.tails.begin(), g.tails.end(), want);
  const auto count = static_cast<std::size_t>(end - g.tails.begin());
  if (chain.size() != count) return false;
  for (std::size_t i = 0; i < count; ++i) {
    if (chain[i] != g.tails[count - 1 - i]) return false;
  }
  return true;
}

// What a store holding the prefix [0, tail) of a golden file must show.
struct Model {
  struct Key {
    bool deleted;
    std::uint64_t tail;
  };
  std::map<std::uint64_t, Key> newest;  // key hash -> newest record
  std::size_t live = 0;
  std::uint64_t last_hash = 0;
  bool last_tombstone = false;
};

Model model_of(const Golden& g, std::uint64_t tail) {
  Model model;
  bool first = true;
  for (std::uint64_t t : expected_chain(g, tail)) {
    const auto record = simd_r_drive::format::decode_record(g.bytes.data(), t, t);
    if (!record) {
      ADD_FAILURE() << "no record ends at " << t;
      continue;
    }
    const auto& metadata = record->metadata;
    const bool tombstone = record->payload.tombstone;
    if (first) {
      model.last_hash = metadata.key_hash;
      model.last_tombstone = tombstone;
      first = false;
    }
    if (model.newest.emplace(metadata.key_hash, Model::Key{tombstone, t}).second && !tombstone) ++model.live;
  }
  return model;
}

// ---- helpers ---------------------------------------------------------------------

// find_valid_tail over an exactly-sized heap copy of `bytes`, so that ASan reports any
// read outside [0, size).
RecoveryResult recover_exact(const std::byte* bytes, std::size_t size) {
  std::unique_ptr<std::byte[]> copy(new std::byte[size]);
  if (size != 0) std::memcpy(copy.get(), bytes, size);
  return find_valid_tail(copy.get(), size);
}
RecoveryResult recover_exact(const Bytes& bytes) { return recover_exact(bytes.data(), bytes.size()); }

std::uint64_t work(const RecoveryStats& stats) {
  return stats.candidates_examined + stats.chain_steps + stats.checksum_bytes;
}
std::uint64_t work_bound(std::uint64_t file_len) { return 8 * file_len + 4096; }

std::string describe(const std::vector<std::uint64_t>& tails) {
  std::string out = "{";
  for (std::size_t i = 0; i < tails.size() && i < 12; ++i) out += (i ? ", " : "") + std::to_string(tails[i]);
  if (tails.size() > 12) out += ", ... (" + std::to_string(tails.size()) + " tails)";
  return out + "}";
}

// Checks one in-memory recovery against the golden chain; "" when it is right.
std::string check_recovery(const Golden& g, const RecoveryResult& r, std::uint64_t file_len, std::uint64_t want,
                           const std::string& what) {
  std::string problem;
  if (r.valid_tail != want) {
    problem += " valid_tail " + std::to_string(r.valid_tail) + " (want " + std::to_string(want) + ")";
  } else if (!chain_matches(g, r.chain_tails, want)) {
    problem += " chain_tails " + describe(r.chain_tails) + " (want " + describe(expected_chain(g, want)) + ")";
  }
  if (work(r.stats) > work_bound(file_len)) {
    problem += " work " + std::to_string(work(r.stats)) + " > bound " + std::to_string(work_bound(file_len)) +
               " (candidates " + std::to_string(r.stats.candidates_examined) + ", chain steps " +
               std::to_string(r.stats.chain_steps) + ", checksum bytes " + std::to_string(r.stats.checksum_bytes) +
               ")";
  }
  return problem.empty() ? "" : g.name + " " + what + ":" + problem;
}

// Whole-file read in one call (test_support's read_file goes byte by byte, which is
// slow for the 3 MiB golden file in a Debug build).
Bytes slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  Bytes out(std::filesystem::file_size(path));
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
  return out;
}

bool file_equals(const std::filesystem::path& path, const std::byte* bytes, std::size_t size) {
  const Bytes got = slurp(path);
  return got.size() == size && (size == 0 || std::memcmp(got.data(), bytes, size) == 0);
}

// Writes `content` (a golden file damaged somehow) to `path`, opens it, and checks that
// the store recovered to the prefix [0, want) of the golden file. "" when right.
std::string check_open(const Golden& g, const std::filesystem::path& path, const Bytes& content, std::uint64_t want,
                       const std::string& what) {
  write_file(path, content);
  const std::string prefix = g.name + " " + what + ": ";
  if (want == 0 && !content.empty()) {
    try {
      DataStore store = DataStore::open(path);
      return prefix + "open accepted a file without a complete entry (tail " + std::to_string(store.file_size()) + ")";
    } catch (const simd_r_drive::Error& e) {
      if (e.code() != ErrorCode::kCorruption) {
        return prefix + "error code " + std::string(simd_r_drive::to_string(e.code())) + ", want corruption";
      }
    }
    if (!file_equals(path, content.data(), content.size())) return prefix + "refused open changed the file";
    return "";
  }
  const Model model = model_of(g, want);
  std::string problem;
  try {
    DataStore store = DataStore::open(path);
    if (store.file_size() != want) {
      problem += " file_size " + std::to_string(store.file_size()) + " (want " + std::to_string(want) + ")";
    }
    if (store.len() != model.live) {
      problem += " len " + std::to_string(store.len()) + " (want " + std::to_string(model.live) + ")";
    }
    const auto last = store.read_last_entry();
    if (want == 0) {
      if (last) problem += " read_last_entry on an empty store";
    } else if (!last) {
      problem += " read_last_entry empty";
    } else if (last->end_offset() + kMetadataSize != want || last->key_hash() != model.last_hash ||
               last->is_tombstone() != model.last_tombstone) {
      problem += " read_last_entry ends at " + std::to_string(last->end_offset() + kMetadataSize);
    }
    for (const auto& [hash, key] : model.newest) {
      const auto got = store.read_with_key_hash(hash);
      if (key.deleted && got) {
        problem += " deleted hash reads as present";
      } else if (!key.deleted && (!got || got->end_offset() + kMetadataSize != key.tail)) {
        problem += " live hash missing or at the wrong entry";
      }
      if (!problem.empty()) break;
    }
  } catch (const std::exception& e) {
    problem += std::string(" open threw: ") + e.what();
  }
  if (problem.empty() && !file_equals(path, g.bytes.data(), want)) {
    problem += " file after close is not the golden prefix of " + std::to_string(want) + " bytes (size " +
               std::to_string(std::filesystem::file_size(path)) + ")";
  }
  return problem.empty() ? "" : prefix + problem;
}

std::string join(const std::vector<std::string>& problems) {
  std::string out;
  for (const auto& p : problems) out += "\n  " + p;
  return out;
}

Bytes concat(const Bytes& a, const Bytes& b) {
  Bytes out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

Bytes random_bytes(std::uint64_t seed, std::size_t len) {
  std::mt19937_64 rng(seed);
  Bytes out(len);
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xFF);
  return out;
}

// A repetition of `unit` filling `len` bytes.
Bytes repeated(const Bytes& unit, std::size_t len) {
  Bytes out(len);
  for (std::size_t i = 0; i < len; ++i) out[i] = unit[i % unit.size()];
  return out;
}

Bytes u64_le(std::uint64_t v) {
  Bytes out(8);
  simd_r_drive::format::store_u64_le(out.data(), v);
  return out;
}

const std::vector<std::string>& all_goldens() {
  static const std::vector<std::string> names = {"basic", "batch", "stream", "alignment", "prehashed"};
  return names;
}

// ---- tests -----------------------------------------------------------------------

class RecoveryGoldenTest : public testing::TestWithParam<std::string> {};

// The chain read from each golden file is what its operations returned.
TEST_P(RecoveryGoldenTest, ChainIsSane) {
  const Golden& g = golden(GetParam());
  ASSERT_FALSE(g.tails.empty());
  EXPECT_EQ(g.tails.back(), g.bytes.size());
  const auto first = simd_r_drive::format::decode_metadata(g.bytes.data() + g.tails.front() - kMetadataSize);
  EXPECT_EQ(first.prev_offset, 0u) << "chain of " << g.name << " does not reach offset 0";
  for (std::uint64_t returned : g.returned_tails) {
    EXPECT_TRUE(std::binary_search(g.tails.begin(), g.tails.end(), returned)) << returned;
  }
  // The clean file is its own valid tail, with the whole chain.
  const RecoveryResult r = recover_exact(g.bytes);
  EXPECT_EQ(check_recovery(g, r, g.bytes.size(), g.bytes.size(), "clean"), "");
  EXPECT_EQ(r.stats.candidates_examined, 1u) << "a clean file needs one candidate";
}

// The cuts recovered in memory. Two kinds of cut are expensive in a sanitizer build,
// and are sampled instead of taken at every offset:
//  * a cut deep inside a long payload (alignment's 4 KiB and 10 KB values, stream's
//    3 MiB value): recovery must look at every position of the torn payload. Kept:
//    every cut within 1 KiB of the entry's start, the cuts that tear its metadata by
//    1 byte or its payload by 1 byte, and a sparse random sample (deep cuts with the
//    metadata missing entirely go through DataStore::open in CutsThroughOpen);
//  * any cut of batch.bin beyond its first entries: recovery walks a chain of up to
//    1100 entries. Kept: every offset of the first 6 entries and of the last 8 records
//    (tombstones), and one offset in every third entry elsewhere, at a rotating phase.
std::vector<std::uint64_t> in_memory_cuts(const Golden& g) {
  const std::uint64_t size = g.bytes.size();
  std::set<std::uint64_t> cuts;
  if (g.name == "batch") {
    for (std::uint64_t c = 0; c <= std::min<std::uint64_t>(size, 400); ++c) cuts.insert(c);
    for (std::uint64_t c = size - std::min<std::uint64_t>(size, 168); c <= size; ++c) cuts.insert(c);
    for (std::size_t k = 3; k < g.tails.size(); k += 3) {
      const std::uint64_t len = g.tails[k] - g.tails[k - 1];
      cuts.insert(g.tails[k - 1] + 1 + (k * 37) % len);
    }
    return {cuts.begin(), cuts.end()};
  }
  // Entry k spans (tails[k-1], tails[k]]; a cut inside it must fall back to tails[k-1]
  // after looking at every position in between.
  std::uint64_t prev = 0;
  for (std::uint64_t tail : g.tails) {
    for (std::uint64_t c = prev; c <= tail && c <= prev + 1024; ++c) cuts.insert(c);
    for (std::uint64_t missing : {std::uint64_t{1}, kMetadataSize + 1}) {
      if (tail - prev > missing) cuts.insert(tail - missing);
    }
    cuts.insert(tail);
    prev = tail;
  }
  // A sparse sample of deep cuts (each is a 3 MiB scan in stream.bin).
  std::mt19937_64 rng(20240611);
  const int samples = g.name == "stream" ? 1 : 12;
  for (int i = 0; i < samples; ++i) cuts.insert(rng() % (size + 1));
  return {cuts.begin(), cuts.end()};
}

TEST_P(RecoveryGoldenTest, EveryCutInMemory) {
  const Golden& g = golden(GetParam());
  const std::uint64_t size = g.bytes.size();
  const std::vector<std::uint64_t> cuts = in_memory_cuts(g);
  if (g.name == "basic" || g.name == "prehashed") {
    EXPECT_EQ(cuts.size(), size + 1);
  }

  std::vector<std::string> problems;
  // One allocation, the cut prefix placed at its very end: a read past the cut
  // lands in ASan's redzone.
  std::unique_ptr<std::byte[]> buffer(new std::byte[size]);
  const bool copy = size <= (1u << 20);
  for (std::uint64_t cut : cuts) {
    const std::byte* data = g.bytes.data();
    if (copy) {
      std::memcpy(buffer.get() + (size - cut), g.bytes.data(), cut);
      data = buffer.get() + (size - cut);
    }
    const RecoveryResult r = find_valid_tail(data, cut);
    std::string p = check_recovery(g, r, cut, expected_tail(g, cut), "cut at " + std::to_string(cut));
    if (!p.empty()) {
      problems.push_back(p);
      if (problems.size() >= 10) break;
    }
  }
  EXPECT_TRUE(problems.empty()) << problems.size() << " wrong cut(s), first ones:" << join(problems);
}

// Cut through DataStore::open: every offset of the small files, a sample elsewhere.
TEST_P(RecoveryGoldenTest, CutsThroughOpen) {
  const Golden& g = golden(GetParam());
  const std::uint64_t size = g.bytes.size();
  std::set<std::uint64_t> cuts;
  if (g.name == "basic" || g.name == "prehashed") {
    for (std::uint64_t c = 0; c <= size; ++c) cuts.insert(c);
  } else if (g.name == "stream") {
    // One cut deep in the 3 MiB value (its metadata missing: a whole-payload scan); the
    // rest near the ends.
    for (std::uint64_t c : {0ull, 1ull, 20ull, 36ull, 37ull, 38ull, 64ull, 100ull, 3145792ull, 3145812ull,
                            3145813ull, 3145958ull, 3145959ull, 3146021ull, 3146022ull, 3146041ull}) {
      cuts.insert(c);
    }
  } else if (g.name == "batch") {
    // The first two entries at every offset; around a tail every 100 entries; the last
    // tombstones. Each open walks the whole chain, so the sample stays small.
    for (std::uint64_t c = 0; c <= 130; ++c) cuts.insert(c);
    for (std::uint64_t c = size - 64; c <= size; ++c) cuts.insert(c);
    for (std::size_t k = 100; k < g.tails.size(); k += 100) {
      cuts.insert(g.tails[k] - 1);
      cuts.insert(g.tails[k]);
      cuts.insert(g.tails[k] + 1);
    }
  } else {
    // alignment: around every tail, the start of the file, every 37th offset, but
    // only a few cuts deep inside its long payloads.
    for (std::uint64_t t : g.tails) {
      for (std::uint64_t d = 0; d <= 3; ++d) {
        if (t >= d) cuts.insert(t - d);
        if (t + d <= size) cuts.insert(t + d);
      }
    }
    for (std::uint64_t c = 0; c <= 30 && c <= size; ++c) cuts.insert(c);
    for (std::uint64_t c = 0; c <= size; c += 37) {
      if (c - expected_tail(g, c) <= 1024 || c % 555 == 0) cuts.insert(c);
    }
  }

  TempDir dir;
  const auto path = dir.file(g.name + ".bin");
  std::vector<std::string> problems;
  StderrCapture quiet;  // recovery logs a line per repaired file
  for (std::uint64_t cut : cuts) {
    const Bytes content(g.bytes.begin(), g.bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    std::string p = check_open(g, path, content, expected_tail(g, cut), "cut at " + std::to_string(cut));
    if (!p.empty()) {
      problems.push_back(p);
      if (problems.size() >= 10) break;
    }
  }
  const std::string log = quiet.take();
  EXPECT_TRUE(problems.empty()) << problems.size() << " wrong cut(s), first ones:" << join(problems);
  EXPECT_FALSE(log.empty()) << "recoveries were not logged";
  EXPECT_GT(cuts.size(), 15u);
}

// Appends `tail_bytes` to the golden file: recovery must give back the golden file.
void expect_restores(const Golden& g, const Bytes& tail_bytes, const std::string& what,
                     const std::filesystem::path& path, std::vector<std::string>& problems) {
  const Bytes damaged = concat(g.bytes, tail_bytes);
  std::string p = check_recovery(g, recover_exact(damaged), damaged.size(), g.bytes.size(), what);
  if (!p.empty()) problems.push_back(p);
  StderrCapture capture;
  p = check_open(g, path, damaged, g.bytes.size(), what);
  const std::string log = capture.take();
  if (!p.empty()) {
    problems.push_back(p);
    return;
  }
  if (!mentions_number(log, damaged.size()) || !mentions_number(log, g.bytes.size())) {
    problems.push_back(g.name + " " + what + ": recovery log does not mention " + std::to_string(damaged.size()) +
                       " and " + std::to_string(g.bytes.size()) + ": " + log);
  }
}

TEST_P(RecoveryGoldenTest, AppendedZerosAreCut) {
  const Golden& g = golden(GetParam());
  TempDir dir;
  std::vector<std::string> problems;
  for (std::size_t n : {1u, 19u, 20u, 21u, 63u, 64u, 4096u, 1u << 20}) {
    expect_restores(g, Bytes(n), std::to_string(n) + " zero bytes appended", dir.file("z.bin"), problems);
  }
  EXPECT_TRUE(problems.empty()) << join(problems);
  EXPECT_EQ(srd_test::sha256_hex(dir.file("z.bin")), g.sha256);
}

TEST_P(RecoveryGoldenTest, AppendedRandomBytesAreCut) {
  const Golden& g = golden(GetParam());
  TempDir dir;
  std::vector<std::string> problems;
  const std::pair<std::uint64_t, std::size_t> cases[] = {{1, 1},  {2, 7},   {3, 19},   {4, 20},   {5, 21},
                                                         {6, 64}, {7, 333}, {8, 4096}, {9, 65536}};
  for (const auto& [seed, len] : cases) {
    expect_restores(g, random_bytes(seed, len),
                    std::to_string(len) + " random bytes (seed " + std::to_string(seed) + ") appended",
                    dir.file("r.bin"), problems);
  }
  EXPECT_TRUE(problems.empty()) << join(problems);
  EXPECT_EQ(srd_test::sha256_hex(dir.file("r.bin")), g.sha256);
}

// A copy of entry k (its pre-pad, payload and metadata, exactly as written) appended:
// its record points at an old tail and its checksum matches its own payload, but it is
// not where its back-link says it is. (stream.bin's 3 MiB entry is copied in memory
// only: through open it would double the sanitizer run of this test.)
TEST_P(RecoveryGoldenTest, AppendedEntryCopyIsCut) {
  const Golden& g = golden(GetParam());
  TempDir dir;
  std::vector<std::string> problems;
  std::set<std::size_t> picks = {0, 1, g.tails.size() / 2, g.tails.size() - 2, g.tails.size() - 1};
  for (std::size_t k : picks) {
    if (k >= g.tails.size()) continue;
    const std::uint64_t begin = k == 0 ? 0 : g.tails[k - 1];
    const Bytes entry(g.bytes.begin() + static_cast<std::ptrdiff_t>(begin),
                      g.bytes.begin() + static_cast<std::ptrdiff_t>(g.tails[k]));
    const std::string what = "copy of entry " + std::to_string(k) + " (" + std::to_string(begin) + ".." +
                             std::to_string(g.tails[k]) + ") appended";
    if (entry.size() > (1u << 20)) {
      const Bytes damaged = concat(g.bytes, entry);
      const std::string p = check_recovery(g, recover_exact(damaged), damaged.size(), g.bytes.size(), what);
      if (!p.empty()) problems.push_back(p);
      continue;
    }
    expect_restores(g, entry, what, dir.file("e.bin"), problems);
    // The same copy, torn before its last byte.
    const Bytes torn(entry.begin(), entry.end() - 1);
    expect_restores(g, torn, "torn " + what, dir.file("e.bin"), problems);
  }
  EXPECT_TRUE(problems.empty()) << join(problems);
  EXPECT_EQ(srd_test::sha256_hex(dir.file("e.bin")), g.sha256);
}

TEST_P(RecoveryGoldenTest, AppendedSelfCopyIsCut) {
  const Golden& g = golden(GetParam());
  TempDir dir;
  std::vector<std::string> problems;
  expect_restores(g, g.bytes, "whole file appended to itself", dir.file("s.bin"), problems);
  EXPECT_TRUE(problems.empty()) << join(problems);
  EXPECT_EQ(srd_test::sha256_hex(dir.file("s.bin")), g.sha256);
}

// Damage whose naive handling is quadratic; each must stay within the work bound.
// 64 KiB of each (RecoveryLinearWork has 1 MiB tails).
TEST_P(RecoveryGoldenTest, AdversarialTailsStayLinear) {
  const Golden& g = golden(GetParam());
  const std::size_t kTailSize = 64u << 10;
  Bytes record_like(20);  // key hash 0x1111..., prev 0 (the start), crc 0xdeadbeef
  simd_r_drive::format::encode_metadata(record_like.data(), {0x1111111111111111ull, 0, 0xdeadbeefu});
  Bytes half_zero(16, std::byte{0xAB});  // every other u64 word is 0
  std::fill(half_zero.begin() + 8, half_zero.end(), std::byte{0});
  struct Case {
    std::string what;
    Bytes tail;
  };
  const std::vector<Case> cases = {
      {"zeros", Bytes(kTailSize)},
      {"20-byte records with prev 0", repeated(record_like, kTailSize)},
      {"[8 x 0xab, u64 0] blocks", repeated(half_zero, kTailSize)},
      {"u64 = first tail", repeated(u64_le(g.tails.front()), kTailSize)},
      {"u64 = last tail", repeated(u64_le(g.tails.back()), kTailSize)},
      {"a single 0x01, then zeros", concat(Bytes{std::byte{1}}, Bytes(kTailSize))},
  };
  std::vector<std::string> problems;
  for (const Case& c : cases) {
    const Bytes damaged = concat(g.bytes, c.tail);
    const std::string p = check_recovery(g, recover_exact(damaged), damaged.size(), g.bytes.size(),
                                         std::to_string(c.tail.size()) + " bytes of " + c.what);
    if (!p.empty()) problems.push_back(p);
  }
  EXPECT_TRUE(problems.empty()) << join(problems);
}

INSTANTIATE_TEST_SUITE_P(Recovery, RecoveryGoldenTest, testing::ValuesIn(all_goldens()),
                         [](const testing::TestParamInfo<std::string>& param_info) { return param_info.param; });

// ---- files with no complete entry ------------------------------------------------

// Cut inside the very first entry: nothing is complete. open refuses and leaves the
// file alone; with repair_unrecoverable it empties it.
TEST(RecoveryUnrecoverable, CutInsideFirstEntry) {
  TempDir dir;
  const auto path = dir.file("first.bin");
  std::vector<std::string> problems;
  for (const std::string& name : all_goldens()) {
    const Golden& g = golden(name);
    for (std::uint64_t cut = 1; cut < g.tails.front(); ++cut) {
      const Bytes content(g.bytes.begin(), g.bytes.begin() + static_cast<std::ptrdiff_t>(cut));
      const RecoveryResult r = recover_exact(content);
      if (r.valid_tail != 0 || !r.chain_tails.empty()) {
        problems.push_back(name + " cut " + std::to_string(cut) + ": in-memory tail " + std::to_string(r.valid_tail));
      }
      std::string p = check_open(g, path, content, 0, "cut at " + std::to_string(cut));
      if (!p.empty()) problems.push_back(p);
    }
  }
  EXPECT_TRUE(problems.empty()) << join(problems);
}

TEST(RecoveryUnrecoverable, RepairEmptiesFileCutInsideFirstEntry) {
  TempDir dir;
  for (const std::string& name : all_goldens()) {
    const Golden& g = golden(name);
    for (std::uint64_t cut : {std::uint64_t{1}, g.tails.front() / 2, g.tails.front() - 1}) {
      SCOPED_TRACE(name + " cut at " + std::to_string(cut));
      const auto path = dir.file(name + "-" + std::to_string(cut) + ".bin");
      write_file(path, ByteView(g.bytes.data(), cut));
      StderrCapture capture;
      {
        DataStore store = DataStore::open(path, OpenOptions{.repair_unrecoverable = true});
        EXPECT_EQ(store.file_size(), 0u);
        EXPECT_EQ(store.len(), 0u);
        EXPECT_TRUE(store.is_empty());
        EXPECT_FALSE(store.read_last_entry().has_value());
        EXPECT_FALSE(store.read_with_key_hash(simd_r_drive::format::decode_metadata(
                                                  g.bytes.data() + g.tails.front() - kMetadataSize)
                                                  .key_hash)
                         .has_value());
      }
      const std::string log = capture.take();
      EXPECT_EQ(std::filesystem::file_size(path), 0u);
      EXPECT_TRUE(mentions_number(log, cut)) << "log does not mention the old size: " << log;
      EXPECT_TRUE(mentions_number(log, 0)) << "log does not mention the new size: " << log;
      // The emptied file is an ordinary empty store now.
      DataStore again = DataStore::open(path);
      EXPECT_EQ(again.file_size(), 0u);
      EXPECT_EQ(again.write("k", "v"), 21u);
    }
  }
}

TEST(RecoveryUnrecoverable, TinyGarbageFiles) {
  TempDir dir;
  for (std::size_t len = 1; len <= 20; ++len) {
    for (int kind = 0; kind < 3; ++kind) {
      Bytes content = kind == 0   ? random_bytes(100 + len, len)
                      : kind == 1 ? Bytes(len, std::byte{0xFF})
                                  : Bytes(len, std::byte{0});
      SCOPED_TRACE("length " + std::to_string(len) + " kind " + std::to_string(kind));
      EXPECT_EQ(recover_exact(content).valid_tail, 0u);
      const auto path = dir.file("tiny.bin");
      write_file(path, content);
      try {
        DataStore store = DataStore::open(path);
        ADD_FAILURE() << "open accepted " << len << " bytes of garbage";
      } catch (const simd_r_drive::Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kCorruption) << e.what();
      }
      EXPECT_TRUE(file_equals(path, content.data(), content.size())) << "refused open changed the file";
      EXPECT_THROW(DataStore::open_existing(path), simd_r_drive::Error);
      EXPECT_TRUE(file_equals(path, content.data(), content.size()));

      StderrCapture capture;
      {
        DataStore store = DataStore::open(path, OpenOptions{.repair_unrecoverable = true});
        EXPECT_EQ(store.file_size(), 0u);
        EXPECT_TRUE(store.is_empty());
      }
      const std::string log = capture.take();
      EXPECT_EQ(std::filesystem::file_size(path), 0u);
      EXPECT_TRUE(mentions_number(log, len)) << log;
    }
  }
}

// A larger file that is not a store at all.
TEST(RecoveryUnrecoverable, NotAStore) {
  TempDir dir;
  const auto path = dir.file("text.bin");
  std::string text;
  for (int i = 0; i < 200; ++i) text += "line " + std::to_string(i) + " of a file that is not a store\n";
  for (const Bytes& content : {srd_test::bytes_of(text), random_bytes(77, 4096)}) {
    write_file(path, content);
    EXPECT_EQ(recover_exact(content).valid_tail, 0u);
    try {
      DataStore store = DataStore::open(path);
      ADD_FAILURE() << "open accepted a file that is not a store";
    } catch (const simd_r_drive::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorruption) << e.what();
    }
    EXPECT_TRUE(file_equals(path, content.data(), content.size()));
  }
}

TEST(RecoveryUnrecoverable, EmptyFileIsAnEmptyStore) {
  TempDir dir;
  const auto path = dir.file("empty.bin");
  write_file(path, Bytes{});
  EXPECT_EQ(find_valid_tail(nullptr, 0).valid_tail, 0u);
  StderrCapture capture;
  {
    DataStore store = DataStore::open(path);
    EXPECT_EQ(store.file_size(), 0u);
    EXPECT_EQ(store.len(), 0u);
    EXPECT_FALSE(store.read_last_entry().has_value());
  }
  {
    DataStore store = DataStore::open_existing(path);
    EXPECT_TRUE(store.is_empty());
  }
  const std::string log = capture.take();
  EXPECT_EQ(std::filesystem::file_size(path), 0u);
  EXPECT_TRUE(log.empty()) << "nothing to recover in an empty file, yet: " << log;
}

// ---- logging ---------------------------------------------------------------------

TEST(RecoveryLog, MentionsOldAndNewSize) {
  const Golden& g = golden("basic");
  TempDir dir;
  const auto path = dir.file("basic.bin");
  struct Case {
    Bytes content;
    std::uint64_t want;
  };
  const std::vector<Case> cases = {
      {Bytes(g.bytes.begin(), g.bytes.begin() + 300), 237},
      {Bytes(g.bytes.begin(), g.bytes.begin() + 461), 441},
      {concat(g.bytes, random_bytes(5, 1000)), 462},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("damaged size " + std::to_string(c.content.size()));
    write_file(path, c.content);
    StderrCapture capture;
    { EXPECT_EQ(DataStore::open(path).file_size(), c.want); }
    const std::string log = capture.take();
    EXPECT_TRUE(mentions_number(log, c.content.size())) << log;
    EXPECT_TRUE(mentions_number(log, c.want)) << log;
    EXPECT_EQ(std::filesystem::file_size(path), c.want);
  }
  // A clean file is not "recovered".
  write_file(path, g.bytes);
  StderrCapture capture;
  { DataStore store = DataStore::open(path); }
  EXPECT_EQ(capture.take(), "");
}

// ---- work bounds on damage near the start ----------------------------------------

TEST(RecoveryLinearWork, LargeTailsAfterOneEntry) {
  // A store of one entry at offset 0, then 1 MiB of damage of several shapes.
  const Golden& g = golden("basic");
  const Bytes first(g.bytes.begin(), g.bytes.begin() + static_cast<std::ptrdiff_t>(g.tails.front()));
  Bytes record_like(20);
  simd_r_drive::format::encode_metadata(record_like.data(), {0x2222222222222222ull, 0, 0x01020304u});
  const std::vector<std::pair<std::string, Bytes>> tails = {
      {"zeros", Bytes(1u << 20)},
      {"records with prev 0", repeated(record_like, 1u << 20)},
      {"u64 = 21", repeated(u64_le(21), 1u << 20)},
  };
  for (const auto& [what, tail] : tails) {
    SCOPED_TRACE(what);
    const Bytes damaged = concat(first, tail);
    const RecoveryResult r = recover_exact(damaged);
    EXPECT_EQ(r.valid_tail, g.tails.front());
    EXPECT_EQ(r.chain_tails, std::vector<std::uint64_t>{g.tails.front()});
    EXPECT_LE(work(r.stats), work_bound(damaged.size()))
        << "candidates " << r.stats.candidates_examined << " chain steps " << r.stats.chain_steps
        << " checksum bytes " << r.stats.checksum_bytes;
  }
}

}  // namespace

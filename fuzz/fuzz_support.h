// Shared by the store's fuzz targets: a scratch directory, the fatal check
// (fuzz_check.h), and the comparison of a store with a model of what it must hold.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "simd_r_drive/simd_r_drive.h"

namespace srd_fuzz {

using Bytes = std::vector<std::byte>;
// Key hash -> value: what a store must hold.
using Model = std::map<std::uint64_t, Bytes>;

// Called from LLVMFuzzerInitialize: the engine's log lines (a recovery for nearly
// every input of open_fuzzer) would bury libFuzzer's output. SRD_FUZZ_LOG=1 keeps
// them, for replaying one input.
inline void init() {
  const char* log = std::getenv("SRD_FUZZ_LOG");
  if (log == nullptr || *log == '\0' || *log == '0') simd_r_drive::set_log_level(simd_r_drive::LogLevel::kOff);
}

// A directory of this process's own (SRD_FUZZ_TMP, else tmpfs /dev/shm, else the
// system temp dir), emptied before and after each input and removed at exit. Some of
// libFuzzer's exits skip atexit handlers, so emptying after each input keeps what is
// left behind then to an empty directory (in RAM, on tmpfs).
class Scratch {
 public:
  static const std::filesystem::path& dir() {
    static const std::filesystem::path created = [] {
      std::filesystem::path base = std::filesystem::temp_directory_path();
      if (const char* from_env = std::getenv("SRD_FUZZ_TMP"); from_env != nullptr && *from_env != '\0') {
        base = from_env;
      } else if (::access("/dev/shm", W_OK) == 0) {
        base = "/dev/shm";
      }
      std::string pattern = (base / "srd-fuzz-XXXXXX").string();
      if (::mkdtemp(pattern.data()) == nullptr) {
        std::perror("mkdtemp");
        std::abort();
      }
      std::atexit([] {
        std::error_code ignored;
        std::filesystem::remove_all(dir(), ignored);
      });
      return std::filesystem::path(pattern);
    }();
    return created;
  }

  static void clear() {
    for (const auto& item : std::filesystem::directory_iterator(dir())) std::filesystem::remove_all(item.path());
  }

  static std::filesystem::path file(const char* name) { return dir() / name; }
};

inline Bytes bytes_of(simd_r_drive::ByteView view) { return Bytes(view.data(), view.data() + view.size()); }

// Byte comparisons through memcmp: the harness is built without comparison tracing,
// but std::equal over bytes would still be a loop, and values run to hundreds of KiB.
inline bool same(simd_r_drive::ByteView a, simd_r_drive::ByteView b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}
// Key hash -> the store's live entry: what iteration found, as views into the store
// (copying every value at every check made the checks most of a run's time).
using Found = std::map<std::uint64_t, simd_r_drive::EntryHandle>;

inline bool same(const Found& found, const Model& model) {
  if (found.size() != model.size()) return false;
  auto y = model.begin();
  for (auto x = found.begin(); x != found.end(); ++x, ++y) {
    if (x->first != y->first || !same(x->second.as_slice(), y->second)) return false;
  }
  return true;
}

inline std::string hex(std::uint64_t value) {
  char text[19];
  std::snprintf(text, sizeof(text), "0x%016llx", static_cast<unsigned long long>(value));
  return text;
}

// Checks what holds for every open store, whatever it was opened from: iteration,
// reads by hash, par_iter_entries, read_last_entry() and verify() agree with each
// other, and every handle lies inside the store. Returns the live entries, and which
// of them fail their checksum.
struct Contents {
  Found values;
  std::set<std::uint64_t> bad_checksums;  // key hashes of live entries that verify() reports
};

// The values found, copied: a model to go on from.
inline Model model_of(const Found& found) {
  Model model;
  for (const auto& [hash, entry] : found) model.emplace_hint(model.end(), hash, bytes_of(entry.as_slice()));
  return model;
}

inline Contents check_consistent(const simd_r_drive::DataStore& store) {
  using simd_r_drive::kMetadataSize;
  const std::uint64_t tail = store.file_size();
  const simd_r_drive::VerifyReport report = store.verify();
  SRD_CHECK(report.chain_intact, "verify after open: " + report.chain_error);
  SRD_CHECK(report.file_size == tail, std::to_string(report.file_size) + " vs " + std::to_string(tail));
  SRD_CHECK(report.live_keys == store.len(), std::to_string(report.live_keys) + " vs " + std::to_string(store.len()));
  SRD_CHECK(report.tombstones <= report.entries && report.live_keys <= report.entries - report.tombstones,
            std::to_string(report.entries) + " entries");
  std::set<std::uint64_t> corrupt;  // metadata offsets
  for (const auto& bad : report.corrupt_entries) {
    SRD_CHECK(bad.stored_checksum != bad.computed_checksum, "at " + std::to_string(bad.metadata_offset));
    SRD_CHECK(bad.payload_offset + bad.payload_size == bad.metadata_offset && bad.metadata_offset + kMetadataSize <= tail,
              "at " + std::to_string(bad.metadata_offset));
    corrupt.insert(bad.metadata_offset);
  }

  Contents contents;
  std::uint64_t previous_end = UINT64_MAX;
  for (const simd_r_drive::EntryHandle& entry : store.iter_entries()) {
    const std::string at = "entry " + hex(entry.key_hash()) + " ending at " + std::to_string(entry.end_offset());
    SRD_CHECK(entry.size() > 0 && entry.end_offset() + kMetadataSize <= tail, at);
    // Newest first, by the position of each key's latest record.
    SRD_CHECK(entry.end_offset() < previous_end, at);
    previous_end = entry.end_offset();
    SRD_CHECK(!entry.is_tombstone(), at);
    SRD_CHECK(entry.is_valid_checksum() != corrupt.contains(entry.end_offset()), at);
    if (!entry.is_valid_checksum()) contents.bad_checksums.insert(entry.key_hash());
    SRD_CHECK(contents.values.emplace(entry.key_hash(), entry).second, at + " iterated twice");
    const auto read = store.read_with_key_hash(entry.key_hash());
    SRD_CHECK(read && read->start_offset() == entry.start_offset() && read->end_offset() == entry.end_offset(), at);
  }
  SRD_CHECK(contents.values.size() == store.len(),
            std::to_string(contents.values.size()) + " iterated, len " + std::to_string(store.len()));

  std::mutex mutex;
  std::set<std::uint64_t> parallel;
  store.par_iter_entries([&](const simd_r_drive::EntryHandle& entry) {
    std::lock_guard lock(mutex);
    parallel.insert(entry.key_hash());
  });
  SRD_CHECK(parallel.size() == contents.values.size(), "par_iter_entries visited " + std::to_string(parallel.size()));
  for (const auto& [hash, value] : contents.values) SRD_CHECK(parallel.contains(hash), hex(hash));

  const auto last = store.read_last_entry();
  SRD_CHECK(last.has_value() == (tail != 0), "read_last_entry");
  if (last) {
    // Open keeps a last entry only if its checksum matches; writes keep it so.
    SRD_CHECK(last->end_offset() + kMetadataSize == tail, std::to_string(last->end_offset()));
    SRD_CHECK(last->is_valid_checksum(), "last entry fails its checksum");
  }
  SRD_CHECK(store.estimate_compaction_savings() <= tail, "savings beyond the file");
  return contents;
}

// Checks that `store` holds exactly `model`, also by reading each of `hashes` (which
// may include absent ones), and that exactly the entries of `bad` fail their checksums.
inline void check_equals(const simd_r_drive::DataStore& store, const Model& model, const std::vector<std::uint64_t>& hashes,
                         const char* when, const std::set<std::uint64_t>& bad = {}) {
  const std::string prefix = std::string(when) + ": ";
  SRD_CHECK(store.len() == model.size(), prefix + "len " + std::to_string(store.len()) + ", model " + std::to_string(model.size()));
  SRD_CHECK(store.is_empty() == model.empty(), prefix);
  for (const std::uint64_t hash : hashes) {
    const auto got = store.read_with_key_hash(hash);
    const auto want = model.find(hash);
    SRD_CHECK(got.has_value() == (want != model.end()), prefix + hex(hash) + (got ? " present" : " absent"));
    if (got) {
      SRD_CHECK(same(got->as_slice(), want->second), prefix + hex(hash) + " bytes differ");
      SRD_CHECK(got->is_valid_checksum() != bad.contains(hash), prefix + hex(hash) + " is_valid_checksum");
    }
  }
  const Contents contents = check_consistent(store);
  SRD_CHECK(same(contents.values, model), prefix + "iteration differs from the model");
  SRD_CHECK(contents.bad_checksums == bad, prefix + "other entries fail their checksums");
}

}  // namespace srd_fuzz

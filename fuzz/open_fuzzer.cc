// libFuzzer target: arbitrary bytes as a store file, through open and recovery.
//
// The input is the whole file (so golden files are seeds as they are). It is opened
// read-only, then for writing, and, if that refuses it as holding no store, with
// repair_unrecoverable. Every store that opens must be consistent in itself
// (fuzz_support.h: iteration, reads, verify() and the last entry agree) and must be a
// prefix of the input; the read-only and the writable open must find the same store.
// Then the store must take a write, and keep the same values through a reopen from
// its index snapshot (also with one byte of the snapshot damaged), a compaction,
// and a reopen by recovery alone.
//
// An Error(kCorruption) from open is the right answer to a file that holds no entry.
// A file in which entries follow a record that swallows the chain below it (a padding
// record, docs/format.md) is refused read-only and repaired by the writable open,
// which moves those entries down: the store is then checked against the repaired
// file instead of the input. Where they do not fit, the writable open refuses too,
// and DataStore::salvage must write a consistent store.
// A crash, a sanitizer report, a hang or a failed check is a bug.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>

#include "fuzz_support.h"
#include "simd_r_drive/simd_r_drive.h"

namespace {

using simd_r_drive::ByteView;
using simd_r_drive::DataStore;
using simd_r_drive::Error;
using simd_r_drive::ErrorCode;
using simd_r_drive::OpenOptions;
using srd_fuzz::Bytes;
using srd_fuzz::Model;

Bytes read_back(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  Bytes bytes(std::filesystem::file_size(path));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  SRD_CHECK(in.gcount() == static_cast<std::streamsize>(bytes.size()), "short read of " + path.string());
  return bytes;
}

void write_file(const std::filesystem::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  SRD_CHECK(out.good(), "cannot write " + path.string());
}

bool is_prefix(const Bytes& file, const std::uint8_t* data, std::size_t size) {
  return file.size() <= size && (file.empty() || std::memcmp(file.data(), data, file.size()) == 0);
}

// Every live value is the input's bytes at its offsets.
void check_values_from_input(const DataStore& store, const std::uint8_t* data, std::size_t size) {
  for (const simd_r_drive::EntryHandle& entry : store.iter_entries()) {
    SRD_CHECK(entry.end_offset() <= size && std::memcmp(entry.data(), data + entry.start_offset(), entry.size()) == 0,
              "value at " + std::to_string(entry.start_offset()) + " is not the input's bytes");
  }
}

std::vector<std::uint64_t> hashes_of(const Model& model, std::uint64_t extra) {
  std::vector<std::uint64_t> hashes{extra};
  for (const auto& item : model) hashes.push_back(item.first);
  return hashes;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  srd_fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  srd_fuzz::Scratch::clear();
  const std::filesystem::path path = srd_fuzz::Scratch::file("store.bin");
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    SRD_CHECK(out.good(), "cannot write " + path.string());
  }

  // A reader: it must find what the writer finds below, and change nothing.
  std::optional<std::uint64_t> read_only_tail;
  std::size_t read_only_len = 0;
  try {
    OpenOptions options;
    options.read_only = true;
    const DataStore reader = DataStore::open_existing(path, options);
    srd_fuzz::check_consistent(reader);
    check_values_from_input(reader, data, size);
    read_only_tail = reader.file_size();
    read_only_len = reader.len();
  } catch (const Error& error) {
    SRD_CHECK(error.code() == ErrorCode::kCorruption, error.what());
  }
  SRD_CHECK(read_back(path).size() == size, "a read-only open changed the file's size");

  OpenOptions options;
  options.index_snapshot_min_keys = 0;  // closing saves a snapshot; the reopen below loads it
  std::optional<DataStore> store;
  try {
    store.emplace(DataStore::open_existing(path, options));
  } catch (const Error& error) {
    SRD_CHECK(error.code() == ErrorCode::kCorruption, error.what());
    SRD_CHECK(!read_only_tail, "the reader found a store of " + std::to_string(*read_only_tail) + " bytes");
    const Bytes after = read_back(path);
    SRD_CHECK(after.size() == size && is_prefix(after, data, size), "a refused open changed the file");
    OpenOptions repair = options;
    repair.repair_unrecoverable = true;
    try {
      store.emplace(DataStore::open_existing(path, repair));
    } catch (const Error& refused) {
      // Entries after a swallowing record that cannot be moved in place.
      SRD_CHECK(refused.code() == ErrorCode::kCorruption, refused.what());
      SRD_CHECK(read_back(path).size() == size, "a refused open changed the file");
      const std::filesystem::path salvaged = srd_fuzz::Scratch::file("salvaged.bin");
      simd_r_drive::SalvageReport report;
      try {
        report = DataStore::salvage(path, salvaged);
      } catch (const Error& error) {
        // More swallowing records stacked than open and salvage undo.
        SRD_CHECK(error.code() == ErrorCode::kCorruption, error.what());
        srd_fuzz::Scratch::clear();
        return 0;
      }
      SRD_CHECK(report.moved_entries != 0, std::string("refused, yet salvage moved nothing: ") + refused.what());
      const DataStore copy = DataStore::open_existing(salvaged);
      srd_fuzz::check_consistent(copy);
      srd_fuzz::Scratch::clear();
      return 0;
    }
    SRD_CHECK(store->file_size() == 0 && store->is_empty(), "repair_unrecoverable kept something");
  }
  const std::uint64_t tail = store->file_size();
  if (read_only_tail) {
    SRD_CHECK(*read_only_tail == tail && read_only_len == store->len(),
              "reader: tail " + std::to_string(*read_only_tail) + ", writer: " + std::to_string(tail));
  }
  // A reader that refused what the writer opened: the writer moved entries that
  // followed a swallowing record, so the file is no longer a prefix of the input.
  const bool moved = !read_only_tail && tail != 0;
  const Bytes repaired = moved ? read_back(path) : Bytes{};
  if (moved) {
    data = reinterpret_cast<const std::uint8_t*>(repaired.data());
    size = repaired.size();
  }
  SRD_CHECK(tail <= size, "tail beyond the input");
  const srd_fuzz::Contents contents = srd_fuzz::check_consistent(*store);
  check_values_from_input(*store, data, size);

  // The recovered store takes a write like any other, and the write reads back.
  const std::string_view probe_key = "srd-fuzz-probe";
  const std::string_view probe_value = "a value written after recovery";
  const std::uint64_t probe_hash = DataStore::hash_key(probe_key);
  const std::uint64_t new_tail = store->write(probe_key, probe_value);
  SRD_CHECK(new_tail > tail && new_tail == store->file_size(), std::to_string(new_tail));
  Model model = srd_fuzz::model_of(contents.values);
  model[probe_hash] = srd_fuzz::bytes_of(probe_value);
  std::set<std::uint64_t> bad = contents.bad_checksums;
  bad.erase(probe_hash);
  const std::vector<std::uint64_t> hashes = hashes_of(model, probe_hash);
  srd_fuzz::check_equals(*store, model, hashes, "after a write", bad);
  store.reset();
  const Bytes closed = read_back(path);
  SRD_CHECK(closed.size() == new_tail && is_prefix(Bytes(closed.begin(), closed.begin() + static_cast<std::ptrdiff_t>(tail)), data, size),
            "the closed file is not the recovered prefix plus the write");

  // Through the index snapshot saved on close. Then, with the probe deleted again, a
  // compaction: the newest live value may now be a damaged one, which compact() must
  // not leave at the end of the new file (open would cut it off); with no intact
  // value at all it refuses.
  // A damaged snapshot: one byte of it changed (where, and how, taken from the
  // input), which open must either refuse or catch when the byte's block is first
  // read; the answers stay the store's.
  const std::filesystem::path snapshot = path.string() + ".index";
  const Bytes saved = read_back(snapshot);
  if (!saved.empty() && size >= 2) {
    Bytes damaged = saved;
    std::uint64_t where = 0;
    for (std::size_t i = 0; i < size; ++i) where = where * 131 + data[i];
    damaged[where % damaged.size()] ^= static_cast<std::byte>(data[size / 2] | 1);
    write_file(snapshot, damaged);
    OpenOptions read_only = options;
    read_only.read_only = true;
    const DataStore damaged_store = DataStore::open_existing(path, read_only);
    srd_fuzz::check_equals(damaged_store, model, hashes, "reopened with a damaged snapshot", bad);
  }
  if (!saved.empty()) write_file(snapshot, saved);
  store.emplace(DataStore::open_existing(path, options));
  SRD_CHECK(store->index_loaded_from_snapshot(), "the snapshot saved on close was not used");
  srd_fuzz::check_equals(*store, model, hashes, "reopened", bad);
  store->remove(probe_key);
  model.erase(probe_hash);
  srd_fuzz::check_equals(*store, model, hashes, "probe removed", bad);
  const std::uint64_t before = store->file_size();
  const std::uint64_t savings = store->estimate_compaction_savings();
  const bool all_damaged = !model.empty() && bad.size() == model.size();
  try {
    store->compact();
    SRD_CHECK(!all_damaged, "compacted a store whose every value fails its checksum");
    // Exact, also when a damaged newest value moves before the newest intact one.
    SRD_CHECK(store->file_size() == before - savings,
              "compacted to " + std::to_string(store->file_size()) + ", estimated " + std::to_string(before - savings));
  } catch (const Error& error) {
    SRD_CHECK(error.code() == ErrorCode::kCorruption && all_damaged, error.what());
    SRD_CHECK(store->file_size() == before, "a refused compaction changed the store");
  }
  srd_fuzz::check_equals(*store, model, hashes, "compacted", bad);
  store.reset();

  // By recovery alone.
  options.index_snapshot_min_keys = SIZE_MAX;
  store.emplace(DataStore::open_existing(path, options));
  srd_fuzz::check_equals(*store, model, hashes, "reopened by recovery", bad);
  store.reset();
  srd_fuzz::Scratch::clear();
  return 0;
}

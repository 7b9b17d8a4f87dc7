// Our store, through its public API only: the figures are what a user gets.
// Default OpenOptions throughout, so closing a store of 65,536 keys or more saves
// its index snapshot (part of close's time in W1/W2), and W3 loads it;
// kExistingRebuildIndex turns the snapshot off to time the full rebuild instead.
// The D rows set OpenOptions::durability to the harness's mode, nothing else.
#include <simd_r_drive/simd_r_drive.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <vector>

#include "../backend.h"
#include "../workload_spec.h"

namespace srd_bench {
namespace {

using simd_r_drive::ByteView;
using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;

constexpr const char* kFileName = "store.bin";

ByteView view(Bytes bytes) { return {bytes.data(), bytes.size()}; }
Bytes bytes_of(const EntryHandle& entry) { return {entry.data(), entry.size()}; }

class SrdReader final : public Reader {
 public:
  explicit SrdReader(const DataStore& store) : store_(store) {}

  bool get(std::string_view key, ValueVisitor visit) override {
    const std::optional<EntryHandle> entry = store_.read(key);
    if (!entry) return false;
    visit(bytes_of(*entry));
    return true;
  }

  void multi_get(std::span<const std::string_view> keys, BatchVisitor visit) override {
    const auto results = store_.batch_read(keys);
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (results[i]) {
        visit(i, true, bytes_of(*results[i]));
      } else {
        visit(i, false, {});
      }
    }
  }

 private:
  const DataStore& store_;
};

// par_iter_entries calls its visitor from several threads. Each thread adds into a
// cache line of its own, claimed at its first entry: a shared atomic total would
// measure cache-line ping-pong rather than iteration.
class PerThreadSums {
 public:
  PerThreadSums() : generation_(next_generation_.fetch_add(1) + 1) {}

  void add(std::uint64_t value) {
    thread_local std::uint64_t seen_generation = 0;
    thread_local Slot* slot = nullptr;
    if (seen_generation != generation_) {
      const std::size_t index = claimed_.fetch_add(1);
      if (index >= kSlots) throw std::runtime_error("more iteration threads than slots");
      slot = &slots_[index];
      seen_generation = generation_;
    }
    slot->sum += value;
    ++slot->count;
  }

  IterationSum total() const {
    IterationSum result;
    for (const Slot& slot : slots_) {
      result.sum += slot.sum;
      result.count += slot.count;
    }
    return result;
  }

 private:
  static constexpr std::size_t kSlots = 256;
  struct alignas(64) Slot {
    std::uint64_t sum = 0;
    std::uint64_t count = 0;
  };
  // A thread's cached slot pointer is valid only for the iteration that set it.
  static inline std::atomic<std::uint64_t> next_generation_{0};
  std::uint64_t generation_;
  std::atomic<std::size_t> claimed_{0};
  std::vector<Slot> slots_ = std::vector<Slot>(kSlots);
};

// The harness's modes are the engine's, one for one; the periodic interval stays
// at its default (100 ms).
simd_r_drive::Durability engine_durability(Durability durability) {
  switch (durability) {
    case Durability::kNone: return simd_r_drive::Durability::kFlush;
    case Durability::kSyncEachWrite: return simd_r_drive::Durability::kSyncEachWrite;
    case Durability::kGroupCommit: return simd_r_drive::Durability::kGroupCommit;
    case Durability::kSyncPeriodically: return simd_r_drive::Durability::kSyncPeriodically;
  }
  throw std::logic_error("unknown durability");
}

class SrdBackend final : public Backend {
 public:
  std::string_view name() const override { return "srd"; }

  // Every mode the engine has (OpenOptions::durability).
  bool supports(Durability) const override { return true; }

  void open(const std::filesystem::path& dir, OpenMode mode) override {
    const auto path = dir / kFileName;
    simd_r_drive::OpenOptions options;
    options.durability = engine_durability(durability());
    switch (mode) {
      case OpenMode::kCreate:
        store_.emplace(DataStore::open(path, options));
        break;
      case OpenMode::kExisting:
        store_.emplace(DataStore::open_existing(path, options));
        break;
      case OpenMode::kExistingRebuildIndex:
        options.index_snapshot_min_keys = SIZE_MAX;  // neither load nor save a snapshot
        store_.emplace(DataStore::open_existing(path, options));
        break;
    }
  }

  void close() override { store_.reset(); }

  void put(std::string_view key, Bytes value) override { store_->write(key, view(value)); }

  void put_batch(std::span<const KeyValue> items) override { store_->batch_write(items); }

  std::unique_ptr<Reader> reader() override { return std::make_unique<SrdReader>(*store_); }

  IterationSum iterate_sum() override {
    IterationSum result;
    for (const EntryHandle& entry : store_->iter_entries()) {
      result.sum += load_u64(entry.data());
      ++result.count;
    }
    return result;
  }

  bool has_parallel_iteration() const override { return true; }

  IterationSum iterate_sum_parallel() override {
    PerThreadSums sums;
    store_->par_iter_entries([&](const EntryHandle& entry) { sums.add(load_u64(entry.data())); });
    return sums.total();
  }

  void compact() override { store_->compact(); }

  bool has_index_cache() const override { return true; }

  std::uint64_t index_cache_bytes(const std::filesystem::path& dir) const override {
    const auto snapshot = dir / (std::string(kFileName) + ".index");
    return std::filesystem::exists(snapshot) ? std::filesystem::file_size(snapshot) : 0;
  }

  // Read from the snapshot's header (src/engine/index_snapshot.cc: the slot
  // capacity at byte 56, 8-byte slots since version 4 at byte 8): the table as it
  // lies in memory when loaded.
  std::uint64_t index_table_bytes(const std::filesystem::path& dir) const override {
    std::ifstream in(dir / (std::string(kFileName) + ".index"), std::ios::binary);
    unsigned char header[64] = {};
    if (!in.read(reinterpret_cast<char*>(header), sizeof header)) return 0;
    std::uint64_t capacity = 0;
    for (int i = 7; i >= 0; --i) capacity = capacity << 8 | header[56 + i];
    const unsigned version = header[8] | header[9] << 8;
    return capacity * (version >= 4 ? 8 : 16);
  }

 private:
  std::optional<DataStore> store_;
};

}  // namespace

std::unique_ptr<Backend> make_srd_backend() { return std::make_unique<SrdBackend>(); }

}  // namespace srd_bench

#include "srd_workloads.h"

#include <simd_r_drive/simd_r_drive.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>
#include <utility>

#include "workload_spec.h"

namespace srd_bench {

namespace {

using simd_r_drive::ByteView;
using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

ByteView u64_view(const std::uint64_t& value) { return {reinterpret_cast<const std::byte*>(&value), 8}; }

// Writes keys 0..n-1 (value = i + offset) for every i with i % stride == 0, in
// batch_writes of kBatch items. Returns the time spent.
double batch_fill(DataStore& store, std::uint64_t n, std::uint64_t stride, std::uint64_t offset) {
  std::vector<std::string> keys(kBatch);
  std::vector<std::uint64_t> values(kBatch);
  std::vector<std::pair<ByteView, ByteView>> items;
  items.reserve(kBatch);
  KeyBuffer key("key");
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < n;) {
    items.clear();
    for (std::size_t slot = 0; slot < kBatch && i < n; i += stride, ++slot) {
      keys[slot] = key.format(i);
      values[slot] = i + offset;
      items.emplace_back(ByteView(keys[slot]), u64_view(values[slot]));
    }
    store.batch_write(items);
  }
  return since(start);
}

bool value_is(const std::optional<EntryHandle>& entry, std::uint64_t expected) {
  return entry && entry->size() == 8 && load_u64(entry->data()) == expected;
}

simd_r_drive::OpenOptions without_snapshot() {
  simd_r_drive::OpenOptions options;
  options.index_snapshot_min_keys = SIZE_MAX;
  return options;
}

// A fresh copy of the W2 store (without its index snapshot) for workloads that change it.
std::filesystem::path copy_of_w2(const std::filesystem::path& dir, const std::string& name) {
  const auto target = dir / name;
  std::filesystem::remove(target);
  std::filesystem::remove(target.string() + ".index");
  std::filesystem::copy_file(dir / "w2.bin", target);
  return target;
}

std::uint64_t random_reads(const DataStore& store, std::uint64_t seed, std::uint64_t count, std::uint64_t n,
                           bool& ok) {
  SplitMix64 random(seed);
  KeyBuffer key("key");
  std::uint64_t bad = 0;
  for (std::uint64_t r = 0; r < count; ++r) {
    const std::uint64_t i = random.next() % n;
    bad += !value_is(store.read(key.format(i)), i);
  }
  ok = bad == 0;
  return count;
}

}  // namespace

void prepare_w2_store(const std::filesystem::path& dir, std::uint64_t n) {
  std::filesystem::remove(dir / "w2.bin");
  std::filesystem::remove(dir / "w2.bin.index");
  auto store = DataStore::open(dir / "w2.bin");
  batch_fill(store, n, 1, 0);
}

std::vector<Row> run_workload(const std::string& id, const std::filesystem::path& dir, std::uint64_t n) {
  if (id == "W1") {
    const auto path = dir / "w1.bin";
    std::filesystem::remove(path);
    std::filesystem::remove(path.string() + ".index");
    auto store = DataStore::open(path, without_snapshot());
    KeyBuffer key("key");
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < n; ++i) store.write(key.format(i), u64_view(i));
    return {{"W1 single writes", since(start), double(n), "file " + std::to_string(store.file_size()) + " B"}};
  }
  if (id == "W2") {
    const auto path = dir / "w2-run.bin";
    std::filesystem::remove(path);
    std::filesystem::remove(path.string() + ".index");
    auto store = DataStore::open(path, without_snapshot());
    const double seconds = batch_fill(store, n, 1, 0);
    return {{"W2 batched writes", seconds, double(n), "file " + std::to_string(store.file_size()) + " B"}};
  }
  if (id == "W3" || id == "W3-rebuild") {
    const bool rebuild = id == "W3-rebuild";
    const auto path = rebuild ? copy_of_w2(dir, "w3.bin") : dir / "w2.bin";
    const auto start = Clock::now();
    auto store = DataStore::open(path, rebuild ? without_snapshot() : simd_r_drive::OpenOptions{});
    const double seconds = since(start);
    const bool ok = store.len() == n && value_is(store.read("key0"), 0);
    const std::string how = store.index_loaded_from_snapshot() ? "index from snapshot" : "index rebuilt";
    return {{rebuild ? "W3 reopen, no snapshot" : "W3 reopen", seconds, double(n), how, ok}};
  }
  if (id == "W8") {
    const auto path = dir / "w8.bin";
    std::filesystem::remove(path);
    std::filesystem::remove(path.string() + ".index");
    auto store = DataStore::open(path, without_snapshot());
    std::unique_ptr<std::byte[]> blob(new std::byte[kBlobSize]);
    fill_blob(blob.get(), 0);
    KeyBuffer key("blob");
    auto start = Clock::now();
    for (std::uint64_t j = 0; j < kBlobCount; ++j) {
      std::memcpy(blob.get(), &j, 8);  // the generator's only per-value change
      store.write(key.format(j), ByteView(blob.get(), kBlobSize));
    }
    const double writing = since(start);
    std::uint64_t sum = 0;
    std::uint64_t bad = 0;
    start = Clock::now();
    for (std::uint64_t j = 0; j < kBlobCount; ++j) {
      const auto entry = store.read(key.format(j));
      if (!entry || entry->size() != kBlobSize || load_u64(entry->data()) != j) {
        ++bad;
        continue;
      }
      sum += sum_bytes(entry->data(), entry->size());
    }
    const double reading = since(start);
    const bool ok = bad == 0 && sum == 132'119'644'180ull;
    const double mib = double(kBlobCount) * kBlobSize / (1 << 20);
    return {{"W8 write 1 MiB values", writing, mib, "file " + std::to_string(store.file_size()) + " B"},
            {"W8 read + sum", reading, mib, "sum " + std::to_string(sum), ok}};
  }
  auto store = DataStore::open(dir / "w2.bin");
  if (id == "W4") {
    KeyBuffer key("key");
    std::uint64_t bad = 0;
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < n; ++i) bad += !value_is(store.read(key.format(i)), i);
    return {{"W4 sequential reads", since(start), double(n), "", bad == 0}};
  }
  if (id == "W5") {
    bool ok = false;
    const auto start = Clock::now();
    random_reads(store, 42, n, n, ok);
    return {{"W5 random reads", since(start), double(n), "", ok}};
  }
  if (id == "W6") {
    std::vector<std::string> keys(kBatch);
    KeyBuffer key("key");
    std::uint64_t bad = 0;
    const auto start = Clock::now();
    for (std::uint64_t first = 0; first < n; first += kBatch) {
      const std::uint64_t count = std::min(kBatch, n - first);
      keys.resize(count);
      for (std::uint64_t j = 0; j < count; ++j) keys[j] = key.format(first + j);
      const auto results = store.batch_read(keys);
      for (std::uint64_t j = 0; j < count; ++j) bad += !value_is(results[j], first + j);
    }
    return {{"W6 batch reads", since(start), double(n), "", bad == 0}};
  }
  if (id == "W7") {
    const std::uint64_t expected = n * (n - 1) / 2;
    std::uint64_t sum = 0;
    auto start = Clock::now();
    for (const EntryHandle& entry : store.iter_entries()) sum += load_u64(entry.data());
    const double sequential = since(start);
    // Each worker adds into a cache line of its own, claimed on its first entry: a
    // shared counter would measure cache-line ping-pong instead of iteration.
    struct alignas(64) Partial {
      std::uint64_t value = 0;
    };
    std::vector<Partial> partials(256);
    std::atomic<std::size_t> claimed{0};
    start = Clock::now();
    store.par_iter_entries([&](const EntryHandle& entry) {
      thread_local Partial* mine = nullptr;
      thread_local const void* owner = nullptr;
      if (owner != &partials) {
        mine = &partials[claimed.fetch_add(1) % partials.size()];
        owner = &partials;
      }
      mine->value += load_u64(entry.data());
    });
    const double parallel = since(start);
    std::uint64_t collected = 0;
    for (const Partial& part : partials) collected += part.value;
    return {{"W7 iterate, 1 thread", sequential, double(n), "sum " + std::to_string(sum), sum == expected},
            {"W7 iterate, parallel", parallel, double(n), "sum " + std::to_string(collected), collected == expected}};
  }
  if (id == "W9") {
    bool ok_a = false;
    bool ok_b = false;
    const auto start = Clock::now();
    std::thread other([&] { random_reads(store, 1001, n, n, ok_b); });
    random_reads(store, 1000, n, n, ok_a);
    other.join();
    return {{"W9 2 threads, random reads", since(start), double(2 * n), "", ok_a && ok_b}};
  }
  if (id == "W10") {
    const auto path = copy_of_w2(dir, "w10.bin");
    auto target = DataStore::open(path, without_snapshot());
    batch_fill(target, n, 2, 1'000'000);
    const std::uint64_t before = target.file_size();
    const auto start = Clock::now();
    target.compact();
    const double seconds = since(start);
    const bool ok = value_is(target.read("key2"), 1'000'002) && value_is(target.read("key3"), 3) && target.len() == n;
    return {{"W10 compact", seconds, double(n),
             "size " + std::to_string(before) + " -> " + std::to_string(target.file_size()) + " B", ok}};
  }
  throw std::invalid_argument("unknown workload " + id);
}

}  // namespace srd_bench

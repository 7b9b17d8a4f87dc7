#include "workloads.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <latch>
#include <memory>
#include <stdexcept>
#include <thread>

#include "durability_workloads.h"
#include "memory_warmup.h"
#include "scratch_dir.h"
#include "workload_spec.h"

namespace srd_bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

class Stopwatch {
 public:
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  Clock::time_point start_ = Clock::now();
};

constexpr std::uint64_t kMiB = 1 << 20;

Bytes u64_bytes(const std::uint64_t& value) { return {reinterpret_cast<const std::byte*>(&value), 8}; }

bool is_u64(Bytes value, std::uint64_t expected) { return value.size() == 8 && load_u64(value.data()) == expected; }

// Sizes of a closed database, for the report.
void note_sizes(Figure& figure, const Backend& backend, const fs::path& dir, const char* prefix = "") {
  figure.extra[std::string(prefix) + "bytes_on_disk"] = backend.bytes_on_disk(dir);
  figure.extra[std::string(prefix) + "index_cache_bytes"] = backend.index_cache_bytes(dir);
  figure.extra[std::string(prefix) + "index_table_bytes"] = backend.index_table_bytes(dir);
}

// A memory reserve sized for N keys: `per_million` bytes per million keys (at least
// that much), so that the warm figures at 10M keys are as warm as at 1M.
std::uint64_t reserve_for(std::uint64_t n, std::uint64_t per_million) {
  return per_million * std::max<std::uint64_t>(1, (n + kDefaultN - 1) / kDefaultN);
}

// Puts every key i < n with i % stride == 0 (value i + offset), in put_batch calls
// of kBatch items. As in the original's harness, the batch (key strings and item
// list) is built inside the loop, so inside the caller's timed region.
void batch_fill(Backend& backend, std::uint64_t n, std::uint64_t stride, std::uint64_t offset) {
  KeyBuffer key("key");
  std::vector<std::string> keys(kBatch);
  std::vector<std::uint64_t> values(kBatch);
  std::vector<KeyValue> items;
  items.reserve(kBatch);
  for (std::uint64_t i = 0; i < n;) {
    items.clear();
    for (std::size_t slot = 0; slot < kBatch && i < n; ++slot, i += stride) {
      keys[slot].assign(key.format(i));
      values[slot] = i + offset;
      items.push_back({keys[slot], u64_bytes(values[slot])});
    }
    backend.put_batch(items);
  }
}

// `count` gets of uniformly random keys (splitmix64 from `seed`, index = next() % n).
// Returns how many did not read back their key's value.
std::uint64_t random_gets(Reader& reader, std::uint64_t seed, std::uint64_t count, std::uint64_t n) {
  SplitMix64 random(seed);
  KeyBuffer key("key");
  std::uint64_t good = 0;
  for (std::uint64_t r = 0; r < count; ++r) {
    const std::uint64_t i = random.next() % n;
    reader.get(key.format(i), [&](Bytes value) { good += is_u64(value, i); });
  }
  return count - good;
}

// A spot check through a fresh reader: key0 and the last key hold `value_of(i)`.
template <class ValueOf>
bool spot_check(Backend& backend, std::uint64_t n, ValueOf value_of) {
  const auto reader = backend.reader();
  KeyBuffer key("key");
  std::uint64_t good = 0;
  for (const std::uint64_t i : {std::uint64_t{0}, std::uint64_t{1}, n - 1}) {
    reader->get(key.format(i), [&](Bytes value) { good += is_u64(value, value_of(i)); });
  }
  return good == 3;
}

Figure reopen(Backend& backend, const fs::path& store_dir, std::uint64_t n, bool rebuild) {
  ScratchDir scratch(store_dir, rebuild ? "W3-rebuild" : "W3");
  MemoryReserve reserve(store_dir, reserve_for(n, 192 * kMiB));  // the index ours builds or loads
  const fs::path& dir = scratch.copy_of(store_dir / "w2-pristine");
  reserve.release();
  const Stopwatch timer;
  backend.open(dir, rebuild ? OpenMode::kExistingRebuildIndex : OpenMode::kExisting);
  Figure figure{rebuild ? "W3 rebuild" : "W3", timer.seconds(), double(n)};
  figure.verified = spot_check(backend, n, [](std::uint64_t i) { return i; });
  backend.close();
  return figure;
}

Figure sequential_gets(Backend& backend, std::uint64_t n) {
  const auto reader = backend.reader();
  KeyBuffer key("key");
  std::uint64_t good = 0;
  const Stopwatch timer;
  for (std::uint64_t i = 0; i < n; ++i) {
    reader->get(key.format(i), [&](Bytes value) { good += is_u64(value, i); });
  }
  return {"W4", timer.seconds(), double(n), good == n};
}

Figure random_gets_one_thread(Backend& backend, std::uint64_t n) {
  const auto reader = backend.reader();
  const Stopwatch timer;
  const std::uint64_t bad = random_gets(*reader, 42, n, n);
  return {"W5", timer.seconds(), double(n), bad == 0};
}

Figure multi_gets(Backend& backend, std::uint64_t n) {
  const auto reader = backend.reader();
  KeyBuffer key("key");
  std::vector<std::string> keys(kBatch);
  std::vector<std::string_view> views(kBatch);
  std::uint64_t good = 0;
  const Stopwatch timer;
  for (std::uint64_t first = 0; first < n; first += kBatch) {
    const std::size_t count = std::min<std::uint64_t>(kBatch, n - first);
    for (std::size_t j = 0; j < count; ++j) {
      keys[j].assign(key.format(first + j));
      views[j] = keys[j];
    }
    reader->multi_get({views.data(), count},
                      [&](std::size_t j, bool found, Bytes value) { good += found && is_u64(value, first + j); });
  }
  return {"W6", timer.seconds(), double(n), good == n};
}

std::vector<Figure> iterate(Backend& backend, std::uint64_t n) {
  const std::uint64_t expected = n * (n - 1) / 2;
  auto check = [&](const IterationSum& result, Figure& figure) {
    figure.verified = result.sum == expected && result.count == n;
    figure.extra["sum"] = result.sum;
    figure.extra["count"] = result.count;
  };
  std::vector<Figure> figures;
  Stopwatch timer;
  IterationSum result = backend.iterate_sum();
  figures.push_back({"W7", timer.seconds(), double(n)});
  check(result, figures.back());
  if (backend.has_parallel_iteration()) {
    timer = Stopwatch();
    result = backend.iterate_sum_parallel();
    figures.push_back({"W7 parallel", timer.seconds(), double(n)});
    check(result, figures.back());
  }
  return figures;
}

// W8: blobs of 1 MiB written one put each, then read back through the same open
// store (bench/BASELINES.md: "the handle stays open") and summed byte by byte.
std::vector<Figure> blobs(Backend& backend, const fs::path& store_dir, std::uint64_t n) {
  const std::uint64_t count = blob_count(n);
  const double mib = double(count) * kBlobSize / (1 << 20);
  ScratchDir scratch(store_dir, "W8");
  MemoryReserve reserve(store_dir, count * kBlobSize + 256 * kMiB);
  backend.open(scratch.empty(), OpenMode::kCreate);
  const std::unique_ptr<std::byte[]> blob(new std::byte[kBlobSize]);
  fill_blob(blob.get(), 0);
  KeyBuffer key("blob");
  reserve.release();
  Stopwatch timer;
  for (std::uint64_t j = 0; j < count; ++j) {
    std::memcpy(blob.get(), &j, 8);  // the only bytes that differ between blobs
    backend.put(key.format(j), {blob.get(), kBlobSize});
  }
  Figure write{"W8 write", timer.seconds(), mib};

  std::uint64_t sum = 0;
  std::uint64_t good = 0;
  {
    const auto reader = backend.reader();
    timer = Stopwatch();
    for (std::uint64_t j = 0; j < count; ++j) {
      reader->get(key.format(j), [&](Bytes value) {
        if (value.size() != kBlobSize || load_u64(value.data()) != j) return;
        ++good;
        sum += sum_bytes(value.data(), value.size());
      });
    }
  }
  Figure read{"W8 read", timer.seconds(), mib};
  read.verified = good == count && sum == expected_blob_sum(count);
  read.extra["sum"] = sum;
  read.extra["blobs"] = count;
  backend.close();
  note_sizes(write, backend, scratch.empty());
  return {write, read};
}

// W9: two threads, each with its own reader, n random gets each (seeds 1000 and
// 1001). The clock starts once both readers exist and stops when both are done.
Figure two_threads(Backend& backend, std::uint64_t n) {
  std::latch ready(2);
  std::latch start(1);
  std::uint64_t bad[2] = {0, 0};
  std::exception_ptr errors[2];
  auto worker = [&](int t) {
    bool counted = false;  // a latch must not be counted down twice
    try {
      auto reader = backend.reader();
      ready.count_down();
      counted = true;
      start.wait();
      bad[t] = random_gets(*reader, 1000 + t, n, n);
    } catch (...) {
      errors[t] = std::current_exception();
      if (!counted) ready.count_down();
    }
  };
  std::thread first(worker, 0);
  std::thread second(worker, 1);
  ready.wait();
  const Stopwatch timer;
  start.count_down();
  first.join();
  second.join();
  const double seconds = timer.seconds();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  return {"W9", seconds, double(2 * n), bad[0] == 0 && bad[1] == 0};
}

// W10: on a copy of the w2 store, overwrite every even key (value i + 1,000,000)
// in batches, close, reopen, and time compact() alone.
std::vector<Figure> overwrite_and_compact(Backend& backend, const fs::path& store_dir, std::uint64_t n) {
  constexpr std::uint64_t kOffset = 1'000'000;
  ScratchDir scratch(store_dir, "W10");
  const fs::path& dir = scratch.copy_of(store_dir / "w2");
  MemoryReserve overwrite_reserve(store_dir, 192 * kMiB);
  backend.open(dir, OpenMode::kExisting);
  overwrite_reserve.release();
  Stopwatch timer;
  batch_fill(backend, n, 2, kOffset);
  Figure overwrite{"W10 overwrite", timer.seconds(), double((n + 1) / 2)};
  backend.close();

  Figure compact{"W10 compact", 0, double(n)};
  note_sizes(compact, backend, dir, "before_");
  MemoryReserve compact_reserve(store_dir, 320 * kMiB);  // the new file and index
  backend.open(dir, OpenMode::kExisting);
  compact_reserve.release();
  timer = Stopwatch();
  backend.compact();
  compact.seconds = timer.seconds();
  backend.close();
  note_sizes(compact, backend, dir, "after_");

  // Every key must still read its newest value: the iteration sum covers all of
  // them, and a few gets check the even/odd split.
  backend.open(dir, OpenMode::kExisting);
  const IterationSum result = backend.iterate_sum();
  const std::uint64_t expected = n * (n - 1) / 2 + (n + 1) / 2 * kOffset;
  compact.verified = result.sum == expected && result.count == n &&
                     spot_check(backend, n, [&](std::uint64_t i) { return i % 2 == 0 ? i + kOffset : i; });
  backend.close();
  return {overwrite, compact};
}

}  // namespace

Figure write_fresh(std::string_view id, Backend& backend, const fs::path& store_dir, std::uint64_t n, bool batched) {
  ScratchDir scratch(store_dir, id);
  MemoryReserve reserve(store_dir, reserve_for(n, 320 * kMiB));  // ours needs ~250 MiB: file, index, snapshot
  backend.open(scratch.empty(), OpenMode::kCreate);
  KeyBuffer key("key");
  reserve.release();
  const Stopwatch timer;
  if (batched) {
    batch_fill(backend, n, 1, 0);
  } else {
    for (std::uint64_t i = 0; i < n; ++i) backend.put(key.format(i), u64_bytes(i));
  }
  const double puts = timer.seconds();
  // The peers' W1/W2 include close (bench/BASELINES.md: "puts+close"): it is where a
  // store finishes what it deferred.
  backend.close();
  Figure figure{std::string(id), timer.seconds(), double(n)};
  figure.extra["close_seconds"] = figure.seconds - puts;
  note_sizes(figure, backend, scratch.empty());
  return figure;
}

const std::vector<std::string>& all_workloads() {
  static const std::vector<std::string> ids = [] {
    std::vector<std::string> all = {"W1", "W2", "W3", "W3-rebuild", "W4", "W5", "W6", "W7", "W8", "W9", "W10"};
    for (const std::string& id : durability_workloads()) all.push_back(id);
    return all;
  }();
  return ids;
}

std::vector<std::string> workload_group(std::string_view prefix) {
  std::vector<std::string> ids;
  if (prefix != "W" && prefix != "D") return ids;
  for (const std::string& id : all_workloads()) {
    if (id.starts_with(prefix)) ids.push_back(id);
  }
  return ids;
}

bool is_workload(std::string_view id) {
  const auto& ids = all_workloads();
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

bool workload_applies(std::string_view id, const Backend& backend) {
  if (is_durability_workload(id)) return durability_workload_applies(id, backend);
  return id != "W3-rebuild" || backend.has_index_cache();
}

bool needs_prepared_store(std::string_view id) {
  return id != "W1" && id != "W2" && id != "W8" && !is_durability_workload(id);
}

double prepare_store(Backend& backend, const fs::path& store_dir, std::uint64_t n) {
  const Stopwatch timer;
  fs::remove_all(store_dir);
  // W3 and W10 start from copies of `w2-pristine`, as the W2 run left it. The read
  // workloads see `w2` after its first reopen, as the peers' baseline did: by then
  // the LSMs have replayed their log into table files. `w2` is written again rather
  // than copied from the pristine one: a file copy goes through the kernel's splice
  // path, which fills the page cache with small folios, whereas a store's own writes
  // may leave 2 MiB ones (and a reader of a cold file gets 2 MiB ones from readahead,
  // io::Mapping::advise_written_range), so a copy would not show what a reader of the
  // store meets.
  const fs::path pristine = store_dir / "w2-pristine";
  const fs::path settled = store_dir / "w2";
  for (const fs::path& dir : {pristine, settled}) {
    fs::create_directories(dir);
    backend.open(dir, OpenMode::kCreate);
    batch_fill(backend, n, 1, 0);
    backend.close();
  }
  backend.open(settled, OpenMode::kExisting);
  backend.close();
  return timer.seconds();
}

std::vector<Figure> run_workload(std::string_view id, Backend& backend, const fs::path& store_dir, std::uint64_t n) {
  if (id == "W1") return {write_fresh("W1", backend, store_dir, n, false)};
  if (id == "W2") return {write_fresh("W2", backend, store_dir, n, true)};
  if (id == "W3") return {reopen(backend, store_dir, n, false)};
  if (id == "W3-rebuild") return {reopen(backend, store_dir, n, true)};
  if (id == "W8") return blobs(backend, store_dir, n);
  if (id == "W10") return overwrite_and_compact(backend, store_dir, n);
  if (is_durability_workload(id)) return run_durability_workload(id, backend, store_dir, n);

  backend.open(store_dir / "w2", OpenMode::kExisting);
  std::vector<Figure> figures;
  if (id == "W4") figures = {sequential_gets(backend, n)};
  else if (id == "W5") figures = {random_gets_one_thread(backend, n)};
  else if (id == "W6") figures = {multi_gets(backend, n)};
  else if (id == "W7") figures = iterate(backend, n);
  else if (id == "W9") figures = {two_threads(backend, n)};
  else throw std::invalid_argument("unknown workload " + std::string(id));
  backend.close();
  return figures;
}

}  // namespace srd_bench

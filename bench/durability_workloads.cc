#include "durability_workloads.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <latch>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "scratch_dir.h"
#include "workload_spec.h"
#include "workloads.h"

namespace srd_bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Sizes: a synced put costs one device flush or more (~150 us here, two for LMDB),
// so these keep every run near a second, and the whole D group near two minutes.
constexpr std::uint64_t kSyncedPuts = 2'000;        // D1
constexpr std::uint64_t kSyncedBatches = 500;       // D2
constexpr std::uint64_t kSyncedBatchSize = 100;     // D2: 50,000 puts in all
constexpr unsigned kWriterThreads = 4;              // D3
constexpr std::uint64_t kPutsPerWriter = 1'000;     // D3: 4,000 puts in all

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

Bytes u64_bytes(const std::uint64_t& value) { return {reinterpret_cast<const std::byte*>(&value), 8}; }

// The machine's own sync latency just before a run: the median of kProbeSyncs
// appends of 8 bytes to a scratch file, each followed by fdatasync, in seconds. On
// a shared VM other processes' I/O can slow every sync tenfold for tens of
// seconds; the probe, shown beside the rows, tells a slow disk from a slow store.
double probe_sync_latency(const fs::path& file) {
  constexpr int kProbeSyncs = 32;
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "fsync probe: open " + file.string());
  std::vector<double> latencies;
  const std::uint64_t word = 0;
  int error = 0;
  for (int i = 0; i < kProbeSyncs && error == 0; ++i) {
    const auto start = Clock::now();
    if (::pwrite(fd, &word, sizeof(word), off_t(i) * off_t(sizeof(word))) != sizeof(word) || ::fdatasync(fd) != 0) {
      error = errno;
    }
    latencies.push_back(seconds_since(start));
  }
  ::close(fd);
  fs::remove(file);
  if (error != 0) throw std::system_error(error, std::generic_category(), "fsync probe: " + file.string());
  std::nth_element(latencies.begin(), latencies.begin() + kProbeSyncs / 2, latencies.end());
  return latencies[kProbeSyncs / 2];
}

// The row's mode for this store. D3 asks for group commit where the store has a
// setting of its own for it, and otherwise runs it synced as D1 does.
Durability durability_of(std::string_view id, const Backend& backend) {
  if (id == "D1-group") return Durability::kGroupCommit;
  if (id == "D3") {
    return backend.supports(Durability::kGroupCommit) ? Durability::kGroupCommit : Durability::kSyncEachWrite;
  }
  if (id == "D4") return Durability::kSyncPeriodically;
  return Durability::kSyncEachWrite;  // D1, D2, D3-each
}

// After the timed region: reopens the closed database without syncing and reads
// every key i < count back (value i), so a lost or torn durable write marks the
// row BAD instead of flattering it.
bool all_read_back(Backend& backend, const fs::path& dir, std::uint64_t count) {
  backend.set_durability(Durability::kNone);
  backend.open(dir, OpenMode::kExisting);
  std::uint64_t good = 0;
  {
    const auto reader = backend.reader();
    KeyBuffer key("key");
    for (std::uint64_t i = 0; i < count; ++i) {
      reader->get(key.format(i), [&](Bytes value) { good += value.size() == 8 && load_u64(value.data()) == i; });
    }
  }
  backend.close();
  return good == count;
}

// D1: each put returns durable before the next starts.
Figure synced_puts(std::string_view figure_id, Backend& backend, const fs::path& dir) {
  backend.open(dir, OpenMode::kCreate);
  KeyBuffer key("key");
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < kSyncedPuts; ++i) backend.put(key.format(i), u64_bytes(i));
  Figure figure{std::string(figure_id), seconds_since(start), double(kSyncedPuts)};
  backend.close();
  figure.verified = all_read_back(backend, dir, kSyncedPuts);
  return figure;
}

// D2: put_batch of kSyncedBatchSize items, each batch durable when it returns. As
// in W2, the batch is built inside the timed loop.
Figure synced_batches(Backend& backend, const fs::path& dir) {
  constexpr std::uint64_t total = kSyncedBatches * kSyncedBatchSize;
  backend.open(dir, OpenMode::kCreate);
  KeyBuffer key("key");
  std::vector<std::string> keys(kSyncedBatchSize);
  std::vector<std::uint64_t> values(kSyncedBatchSize);
  std::vector<KeyValue> items;
  items.reserve(kSyncedBatchSize);
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < total;) {
    items.clear();
    for (std::size_t slot = 0; slot < kSyncedBatchSize; ++slot, ++i) {
      keys[slot].assign(key.format(i));
      values[slot] = i;
      items.push_back({keys[slot], u64_bytes(values[slot])});
    }
    backend.put_batch(items);
  }
  Figure figure{"D2", seconds_since(start), double(total)};
  backend.close();
  figure.verified = all_read_back(backend, dir, total);
  return figure;
}

// D3: kWriterThreads threads, each with its own Writer, put keys t, t + 4, t + 8,
// ... at once; every put is durable when it returns. The clock starts once every
// writer exists and stops when the last one is done.
Figure concurrent_synced_puts(std::string_view figure_id, Backend& backend, const fs::path& dir) {
  constexpr std::uint64_t total = kWriterThreads * kPutsPerWriter;
  backend.open(dir, OpenMode::kCreate);
  std::latch ready(kWriterThreads);
  std::latch start(1);
  std::exception_ptr errors[kWriterThreads];
  auto worker = [&](unsigned t) {
    bool counted = false;  // a latch must not be counted down twice
    try {
      const auto writer = backend.writer();
      KeyBuffer key("key");
      ready.count_down();
      counted = true;
      start.wait();
      for (std::uint64_t i = t; i < total; i += kWriterThreads) writer->put(key.format(i), u64_bytes(i));
    } catch (...) {
      errors[t] = std::current_exception();
      if (!counted) ready.count_down();
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kWriterThreads; ++t) threads.emplace_back(worker, t);
  ready.wait();
  const auto started = Clock::now();
  start.count_down();
  for (std::thread& thread : threads) thread.join();
  Figure figure{std::string(figure_id), seconds_since(started), double(total)};
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  backend.close();
  figure.verified = all_read_back(backend, dir, total);
  return figure;
}

}  // namespace

const std::vector<std::string>& durability_workloads() {
  static const std::vector<std::string> ids = {"D1", "D1-group", "D2", "D3", "D3-each", "D4"};
  return ids;
}

bool is_durability_workload(std::string_view id) {
  const auto& ids = durability_workloads();
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

bool durability_workload_applies(std::string_view id, const Backend& backend) {
  // The ours-only variants: run on a store without a group-commit setting,
  // D1-group and D3-each would repeat its D1 and D3.
  if (id == "D1-group" || id == "D3-each") return backend.supports(Durability::kGroupCommit);
  return backend.supports(durability_of(id, backend));
}

std::vector<Figure> run_durability_workload(std::string_view id, Backend& backend, const fs::path& store_dir,
                                            std::uint64_t n) {
  backend.set_durability(durability_of(id, backend));
  if (id == "D4") return {write_fresh("D4", backend, store_dir, n, false)};
  ScratchDir scratch(store_dir, id);
  const fs::path& dir = scratch.empty();
  // Beside the database rather than in it, where a store might object to it.
  const double probe = probe_sync_latency(store_dir / (std::string(id) + ".fsync-probe"));
  Figure figure;
  if (id == "D1") figure = synced_puts("D1", backend, dir);
  else if (id == "D1-group") figure = synced_puts("D1 group", backend, dir);
  else if (id == "D2") figure = synced_batches(backend, dir);
  else if (id == "D3") figure = concurrent_synced_puts("D3", backend, dir);
  else if (id == "D3-each") figure = concurrent_synced_puts("D3 each", backend, dir);
  else throw std::invalid_argument("unknown workload " + std::string(id));
  figure.extra["fsync_probe_seconds"] = probe;
  return {figure};
}

}  // namespace srd_bench

// srd-microbench: Google Benchmark over the engine's hot pieces: hashing, the
// checksum, pre-pad math, the metadata codec, index probes and inserts, the
// staging copy a batch write performs, and the tail of single writes' latency.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "engine/key_index.h"
#include "format/checksum.h"
#include "format/entry_layout.h"
#include "simd_r_drive/hashing.h"
#include "simd_r_drive/simd_r_drive.h"

namespace {

using namespace simd_r_drive;

void BM_KeyHash(benchmark::State& state) {
  const std::string key = "key" + std::to_string(123456);
  for (auto _ : state) benchmark::DoNotOptimize(compute_hash(key));
}
BENCHMARK(BM_KeyHash);

void BM_Checksum(benchmark::State& state) {
  std::vector<std::byte> payload(static_cast<std::size_t>(state.range(0)), std::byte{7});
  for (auto _ : state) benchmark::DoNotOptimize(compute_checksum(payload));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Checksum)->Arg(8)->Arg(4096)->Arg(1 << 20);

void BM_Prepad(benchmark::State& state) {
  std::uint64_t tail = 12345;
  for (auto _ : state) {
    tail += format::prepad(tail) + 28;
    benchmark::DoNotOptimize(tail);
  }
}
BENCHMARK(BM_Prepad);

void BM_MetadataCodec(benchmark::State& state) {
  std::byte record[kMetadataSize];
  EntryMetadata metadata{0x1234, 5678, 0x9abc};
  for (auto _ : state) {
    format::encode_metadata(record, metadata);
    metadata = format::decode_metadata(record);
    ++metadata.prev_offset;
    benchmark::DoNotOptimize(metadata);
  }
}
BENCHMARK(BM_MetadataCodec);

// The index confirms a key by reading its record's key hash; here the "record" of
// tail 21 + i is hashes[i], which a probe reads as a store's read would.
struct KeysByTail {
  const std::vector<std::uint64_t>& hashes;
  std::optional<std::uint64_t> operator()(std::uint64_t tail) const noexcept { return hashes[tail - 21]; }
  void prefetch(std::uint64_t tail) const noexcept { __builtin_prefetch(&hashes[tail - 21]); }
};

// Index probes over a table of state.range(0) keys; random order, so larger tables
// measure cache misses.
void BM_IndexProbe(benchmark::State& state) {
  const auto keys = static_cast<std::size_t>(state.range(0));
  auto table = engine::IndexTable::with_room_for(keys);
  std::mt19937_64 random(1);
  std::vector<std::uint64_t> hashes(keys);
  const KeysByTail records{hashes};
  for (std::size_t i = 0; i < keys; ++i) {
    hashes[i] = random();
    table->upsert(hashes[i], 21 + i, false, records);
  }
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table->find(hashes[i], records));
    i = (i * 7 + 13) % keys;
  }
}
BENCHMARK(BM_IndexProbe)->Arg(1 << 10)->Arg(1 << 20);

void BM_IndexInsert(benchmark::State& state) {
  std::mt19937_64 random(2);
  for (auto _ : state) {
    state.PauseTiming();
    auto table = engine::IndexTable::with_room_for(1 << 16);
    std::vector<std::uint64_t> hashes(1 << 16);
    for (auto& h : hashes) h = random();
    const KeysByTail records{hashes};
    state.ResumeTiming();
    for (std::size_t i = 0; i < hashes.size(); ++i) table->upsert(hashes[i], 21 + i, false, records);
  }
  state.SetItemsProcessed(state.iterations() * (1 << 16));
}
BENCHMARK(BM_IndexInsert);

// What batch_write does for 1000 8-byte values: pad, payload and record into a
// staging area (the mapping, in the engine).
void BM_StagingCopy(benchmark::State& state) {
  std::vector<std::byte> staging(1000 * 64 + 64);
  std::uint64_t values[1000];
  for (std::uint64_t i = 0; i < 1000; ++i) values[i] = i;
  for (auto _ : state) {
    std::uint64_t position = 0;
    for (std::uint64_t i = 0; i < 1000; ++i) {
      const std::uint64_t prev = position;
      const std::uint64_t pad = format::prepad(position);
      std::memset(staging.data() + position, 0, pad);
      std::memcpy(staging.data() + position + pad, &values[i], 8);
      position += pad + 8;
      format::encode_metadata(staging.data() + position, {values[i], prev, 0});
      position += kMetadataSize;
    }
    benchmark::DoNotOptimize(staging.data());
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_StagingCopy);

// The slowest writes: range(0) calls, each writing range(2) 8-byte values under keys
// drawn from a million (1: write; more: one batch_write, as a RESP MSET), one call
// every range(1) microseconds (0: back to back; 17: the rate of redis-benchmark's
// SETs at -P 1). Store-wide work a write can trigger (the index growing, the file and
// its LiveBits growing) shows up here as the maximum, not in the mean.
void BM_WriteLatencyTail(benchmark::State& state) {
  const auto writes = static_cast<std::size_t>(state.range(0));
  const auto pace = std::chrono::microseconds(state.range(1));
  const auto per_call = static_cast<std::size_t>(state.range(2));
  std::vector<double> micros;
  micros.reserve(writes);
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("srd-microbench-" + std::to_string(::getpid()));
  for (auto _ : state) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    {
      DataStore store = DataStore::open(dir / "store.bin");
      std::mt19937_64 random(1);
      std::vector<std::string> keys(per_call);
      std::vector<std::pair<std::string_view, std::string_view>> items(per_call);
      const char value[8] = {};
      const auto start = std::chrono::steady_clock::now();
      for (std::size_t i = 0; i < writes; ++i) {
        if (pace.count() != 0) {
          while (std::chrono::steady_clock::now() < start + pace * i) std::this_thread::yield();
        }
        for (std::size_t k = 0; k < per_call; ++k) {
          char key[32];
          const int length = std::snprintf(key, sizeof key, "key:%012llu",
                                           static_cast<unsigned long long>(random() % 1000000));
          keys[k].assign(key, static_cast<std::size_t>(length));
          items[k] = {keys[k], std::string_view(value, sizeof value)};
        }
        const auto before = std::chrono::steady_clock::now();
        if (per_call == 1) {
          store.write(items[0].first, items[0].second);
        } else {
          store.batch_write(items);
        }
        micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - before).count());
      }
    }
    std::filesystem::remove_all(dir);
  }
  std::sort(micros.begin(), micros.end());
  const auto quantile = [&](double q) { return micros[static_cast<std::size_t>(q * (micros.size() - 1))]; };
  state.counters["p50_us"] = quantile(0.5);
  state.counters["p99.9_us"] = quantile(0.999);
  state.counters["p99.99_us"] = quantile(0.9999);
  state.counters["max_ms"] = micros.back() / 1000;
  state.SetItemsProcessed(static_cast<std::int64_t>(micros.size()));
}
BENCHMARK(BM_WriteLatencyTail)
    ->Args({1000000, 0, 1})
    ->Args({300000, 17, 1})
    ->Args({600000, 0, 10})
    ->Iterations(1)
    ->Repetitions(3)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

// Many clients at once: 16 connections driven by 4 threads, mixing writes, reads and
// pipelined batches. Every write a client saw acknowledged must be there at the end,
// through the server and in the file after the server is gone. (Throughput and
// latency are measured by srd-net-bench, not asserted here.)
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <simd_r_drive/simd_r_drive.h>
#include <simd_r_drive/net/client.h>

#include "net_test_support.h"
#include "test_support.h"

namespace {

using namespace srd_net_test;
using simd_r_drive::ByteView;
using simd_r_drive::net::Client;

TEST(Load, SixteenConnectionsOnFourThreadsLoseNothingAcknowledged) {
  srd_test::TempDir dir;
  const auto path = dir.file("store.bin");
  std::map<std::string, std::vector<std::byte>> acknowledged;  // the last acked value per key
  std::mutex acknowledged_mutex;
  std::atomic<int> mismatches{0};
  {
    InProcessServer server(path);
    constexpr int kThreads = 4;
    constexpr int kClientsPerThread = 4;
    constexpr int kOps = 400;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::vector<std::unique_ptr<Client>> clients;
        for (int c = 0; c < kClientsPerThread; ++c) clients.push_back(std::make_unique<Client>(server.url()));
        std::map<std::string, std::vector<std::byte>> mine;  // this thread's keys are its own
        for (int i = 0; i < kOps; ++i) {
          Client& client = *clients[i % kClientsPerThread];
          const std::string key = "t" + std::to_string(t) + "-k" + std::to_string(i % 50);
          const int kind = i % 10;
          if (kind < 5) {
            auto value = pattern_value(static_cast<std::uint64_t>(t) * 100000 + i, 1 + (i * 37) % 3000);
            client.write(key, value);
            mine[key] = std::move(value);
          } else if (kind < 8) {
            const auto got = client.read(key);
            const auto expected = mine.find(key);
            const bool ok = expected == mine.end() ? !got.has_value()
                                                   : got.has_value() && *got == ByteView(expected->second);
            if (!ok) mismatches.fetch_add(1);
          } else {
            auto pipeline = client.pipeline();
            std::vector<std::string> keys;
            for (int j = 0; j < 8; ++j) {
              keys.push_back("t" + std::to_string(t) + "-k" + std::to_string((i + j) % 50));
              pipeline.read(keys.back());
            }
            const auto replies = pipeline.execute();
            for (int j = 0; j < 8; ++j) {
              const auto expected = mine.find(keys[j]);
              const bool ok = replies[j].ok() && (expected == mine.end()
                                                      ? !replies[j].value.has_value()
                                                      : replies[j].value && *replies[j].value == ByteView(expected->second));
              if (!ok) mismatches.fetch_add(1);
            }
          }
        }
        std::lock_guard lock(acknowledged_mutex);
        acknowledged.merge(mine);
      });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(mismatches.load(), 0);
    Client checker(server.url());
    for (const auto& [key, value] : acknowledged) {
      const auto got = checker.read(key);
      ASSERT_TRUE(got.has_value()) << key;
      EXPECT_TRUE(*got == ByteView(value)) << key;
    }
    EXPECT_EQ(checker.len(), acknowledged.size());
  }
  // And in the file, once the server and the store are closed.
  auto store = simd_r_drive::DataStore::open(path);
  for (const auto& [key, value] : acknowledged) {
    const auto got = store.read(key);
    ASSERT_TRUE(got.has_value()) << key;
    EXPECT_TRUE(*got == ByteView(value)) << key;
  }
}

}  // namespace

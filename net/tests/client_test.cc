// The client's API against the store it reaches: every method's answer equals what
// DataStore answers in process, and one Client serves many threads at once.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <simd_r_drive/simd_r_drive.h>
#include <simd_r_drive/net/client.h>

#include "net_test_support.h"
#include "test_support.h"

namespace {

using namespace srd_net_test;
using simd_r_drive::ByteView;
using simd_r_drive::DataStore;
using simd_r_drive::HashedPayload;
using simd_r_drive::net::Client;

TEST(ClientApi, EveryMethodAnswersAsTheStoreDoes) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("store.bin"));
  DataStore& store = server.store();
  Client client(server.url());
  client.ping();
  EXPECT_TRUE(client.is_empty());
  EXPECT_EQ(client.server_info().max_message_bytes, 64u << 20);
  EXPECT_FALSE(client.server_info().read_only);

  const std::uint64_t hash = DataStore::hash_key("hashed");
  {
    const std::uint64_t tail = client.write_with_key_hash(hash, "by hash");
    EXPECT_EQ(tail, store.file_size());
  }
  const std::vector<HashedPayload> hashed{{11, ByteView("eleven")}, {12, ByteView("twelve")}};
  {
    const std::uint64_t tail = client.batch_write_with_key_hashes(hashed);
    EXPECT_EQ(tail, store.file_size());
  }
  const std::vector<std::pair<std::string, std::string>> items{{"a", "1"}, {"b", "22"}, {"c", "333"}};
  {
    const std::uint64_t tail = client.batch_write(items);
    EXPECT_EQ(tail, store.file_size());
  }
  EXPECT_EQ(client.read("hashed")->as_string_view(), "by hash");
  EXPECT_EQ(client.read_with_key_hash(12)->as_string_view(), "twelve");
  EXPECT_TRUE(client.exists_with_key_hash(11));
  EXPECT_FALSE(client.exists_with_key_hash(13));

  const std::vector<std::uint64_t> hashes{DataStore::hash_key("a"), 99, DataStore::hash_key("c")};
  const auto by_hash = client.batch_read_hashed_keys(hashes);
  ASSERT_EQ(by_hash.size(), 3u);
  EXPECT_EQ(by_hash[0]->as_string_view(), "1");
  EXPECT_FALSE(by_hash[1].has_value());
  EXPECT_EQ(by_hash[2]->as_string_view(), "333");
  const std::vector<ByteView> keys{ByteView("a"), ByteView("b"), ByteView("x")};
  const std::vector<std::uint64_t> mixed{DataStore::hash_key("a"), DataStore::hash_key("c"), DataStore::hash_key("x")};
  const auto checked = client.batch_read_hashed_keys(mixed, keys);
  EXPECT_TRUE(checked[0].has_value());
  EXPECT_FALSE(checked[1].has_value()) << "a hash that is not its key's reads as absent";

  const auto metadata = client.read_metadata("b");
  const auto local = store.read("b");
  ASSERT_TRUE(metadata.has_value());
  EXPECT_EQ(metadata->key_hash, local->key_hash());
  EXPECT_EQ(metadata->prev_offset, local->metadata().prev_offset);
  EXPECT_EQ(metadata->checksum, local->checksum());
  EXPECT_EQ(metadata->payload_offset, local->start_offset());
  EXPECT_EQ(metadata->payload_size, 2u);
  EXPECT_FALSE(client.read_metadata("nope").has_value());
  const auto read_handle = client.read("b");
  EXPECT_EQ(read_handle->key_hash(), DataStore::hash_key("b"));
  EXPECT_TRUE(read_handle->is_valid_checksum());

  {
    const std::uint64_t tail = client.rename("a", "a2");
    EXPECT_EQ(tail, store.file_size());
  }
  {
    const std::uint64_t tail = client.remove("b");
    EXPECT_EQ(tail, store.file_size());
  }
  {
    const std::uint64_t tail = client.batch_remove(std::vector<std::string>{"c", "nope"});
    EXPECT_EQ(tail, store.file_size());
  }
  {
    const std::uint64_t tail = client.batch_remove_key_hashes(std::vector<std::uint64_t>{11});
    EXPECT_EQ(tail, store.file_size());
  }
  EXPECT_EQ(client.len(), store.len());
  {
    const std::uint64_t tail = client.file_size();
    EXPECT_EQ(tail, store.file_size());
  }
  const auto remote_stats = client.stats();
  const auto local_stats = store.stats();
  EXPECT_EQ(remote_stats.entries, local_stats.entries);
  EXPECT_EQ(remote_stats.tombstones, local_stats.tombstones);
  EXPECT_EQ(remote_stats.reclaimable_bytes, local_stats.reclaimable_bytes);
  const auto report = client.verify();
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.entries, local_stats.entries);
  EXPECT_TRUE(report.writer_active);
  client.sync();
  client.compact();
  EXPECT_EQ(client.stats().reclaimable_bytes, 0u);
  EXPECT_EQ(client.read("a2")->as_string_view(), "1");
}

TEST(ClientApi, OneClientServesManyThreads) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("store.bin"));
  Client client(server.url());
  constexpr int kThreads = 4;
  constexpr int kOps = 300;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOps; ++i) {
        const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i % 17);
        const std::string value = key + ":" + std::to_string(i);
        client.write(key, value);
        const auto back = client.read(key);
        if (!back || back->as_string_view() != value) wrong.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(server.store().len(), std::size_t{kThreads * 17});
}

}  // namespace

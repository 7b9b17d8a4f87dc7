// The conformance cases (tests/conformance/) through the network: each case's store
// is served by a server core in this process on port 0, and reached with
// simd_r_drive::net::Client, exactly as the DataStore runner reaches a store.
// `reopen` stops the server and the store and starts both again.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include <simd_r_drive/simd_r_drive.h>
#include <simd_r_drive/net/client.h>

#include "conformance_runner.h"
#include "net_test_support.h"

namespace srd_conformance {
namespace {

using simd_r_drive::EntryHandle;
using simd_r_drive::net::Client;

std::optional<Bytes> owned_or_absent(const std::optional<EntryHandle>& handle) {
  if (!handle) return std::nullopt;
  return Bytes(handle->as_string_view());
}

std::vector<std::optional<Bytes>> owned_all(const std::vector<std::optional<EntryHandle>>& handles) {
  std::vector<std::optional<Bytes>> out;
  for (const auto& handle : handles) out.push_back(owned_or_absent(handle));
  return out;
}

class ClientUnderTest final : public StoreUnderTest {
 public:
  explicit ClientUnderTest(std::string path) : path_(std::move(path)) { start(); }

  std::uint64_t write(const Bytes& key, const Bytes& value) override { return client_->write(key, value); }
  std::uint64_t write_stream(const Bytes& key, const Bytes& value) override {
    std::size_t position = 0;
    // The client's chunks are 4 KiB here, so a value spans several.
    return client_->write_stream(key, [&](std::span<std::byte> buffer) {
      const std::size_t n = std::min(buffer.size(), value.size() - position);
      std::memcpy(buffer.data(), value.data() + position, n);
      position += n;
      return n;
    });
  }
  std::uint64_t write_with_key_hash(std::uint64_t key_hash, const Bytes& value) override {
    return client_->write_with_key_hash(key_hash, value);
  }
  std::uint64_t batch_write(const std::vector<std::pair<Bytes, Bytes>>& items) override {
    return client_->batch_write(items);
  }
  std::uint64_t batch_write_with_key_hashes(const std::vector<std::pair<std::uint64_t, Bytes>>& items) override {
    std::vector<simd_r_drive::HashedPayload> hashed;
    for (const auto& [key_hash, value] : items) hashed.push_back({key_hash, value});
    return client_->batch_write_with_key_hashes(hashed);
  }
  std::optional<Bytes> read(const Bytes& key) override { return owned_or_absent(client_->read(key)); }
  std::optional<Bytes> read_with_key_hash(std::uint64_t key_hash) override {
    return owned_or_absent(client_->read_with_key_hash(key_hash));
  }
  std::vector<std::optional<Bytes>> batch_read(const std::vector<Bytes>& keys) override {
    return owned_all(client_->batch_read(keys));
  }
  std::vector<std::optional<Bytes>> batch_read_hashed_keys(const std::vector<std::uint64_t>& key_hashes) override {
    return owned_all(client_->batch_read_hashed_keys(key_hashes));
  }
  std::optional<Metadata> read_metadata(const Bytes& key) override {
    const auto metadata = client_->read_metadata(key);
    if (!metadata) return std::nullopt;
    return Metadata{metadata->key_hash, metadata->prev_offset, metadata->checksum, metadata->payload_offset,
                    metadata->payload_size};
  }
  bool exists(const Bytes& key) override { return client_->exists(key); }
  bool exists_with_key_hash(std::uint64_t key_hash) override { return client_->exists_with_key_hash(key_hash); }
  std::uint64_t remove(const Bytes& key) override { return client_->remove(key); }
  std::uint64_t batch_remove(const std::vector<Bytes>& keys) override { return client_->batch_remove(keys); }
  std::uint64_t rename(const Bytes& old_key, const Bytes& new_key) override { return client_->rename(old_key, new_key); }
  std::uint64_t len() override { return client_->len(); }
  bool is_empty() override { return client_->is_empty(); }
  std::uint64_t file_size() override { return client_->file_size(); }
  simd_r_drive::StoreStats stats() override { return client_->stats(); }
  std::vector<std::pair<std::uint64_t, Bytes>> entries() override {
    std::vector<std::pair<std::uint64_t, Bytes>> out;
    // Small pages, so that multi-page scans are part of every case.
    client_->for_each_entry([&](std::uint64_t key_hash, const EntryHandle& value) {
      out.emplace_back(key_hash, value.as_string_view());
    }, 7);
    return out;
  }
  bool verify_ok() override { return client_->verify().ok(); }
  void compact() override { client_->compact(); }
  void sync() override { client_->sync(); }
  bool reopen() override {
    client_.reset();
    server_.reset();  // the server, then the store, close
    start();
    return true;
  }

 private:
  void start() {
    server_.emplace(path_);
    simd_r_drive::net::ClientOptions options;
    options.stream_chunk_bytes = 4096;
    client_.emplace(server_->url(), options);
  }

  std::string path_;
  std::optional<srd_net_test::InProcessServer> server_;
  std::optional<Client> client_;
};

const bool registered = [] {
  register_conformance_suite("ClientConformance", [](const std::string& path) {
    return std::make_unique<ClientUnderTest>(path);
  });
  return true;
}();

}  // namespace
}  // namespace srd_conformance

// The conformance cases against the C++ DataStore, in process.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include <simd_r_drive/simd_r_drive.h>

#include "conformance_runner.h"

namespace srd_conformance {
namespace {

using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;

Bytes owned(const std::optional<EntryHandle>& handle) { return Bytes(handle->as_string_view()); }

std::optional<Bytes> owned_or_absent(const std::optional<EntryHandle>& handle) {
  if (!handle) return std::nullopt;
  return owned(handle);
}

class DataStoreUnderTest final : public StoreUnderTest {
 public:
  explicit DataStoreUnderTest(std::string path) : path_(std::move(path)), store_(DataStore::open(path_)) {}

  std::uint64_t write(const Bytes& key, const Bytes& value) override { return store_->write(key, value); }
  std::uint64_t write_stream(const Bytes& key, const Bytes& value) override {
    std::size_t position = 0;
    // Chunks of 4 KiB at most, so a value spans several.
    return store_->write_stream(key, [&](std::span<std::byte> buffer) {
      const std::size_t n = std::min({buffer.size(), std::size_t{4096}, value.size() - position});
      std::memcpy(buffer.data(), value.data() + position, n);
      position += n;
      return n;
    });
  }
  std::uint64_t write_with_key_hash(std::uint64_t key_hash, const Bytes& value) override {
    return store_->write_with_key_hash(key_hash, value);
  }
  std::uint64_t batch_write(const std::vector<std::pair<Bytes, Bytes>>& items) override {
    return store_->batch_write(items);
  }
  std::uint64_t batch_write_with_key_hashes(const std::vector<std::pair<std::uint64_t, Bytes>>& items) override {
    std::vector<simd_r_drive::HashedPayload> hashed;
    for (const auto& [key_hash, value] : items) hashed.push_back({key_hash, value});
    return store_->batch_write_with_key_hashes(hashed);
  }
  std::optional<Bytes> read(const Bytes& key) override { return owned_or_absent(store_->read(key)); }
  std::optional<Bytes> read_with_key_hash(std::uint64_t key_hash) override {
    return owned_or_absent(store_->read_with_key_hash(key_hash));
  }
  std::vector<std::optional<Bytes>> batch_read(const std::vector<Bytes>& keys) override {
    std::vector<std::optional<Bytes>> out;
    for (const auto& handle : store_->batch_read(keys)) out.push_back(owned_or_absent(handle));
    return out;
  }
  std::vector<std::optional<Bytes>> batch_read_hashed_keys(const std::vector<std::uint64_t>& key_hashes) override {
    std::vector<std::optional<Bytes>> out;
    for (const auto& handle : store_->batch_read_hashed_keys(key_hashes)) out.push_back(owned_or_absent(handle));
    return out;
  }
  std::optional<Metadata> read_metadata(const Bytes& key) override {
    const auto metadata = store_->read_metadata(key);
    if (!metadata) return std::nullopt;
    const EntryHandle handle = *store_->read(key);
    return Metadata{metadata->key_hash, metadata->prev_offset, metadata->checksum, handle.start_offset(), handle.size()};
  }
  bool exists(const Bytes& key) override { return store_->exists(key); }
  bool exists_with_key_hash(std::uint64_t key_hash) override { return store_->exists_with_key_hash(key_hash); }
  std::uint64_t remove(const Bytes& key) override { return store_->remove(key); }
  std::uint64_t batch_remove(const std::vector<Bytes>& keys) override { return store_->batch_remove(keys); }
  std::uint64_t rename(const Bytes& old_key, const Bytes& new_key) override { return store_->rename(old_key, new_key); }
  std::uint64_t len() override { return store_->len(); }
  bool is_empty() override { return store_->is_empty(); }
  std::uint64_t file_size() override { return store_->file_size(); }
  simd_r_drive::StoreStats stats() override { return store_->stats(); }
  std::vector<std::pair<std::uint64_t, Bytes>> entries() override {
    std::vector<std::pair<std::uint64_t, Bytes>> out;
    for (const EntryHandle& entry : store_->iter_entries()) out.emplace_back(entry.key_hash(), entry.as_string_view());
    return out;
  }
  bool verify_ok() override { return store_->verify().ok(); }
  void compact() override { store_->compact(); }
  void sync() override { store_->sync(); }
  bool reopen() override {
    store_.reset();  // closed first: a second writer would be refused the lock
    store_.emplace(DataStore::open(path_));
    return true;
  }

 private:
  std::string path_;
  std::optional<DataStore> store_;
};

const bool registered = [] {
  register_conformance_suite("DataStoreConformance", [](const std::string& path) {
    return std::make_unique<DataStoreUnderTest>(path);
  });
  return true;
}();

}  // namespace
}  // namespace srd_conformance

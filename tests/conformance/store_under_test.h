// StoreUnderTest: what the conformance cases need of a store, so that any way of
// reaching one (the C++ DataStore, the network client, ...) can run the same cases.
// Values come back as owned bytes, which every API can give.
//
// Errors are simd_r_drive::Error with the engine's ErrorCode, whichever side of a
// connection they arose on.
//
// Thread-safety: one case, one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <simd_r_drive/store_stats.h>

namespace srd_conformance {

using Bytes = std::string;  // any bytes

struct Metadata {
  std::uint64_t key_hash = 0;
  std::uint64_t prev_offset = 0;
  std::uint32_t checksum = 0;
  std::uint64_t payload_offset = 0;
  std::uint64_t payload_size = 0;
};

class StoreUnderTest {
 public:
  virtual ~StoreUnderTest() = default;

  virtual std::uint64_t write(const Bytes& key, const Bytes& value) = 0;
  // The value arrives in chunks through the API's streaming write.
  virtual std::uint64_t write_stream(const Bytes& key, const Bytes& value) = 0;
  virtual std::uint64_t write_with_key_hash(std::uint64_t key_hash, const Bytes& value) = 0;
  virtual std::uint64_t batch_write(const std::vector<std::pair<Bytes, Bytes>>& items) = 0;
  virtual std::uint64_t batch_write_with_key_hashes(const std::vector<std::pair<std::uint64_t, Bytes>>& items) = 0;

  virtual std::optional<Bytes> read(const Bytes& key) = 0;
  virtual std::optional<Bytes> read_with_key_hash(std::uint64_t key_hash) = 0;
  virtual std::vector<std::optional<Bytes>> batch_read(const std::vector<Bytes>& keys) = 0;
  virtual std::vector<std::optional<Bytes>> batch_read_hashed_keys(const std::vector<std::uint64_t>& key_hashes) = 0;
  virtual std::optional<Metadata> read_metadata(const Bytes& key) = 0;
  virtual bool exists(const Bytes& key) = 0;
  virtual bool exists_with_key_hash(std::uint64_t key_hash) = 0;

  virtual std::uint64_t remove(const Bytes& key) = 0;
  virtual std::uint64_t batch_remove(const std::vector<Bytes>& keys) = 0;
  virtual std::uint64_t rename(const Bytes& old_key, const Bytes& new_key) = 0;

  virtual std::uint64_t len() = 0;
  virtual bool is_empty() = 0;
  virtual std::uint64_t file_size() = 0;
  virtual simd_r_drive::StoreStats stats() = 0;
  // Every live entry as (key hash, value), in any order.
  virtual std::vector<std::pair<std::uint64_t, Bytes>> entries() = 0;
  virtual bool verify_ok() = 0;
  virtual void compact() = 0;
  virtual void sync() = 0;
  // Closes the store and opens it again; false if this way of reaching it cannot.
  virtual bool reopen() = 0;
};

// Makes a store under test over a new, empty store file at `path`.
using StoreFactory = std::function<std::unique_ptr<StoreUnderTest>(const std::string& path)>;

}  // namespace srd_conformance

// RocksDB, configured as bench/BASELINES.md says ("rocksdb" column): default options
// (so the default 8 MiB block cache), WAL on, WriteOptions::sync = false.
// Synced (the D rows): WriteOptions::sync = true, RocksDB's documented durable
// write: the WAL is synced (fdatasync) before Write returns. Concurrent writers
// queue behind a leader that writes and syncs all their batches at once, so
// RocksDB does group commit without a setting for it.
//   put: DB::Put (a one-entry write batch); put_batch: one WriteBatch.
//   get: DB::Get into a PinnableSlice; multi_get: the batched DB::MultiGet.
//   iterate: an iterator; compact: CompactRange over all keys.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/write_batch.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../backend.h"
#include "../workload_spec.h"

namespace srd_bench {
namespace {

void check(const rocksdb::Status& status, const char* what) {
  if (!status.ok()) throw std::runtime_error(std::string("rocksdb ") + what + ": " + status.ToString());
}

rocksdb::Slice slice(Bytes bytes) { return {reinterpret_cast<const char*>(bytes.data()), bytes.size()}; }
rocksdb::Slice slice(std::string_view text) { return {text.data(), text.size()}; }
Bytes bytes_of(const rocksdb::Slice& value) { return {reinterpret_cast<const std::byte*>(value.data()), value.size()}; }

class RocksReader final : public Reader {
 public:
  explicit RocksReader(rocksdb::DB* db) : db_(db) {}

  bool get(std::string_view key, ValueVisitor visit) override {
    value_.Reset();
    const rocksdb::Status status = db_->Get(options_, db_->DefaultColumnFamily(), slice(key), &value_);
    if (status.IsNotFound()) return false;
    check(status, "get");
    visit(bytes_of(value_));
    return true;
  }

  void multi_get(std::span<const std::string_view> keys, BatchVisitor visit) override {
    const std::size_t count = keys.size();
    slices_.clear();
    for (std::string_view key : keys) slices_.push_back(slice(key));
    if (values_.size() < count) values_ = std::vector<rocksdb::PinnableSlice>(count);
    statuses_.resize(count);
    db_->MultiGet(options_, db_->DefaultColumnFamily(), count, slices_.data(), values_.data(), statuses_.data());
    for (std::size_t i = 0; i < count; ++i) {
      if (statuses_[i].IsNotFound()) {
        visit(i, false, {});
      } else {
        check(statuses_[i], "multi_get");
        visit(i, true, bytes_of(values_[i]));
      }
      values_[i].Reset();
    }
  }

 private:
  rocksdb::DB* db_;
  rocksdb::ReadOptions options_;
  rocksdb::PinnableSlice value_;
  std::vector<rocksdb::Slice> slices_;
  std::vector<rocksdb::PinnableSlice> values_;
  std::vector<rocksdb::Status> statuses_;
};

class RocksBackend final : public Backend {
 public:
  std::string_view name() const override { return "rocksdb"; }

  bool supports(Durability durability) const override {
    return durability == Durability::kNone || durability == Durability::kSyncEachWrite;
  }

  void open(const std::filesystem::path& dir, OpenMode /*mode*/) override {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    check(rocksdb::DB::Open(options, dir.string(), &db), "open");
    db_.reset(db);
    write_.sync = durability() != Durability::kNone;
  }

  void close() override {
    if (db_) check(db_->Close(), "close");
    db_.reset();
  }

  void put(std::string_view key, Bytes value) override { check(db_->Put(write_, slice(key), slice(value)), "put"); }

  void put_batch(std::span<const KeyValue> items) override {
    rocksdb::WriteBatch batch;
    for (const KeyValue& item : items) check(batch.Put(slice(item.key), slice(item.value)), "batch put");
    check(db_->Write(write_, &batch), "write");
  }

  std::unique_ptr<Reader> reader() override { return std::make_unique<RocksReader>(db_.get()); }

  IterationSum iterate_sum() override {
    IterationSum result;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      result.sum += load_u64(reinterpret_cast<const std::byte*>(it->value().data()));
      ++result.count;
    }
    check(it->status(), "iterate");
    return result;
  }

  void compact() override { check(db_->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr), "compact"); }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_;  // sync = false: the WAL is written, never fsync'ed (D rows: true)
};

}  // namespace

std::unique_ptr<Backend> make_rocksdb_backend() { return std::make_unique<RocksBackend>(); }

}  // namespace srd_bench

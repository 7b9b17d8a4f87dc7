// LevelDB, configured as bench/BASELINES.md says: default options, the log on,
// WriteOptions::sync = false.
// Synced (the D rows): WriteOptions::sync = true, LevelDB's documented durable
// write: the log is synced before Write returns. Concurrent writers queue, and the
// one at the front appends the others' batches with its own under one sync (group
// commit, built in).
//   put: DB::Put; put_batch: one WriteBatch.
//   get: DB::Get (copies into a reused string); multi_get: LevelDB has none, so a
//        loop of Get under one snapshot.
//   iterate: an iterator; compact: CompactRange over all keys.
#include <leveldb/db.h>
#include <leveldb/options.h>
#include <leveldb/write_batch.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "../backend.h"
#include "../workload_spec.h"

namespace srd_bench {
namespace {

void check(const leveldb::Status& status, const char* what) {
  if (!status.ok()) throw std::runtime_error(std::string("leveldb ") + what + ": " + status.ToString());
}

leveldb::Slice slice(Bytes bytes) { return {reinterpret_cast<const char*>(bytes.data()), bytes.size()}; }
leveldb::Slice slice(std::string_view text) { return {text.data(), text.size()}; }

class LevelReader final : public Reader {
 public:
  explicit LevelReader(leveldb::DB* db) : db_(db) {}

  bool get(std::string_view key, ValueVisitor visit) override { return lookup(leveldb::ReadOptions(), key, visit); }

  void multi_get(std::span<const std::string_view> keys, BatchVisitor visit) override {
    leveldb::ReadOptions options;
    options.snapshot = db_->GetSnapshot();
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (!lookup(options, keys[i], [&](Bytes value) { visit(i, true, value); })) visit(i, false, {});
    }
    db_->ReleaseSnapshot(options.snapshot);
  }

 private:
  bool lookup(const leveldb::ReadOptions& options, std::string_view key, ValueVisitor visit) {
    const leveldb::Status status = db_->Get(options, slice(key), &value_);
    if (status.IsNotFound()) return false;
    check(status, "get");
    visit(as_bytes(value_));
    return true;
  }

  leveldb::DB* db_;
  std::string value_;
};

class LevelBackend final : public Backend {
 public:
  std::string_view name() const override { return "leveldb"; }

  bool supports(Durability durability) const override {
    return durability == Durability::kNone || durability == Durability::kSyncEachWrite;
  }

  void open(const std::filesystem::path& dir, OpenMode /*mode*/) override {
    leveldb::Options options;
    options.create_if_missing = true;
    leveldb::DB* db = nullptr;
    check(leveldb::DB::Open(options, dir.string(), &db), "open");
    db_.reset(db);
    write_.sync = durability() != Durability::kNone;
  }

  void close() override { db_.reset(); }

  void put(std::string_view key, Bytes value) override { check(db_->Put(write_, slice(key), slice(value)), "put"); }

  void put_batch(std::span<const KeyValue> items) override {
    leveldb::WriteBatch batch;
    for (const KeyValue& item : items) batch.Put(slice(item.key), slice(item.value));
    check(db_->Write(write_, &batch), "write");
  }

  std::unique_ptr<Reader> reader() override { return std::make_unique<LevelReader>(db_.get()); }

  IterationSum iterate_sum() override {
    IterationSum result;
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      result.sum += load_u64(reinterpret_cast<const std::byte*>(it->value().data()));
      ++result.count;
    }
    check(it->status(), "iterate");
    return result;
  }

  void compact() override { db_->CompactRange(nullptr, nullptr); }

 private:
  std::unique_ptr<leveldb::DB> db_;
  leveldb::WriteOptions write_;  // sync = false (D rows: true)
};

}  // namespace

std::unique_ptr<Backend> make_leveldb_backend() { return std::make_unique<LevelBackend>(); }

}  // namespace srd_bench

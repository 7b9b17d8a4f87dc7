// LMDB, configured as bench/BASELINES.md says: MDB_NOSYNC (commits write into the page
// cache, never fsync), a map large enough for W8's 1 GiB, otherwise defaults.
// Synced (the D rows): the same without MDB_NOSYNC, LMDB's documented default, in
// which every commit syncs the data file (fdatasync) and then writes the meta page
// synchronously (O_DSYNC): two syncs per transaction. Writers are serialised by
// LMDB's writer mutex, so concurrent commits never share a sync.
//   put: one write transaction each; put_batch: one transaction per batch.
//   get: one read transaction per get (reset/renew, so no allocation), values are
//        zero-copy views into the map; multi_get: one read transaction for the batch.
//   iterate: a cursor; compact: mdb_env_copy2(MDB_CP_COMPACT), swap, reopen.
#include <lmdb.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "../backend.h"
#include "../workload_spec.h"

namespace srd_bench {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMapSize = std::size_t{8} << 30;  // W8 needs ~1 GiB; address space is free

void check(int rc, const char* what) {
  if (rc != MDB_SUCCESS) throw std::runtime_error(std::string("lmdb ") + what + ": " + mdb_strerror(rc));
}

MDB_val val(std::string_view text) { return {text.size(), const_cast<char*>(text.data())}; }
MDB_val val(Bytes bytes) { return {bytes.size(), const_cast<std::byte*>(bytes.data())}; }
Bytes bytes_of(const MDB_val& value) { return {static_cast<const std::byte*>(value.mv_data), value.mv_size}; }

// A write transaction that aborts unless committed (an exception mid-batch).
class WriteTxn {
 public:
  explicit WriteTxn(MDB_env* env) { check(mdb_txn_begin(env, nullptr, 0, &txn_), "txn_begin"); }
  ~WriteTxn() {
    if (txn_) mdb_txn_abort(txn_);
  }
  MDB_txn* get() const { return txn_; }
  void commit() {
    const int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;
    check(rc, "commit");
  }

 private:
  MDB_txn* txn_ = nullptr;
};

// Keeps one read-only transaction, reset between uses. LMDB binds a read
// transaction to the thread that began it, hence one Reader per thread.
class LmdbReader final : public Reader {
 public:
  LmdbReader(MDB_env* env, MDB_dbi dbi) : dbi_(dbi) {
    check(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn_), "read txn_begin");
    mdb_txn_reset(txn_);
  }
  ~LmdbReader() override { mdb_txn_abort(txn_); }

  bool get(std::string_view key, ValueVisitor visit) override {
    check(mdb_txn_renew(txn_), "txn_renew");
    const bool found = lookup(key, visit);
    mdb_txn_reset(txn_);
    return found;
  }

  void multi_get(std::span<const std::string_view> keys, BatchVisitor visit) override {
    check(mdb_txn_renew(txn_), "txn_renew");
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (!lookup(keys[i], [&](Bytes value) { visit(i, true, value); })) visit(i, false, {});
    }
    mdb_txn_reset(txn_);
  }

 private:
  bool lookup(std::string_view key, ValueVisitor visit) {
    MDB_val k = val(key);
    MDB_val v;
    const int rc = mdb_get(txn_, dbi_, &k, &v);
    if (rc == MDB_NOTFOUND) return false;
    check(rc, "get");
    visit(bytes_of(v));
    return true;
  }

  MDB_dbi dbi_;
  MDB_txn* txn_ = nullptr;
};

class LmdbBackend final : public Backend {
 public:
  ~LmdbBackend() override { close(); }

  std::string_view name() const override { return "lmdb"; }

  bool supports(Durability durability) const override {
    return durability == Durability::kNone || durability == Durability::kSyncEachWrite;
  }

  void open(const fs::path& dir, OpenMode /*mode*/) override {
    dir_ = dir;
    fs::create_directories(dir);
    check(mdb_env_create(&env_), "env_create");
    check(mdb_env_set_mapsize(env_, kMapSize), "set_mapsize");
    const unsigned flags = durability() == Durability::kNone ? MDB_NOSYNC : 0;
    check(mdb_env_open(env_, dir.c_str(), flags, 0644), "env_open");
    WriteTxn txn(env_);
    check(mdb_dbi_open(txn.get(), nullptr, 0, &dbi_), "dbi_open");
    txn.commit();
  }

  void close() override {
    if (env_) mdb_env_close(env_);
    env_ = nullptr;
  }

  void put(std::string_view key, Bytes value) override {
    WriteTxn txn(env_);
    MDB_val k = val(key);
    MDB_val v = val(value);
    check(mdb_put(txn.get(), dbi_, &k, &v, 0), "put");
    txn.commit();
  }

  void put_batch(std::span<const KeyValue> items) override {
    WriteTxn txn(env_);
    for (const KeyValue& item : items) {
      MDB_val k = val(item.key);
      MDB_val v = val(item.value);
      check(mdb_put(txn.get(), dbi_, &k, &v, 0), "put");
    }
    txn.commit();
  }

  std::unique_ptr<Reader> reader() override { return std::make_unique<LmdbReader>(env_, dbi_); }

  IterationSum iterate_sum() override {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn), "read txn_begin");
    MDB_cursor* cursor = nullptr;
    check(mdb_cursor_open(txn, dbi_, &cursor), "cursor_open");
    IterationSum result;
    MDB_val k;
    MDB_val v;
    for (int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      result.sum += load_u64(static_cast<const std::byte*>(v.mv_data));
      ++result.count;
    }
    mdb_cursor_close(cursor);
    mdb_txn_abort(txn);
    return result;
  }

  // A compacting copy into a side directory, which then replaces the database.
  void compact() override {
    const fs::path side = dir_.string() + ".compact";
    fs::remove_all(side);
    fs::create_directories(side);
    check(mdb_env_copy2(env_, side.c_str(), MDB_CP_COMPACT), "env_copy2");
    close();
    fs::rename(side / "data.mdb", dir_ / "data.mdb");
    fs::remove_all(side);
    open(dir_, OpenMode::kExisting);
  }

 private:
  fs::path dir_;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_lmdb_backend() { return std::make_unique<LmdbBackend>(); }

}  // namespace srd_bench

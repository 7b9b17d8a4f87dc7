// Kyoto Cabinet HashDB, configured as bench/BASELINES.md says: default tuning, opened
// OWRITER | OCREATE without OAUTOSYNC or OAUTOTRAN, so nothing is synced.
//   put: set; put_batch: begin_transaction(hard = false) ... end_transaction(true),
//        which keeps an undo log but never syncs (atomic batches).
//   get: accept with a visitor (no copy); multi_get: accept_bulk.
//   iterate: iterate with a visitor; compact: defrag(0) (the whole file).
// Synced (the D rows): put is set followed by synchronize(hard = true), which
// writes the header and syncs the file ("physical synchronization with the
// device"); put_batch is the same soft transaction as above, then that
// synchronize. So a batch is durable when it returns, and atomic against a process
// crash, but not against power loss (the undo log is not synced first). Not used:
// - begin_transaction(hard = true), the atomic and durable batch: it syncs the
//   undo log after every record it saves, ~100 fsyncs for a batch of 100 (strace),
//   which made D2 run 20 to 70 s for Kyoto alone;
// - OAUTOSYNC, the open flag that syncs after every update: it also syncs after
//   every set inside a transaction.
// synchronize takes the database's lock shared, so concurrent threads' syncs can
// overlap, but each thread still waits for a sync of its own.
#include <kchashdb.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "../backend.h"
#include "../workload_spec.h"

namespace srd_bench {
namespace {

namespace kc = kyotocabinet;

constexpr const char* kFileName = "db.kch";

[[noreturn]] void fail(kc::HashDB& db, const char* what) {
  throw std::runtime_error(std::string("kyoto ") + what + ": " + db.error().name() + " " + db.error().message());
}

Bytes bytes_of(const char* data, std::size_t size) { return {reinterpret_cast<const std::byte*>(data), size}; }

// The visitor of a multi-get. A visit carries no index, but accept_bulk visits the
// keys in the order given, so a counter recovers it.
class ForwardingVisitor final : public kc::DB::Visitor {
 public:
  explicit ForwardingVisitor(BatchVisitor visit) : visit_(visit) {}
  const char* visit_full(const char*, std::size_t, const char* value, std::size_t size, std::size_t*) override {
    visit_(next_++, true, bytes_of(value, size));
    return NOP;
  }
  const char* visit_empty(const char*, std::size_t, std::size_t*) override {
    visit_(next_++, false, {});
    return NOP;
  }

 private:
  BatchVisitor visit_;
  std::size_t next_ = 0;
};

// The visitor of a single get: Kyoto calls visit_full (present) or visit_empty.
class GetVisitor final : public kc::DB::Visitor {
 public:
  explicit GetVisitor(ValueVisitor visit) : visit_(visit) {}
  const char* visit_full(const char*, std::size_t, const char* value, std::size_t size, std::size_t*) override {
    found = true;
    visit_(bytes_of(value, size));
    return NOP;
  }
  bool found = false;

 private:
  ValueVisitor visit_;
};

class KyotoReader final : public Reader {
 public:
  explicit KyotoReader(kc::HashDB& db) : db_(db) {}

  bool get(std::string_view key, ValueVisitor visit) override {
    GetVisitor visitor(visit);
    if (!db_.accept(key.data(), key.size(), &visitor, false)) fail(db_, "accept");
    return visitor.found;
  }

  void multi_get(std::span<const std::string_view> keys, BatchVisitor visit) override {
    keys_.resize(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) keys_[i].assign(keys[i]);
    ForwardingVisitor visitor(visit);
    if (!db_.accept_bulk(keys_, &visitor, false)) fail(db_, "accept_bulk");
  }

 private:
  kc::HashDB& db_;
  std::vector<std::string> keys_;  // accept_bulk takes std::strings
};

class SumVisitor final : public kc::DB::Visitor {
 public:
  const char* visit_full(const char*, std::size_t, const char* value, std::size_t, std::size_t*) override {
    result.sum += load_u64(reinterpret_cast<const std::byte*>(value));
    ++result.count;
    return NOP;
  }
  IterationSum result;
};

class KyotoBackend final : public Backend {
 public:
  ~KyotoBackend() override { close(); }

  std::string_view name() const override { return "kyoto"; }

  void open(const std::filesystem::path& dir, OpenMode /*mode*/) override {
    std::filesystem::create_directories(dir);
    db_ = std::make_unique<kc::HashDB>();
    if (!db_->open((dir / kFileName).string(), kc::HashDB::OWRITER | kc::HashDB::OCREATE)) fail(*db_, "open");
  }

  void close() override {
    if (db_ && !db_->close()) fail(*db_, "close");
    db_.reset();
  }

  bool supports(Durability durability) const override {
    return durability == Durability::kNone || durability == Durability::kSyncEachWrite;
  }

  void put(std::string_view key, Bytes value) override {
    set(key, value);
    sync_if_durable();
  }

  void put_batch(std::span<const KeyValue> items) override {
    if (!db_->begin_transaction(false)) fail(*db_, "begin_transaction");
    for (const KeyValue& item : items) set(item.key, item.value);
    if (!db_->end_transaction(true)) fail(*db_, "end_transaction");
    sync_if_durable();
  }

  std::unique_ptr<Reader> reader() override { return std::make_unique<KyotoReader>(*db_); }

  IterationSum iterate_sum() override {
    SumVisitor visitor;
    if (!db_->iterate(&visitor, false)) fail(*db_, "iterate");
    return visitor.result;
  }

  void compact() override {
    if (!db_->defrag(0)) fail(*db_, "defrag");
  }

 private:
  void sync_if_durable() {
    if (durability() != Durability::kNone && !db_->synchronize(true)) fail(*db_, "synchronize");
  }

  void set(std::string_view key, Bytes value) {
    if (!db_->set(key.data(), key.size(), reinterpret_cast<const char*>(value.data()), value.size())) fail(*db_, "set");
  }

  std::unique_ptr<kc::HashDB> db_;
};

}  // namespace

std::unique_ptr<Backend> make_kyoto_backend() { return std::make_unique<KyotoBackend>(); }

}  // namespace srd_bench

// tkrzw HashDBM, configured as bench/BASELINES.md says ("tkrzw" column): default tuning
// and its default in-place update mode; no sync anywhere (records go into the
// shared file mapping).
//   put: Set; put_batch: HashDBM has no transactions, so a loop of Set (not atomic).
//   get: Get (copies into a reused string); multi_get: a loop of Get.
//   iterate: ProcessEach; compact: Rebuild.
// Synced (the D rows): HashDBM has no per-write sync setting (the file's
// OPEN_SYNC_HARD acts only at close), so every put, and every put_batch after its
// loop, ends with Synchronize(hard = true), the documented "physical
// synchronization with the hardware". A batch is then durable, but still not
// atomic. Synchronize holds the database's lock exclusively: syncs are not shared.
#include <tkrzw_dbm_hash.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "../backend.h"
#include "../workload_spec.h"

namespace srd_bench {
namespace {

constexpr const char* kFileName = "db.tkh";

void check(const tkrzw::Status& status, const char* what) {
  if (!status.IsOK()) throw std::runtime_error(std::string("tkrzw ") + what + ": " + status.GetMessage());
}

class TkrzwReader final : public Reader {
 public:
  explicit TkrzwReader(tkrzw::HashDBM& dbm) : dbm_(dbm) {}

  bool get(std::string_view key, ValueVisitor visit) override {
    const tkrzw::Status status = dbm_.Get(key, &value_);
    if (status == tkrzw::Status::NOT_FOUND_ERROR) return false;
    check(status, "get");
    visit(as_bytes(value_));
    return true;
  }

  void multi_get(std::span<const std::string_view> keys, BatchVisitor visit) override {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (!get(keys[i], [&](Bytes value) { visit(i, true, value); })) visit(i, false, {});
    }
  }

 private:
  tkrzw::HashDBM& dbm_;
  std::string value_;
};

// ProcessEach calls ProcessFull for every record (and ProcessEmpty before and
// after, which the sum ignores).
class SumProcessor final : public tkrzw::DBM::RecordProcessor {
 public:
  std::string_view ProcessFull(std::string_view /*key*/, std::string_view value) override {
    result.sum += load_u64(reinterpret_cast<const std::byte*>(value.data()));
    ++result.count;
    return NOOP;
  }
  IterationSum result;
};

class TkrzwBackend final : public Backend {
 public:
  ~TkrzwBackend() override { close(); }

  std::string_view name() const override { return "tkrzw"; }

  void open(const std::filesystem::path& dir, OpenMode /*mode*/) override {
    std::filesystem::create_directories(dir);
    dbm_ = std::make_unique<tkrzw::HashDBM>();
    check(dbm_->Open((dir / kFileName).string(), true), "open");
  }

  void close() override {
    if (dbm_ && dbm_->IsOpen()) check(dbm_->Close(), "close");
    dbm_.reset();
  }

  bool supports(Durability durability) const override {
    return durability == Durability::kNone || durability == Durability::kSyncEachWrite;
  }

  void put(std::string_view key, Bytes value) override {
    check(dbm_->Set(key, as_text(value)), "set");
    sync_if_durable();
  }

  void put_batch(std::span<const KeyValue> items) override {
    for (const KeyValue& item : items) check(dbm_->Set(item.key, as_text(item.value)), "set");
    sync_if_durable();
  }

  std::unique_ptr<Reader> reader() override { return std::make_unique<TkrzwReader>(*dbm_); }

  IterationSum iterate_sum() override {
    SumProcessor processor;
    check(dbm_->ProcessEach(&processor, false), "process_each");
    return processor.result;
  }

  void compact() override { check(dbm_->Rebuild(), "rebuild"); }

 private:
  void sync_if_durable() {
    if (durability() != Durability::kNone) check(dbm_->Synchronize(true), "synchronize");
  }

  std::unique_ptr<tkrzw::HashDBM> dbm_;
};

}  // namespace

std::unique_ptr<Backend> make_tkrzw_backend() { return std::make_unique<TkrzwBackend>(); }

}  // namespace srd_bench

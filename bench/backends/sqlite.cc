// SQLite, configured as bench/BASELINES.md says: journal_mode = WAL, synchronous = OFF,
// prepared statements, one table kv(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID (the
// key is the b-tree key; no second index).
//   put: one autocommit INSERT OR REPLACE (one transaction each); put_batch: the
//        same inside BEGIN ... COMMIT.
//   get: an autocommit prepared SELECT; multi_get: the SELECTs inside BEGIN ... COMMIT.
//   Every Reader has its own connection ("W9 second thread has its own connection").
//   iterate: SELECT k, v; compact: VACUUM, then wal_checkpoint(TRUNCATE).
// Synced (the D rows): synchronous = FULL, under which SQLite documents that a
// commit in WAL mode syncs the WAL before it returns (NORMAL would leave the last
// commits to the next checkpoint's sync). SQLite takes one writer at a time, so
// D3's writers, each with its own connection, take turns on a mutex: the
// alternative, busy_timeout, retries a locked write after sleeps of 1 ms and more,
// which would measure the sleeps rather than the store.
#include <sqlite3.h>

#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>

#include "../backend.h"
#include "../workload_spec.h"

namespace srd_bench {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFileName = "db.sqlite";

[[noreturn]] void fail(sqlite3* db, const char* what) {
  throw std::runtime_error(std::string("sqlite ") + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

// One connection, closed on destruction.
class Connection {
 public:
  explicit Connection(const fs::path& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
      fail(db_, "open");
    }
  }
  ~Connection() { sqlite3_close_v2(db_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* get() const { return db_; }
  void exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(db_, sql);
  }

 private:
  sqlite3* db_ = nullptr;
};

// One prepared statement, reset after every use so it can be stepped again.
class Statement {
 public:
  Statement(const Connection& connection, const char* sql) : db_(connection.get()) {
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK) fail(db_, sql);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  sqlite3_stmt* get() const { return stmt_; }
  void bind(int index, std::string_view text) {
    if (sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC) != SQLITE_OK) {
      fail(db_, "bind");
    }
  }
  void bind(int index, Bytes bytes) {
    if (sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC) != SQLITE_OK) {
      fail(db_, "bind");
    }
  }
  // Steps a statement that returns no rows, then resets it.
  void run() {
    if (sqlite3_step(stmt_) != SQLITE_DONE) fail(db_, "step");
    sqlite3_reset(stmt_);
  }
  sqlite3* db() const { return db_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

Bytes column_bytes(sqlite3_stmt* stmt, int column) {
  const void* data = sqlite3_column_blob(stmt, column);
  return {static_cast<const std::byte*>(data), static_cast<std::size_t>(sqlite3_column_bytes(stmt, column))};
}

class SqliteReader final : public Reader {
 public:
  explicit SqliteReader(const fs::path& path)
      : connection_(path),
        select_(connection_, "SELECT v FROM kv WHERE k = ?1"),
        begin_(connection_, "BEGIN"),
        commit_(connection_, "COMMIT") {}

  bool get(std::string_view key, ValueVisitor visit) override {
    select_.bind(1, key);
    const int rc = sqlite3_step(select_.get());
    if (rc == SQLITE_ROW) visit(column_bytes(select_.get(), 0));
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail(select_.db(), "select");
    sqlite3_reset(select_.get());
    return rc == SQLITE_ROW;
  }

  void multi_get(std::span<const std::string_view> keys, BatchVisitor visit) override {
    begin_.run();
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (!get(keys[i], [&](Bytes value) { visit(i, true, value); })) visit(i, false, {});
    }
    commit_.run();
  }

 private:
  Connection connection_;
  Statement select_;
  Statement begin_;
  Statement commit_;
};

// `synchronous` is a setting of the connection, not of the database file.
const char* synchronous_pragma(Durability durability) {
  return durability == Durability::kNone ? "PRAGMA synchronous = OFF" : "PRAGMA synchronous = FULL";
}

class SqliteWriter final : public Writer {
 public:
  SqliteWriter(const fs::path& path, Durability durability, std::mutex& turn)
      : connection_(path), insert_(connection_, "INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)"), turn_(turn) {
    connection_.exec(synchronous_pragma(durability));
  }

  void put(std::string_view key, Bytes value) override {
    const std::lock_guard lock(turn_);
    insert_.bind(1, key);
    insert_.bind(2, value);
    insert_.run();
  }

 private:
  Connection connection_;
  Statement insert_;
  std::mutex& turn_;
};

class SqliteBackend final : public Backend {
 public:
  std::string_view name() const override { return "sqlite"; }

  bool supports(Durability durability) const override {
    return durability == Durability::kNone || durability == Durability::kSyncEachWrite;
  }

  void open(const fs::path& dir, OpenMode /*mode*/) override {
    fs::create_directories(dir);
    path_ = dir / kFileName;
    connection_ = std::make_unique<Connection>(path_);
    connection_->exec("PRAGMA journal_mode = WAL");
    connection_->exec(synchronous_pragma(durability()));
    connection_->exec("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID");
    insert_ = std::make_unique<Statement>(*connection_, "INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)");
    begin_ = std::make_unique<Statement>(*connection_, "BEGIN");
    commit_ = std::make_unique<Statement>(*connection_, "COMMIT");
  }

  void close() override {
    insert_.reset();
    begin_.reset();
    commit_.reset();
    connection_.reset();  // the last connection checkpoints the WAL into the database
  }

  void put(std::string_view key, Bytes value) override {
    insert_->bind(1, key);
    insert_->bind(2, value);
    insert_->run();
  }

  void put_batch(std::span<const KeyValue> items) override {
    begin_->run();
    for (const KeyValue& item : items) put(item.key, item.value);
    commit_->run();
  }

  std::unique_ptr<Reader> reader() override { return std::make_unique<SqliteReader>(path_); }
  std::unique_ptr<Writer> writer() override { return std::make_unique<SqliteWriter>(path_, durability(), turn_); }

  IterationSum iterate_sum() override {
    Statement scan(*connection_, "SELECT k, v FROM kv");
    IterationSum result;
    int rc;
    while ((rc = sqlite3_step(scan.get())) == SQLITE_ROW) {
      result.sum += load_u64(column_bytes(scan.get(), 1).data());
      ++result.count;
    }
    if (rc != SQLITE_DONE) fail(connection_->get(), "scan");
    return result;
  }

  void compact() override {
    connection_->exec("VACUUM");
    connection_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }

 private:
  fs::path path_;
  std::unique_ptr<Connection> connection_;
  std::unique_ptr<Statement> insert_;
  std::unique_ptr<Statement> begin_;
  std::unique_ptr<Statement> commit_;
  std::mutex turn_;  // one Writer writes at a time
};

}  // namespace

std::unique_ptr<Backend> make_sqlite_backend() { return std::make_unique<SqliteBackend>(); }

}  // namespace srd_bench

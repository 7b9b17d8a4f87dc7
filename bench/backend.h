// Backend: what the workloads (workloads.cc) need from a key/value store. One
// implementation per store, in backends/<store>.cc; each is configured the way
// bench/BASELINES.md describes, so our figures sit beside the
// reference figures.
//
// Reads go through a Reader rather than the Backend itself, because some stores
// tie read state to a thread: an LMDB read transaction belongs to the thread that
// began it, and a SQLite connection is best used by one thread (bench/BASELINES.md:
// "W9 second thread has its own connection"). W9 gives each thread its own Reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string_view>

#include "function_ref.h"

namespace srd_bench {

using Bytes = std::span<const std::byte>;

inline Bytes as_bytes(std::string_view text) { return {reinterpret_cast<const std::byte*>(text.data()), text.size()}; }
inline std::string_view as_text(Bytes bytes) { return {reinterpret_cast<const char*>(bytes.data()), bytes.size()}; }

// One item of a batch. Field order and types let our batch_write take a span of
// these as it is (it destructures each item into key and payload).
struct KeyValue {
  std::string_view key;
  Bytes value;
};

// Receives a value found by a read. The bytes are only valid during the call:
// zero-copy stores pass a view into their mapping, the others a buffer they reuse.
using ValueVisitor = FunctionRef<void(Bytes value)>;
// Receives the result for keys[index] of a multi-get; `found` is false for a
// missing key (then `value` is empty).
using BatchVisitor = FunctionRef<void(std::size_t index, bool found, Bytes value)>;

// Total and number of the values seen by an iteration (each value read as the u64
// LE in its first 8 bytes).
struct IterationSum {
  std::uint64_t sum = 0;
  std::uint64_t count = 0;
};

// When a put or put_batch has to be on stable storage: W1..W10 run every store
// in kNone, the D rows (durability_workloads.h) in the others. A store is told its
// mode before open(), since most fix it there (LMDB's flags, SQLite's pragma).
enum class Durability {
  kNone,           // the store's documented non-synced mode (the peers' baseline)
  kSyncEachWrite,  // every put and put_batch is durable when it returns
  // kSyncEachWrite through a setting that lets concurrent writers share a sync.
  // Only stores with such a setting of their own claim it (ours); D3 runs the
  // others in kSyncEachWrite, which RocksDB and LevelDB group natively anyway.
  kGroupCommit,
  kSyncPeriodically,  // a background sync every 100 ms (ours only)
};

enum class OpenMode {
  kCreate,    // a new database in an empty directory
  kExisting,  // reopen what an earlier process closed
  // Reopen, ignoring any saved index the store keeps beside its data (ours: the
  // index snapshot), to time the full rebuild. Only for has_index_cache() stores.
  kExistingRebuildIndex,
};

class Reader {
 public:
  virtual ~Reader() = default;
  // Looks `key` up and passes its value to `visit`; returns whether it was found.
  virtual bool get(std::string_view key, ValueVisitor visit) = 0;
  // Looks up every key, with the store's native multi-get where it has one.
  // `visit` is called once per key, in order.
  virtual void multi_get(std::span<const std::string_view> keys, BatchVisitor visit) = 0;
};

// A put handle for the calling thread (D3's writers). Most stores take puts from
// any thread, and the default writer just forwards to Backend::put; SQLite gives
// each writer its own connection, as it does each Reader.
class Writer {
 public:
  virtual ~Writer() = default;
  virtual void put(std::string_view key, Bytes value) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // The store's name on the command line and in the table ("srd", "lmdb", ...).
  virtual std::string_view name() const = 0;

  // The database lives in (or is) directory `dir`, which the workload creates
  // empty for kCreate. Throws on any failure.
  virtual void open(const std::filesystem::path& dir, OpenMode mode) = 0;
  // Closes the database: afterwards its files are complete, as at a normal exit.
  virtual void close() = 0;

  // Whether the store can run in `durability`, and the mode the next open() uses
  // (kNone until set). Stores whose mode is not fixed at open apply it per write.
  virtual bool supports(Durability durability) const { return durability == Durability::kNone; }
  void set_durability(Durability durability);
  Durability durability() const { return durability_; }

  // One put in its own write transaction, or the store's equivalent.
  virtual void put(std::string_view key, Bytes value) = 0;
  // All items in one write (one transaction, write batch or atomic append), or a
  // plain loop where the store has nothing better (bench/BASELINES.md says which).
  virtual void put_batch(std::span<const KeyValue> items) = 0;

  // A read handle for the calling thread. Destroy it before close().
  virtual std::unique_ptr<Reader> reader() = 0;
  // A put handle for the calling thread, for several threads writing at once.
  // Destroy it before close(). The default forwards to put(), which must then be
  // safe to call from several threads.
  virtual std::unique_ptr<Writer> writer();

  // Iterates every live entry on this thread.
  virtual IterationSum iterate_sum() = 0;
  // Iterates every live entry with all cores, if the store can (ours only).
  virtual bool has_parallel_iteration() const { return false; }
  virtual IterationSum iterate_sum_parallel();

  // Reclaims the space of overwritten values (compaction, vacuum, rebuild, defrag).
  // The store is open and usable afterwards.
  virtual void compact() = 0;

  // Whether the store saves an index that open can load instead of rebuilding
  // (what kExistingRebuildIndex bypasses).
  virtual bool has_index_cache() const { return false; }

  // Bytes in the database's files (sum of file sizes in `dir`), and how many of
  // those are a saved index (0 for stores without one). Called after close().
  virtual std::uint64_t bytes_on_disk(const std::filesystem::path& dir) const;
  virtual std::uint64_t index_cache_bytes(const std::filesystem::path& /*dir*/) const { return 0; }
  // Of the saved index, the bytes the key -> location table takes in memory once
  // loaded (0 for stores without one): the index's cost per key in the scale report.
  virtual std::uint64_t index_table_bytes(const std::filesystem::path& /*dir*/) const { return 0; }

 private:
  Durability durability_ = Durability::kNone;
};

}  // namespace srd_bench

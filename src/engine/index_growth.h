// IndexGrowth: growing a large key index on a thread of its own.
//
// Growing a table reads every live key's record for its full hash (key_index.h), so
// it costs about 46 ns a key: 25 ms at half a million keys. Done on the writer's
// thread, that is one write (and, in the server, every request queued behind it)
// waiting 25 ms once per growth. Instead, when a large table becomes crowded the
// writer starts a growth: another thread copies the table into a larger one while
// the writer goes on changing the old table (which still has room: a table is
// crowded at 3/4 full) and lists each change it makes. Once the copy is done, the
// same thread replays the listed changes into the larger table until it has caught
// up with the list; the writer's next change replays the few listed since and
// publishes the larger table. Readers keep reading the old table until then and
// never see the new one half made.
//
// Why the copy is right although the old table changes under it: the copy leaves out
// every slot naming a record past the tail it started at (those records were written
// after it started, so their changes are all in the list), and each slot it does copy
// holds either what it held at the start or a later value of the same key. Replaying
// the list in order, with upsert, then leaves every key at its newest record, as in
// the old table.
//
// Replaying on the copying thread must tell keys apart without the writer's view of
// the file: a slot of the larger table names either a record the copy could read, or
// one whose change is in the list, and since the writer indexes records in file order
// the list is sorted by tail, so that record's key hash is found there by bisection.
//
// The writer waits for the copy (the old pause, bounded) only when the old table
// reaches 7/8 full first, or the list its limit: a writer adding keys faster than
// the copy goes.
//
// Thread-safety: one writer (under the store's change mutex) calls everything. The
// copying thread reads the old table's slots (atomically), the records at or below
// the tail it started at, and the listed changes the writer published (release and
// acquire on the count).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "engine/key_index.h"

namespace simd_r_drive::engine {

class IndexGrowth {
 public:
  // Tables smaller than this grow on the writer's thread (under 1 ms); a thread
  // would cost more than it saves.
  static constexpr std::size_t kMinBackgroundCapacity = 16 * 1024;
  // The list of changes grows in chunks of kChunkChanges (192 KiB). A growth lists
  // at most kMaxChanges (16M) changes; then the writer waits for it.
  static constexpr std::size_t kChunkChanges = 8192;
  static constexpr std::size_t kMaxChunks = 2048;
  static constexpr std::size_t kMaxChanges = kChunkChanges * kMaxChunks;

  // Starts copying `source` on another thread: its slots naming records that end at
  // or below `last_copied_tail`, whose key hashes `records` reads. `keep_alive` holds
  // what `records` reads from; `source` must outlive this object. `before_copy`, if
  // given, runs on that thread first (tests hold the copy back with it).
  IndexGrowth(const IndexTable& source, RecordKeys records, std::uint64_t last_copied_tail,
              std::shared_ptr<const void> keep_alive, std::function<void()> before_copy = {});
  // Drops an unfinished growth (stops the thread and waits for it).
  ~IndexGrowth();
  IndexGrowth(const IndexGrowth&) = delete;
  IndexGrowth& operator=(const IndexGrowth&) = delete;

  // Lists a change the writer made to the old table after the growth started; tails
  // increase from one change to the next. Only while !full().
  void note(std::uint64_t key_hash, std::uint64_t tail, bool deleted);
  bool full() const noexcept { return noted_.load(std::memory_order_relaxed) == kMaxChanges; }
  // Whether the copy is done and has caught up with the list, so that finish() will
  // not wait.
  bool ready() const noexcept { return done_.load(std::memory_order_acquire); }
  // Waits for the thread, replays the changes listed since it last caught up, and
  // returns the larger table. Rethrows what the copy threw (Error(kCorruption) for a
  // record it could not read).
  template <class KeyOf>
  std::unique_ptr<IndexTable> finish(const KeyOf& key_of) {
    std::unique_ptr<IndexTable> grown = wait();
    replay_until(*grown, noted_.load(std::memory_order_relaxed), key_of);
    return grown;
  }
  std::size_t noted_changes() const noexcept { return noted_.load(std::memory_order_relaxed); }
  // After finish(): how many of the listed changes the copying thread replayed.
  std::size_t replayed_by_thread() const noexcept { return replayed_by_thread_; }

 private:
  struct Change {
    std::uint64_t key_hash;
    std::uint64_t tail;
    bool deleted;
  };
  // The key hashes of the records the larger table names, for the copying thread's
  // replay: read from the file at or below the copied tail, from the list above it.
  class GrowthKeys {
   public:
    GrowthKeys(const IndexGrowth& growth, std::size_t listed) noexcept : growth_(growth), listed_(listed) {}
    std::optional<std::uint64_t> operator()(std::uint64_t tail) const noexcept;
    void prefetch(std::uint64_t) const noexcept {}

   private:
    const IndexGrowth& growth_;
    std::size_t listed_;  // changes [0, listed_) may be read
  };

  const Change& at(std::size_t i) const noexcept { return chunks_[i / kChunkChanges][i % kChunkChanges]; }
  // Replays the listed changes [replayed_, listed) into `table`, in order.
  template <class KeyOf>
  void replay_until(IndexTable& table, std::size_t listed, const KeyOf& key_of) {
    for (; replayed_ < listed; ++replayed_) {
      const Change& change = at(replayed_);
      table.upsert(change.key_hash, change.tail, change.deleted, key_of);
    }
  }
  void run();
  std::unique_ptr<IndexTable> wait();

  const IndexTable& source_;
  const RecordKeys records_;
  const std::uint64_t last_copied_tail_;
  std::shared_ptr<const void> keep_alive_;
  std::function<void()> before_copy_;
  // The listed changes, in chunks that never move (the thread reads them while the
  // writer adds more); chunk pointers are written before the count that covers them.
  std::array<std::unique_ptr<Change[]>, kMaxChunks> chunks_;
  std::atomic<std::size_t> noted_{0};
  std::size_t replayed_ = 0;  // by the thread, then by finish(); read after join
  std::size_t replayed_by_thread_ = 0;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> done_{false};
  std::unique_ptr<IndexTable> result_;  // set by the thread, read after join
  std::exception_ptr failure_;          // likewise
  int owner_pid_ = 0;                   // a forked child has no copying thread to join
  std::thread thread_;
};

}  // namespace simd_r_drive::engine

// Kill loop: a child process writes to a store and is killed with SIGKILL at a random
// moment, many times over on the same file. After each kill the parent reopens the
// store and checks it against a model: every operation the child acknowledged is
// there byte for byte, the one operation it was running is there entirely or not at
// all, nothing else is, and every live entry passes its checksum. Before that, the
// file as the kill left it is read through a model of the Rust original's recovery and
// index (tests/support/original_reader.h), with the same checks but len(): a
// crash-left file must open in the original too. Once the file passes 16 MiB the
// parent compacts it after its checks (the children seldom live to their own
// compaction), so what each iteration reads stays bounded.
//
// A process crash loses no acknowledged write in any durability mode (the page cache
// survives it), so the check is the same for all modes; what differs is the path a
// write takes (a sync inside the write lock, a shared sync).
//
// The operations are a pure function of (iteration seed, operation index) and the
// values a pure function of (iteration seed, operation index, item), so the parent
// recomputes what the child did from the indices it acknowledged through a pipe.
//
// Where a kill lands is arranged, not left to the machine's speed: of every four
// iterations one kills at a random time from the start (often inside open), two at a
// random time after the child reported the store open (so inside an operation), and
// one as soon as the child acknowledged the operation before a compaction (so inside
// the compaction, or just after it on a slow scheduler). Iterations of the last kind
// are added, a bounded number, until enough kills landed in a compaction; the test
// asserts lower bounds on both kinds of kill.
//
// SRD_KILL_ITERATIONS sets the kills per durability mode (default 60; four modes), SRD_KILL_SEED
// the base seed (a failure prints the seed, the iteration and the delay).

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "child_process.h"
#include "io/fault_injection.h"
#include "original_reader.h"
#include "simd_r_drive/simd_r_drive.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::Durability;
using simd_r_drive::EntryHandle;
using simd_r_drive::Error;
using simd_r_drive::ErrorCode;
using simd_r_drive::OpenOptions;
using srd_test::ChildChannel;
using srd_test::ChildProcess;
using srd_test::TempDir;

constexpr int kKeySpace = 64;
constexpr std::uint64_t kCompactEvery = 40;
// The child's first message: the store is open, every later kill lands in an operation.
constexpr std::uint64_t kOpenedMessage = ~std::uint64_t{0};
// Exit codes of a child that was not killed.
constexpr int kChildFinished = 0;
constexpr int kChildEngineError = 10;
constexpr int kChildUnexpectedError = 11;
// A child runs until killed; this only bounds a child that outlives its delay
// (which the parent would report as not killed).
constexpr std::uint64_t kMaxOpsPerChild = 1'000'000;

// A value is named by its seed and size; its bytes are generated from them.
struct Value {
  std::uint64_t seed = 0;
  std::uint32_t size = 0;
  auto operator<=>(const Value&) const = default;
};

std::vector<std::byte> bytes_of(const Value& value) {
  std::vector<std::byte> out(value.size);
  for (std::size_t i = 0; i < out.size(); i += 8) {
    const std::uint64_t word = srd_test::mix64(value.seed ^ (i * 0x100000001B3ull));
    std::memcpy(out.data() + i, &word, std::min<std::size_t>(8, out.size() - i));
  }
  // Never the single byte 0x00 (a tombstone) nor an all-zero stream: both are refused.
  out[0] |= std::byte{1};
  return out;
}

std::string key_name(int key) { return "kill-key-" + std::to_string(key); }

enum class OpKind { kWrite, kBatch, kStream, kRemove, kRename, kCompact };

const char* name_of(OpKind kind) {
  switch (kind) {
    case OpKind::kWrite: return "write";
    case OpKind::kBatch: return "batch_write";
    case OpKind::kStream: return "write_stream";
    case OpKind::kRemove: return "remove";
    case OpKind::kRename: return "rename";
    case OpKind::kCompact: return "compact";
  }
  return "?";
}

struct Op {
  OpKind kind = OpKind::kWrite;
  std::vector<std::pair<int, Value>> items;  // write, batch, stream: (key, value), in order
  int key = 0;                               // remove; rename's source
  int target = 0;                            // rename's destination
};

// The operation with index `index` of the iteration with seed `seed`.
Op op_at(std::uint64_t seed, std::uint64_t index) {
  Op op;
  if (index % kCompactEvery == kCompactEvery - 1) {
    op.kind = OpKind::kCompact;
    return op;
  }
  std::mt19937_64 rng(srd_test::mix64(seed ^ srd_test::mix64(index)));
  auto below = [&rng](std::uint64_t bound) { return static_cast<std::uint32_t>(rng() % bound); };
  std::uint32_t item = 0;
  auto value_of_size = [&](std::uint32_t size) { return Value{srd_test::mix64(seed ^ srd_test::mix64(index * 64 + item++)), size}; };
  auto small = [&] { return value_of_size(1 + below(200)); };
  auto medium = [&] { return value_of_size(1 + below(64 * 1024)); };
  // At least 300 KiB: alone above the engine's direct-write threshold (the pwritev
  // path in the modes that sync each write, the mapping in the others).
  auto large = [&] { return value_of_size(300 * 1024 + below(100 * 1024)); };
  const std::uint32_t roll = below(100);
  if (roll < 40) {
    op.items.emplace_back(below(kKeySpace), small());
  } else if (roll < 55) {
    op.items.emplace_back(below(kKeySpace), medium());
  } else if (roll < 60) {
    op.items.emplace_back(below(kKeySpace), large());
  } else if (roll < 72) {
    op.kind = OpKind::kBatch;
    const std::uint32_t count = 2 + below(5);
    // Keys may repeat within a batch (the later item wins); one batch in eight
    // carries a large item and so takes the pwritev path as a whole where there is one.
    const bool with_large = below(8) == 0;
    for (std::uint32_t i = 0; i < count; ++i) {
      const int key = static_cast<int>(below(kKeySpace));
      op.items.emplace_back(key, with_large && i == 0 ? large() : below(3) == 0 ? medium() : small());
    }
  } else if (roll < 76) {
    op.kind = OpKind::kStream;
    op.items.emplace_back(below(kKeySpace), value_of_size(900 * 1024 + below(200 * 1024)));
  } else if (roll < 90) {
    op.kind = OpKind::kRemove;
    op.key = static_cast<int>(below(kKeySpace));
  } else {
    op.kind = OpKind::kRename;
    op.key = static_cast<int>(below(kKeySpace));
    op.target = static_cast<int>((op.key + 1 + below(kKeySpace - 1)) % kKeySpace);  // never the source
  }
  return op;
}

std::string describe(const Op& op) {
  std::ostringstream out;
  out << name_of(op.kind);
  for (const auto& [key, value] : op.items) out << " k" << key << "(" << value.size << " B)";
  if (op.kind == OpKind::kRemove) out << " k" << op.key;
  if (op.kind == OpKind::kRename) out << " k" << op.key << " -> k" << op.target;
  return out.str();
}

// Key -> value of every live key.
using Model = std::map<int, Value>;

void apply_op(Model& model, const Op& op) {
  switch (op.kind) {
    case OpKind::kWrite:
    case OpKind::kBatch:
    case OpKind::kStream:
      for (const auto& [key, value] : op.items) model[key] = value;
      return;
    case OpKind::kRemove:
      model.erase(op.key);
      return;
    case OpKind::kRename:
      // A missing source throws kNotFound and changes nothing.
      if (auto it = model.find(op.key); it != model.end()) {
        const Value moved = it->second;
        model.erase(it);
        model[op.target] = moved;
      }
      return;
    case OpKind::kCompact:
      return;
  }
}

// ---------------------------------------------------------------------------
// The child

void run_op(DataStore& store, const Op& op) {
  switch (op.kind) {
    case OpKind::kWrite: {
      const std::vector<std::byte> bytes = bytes_of(op.items[0].second);
      store.write(key_name(op.items[0].first), bytes);
      return;
    }
    case OpKind::kBatch: {
      std::vector<std::pair<std::string, std::vector<std::byte>>> items;
      for (const auto& [key, value] : op.items) items.emplace_back(key_name(key), bytes_of(value));
      store.batch_write(items);
      return;
    }
    case OpKind::kStream: {
      const std::vector<std::byte> bytes = bytes_of(op.items[0].second);
      std::size_t offset = 0;
      // Odd-sized pieces, so the engine's chunking and the source's do not line up.
      store.write_stream(key_name(op.items[0].first), [&](std::span<std::byte> buffer) {
        const std::size_t n = std::min({buffer.size(), bytes.size() - offset, std::size_t{40'000}});
        std::memcpy(buffer.data(), bytes.data() + offset, n);
        offset += n;
        return n;
      });
      return;
    }
    case OpKind::kRemove:
      store.remove(key_name(op.key));
      return;
    case OpKind::kRename:
      try {
        store.rename(key_name(op.key), key_name(op.target));
      } catch (const Error& error) {
        if (error.code() != ErrorCode::kNotFound) throw;
      }
      return;
    case OpKind::kCompact:
      store.compact();
      return;
  }
}

// Runs operations until killed, acknowledging each after it returned. Leaves with
// _exit, never through the store's destructor: only a kill ends a session here.
int child_writer(const std::filesystem::path& path, Durability durability, std::uint64_t seed,
                 const ChildChannel& channel) {
  try {
    OpenOptions options;
    options.durability = durability;
    DataStore store = DataStore::open(path, options);
    channel.send(kOpenedMessage);
    for (std::uint64_t index = 0; index < kMaxOpsPerChild; ++index) {
      run_op(store, op_at(seed, index));
      channel.send(index);
    }
    std::fflush(stderr);
    ::_exit(kChildFinished);
  } catch (const Error& error) {
    std::fprintf(stderr, "kill-loop child: %s (%s)\n", error.what(), std::string(to_string(error.code())).c_str());
    std::fflush(stderr);
    ::_exit(kChildEngineError);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "kill-loop child: %s\n", error.what());
    std::fflush(stderr);
    ::_exit(kChildUnexpectedError);
  }
}

// ---------------------------------------------------------------------------
// The parent's checks

// Generated bytes of the values the checks compare against, kept between iterations
// because most live values stay the same from one kill to the next.
class ValueCache {
 public:
  const std::vector<std::byte>& get(const Value& value) {
    auto it = cache_.find(value);
    if (it == cache_.end()) it = cache_.emplace(value, bytes_of(value)).first;
    return it->second;
  }
  void keep_only(const Model& model) {
    std::set<Value> live;
    for (const auto& [key, value] : model) live.insert(value);
    std::erase_if(cache_, [&](const auto& item) { return !live.contains(item.first); });
  }

 private:
  std::map<Value, std::vector<std::byte>> cache_;
};

// How a reopened store compares with the state before and after the in-flight op.
struct Observation {
  std::vector<int> matches_neither;  // keys holding neither state: lost or damaged
  bool all_before = true;            // every key as before the in-flight op
  bool all_after = true;             // every key as after it
  std::size_t len = 0;
  std::string detail;                // what differed, for the failure message
};

bool holds(const std::optional<EntryHandle>& handle, const Model& model, int key, ValueCache& cache) {
  auto it = model.find(key);
  if (it == model.end()) return !handle.has_value();
  if (!handle) return false;
  const std::vector<std::byte>& expected = cache.get(it->second);
  return handle->size() == expected.size() && std::memcmp(handle->data(), expected.data(), expected.size()) == 0;
}

// The Rust original's view of the file as the kill left it (before this engine
// reopens it: its open removes the padding record and any torn write). Every key
// must read as before the in-flight op or as after it, byte for byte, deleted keys
// absent; len() is not compared (the original's counts deleted keys too).
Observation observe_as_original(std::vector<std::byte> file, const Model& before, const Model& after,
                                ValueCache& cache) {
  Observation result;
  const std::size_t file_size = file.size();
  const srd_test::OriginalStore original(std::move(file));
  for (int key = 0; key < kKeySpace; ++key) {
    const auto value = original.read(DataStore::hash_key(key_name(key)));
    auto holds_in = [&](const Model& model) {
      const auto it = model.find(key);
      if (it == model.end()) return !value.has_value();
      const std::vector<std::byte>& expected = cache.get(it->second);
      return value && value->size() == expected.size() && std::memcmp(value->data(), expected.data(), expected.size()) == 0;
    };
    const bool as_before = holds_in(before);
    const bool as_after = holds_in(after);
    result.all_before = result.all_before && as_before;
    result.all_after = result.all_after && as_after;
    if (!as_before || !as_after) {
      result.detail += " k" + std::to_string(key) + ":" + (value ? std::to_string(value->size()) + "B" : "absent") +
                       (as_before ? "=before" : as_after ? "=after" : "=NEITHER");
    }
    if (!as_before && !as_after) result.matches_neither.push_back(key);
  }
  result.len = original.len();
  result.detail += " (the original kept " + std::to_string(original.recovered_length()) + " of " +
                   std::to_string(file_size) + " bytes, " + std::to_string(original.len()) + " keys indexed)";
  return result;
}

Observation observe(const DataStore& store, const Model& before, const Model& after, ValueCache& cache) {
  Observation result;
  result.len = store.len();
  for (int key = 0; key < kKeySpace; ++key) {
    const std::optional<EntryHandle> handle = store.read(key_name(key));
    const bool as_before = holds(handle, before, key, cache);
    const bool as_after = holds(handle, after, key, cache);
    result.all_before = result.all_before && as_before;
    result.all_after = result.all_after && as_after;
    if (!as_before || !as_after) {
      result.detail += " k" + std::to_string(key) + ":" + (handle ? std::to_string(handle->size()) + "B" : "absent") +
                       (as_before ? "=before" : as_after ? "=after" : "=NEITHER");
    }
    if (!as_before && !as_after) result.matches_neither.push_back(key);
  }
  // len() also counts keys outside the key space, which nothing ever wrote.
  result.all_before = result.all_before && result.len == before.size();
  result.all_after = result.all_after && result.len == after.size();
  return result;
}

struct Tally {
  std::uint64_t kills = 0;
  std::uint64_t killed_during_open = 0;
  std::uint64_t mid_op = 0;  // killed after the store was open, so inside op acked+1
  std::uint64_t during_compaction = 0;
  std::uint64_t in_flight_applied = 0;      // done but not yet acknowledged
  std::uint64_t in_flight_not_applied = 0;  // cut off, left no trace
  std::uint64_t acknowledged_verified = 0;
  std::uint64_t lost = 0;  // acknowledged ops (or earlier verified state) missing
  std::uint64_t torn = 0;  // in-flight op visible in part
  // The same through the model of the Rust original, on the file as the kill left it.
  std::uint64_t original_keys_checked = 0;
  std::uint64_t original_lost = 0;
  std::uint64_t original_torn = 0;
};

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 10);
}

const char* mode_name(Durability mode) {
  switch (mode) {
    case Durability::kFlush: return "Flush";
    case Durability::kSyncEachWrite: return "SyncEachWrite";
    case Durability::kGroupCommit: return "GroupCommit";
    case Durability::kSyncPeriodically: return "SyncPeriodically";
  }
  return "?";
}

std::string tail_of_file(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return "(no child log)";
  const std::vector<std::byte> bytes = srd_test::read_file(path);
  const std::size_t keep = std::min<std::size_t>(bytes.size(), 2000);
  return std::string(reinterpret_cast<const char*>(bytes.data() + bytes.size() - keep), keep);
}

// When an iteration kills its child.
enum class KillAt { kAnyTime, kAfterOpen, kInCompaction };

const char* name_of(KillAt plan) {
  switch (plan) {
    case KillAt::kAnyTime: return "any time";
    case KillAt::kAfterOpen: return "after open";
    case KillAt::kInCompaction: return "in compaction";
  }
  return "?";
}

// Iterations of kind kInCompaction added at most, when too few kills landed in one.
constexpr std::uint64_t kMaxExtraIterations = 40;
// The parent compacts the store after its checks once the file is larger than this.
constexpr std::uint64_t kParentCompactsAbove = 16 << 20;
// A child that neither opens nor acknowledges anything for this long is a failure.
constexpr auto kChildProgressBound = std::chrono::seconds(60);

class KillLoopTest : public testing::TestWithParam<Durability> {};

TEST_P(KillLoopTest, AcknowledgedWritesSurviveSigkill) {
  const Durability mode = GetParam();
  const std::uint64_t iterations = env_or("SRD_KILL_ITERATIONS", 60);
  const std::uint64_t base_seed = env_or("SRD_KILL_SEED", 20261121);
  TempDir dir;
  const std::filesystem::path path = dir.file("store.bin");
  const std::filesystem::path child_log = dir.file("child.log");
  // The parent only checks; it needs no sync of its own (a sync mode's close would
  // add an fdatasync to every iteration). The child writes in `mode`.
  const OpenOptions options;

  std::mt19937_64 delays(srd_test::mix64(base_seed ^ static_cast<std::uint64_t>(mode)));
  Model model;  // what the store holds before the next child starts
  ValueCache cache;
  Tally tally;

  // Bounds on where the kills landed: every iteration but the kAnyTime ones kills
  // after open; a quarter aim at a compaction, of which the scheduler may let some
  // finish first, so half of them are required (iterations are added until then).
  const std::uint64_t min_mid_op = iterations / 2;
  const std::uint64_t min_during_compaction = std::max<std::uint64_t>(1, iterations / 8);
  const auto extra_deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  for (std::uint64_t iteration = 0;
       iteration < iterations || (tally.during_compaction < min_during_compaction &&
                                  iteration < iterations + kMaxExtraIterations &&
                                  std::chrono::steady_clock::now() < extra_deadline);
       ++iteration) {
    const std::uint64_t seed = srd_test::mix64(base_seed ^ srd_test::mix64(iteration * 16 + static_cast<std::uint64_t>(mode)));
    const KillAt plan = iteration >= iterations   ? KillAt::kInCompaction
                        : iteration % 4 == 0      ? KillAt::kAnyTime
                        : iteration % 4 == 3      ? KillAt::kInCompaction
                                                  : KillAt::kAfterOpen;
    // kAnyTime: from a few milliseconds (often inside open or the first op) to about
    // 40 after the start; kAfterOpen: up to 20 after the child reported the store open.
    const std::uint64_t random_delay = delays();
    const auto delay = plan == KillAt::kAnyTime ? std::chrono::microseconds(2000 + random_delay % 38000)
                                                : std::chrono::microseconds(random_delay % 20000);
    SCOPED_TRACE("mode " + std::string(mode_name(mode)) + ", SRD_KILL_SEED=" + std::to_string(base_seed) +
                 ", iteration " + std::to_string(iteration) + ", kill " + name_of(plan) + ", delay " +
                 std::to_string(delay.count()) + " us");

    std::filesystem::remove(child_log);
    bool opened = false;
    std::optional<std::uint64_t> acked;  // the last acknowledged op index
    auto take = [&](std::uint64_t message) {
      if (message == kOpenedMessage) {
        opened = true;
      } else {
        ASSERT_EQ(message, acked ? *acked + 1 : 0) << "acknowledgements out of order";
        acked = message;
      }
    };
    {
      ChildProcess child([&](const ChildChannel& channel) { return child_writer(path, mode, seed, channel); },
                         child_log);
      // Read acknowledgements while waiting, so the pipe never fills and blocks the child.
      const auto started = std::chrono::steady_clock::now();
      std::optional<std::chrono::steady_clock::time_point> deadline;
      if (plan == KillAt::kAnyTime) deadline = started + delay;
      bool kill_now = false;
      while (!child.ended() && !kill_now) {
        const auto now = std::chrono::steady_clock::now();
        if (deadline && now >= *deadline) break;
        if (!deadline && now >= started + kChildProgressBound) {
          ADD_FAILURE() << "the child did not get to the planned kill point within the bound";
          break;
        }
        const auto until = deadline ? *deadline : started + kChildProgressBound;
        if (auto message = child.receive(std::chrono::ceil<std::chrono::milliseconds>(until - now))) {
          take(*message);
          if (HasFatalFailure()) return;
          if (plan == KillAt::kAfterOpen && opened && !deadline) deadline = std::chrono::steady_clock::now() + delay;
          // The next operation is a compaction: kill while it runs.
          if (plan == KillAt::kInCompaction && acked && op_at(seed, *acked + 1).kind == OpKind::kCompact) {
            kill_now = true;
          }
        }
      }
      child.kill();
      const srd_test::ChildExit exit = child.wait();
      while (auto message = child.poll()) {
        take(*message);
        if (HasFatalFailure()) return;
      }
      ASSERT_TRUE(exit.signalled && exit.signal == SIGKILL)
          << "the child was to be killed, but it " << exit.describe() << "; its stderr:\n"
          << tail_of_file(child_log);
    }
    ++tally.kills;

    // The state after every acknowledged op, and after the one in flight as well.
    const std::uint64_t acknowledged = acked ? *acked + 1 : 0;
    Model before = model;
    for (std::uint64_t index = 0; index < acknowledged; ++index) apply_op(before, op_at(seed, index));
    const Op in_flight = op_at(seed, acknowledged);
    Model after = before;
    apply_op(after, in_flight);
    SCOPED_TRACE("acknowledged " + std::to_string(acknowledged) + " ops; in flight: " +
                 (opened ? describe(in_flight) : std::string("open")));
    if (!opened) {
      ++tally.killed_during_open;
      after = before;
    } else {
      ++tally.mid_op;
      if (in_flight.kind == OpKind::kCompact) ++tally.during_compaction;
    }
    tally.acknowledged_verified += acknowledged;

    if (!std::filesystem::exists(path)) {
      // Killed before its open created the file (the first child, started slowly, as
      // under a sanitizer): nothing can have been acknowledged, and there is no file to
      // check. The next child creates it.
      EXPECT_FALSE(opened) << "the child reported the store open, but there is no store file";
      EXPECT_EQ(acknowledged, 0u);
      if (HasFailure()) break;
      continue;
    }
    // The file exactly as the kill left it, read once: what the reader must leave
    // alone, then what the model of the original opens.
    std::vector<std::byte> file = srd_test::read_file(path);
    {
      // A reader first: it must not need the writer's recovery to see a consistent
      // state (it stops at the tail the dead writer published).
      OpenOptions read_only;
      read_only.read_only = true;
      {
        DataStore reader = DataStore::open(path, read_only);
        const Observation seen = observe(reader, before, after, cache);
        EXPECT_TRUE(seen.all_before || seen.all_after) << "read-only view after the kill:" << seen.detail;
      }
      // The dead writer left preallocated space and perhaps a torn write: a reader
      // must leave both alone.
      EXPECT_TRUE(srd_test::file_equals(path, file)) << "a read-only open changed the file";
    }
    {
      // The Rust original, on the same bytes: every acknowledged write must be
      // readable there.
      const Observation seen = observe_as_original(std::move(file), before, after, cache);
      tally.original_keys_checked += before.size();
      tally.original_lost += seen.matches_neither.size();
      if (seen.matches_neither.empty() && !seen.all_before && !seen.all_after) ++tally.original_torn;
      EXPECT_TRUE(seen.matches_neither.empty()) << "the original loses acknowledged state:" << seen.detail;
      EXPECT_TRUE(seen.all_before || seen.all_after) << "the original sees the in-flight op in part:" << seen.detail;
    }

    srd_test::StderrCapture recovery_log;  // the engine logs what recovery cut off
    {
      DataStore store = DataStore::open(path, options);  // the dead child's lock is gone
      const Observation seen = observe(store, before, after, cache);
      if (!seen.matches_neither.empty()) {
        // Count the acknowledged ops (or earlier verified states) whose effect is gone.
        tally.lost += seen.matches_neither.size();
      } else if (!seen.all_before && !seen.all_after) {
        ++tally.torn;
      }
      EXPECT_TRUE(seen.matches_neither.empty()) << "acknowledged state lost or damaged:" << seen.detail;
      EXPECT_TRUE(seen.all_before || seen.all_after)
          << "the in-flight op is visible in part (or len() is off: " << seen.len << " vs " << before.size()
          << " before / " << after.size() << " after):" << seen.detail;
      if (seen.all_after && !seen.all_before) ++tally.in_flight_applied;
      if (opened && seen.all_before && !seen.all_after) ++tally.in_flight_not_applied;

      const simd_r_drive::VerifyReport report = store.verify();
      EXPECT_TRUE(report.chain_intact) << report.chain_error;
      EXPECT_TRUE(report.corrupt_entries.empty()) << report.corrupt_entries.size() << " corrupt entries";
      EXPECT_EQ(report.live_keys, store.len());
      std::size_t live = 0;
      for (const EntryHandle& entry : store.iter_entries()) {
        ++live;
        EXPECT_TRUE(entry.is_valid_checksum()) << "entry of key hash " << entry.key_hash();
      }
      EXPECT_EQ(live, store.len());
      for (const auto& item : std::filesystem::directory_iterator(dir.path())) {
        EXPECT_EQ(item.path().filename().string().find(".compact-"), std::string::npos)
            << "open left a crashed compaction's file: " << item.path();
      }
      if (HasFailure()) {
        ADD_FAILURE() << "child's stderr:\n" << tail_of_file(child_log) << "\nrecovery log:\n" << recovery_log.take();
        break;
      }
      // The next child starts from what this open found.
      model = seen.all_after ? after : before;
      // The children rarely live to their own compaction, so the file keeps what
      // every earlier child wrote; compacting it here keeps each iteration's checks,
      // which read the whole file, from growing with the iteration count.
      if (store.file_size() > kParentCompactsAbove) {
        store.compact();
        const Observation compacted = observe(store, model, model, cache);
        EXPECT_TRUE(compacted.all_before) << "compaction changed the verified state:" << compacted.detail;
        EXPECT_EQ(compacted.len, model.size());
      }
    }
    cache.keep_only(model);
  }

  std::ostringstream summary;
  summary << "mode " << mode_name(mode) << ": " << tally.kills << " kills (" << tally.mid_op << " mid-op, "
          << tally.killed_during_open << " during open, " << tally.during_compaction << " during compaction; in-flight op "
          << tally.in_flight_applied << " applied, " << tally.in_flight_not_applied << " not applied), "
          << tally.acknowledged_verified << " acknowledged ops verified, " << tally.lost << " lost, " << tally.torn
          << " torn; the original: " << tally.original_keys_checked << " acknowledged keys checked, "
          << tally.original_lost << " lost, " << tally.original_torn << " torn";
  std::cout << "[ KillLoop ] " << summary.str() << std::endl;
  RecordProperty("kills", std::to_string(tally.kills));
  RecordProperty("mid_op_kills", std::to_string(tally.mid_op));
  RecordProperty("acknowledged_verified", std::to_string(tally.acknowledged_verified));
  RecordProperty("lost", std::to_string(tally.lost));
  RecordProperty("during_compaction_kills", std::to_string(tally.during_compaction));
  EXPECT_EQ(tally.lost, 0u);
  EXPECT_EQ(tally.torn, 0u);
  EXPECT_EQ(tally.original_lost, 0u);
  EXPECT_EQ(tally.original_torn, 0u);
  RecordProperty("original_keys_checked", std::to_string(tally.original_keys_checked));
  EXPECT_GE(tally.kills, iterations);
  // A loop whose kills all landed during open (or none in a compaction) would check
  // little of what it claims to.
  EXPECT_GE(tally.mid_op, min_mid_op) << "too few kills landed inside an operation";
  EXPECT_GE(tally.during_compaction, min_during_compaction) << "too few kills landed inside a compaction";
}

INSTANTIATE_TEST_SUITE_P(KillLoop, KillLoopTest,
                         testing::Values(Durability::kFlush, Durability::kSyncEachWrite, Durability::kGroupCommit,
                                         Durability::kSyncPeriodically),
                         [](const testing::TestParamInfo<Durability>& param_info) { return mode_name(param_info.param); });

// The kernel drops a writer's OFD lock when the writer dies, however it dies: a store
// whose writer was killed can be opened for writing at once, with what it wrote.
TEST(KillLoop, KilledWriterReleasesTheLockAtOnce) {
  TempDir dir;
  const std::filesystem::path path = dir.file("store.bin");
  ChildProcess child([&](const ChildChannel& channel) {
    DataStore store = DataStore::open(path);
    store.write("written", "before the kill");
    channel.send(1);
    channel.receive();  // holds the store until killed
    ::_exit(0);
    return 0;
  });
  ASSERT_EQ(child.receive(std::chrono::seconds(30)), std::optional<std::uint64_t>(1));
  EXPECT_EQ(srd_test::code_of([&] { DataStore::open(path); }), "locked") << "the child should hold the lock";
  child.kill();
  const srd_test::ChildExit exit = child.wait();
  ASSERT_TRUE(exit.signalled) << exit.describe();

  srd_test::StderrCapture recovery_log;  // it cuts off the dead writer's preallocated space
  DataStore store = DataStore::open(path);
  std::optional<EntryHandle> value = store.read("written");
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(value->as_string_view(), "before the kill");
  store.write("after", "the kill");
  EXPECT_EQ(store.len(), 2u);
}

// A kill in the middle of a large append (one pwritev, which a SIGKILL cuts short
// between pages) leaves the first items of a multi-entry append complete in the page
// cache and the rest missing. The stores of these tests sync each write, the modes
// that write large appends with pwritev (srd_test::pwritev_options). The injector
// makes that happen at a chosen point: it lets the kernel write only the first `keep`
// bytes of the append at `offset`, then kills the process when the engine goes on to
// write the rest.
class KillAfterPartialAppend : public simd_r_drive::io::FaultInjector {
 public:
  KillAfterPartialAppend(std::filesystem::path store, std::uint64_t offset, std::uint64_t keep)
      : store_(std::move(store)), offset_(offset), keep_(keep) {}
  int before(simd_r_drive::io::FileOperation operation, const std::filesystem::path& path, std::uint64_t offset,
             std::uint64_t bytes, std::uint64_t* write_limit) override {
    if (operation != simd_r_drive::io::FileOperation::kWrite || path != store_) return 0;
    if (shortened_) ::raise(SIGKILL);  // the rest of the append: die before it lands
    if (offset == offset_ && bytes > keep_) {
      *write_limit = keep_;
      shortened_ = true;
    }
    return 0;
  }
  void synced(const std::filesystem::path&) override {}

 private:
  std::filesystem::path store_;
  std::uint64_t offset_;
  std::uint64_t keep_;
  bool shortened_ = false;
};

// Bytes from `tail` to the end of an entry of `size` payload bytes appended there.
std::uint64_t entry_span(std::uint64_t tail, std::uint64_t size) {
  const std::uint64_t pad = (simd_r_drive::kPayloadAlignment - tail % simd_r_drive::kPayloadAlignment) %
                            simd_r_drive::kPayloadAlignment;
  return pad + size + simd_r_drive::kMetadataSize;
}

// Runs `append` in a child that is killed after the first entry of it reached the
// file. `prepare` runs first (acknowledged writes) and returns the tail the append
// starts at.
void kill_after_first_entry(const std::filesystem::path& path, std::uint64_t first_payload_size,
                                   const std::function<std::uint64_t(DataStore&)>& prepare,
                                   const std::function<void(DataStore&)>& append) {
  ChildProcess child([&](const ChildChannel& channel) {
    DataStore store = DataStore::open(path, srd_test::pwritev_options());
    const std::uint64_t tail = prepare(store);
    channel.send(tail);
    KillAfterPartialAppend injector(path, tail, entry_span(tail, first_payload_size));
    simd_r_drive::io::install_fault_injector(&injector);
    append(store);
    ::_exit(kChildFinished);  // not reached: the injector kills the process
    return kChildFinished;
  });
  const std::optional<std::uint64_t> tail = child.receive(std::chrono::seconds(60));
  const srd_test::ChildExit exit = child.wait();
  EXPECT_TRUE(tail.has_value()) << "the child did not get to the append";
  EXPECT_TRUE(exit.signalled && exit.signal == SIGKILL) << "the child " << exit.describe();
}

// The in-flight op is either fully applied or not at all. batch_write
// appends its items in one write; a kill that cuts it short must not leave the first
// items visible without the others.
TEST(KillLoop, BatchCutShortByAKillIsAllOrNothing) {
  TempDir dir;
  const std::filesystem::path path = dir.file("store.bin");
  const std::vector<std::byte> first = srd_test::pattern_bytes(200 * 1024);
  const std::vector<std::byte> second = srd_test::pattern_bytes(100 * 1024);  // together above the pwritev threshold
  kill_after_first_entry(
      path, first.size(), [](DataStore& store) { return store.write("base", "acknowledged"); },
      [&](DataStore& store) {
        const std::vector<std::pair<std::string, std::vector<std::byte>>> items = {{"first", first},
                                                                                   {"second", second}};
        store.batch_write(items);
      });

  srd_test::StderrCapture log;
  DataStore store = DataStore::open(path);
  const std::string recovery = log.take();
  ASSERT_TRUE(store.exists("base"));
  EXPECT_EQ(store.exists("first"), store.exists("second"))
      << "a batch cut short by a kill is visible in part; recovery said: " << recovery;
  EXPECT_EQ(store.len(), store.exists("first") ? 3u : 1u);
}

// rename appends the new key's entry and the old key's tombstone in one write, so
// that "a crash cannot leave the value under both keys or neither" (data_store.cc).
TEST(KillLoop, RenameCutShortByAKillIsAllOrNothing) {
  TempDir dir;
  const std::filesystem::path path = dir.file("store.bin");
  const std::vector<std::byte> value = srd_test::pattern_bytes(300 * 1024);  // a rename of it takes the pwritev path
  kill_after_first_entry(
      path, value.size(), [&](DataStore& store) { return store.write("old", value); },
      [](DataStore& store) { store.rename("old", "new"); });

  srd_test::StderrCapture log;
  DataStore store = DataStore::open(path);
  const std::string recovery = log.take();
  EXPECT_NE(store.exists("old"), store.exists("new"))
      << "old " << store.exists("old") << ", new " << store.exists("new")
      << ": a rename cut short by a kill left the value under both keys (or neither); recovery said: " << recovery;
  EXPECT_EQ(store.len(), 1u);
}

// A batch of thousands of small items above the direct-write threshold is one
// pwrite_all of three pieces per item (pad, payload, record), which the kernel takes
// IOV_MAX (1024) pieces per pwritev: several system calls. The injector lets the first
// call through whole and kills the process when the engine goes on to the second, so
// the file holds a third of the batch's entries, complete, and nothing of the rest.
class KillAtSecondWrite : public simd_r_drive::io::FaultInjector {
 public:
  KillAtSecondWrite(std::filesystem::path store, std::uint64_t from, const ChildChannel& channel)
      : store_(std::move(store)), from_(from), channel_(channel) {}
  int before(simd_r_drive::io::FileOperation operation, const std::filesystem::path& path, std::uint64_t offset,
             std::uint64_t bytes, std::uint64_t*) override {
    if (operation != simd_r_drive::io::FileOperation::kWrite || path != store_ || offset < from_) return 0;
    if (++writes_ == 2) {
      channel_.send(offset - from_);  // what the first call wrote: less than the batch if it was split
      ::raise(SIGKILL);
    }
    (void)bytes;
    return 0;
  }
  void synced(const std::filesystem::path&) override {}

 private:
  std::filesystem::path store_;
  std::uint64_t from_;
  const ChildChannel& channel_;
  int writes_ = 0;
};

TEST(KillLoop, BatchSplitAtIovMaxCutShortByAKillIsAllOrNothing) {
  TempDir dir;
  const std::filesystem::path path = dir.file("store.bin");
  constexpr int kItems = 3000;
  constexpr std::size_t kItemSize = 100;  // 300,000 payload bytes: above the 256 KiB threshold
  ChildProcess child([&](const ChildChannel& channel) {
    DataStore store = DataStore::open(path, srd_test::pwritev_options());
    const std::uint64_t tail = store.write("base", "acknowledged");
    std::vector<std::pair<std::string, std::string>> items;
    for (int i = 0; i < kItems; ++i) items.emplace_back("item-" + std::to_string(i), std::string(kItemSize, 'a' + i % 26));
    channel.send(tail);
    KillAtSecondWrite injector(store.path(), tail, channel);
    simd_r_drive::io::install_fault_injector(&injector);
    store.batch_write(items);
    ::_exit(kChildFinished);  // not reached: the injector kills the process
    return kChildFinished;
  });
  const std::optional<std::uint64_t> tail = child.receive(std::chrono::seconds(60));
  const std::optional<std::uint64_t> first_write = child.receive(std::chrono::seconds(60));
  const srd_test::ChildExit exit = child.wait();
  ASSERT_TRUE(tail.has_value()) << "the child did not get to the batch";
  ASSERT_TRUE(exit.signalled && exit.signal == SIGKILL)
      << "the child " << exit.describe() << ": the batch was not split into several writes";
  ASSERT_TRUE(first_write.has_value());
  EXPECT_GT(*first_write, 0u);
  EXPECT_LT(*first_write, kItems * kItemSize) << "the first write held the whole batch";

  srd_test::StderrCapture log;
  DataStore store = DataStore::open(path);
  const std::string recovery = log.take();
  ASSERT_TRUE(store.exists("base"));
  std::size_t present = 0;
  for (int i = 0; i < kItems; ++i) present += store.exists("item-" + std::to_string(i)) ? 1 : 0;
  EXPECT_TRUE(present == 0 || present == kItems)
      << present << " of " << kItems << " items of a batch cut short by a kill are visible; recovery said: " << recovery;
  EXPECT_EQ(store.len(), present + 1);
  EXPECT_TRUE(store.verify().ok());
}

}  // namespace

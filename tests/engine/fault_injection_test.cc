// Fault injection: writes that fail or come up short, fallocate and ftruncate
// failures, failed fdatasyncs, renames and directory syncs, and power losses that
// drop every byte not yet synced.
//
// Each run forks a child that applies a fixed operation sequence to a fresh store with
// one fault injected (the n-th call of one kind fails), reports after each operation
// whether it returned or threw, copies the store file at every successful sync (the
// "durable image"), and then kills itself without closing anything, like a crash.
// The parent then checks two views of the result:
//  * the process crash: the file as the page cache holds it, reopened;
//  * the power loss: the durable image plus a torn remainder of the unsynced bytes
//    (a random prefix, with random 4 KiB pages zeroed), reopened with the lock file
//    the crashed writer left (so open knows which bytes were synced).
// In every view the store must hold each acknowledged operation's effect; the one
// operation that hit the fault may be applied or not, but never in part. In flush
// mode, where a power loss may lose acknowledged writes, the store must equal the
// model after some prefix of the operations, with every checksum intact.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "crashed_lock.h"
#include "engine/lock_file.h"
#include "scripted_injector.h"
#include "simd_r_drive/data_store.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::Durability;
using simd_r_drive::Error;
using simd_r_drive::ErrorCode;
using simd_r_drive::OpenOptions;
using srd_test::ScriptedInjector;
using srd_test::TempDir;
using Operation = ScriptedInjector::Operation;
// Key to value. The values are views: of the operations' values (which outlive every
// model) in the expected states, of the store's entries in what a check found. A
// model is copied after every operation, and copying values of up to 300 KiB made
// the copies cost more than the runs they check.
using Model = std::map<std::string, std::string_view>;

// ---- the operation sequence ------------------------------------------------

enum class Kind { kWriteSmall, kWriteLarge, kBatch, kStream, kRemove, kRename, kCompact };

struct Op {
  Kind kind;
  std::vector<std::pair<std::string, std::string>> items;  // writes: key, value
  std::string key, new_key;                                // remove, rename
};

std::string key_name(std::uint32_t n) { return "key-" + std::to_string(n % 10); }

std::string value_of(std::size_t op_index, std::size_t item, std::size_t size) {
  std::string value(size, '\0');
  for (std::size_t i = 0; i < size; ++i) value[i] = static_cast<char>('A' + (op_index * 7 + item * 3 + i) % 26);
  return value;
}

std::vector<Op> make_operations(std::uint32_t seed) {
  std::mt19937 random(seed);
  std::vector<Op> ops;
  const Kind pattern[] = {Kind::kWriteSmall, Kind::kWriteLarge, Kind::kBatch,  Kind::kStream, Kind::kRemove,
                          Kind::kWriteSmall, Kind::kRename,     Kind::kCompact, Kind::kWriteLarge, Kind::kBatch,
                          Kind::kStream,     Kind::kWriteSmall, Kind::kRemove, Kind::kCompact, Kind::kWriteSmall,
                          Kind::kRename,     Kind::kWriteLarge, Kind::kBatch,  Kind::kStream, Kind::kWriteSmall};
  for (Kind kind : pattern) {
    Op op{kind, {}, {}, {}};
    const std::size_t index = ops.size();
    switch (kind) {
      case Kind::kWriteSmall: op.items.emplace_back(key_name(random()), value_of(index, 0, 1 + random() % 300)); break;
      case Kind::kWriteLarge: op.items.emplace_back(key_name(random()), value_of(index, 0, 300 * 1024 + random() % 1000)); break;
      case Kind::kBatch:
        for (std::size_t i = 0; i < 3; ++i) op.items.emplace_back(key_name(random()), value_of(index, i, 1 + random() % 2000));
        break;
      case Kind::kStream: op.items.emplace_back(key_name(random()), value_of(index, 0, 150 * 1024 + random() % 1000)); break;
      case Kind::kRemove: op.key = key_name(random()); break;
      case Kind::kRename: op.key = key_name(random()); op.new_key = "renamed-" + std::to_string(index); break;
      case Kind::kCompact: break;
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

void apply(const Op& op, Model& model) {
  switch (op.kind) {
    case Kind::kWriteSmall: case Kind::kWriteLarge: case Kind::kBatch: case Kind::kStream:
      for (const auto& [key, value] : op.items) model[key] = value;
      break;
    case Kind::kRemove: model.erase(op.key); break;
    case Kind::kRename: {
      auto it = model.find(op.key);
      if (it == model.end()) break;
      const std::string_view value = it->second;
      model.erase(it);
      model[op.new_key] = value;
      break;
    }
    case Kind::kCompact: break;
  }
}

void run(const Op& op, DataStore& store) {
  switch (op.kind) {
    case Kind::kWriteSmall: case Kind::kWriteLarge: store.write(op.items[0].first, op.items[0].second); break;
    case Kind::kBatch: store.batch_write(op.items); break;
    case Kind::kStream: {
      std::istringstream source(op.items[0].second);
      store.write_stream(op.items[0].first, source);
      break;
    }
    case Kind::kRemove: store.remove(op.key); break;
    case Kind::kRename: store.rename(op.key, op.new_key); break;
    case Kind::kCompact: store.compact(); break;
  }
}

// The states a multi-entry operation leaves when a power loss keeps only its first
// entries (docs/durability.md: the format has no batch marker, so an unacknowledged
// batch or rename may come back in part after a machine crash).
std::vector<Model> partial_effects(const Op& op, const Model& before) {
  std::vector<Model> states;
  if (op.kind == Kind::kBatch) {
    for (std::size_t kept = 1; kept < op.items.size(); ++kept) {
      Model state = before;
      for (std::size_t i = 0; i < kept; ++i) state[op.items[i].first] = op.items[i].second;
      states.push_back(std::move(state));
    }
  } else if (op.kind == Kind::kRename && before.count(op.key)) {
    Model state = before;  // the new entry landed, the old key's tombstone did not
    state[op.new_key] = before.at(op.key);
    states.push_back(std::move(state));
  }
  return states;
}

// ---- one run in a child ------------------------------------------------------

struct Fault {
  Operation operation;
  int nth;          // the n-th call of that operation fails (1-based)
  int error;        // errno to fail with; 0 with short_write
  bool short_write = false;
  const char* name;
};

// What the child reports for each operation.
enum Outcome : char { kReturned = 'R', kFailedMaybeApplied = 'F', kFailedNoEffect = 'N' };

struct RunResult {
  std::vector<Outcome> outcomes;
  bool fault_fired = false;
  // The operation that was running (or had last returned, for a sync on
  // kSyncPeriodically's thread between operations) when the fault fired.
  std::size_t fired_during = 0;
};

// Runs the sequence in a child process; returns what it reported.
RunResult run_child(const std::filesystem::path& store_path, const std::filesystem::path& durable_path,
                    Durability mode, const Fault& fault, const std::vector<Op>& ops) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipe_fds[0]);
    int calls = 0;
    // Also set from kSyncPeriodically's sync thread.
    std::atomic<bool> fired{false};
    std::atomic<std::size_t> running{0};
    std::atomic<std::size_t> fired_during{0};
    const auto fire = [&] {
      if (!fired.exchange(true)) fired_during = running.load();
    };
    // The copies are the kernel's (copy_file), not read into this process: a sync-mode
    // run takes one per operation, which in a sanitizer build costs more than the run.
    const std::filesystem::path pending_compaction = durable_path.string() + ".compaction";
    bool compaction_pending = false;
    // Replaced atomically: the child may exit (kSyncPeriodically's thread is still
    // syncing) in the middle of taking a copy.
    const auto keep_durable_image = [&](const std::filesystem::path& synced) {
      const std::filesystem::path partial = durable_path.string() + ".partial";
      std::filesystem::copy_file(synced, partial, std::filesystem::copy_options::overwrite_existing);
      std::filesystem::rename(partial, durable_path);
    };
    ScriptedInjector injector(
        [&](Operation operation, const std::filesystem::path& path, std::uint64_t, std::uint64_t bytes,
            std::uint64_t* limit) -> int {
          if (operation == Operation::kRename) {
            const bool fails = fault.operation == Operation::kRename && ++calls == fault.nth;
            // A rename that goes through makes the synced compacted file the store.
            if (!fails && compaction_pending) std::filesystem::rename(pending_compaction, durable_path);
            compaction_pending = false;
            if (fails) fire();
            return fails ? fault.error : 0;
          }
          if (path.string().ends_with(".lock")) return 0;
          if (operation != fault.operation || ++calls != fault.nth) return 0;
          fire();
          if (fault.short_write) {
            *limit = bytes / 3;
            return 0;
          }
          return fault.error;
        },
        [&](const std::filesystem::path& path) {
          if (path == store_path) {
            keep_durable_image(path);
          } else if (path.string().ends_with(".tmp")) {
            std::filesystem::copy_file(path, pending_compaction, std::filesystem::copy_options::overwrite_existing);
            compaction_pending = true;
          }
        });
    std::string report;
    try {
      OpenOptions options;
      options.durability = mode;
      options.sync_interval = std::chrono::milliseconds(1);  // kSyncPeriodically: sync between operations
      auto store = DataStore::open(store_path, options);
      for (std::size_t i = 0; i < ops.size(); ++i) {
        const Op& op = ops[i];
        running = i;
        Outcome outcome = kReturned;
        try {
          run(op, store);
        } catch (const Error& error) {
          outcome = error.code() == ErrorCode::kNotFound ? kFailedNoEffect : kFailedMaybeApplied;
          if (std::getenv("SRD_FAULT_DEBUG")) std::fprintf(stderr, "op failed: %s\n", error.what());
        }
        report.push_back(static_cast<char>(outcome));
      }
      report.push_back(fired ? '!' : '.');
      if (fired) report += std::to_string(fired_during.load());
      (void)!::write(pipe_fds[1], report.data(), report.size());
      // Leak the store: a crash does not close anything.
      new DataStore(std::move(store));
    } catch (...) {
      ::_exit(3);
    }
    // End as a crash does, by SIGKILL. (_exit would also close nothing, but under
    // TSan it first waits a second for the sync thread: the runtime's at-exit sleep.)
    ::kill(::getpid(), SIGKILL);
    ::_exit(4);
  }
  ::close(pipe_fds[1]);
  std::string report;
  char buffer[256];
  for (;;) {
    const ssize_t got = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (got <= 0) break;
    report.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL || report.size() < ops.size() + 1) {
    throw std::runtime_error(std::string("child failed (") + fault.name + "), status " + std::to_string(status));
  }
  RunResult result;
  for (std::size_t i = 0; i < ops.size(); ++i) result.outcomes.push_back(static_cast<Outcome>(report[i]));
  result.fault_fired = report[ops.size()] == '!';
  if (result.fault_fired) result.fired_during = std::stoul(report.substr(ops.size() + 1));
  return result;
}

// ---- checks ------------------------------------------------------------------

// What the store holds under the keys of two models and the keys the operations
// write; `values` views the held entries.
struct Found {
  std::vector<simd_r_drive::EntryHandle> entries;
  Model values;
};

Found read_all(const DataStore& store, const Model& expected_keys_a, const Model& expected_keys_b) {
  Found found;
  std::vector<std::string> keys;
  for (const auto& [key, value] : expected_keys_a) keys.push_back(key);
  for (const auto& [key, value] : expected_keys_b) keys.push_back(key);
  for (int i = 0; i < 10; ++i) keys.push_back(key_name(static_cast<std::uint32_t>(i)));
  for (const std::string& key : keys) {
    if (auto entry = store.read(key)) {
      found.values[key] = entry->as_string_view();
      found.entries.push_back(std::move(*entry));
    }
  }
  return found;
}

// Every key holds its value under `a` (acknowledged only) or under `b` (with the
// faulted operation applied), and the whole state is one of the two for the keys the
// faulted operation touched.
std::string compare_either(const DataStore& store, const Model& a, const Model& b) {
  const Found read = read_all(store, a, b);
  const Model& found = read.values;
  if (found == a || found == b) {
    if (store.len() != found.size()) return "len() " + std::to_string(store.len()) + " != " + std::to_string(found.size());
    return "";
  }
  std::ostringstream out;
  out << "state matches neither model (" << found.size() << " keys; acknowledged model " << a.size()
      << ", with the faulted op " << b.size() << ")";
  for (const auto& [key, value] : a) {
    auto it = found.find(key);
    if (it == found.end()) out << "; lost " << key;
    else if (it->second != value && (!b.count(key) || b.at(key) != it->second)) out << "; wrong " << key;
  }
  return out.str();
}

std::string check_integrity(const DataStore& store) {
  const auto report = store.verify();
  if (!report.chain_intact) return "chain broken: " + report.chain_error;
  if (!report.corrupt_entries.empty()) return std::to_string(report.corrupt_entries.size()) + " corrupt entries";
  return "";
}

// Builds the power-loss image in `directory`: the durable image, then a torn part of
// the bytes written after it, and the lock file the crashed writer left.
std::filesystem::path power_loss_image(const std::filesystem::path& directory, const std::filesystem::path& store_path,
                                       const std::filesystem::path& durable_path, std::mt19937& random) {
  std::vector<std::byte> image =
      std::filesystem::exists(durable_path) ? srd_test::read_file(durable_path) : std::vector<std::byte>{};
  const std::vector<std::byte> current = srd_test::read_file(store_path);
  if (current.size() > image.size() && std::equal(image.begin(), image.end(), current.begin())) {
    const std::size_t extra = random() % (current.size() - image.size() + 1);
    const std::size_t start = image.size();
    image.insert(image.end(), current.begin() + static_cast<std::ptrdiff_t>(start),
                 current.begin() + static_cast<std::ptrdiff_t>(start + extra));
    // Pages written back in no particular order: some never made it.
    for (std::size_t page = start / 4096 * 4096; page < image.size(); page += 4096) {
      if (page >= start && random() % 3 == 0) {
        std::memset(image.data() + page, 0, std::min<std::size_t>(4096, image.size() - page));
      }
    }
  }
  const std::filesystem::path path = directory / "image.bin";
  srd_test::write_file(path, image);
  // The crashed writer's lock state, carried over to the image's inode, as after a
  // power loss: not clean, durable up to what its last sync covered, and another boot.
  const auto crashed = simd_r_drive::engine::LockFile::observe(store_path);
  const std::uint64_t durable_tail = crashed ? crashed->snapshot().durable_tail : 0;
  srd_test::mark_crashed(path, image.size(), std::min<std::uint64_t>(durable_tail, image.size()), true);
  return path;
}

struct Tally {
  int runs = 0, faults_fired = 0, crash_views = 0, power_loss_views = 0;
  int acknowledged_ops = 0, failed_ops = 0;
};

void check_run(Durability mode, const Fault& fault, std::uint32_t seed, Tally& tally) {
  SCOPED_TRACE(std::string("fault ") + fault.name + " #" + std::to_string(fault.nth) + ", mode " +
               std::to_string(static_cast<int>(mode)) + ", seed " + std::to_string(seed));
  TempDir dir;
  const auto store_path = dir.file("s.bin");
  const auto durable_path = dir.file("durable.bin");
  const std::vector<Op> ops = make_operations(seed);
  const RunResult result = run_child(store_path, durable_path, mode, fault, ops);
  SCOPED_TRACE("outcomes " + std::string(result.outcomes.begin(), result.outcomes.end()));
  ++tally.runs;
  if (result.fault_fired) ++tally.faults_fired;

  // Models: acknowledged operations only, and with the first failed one applied.
  // For a power loss without a sync per write: the states after every prefix of the
  // operations that took effect (with and without the faulted one), and those with
  // the next multi-entry operation cut short.
  Model acknowledged, with_faulted;
  std::vector<Model> prefixes{Model{}};
  bool faulted_seen = false;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Outcome outcome = result.outcomes[i];
    for (Model& partial : partial_effects(ops[i], acknowledged)) prefixes.push_back(std::move(partial));
    if (outcome == kReturned) {
      ++tally.acknowledged_ops;
      apply(ops[i], acknowledged);
      apply(ops[i], with_faulted);
      prefixes.push_back(acknowledged);
      if (faulted_seen) prefixes.push_back(with_faulted);
    } else if (outcome == kFailedMaybeApplied) {
      ++tally.failed_ops;
      if (!faulted_seen) {
        apply(ops[i], with_faulted);
        prefixes.push_back(with_faulted);
      }
      faulted_seen = true;
    }
  }
  if (fault.short_write) {
    EXPECT_FALSE(faulted_seen) << "a short write is retried, not an error";
  }
  // Only the injected fault may make an operation fail: none before it fires, and
  // none at all in a run where it never does (the no-fault baseline among them).
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (result.outcomes[i] != kFailedMaybeApplied) continue;
    EXPECT_TRUE(result.fault_fired) << "operation " << i << " failed, but no fault was injected";
    if (result.fault_fired) {
      EXPECT_GE(i, result.fired_during) << "operation " << i << " failed before the fault, injected during operation "
                                        << result.fired_during;
    }
    break;
  }

  std::mt19937 random(seed * 7919u + static_cast<std::uint32_t>(fault.nth));
  // kFlush and kSyncPeriodically promise no acknowledged write across a power loss
  // (the latter: none of the last interval's), only a consistent prefix.
  const bool acknowledged_is_durable = mode == Durability::kSyncEachWrite || mode == Durability::kGroupCommit;
  {
    const auto image = power_loss_image(dir.path() / "", store_path, durable_path, random);
    srd_test::StderrCapture quiet;
    auto store = DataStore::open(image);
    ++tally.power_loss_views;
    EXPECT_EQ(check_integrity(store), "");
    if (acknowledged_is_durable) {
      EXPECT_EQ(compare_either(store, acknowledged, with_faulted), "") << "power loss";
    } else {
      const Found read = read_all(store, acknowledged, with_faulted);
      const Model& found = read.values;
      bool is_prefix = false;
      for (const Model& prefix : prefixes) is_prefix = is_prefix || found == prefix;
      std::ostringstream found_text;
      for (const auto& [key, value] : found) found_text << key << "=" << value.size() << "B:" << value.substr(0, 3) << " ";
      std::ostringstream ops_text;
      for (std::size_t i = 0; i < ops.size(); ++i) {
        ops_text << "\n op " << i << " kind " << static_cast<int>(ops[i].kind) << " " << ops[i].key << "->" << ops[i].new_key;
        for (const auto& [key, value] : ops[i].items) ops_text << " " << key << "=" << value.size() << "B:" << value.substr(0, 3);
      }
      EXPECT_TRUE(is_prefix) << "power loss without a sync per write: not the state after any prefix of the "
                                "operations; found " << found_text.str() << ops_text.str();
    }
  }
  {
    srd_test::StderrCapture quiet;
    auto store = DataStore::open(store_path);
    ++tally.crash_views;
    EXPECT_EQ(check_integrity(store), "");
    EXPECT_EQ(compare_either(store, acknowledged, with_faulted), "") << "process crash";
  }
}

class FaultInjection : public ::testing::TestWithParam<Durability> {};

TEST_P(FaultInjection, EveryAcknowledgedWriteSurvivesEachFault) {
  const Fault kinds[] = {
      {Operation::kWrite, 0, EIO, false, "write EIO"},
      {Operation::kWrite, 0, ENOSPC, false, "write ENOSPC"},
      {Operation::kWrite, 0, 0, true, "short write"},
      {Operation::kAllocate, 0, ENOSPC, false, "fallocate ENOSPC"},
      {Operation::kTruncate, 0, EIO, false, "ftruncate EIO"},
      {Operation::kSync, 0, EIO, false, "fdatasync EIO"},
      {Operation::kRename, 0, EIO, false, "rename EIO"},
      {Operation::kSyncDirectory, 0, EIO, false, "directory fsync EIO"},
  };
  Tally tally;
  std::uint32_t seed = 1;
  for (Fault fault : kinds) {
    const int max_nth = fault.operation == Operation::kRename || fault.operation == Operation::kSyncDirectory ? 2 : 9;
    for (int nth = 1; nth <= max_nth; ++nth) {
      fault.nth = nth;
      check_run(GetParam(), fault, seed++, tally);
      if (HasFatalFailure()) return;
    }
  }
  // A run with no fault at all, as the baseline: every operation returns (or reports
  // a missing key, which a rename of a deleted key does), and nothing fires.
  const int failed_before_baseline = tally.failed_ops;
  const int fired_before_baseline = tally.faults_fired;
  check_run(GetParam(), {Operation::kWrite, 1 << 30, EIO, false, "none"}, seed++, tally);
  EXPECT_EQ(tally.failed_ops, failed_before_baseline) << "an operation failed with no fault injected";
  EXPECT_EQ(tally.faults_fired, fired_before_baseline);
  std::cout << "[ faults ] mode " << static_cast<int>(GetParam()) << ": " << tally.runs << " runs, "
            << tally.faults_fired << " faults injected, " << tally.acknowledged_ops << " acknowledged ops checked in "
            << tally.crash_views << " crash and " << tally.power_loss_views << " power-loss views, "
            << tally.failed_ops << " ops failed; " << (HasFailure() ? "SOME CHECKS FAILED" : "none lost") << "\n";
  // Flush mode syncs only in compaction, so fewer of its sync faults find a call.
  EXPECT_GE(tally.faults_fired, GetParam() == Durability::kFlush ? 30 : 35);
}

INSTANTIATE_TEST_SUITE_P(Modes, FaultInjection,
                         ::testing::Values(Durability::kFlush, Durability::kSyncEachWrite, Durability::kGroupCommit,
                                           Durability::kSyncPeriodically),
                         [](const auto& param_info) {
                           switch (param_info.param) {
                             case Durability::kFlush: return std::string("Flush");
                             case Durability::kSyncEachWrite: return std::string("SyncEachWrite");
                             case Durability::kGroupCommit: return std::string("GroupCommit");
                             case Durability::kSyncPeriodically: return std::string("SyncPeriodically");
                             default: return std::string("Other");
                           }
                         });

}  // namespace

// Multi-process: one writer per store, across processes and within one (a second
// writer gets ErrorCode::kLocked), a read-only store in another process that follows
// the writer with refresh() and sees a consistent prefix of its writes every time,
// and a read-only store that never changes a byte of the file.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "child_process.h"
#include "simd_r_drive/simd_r_drive.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using simd_r_drive::OpenOptions;
using srd_test::ChildChannel;
using srd_test::ChildProcess;
using srd_test::code_of;
using srd_test::TempDir;

constexpr std::chrono::seconds kPatience{120};  // only a hung child takes this long

using srd_test::read_only;

// Every file in `dir` with its size and hash: a read-only store must leave all of them
// as they were and create none.
std::map<std::string, std::string> directory_state(const std::filesystem::path& dir) {
  std::map<std::string, std::string> state;
  for (const auto& item : std::filesystem::directory_iterator(dir)) {
    state[item.path().filename().string()] =
        std::to_string(std::filesystem::file_size(item.path())) + " " + srd_test::sha256_hex(item.path());
  }
  return state;
}

std::string text_of_file(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return "";
  const std::vector<std::byte> bytes = srd_test::read_file(path);
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string value_of(const DataStore& store, std::string_view key) {
  std::optional<EntryHandle> handle = store.read(key);
  return handle ? std::string(handle->as_string_view()) : "<absent>";
}

// ---------------------------------------------------------------------------
// One writer

TEST(MultiProcess, SecondWriterInAnotherProcessIsRefused) {
  TempDir dir;
  const std::filesystem::path path = dir.file("store.bin");
  ChildProcess child([&](const ChildChannel& channel) {
    DataStore store = DataStore::open(path);
    store.write("owner", "child");
    channel.send(1);
    channel.receive();  // holds the store until the parent says so
    return 0;           // closes the store
  });
  ASSERT_EQ(child.receive(kPatience), std::optional<std::uint64_t>(1));

  const std::string file_before = srd_test::sha256_hex(path);
  std::string message;
  try {
    DataStore::open(path);
    ADD_FAILURE() << "a second writer was let in";
  } catch (const simd_r_drive::Error& error) {
    EXPECT_EQ(error.code(), simd_r_drive::ErrorCode::kLocked);
    message = error.what();
  }
  EXPECT_NE(message.find("locked"), std::string::npos) << message;
  EXPECT_NE(message.find(path.string()), std::string::npos) << "the message should name the store: " << message;
  EXPECT_TRUE(srd_test::mentions_number(message, static_cast<std::uint64_t>(child.pid())))
      << "the message should name the process holding the lock: " << message;
  EXPECT_EQ(code_of([&] { DataStore::open_existing(path); }), "locked");
  // Nor through another name of the same file, whose lock file would be another one.
  const std::filesystem::path link = dir.file("link.bin");
  std::filesystem::create_symlink(path, link);
  EXPECT_EQ(code_of([&] { DataStore::open(link); }), "locked");
  // A refused writer must not have touched the file (no recovery, no truncation).
  EXPECT_EQ(srd_test::sha256_hex(path), file_before);
  {
    // Readers need no lock.
    DataStore reader = DataStore::open(path, read_only());
    EXPECT_EQ(value_of(reader, "owner"), "child");
  }

  ASSERT_TRUE(child.send(0));
  const srd_test::ChildExit exit = child.wait();
  ASSERT_TRUE(exit.exited && exit.code == 0) << exit.describe();

  DataStore store = DataStore::open(path);
  EXPECT_EQ(value_of(store, "owner"), "child");
  store.write("owner", "parent");
  EXPECT_EQ(value_of(store, "owner"), "parent");
}

TEST(MultiProcess, SecondWriterInTheSameProcessIsRefused) {
  TempDir dir;
  const std::filesystem::path path = dir.file("store.bin");
  {
    DataStore first = DataStore::open(path);
    first.write("key", "first");
    EXPECT_EQ(code_of([&] { DataStore::open(path); }), "locked");
    EXPECT_EQ(code_of([&] { DataStore::open_existing(path); }), "locked");
    // Another spelling of the same path, and other names of the same file.
    EXPECT_EQ(code_of([&] { DataStore::open(dir.path() / "." / "store.bin"); }), "locked");
    std::filesystem::create_symlink(path, dir.file("symlink.bin"));
    EXPECT_EQ(code_of([&] { DataStore::open(dir.file("symlink.bin")); }), "locked");
    std::filesystem::create_hard_link(path, dir.file("hardlink.bin"));
    EXPECT_EQ(code_of([&] { DataStore::open(dir.file("hardlink.bin")); }), "locked");
    // The refusal left the first writer working.
    first.write("key", "still first");
    DataStore reader = DataStore::open(path, read_only());
    EXPECT_EQ(value_of(reader, "key"), "still first");
  }
  // Closing the first writer releases the lock.
  DataStore second = DataStore::open(path);
  EXPECT_EQ(value_of(second, "key"), "still first");
  second.write("key", "second");
  EXPECT_EQ(value_of(second, "key"), "second");
}

// ---------------------------------------------------------------------------
// A reader follows a writer

// The writer's operations, a pure function of the index: op i writes key i with value
// i, except that some overwrite or delete an earlier key, and one compacts.
constexpr std::uint64_t kFollowOps = 3000;
constexpr std::uint64_t kCompactAt = kFollowOps / 2;
// The writer waits for the reader after each of these, so the reader is sure to look
// at the store at points spread over the run (and right before the compaction); in
// between, both run freely.
constexpr std::uint64_t kCheckpointEvery = 100;
constexpr std::uint64_t kReadyMessage = ~std::uint64_t{0};

struct FollowOp {
  enum Kind { kWrite, kRemove, kCompact } kind = kWrite;
  std::uint64_t key = 0;  // keys are named after the op that first wrote them
};

FollowOp follow_op(std::uint64_t i) {
  if (i == kCompactAt) return {FollowOp::kCompact, 0};
  if (i > 0 && i % 13 == 12) return {FollowOp::kRemove, srd_test::mix64(i) % i};
  if (i > 0 && i % 11 == 10) return {FollowOp::kWrite, srd_test::mix64(i) % i};
  return {FollowOp::kWrite, i};
}

std::string follow_key(std::uint64_t key) { return "follow-" + std::to_string(key); }

// The value op i writes: mostly up to 3000 bytes, every 97th at least 300 KiB (the
// pwritev path in the modes that sync each write).
std::vector<std::byte> follow_value(std::uint64_t i) {
  const std::size_t size = i % 97 == 50 ? 300 * 1024 + srd_test::mix64(i) % (64 * 1024) : 1 + srd_test::mix64(i) % 3000;
  std::vector<std::byte> out(size);
  for (std::size_t at = 0; at < size; at += 8) {
    const std::uint64_t word = srd_test::mix64(i * 0x10000 + at);
    std::memcpy(out.data() + at, &word, std::min<std::size_t>(8, size - at));
  }
  out[0] |= std::byte{1};  // never the tombstone byte alone
  return out;
}

// What the store holds after the first m ops, for any m, without replaying them.
class FollowModel {
 public:
  FollowModel() : live_after_(kFollowOps + 1, 0) {
    std::map<std::uint64_t, bool> live;
    std::size_t count = 0;
    for (std::uint64_t i = 0; i < kFollowOps; ++i) {
      const FollowOp op = follow_op(i);
      if (op.kind != FollowOp::kCompact) {
        touching_[op.key].push_back(i);
        bool& is_live = live[op.key];
        const bool now_live = op.kind == FollowOp::kWrite;
        count = count - (is_live ? 1 : 0) + (now_live ? 1 : 0);
        is_live = now_live;
      }
      live_after_[i + 1] = count;
    }
  }

  // The op whose value `key` holds after m ops, or kAbsent.
  static constexpr std::uint64_t kAbsent = ~std::uint64_t{0};
  std::uint64_t version(std::uint64_t key, std::uint64_t m) const {
    auto it = touching_.find(key);
    if (it == touching_.end()) return kAbsent;
    const std::vector<std::uint64_t>& ops = it->second;
    auto last = std::lower_bound(ops.begin(), ops.end(), m);  // first op index >= m
    if (last == ops.begin()) return kAbsent;
    const std::uint64_t op = *std::prev(last);
    return follow_op(op).kind == FollowOp::kWrite ? op : kAbsent;
  }
  std::size_t live_after(std::uint64_t m) const { return live_after_[m]; }
  const std::vector<std::uint64_t>& ops_touching(std::uint64_t key) const { return touching_.at(key); }
  std::vector<std::uint64_t> keys() const {
    std::vector<std::uint64_t> out;
    for (const auto& item : touching_) out.push_back(item.first);
    return out;
  }

 private:
  std::map<std::uint64_t, std::vector<std::uint64_t>> touching_;  // key -> op indices, ascending
  std::vector<std::size_t> live_after_;
};

int follow_writer(const std::filesystem::path& path, const ChildChannel& channel) {
  DataStore store = DataStore::open(path);
  channel.send(kReadyMessage);
  if (!channel.receive()) return 2;  // the parent gave up
  for (std::uint64_t i = 0; i < kFollowOps; ++i) {
    const FollowOp op = follow_op(i);
    if (op.kind == FollowOp::kCompact) {
      store.compact();
    } else if (op.kind == FollowOp::kRemove) {
      store.remove(follow_key(op.key));
    } else {
      store.write(follow_key(op.key), follow_value(i));
    }
    channel.send(i);
    if (i % kCheckpointEvery == kCheckpointEvery - 1 && !channel.receive()) return 3;
  }
  return 0;  // closes the store cleanly
}

// What a reader identifies in the store: for each key, the op whose value it holds.
class FollowChecker {
 public:
  explicit FollowChecker(const FollowModel& model) : model_(model) {}

  // The op whose value the store holds under `key` (bytes compared in full), kAbsent,
  // or kGarbage for bytes no op of that key wrote.
  static constexpr std::uint64_t kGarbage = ~std::uint64_t{0} - 1;
  std::uint64_t observed_version(const DataStore& store, std::uint64_t key) {
    std::optional<EntryHandle> handle = store.read(follow_key(key));
    if (!handle) return FollowModel::kAbsent;
    ++values_compared_;
    for (std::uint64_t op : model_.ops_touching(key)) {
      if (follow_op(op).kind != FollowOp::kWrite) continue;
      const std::vector<std::byte>& expected = value(op);
      if (handle->size() == expected.size() && std::memcmp(handle->data(), expected.data(), expected.size()) == 0) {
        return op;
      }
    }
    return kGarbage;
  }

  std::uint64_t values_compared() const { return values_compared_; }

 private:
  const std::vector<std::byte>& value(std::uint64_t op) {
    auto it = values_.find(op);
    if (it == values_.end()) it = values_.emplace(op, follow_value(op)).first;
    return it->second;
  }

  const FollowModel& model_;
  std::map<std::uint64_t, std::vector<std::byte>> values_;
  std::uint64_t values_compared_ = 0;
};

TEST(MultiProcess, ReaderFollowsWriterThroughAConsistentPrefix) {
  TempDir dir;
  const std::filesystem::path path = dir.file("store.bin");
  const std::filesystem::path child_log = dir.file("writer.log");
  const FollowModel model;
  FollowChecker checker(model);
  const std::vector<std::uint64_t> all_keys = model.keys();

  ChildProcess child([&](const ChildChannel& channel) { return follow_writer(path, channel); }, child_log);
  ASSERT_EQ(child.receive(kPatience), std::optional<std::uint64_t>(kReadyMessage));
  // The writer has created the store and waits: the reader starts at the empty state.
  DataStore reader = DataStore::open(path, read_only());
  EXPECT_TRUE(reader.is_read_only());
  EXPECT_EQ(reader.len(), 0u);
  ASSERT_TRUE(child.send(0));

  std::uint64_t acknowledged = 0;  // ops the writer has finished
  std::optional<std::uint64_t> waiting_checkpoint;
  auto take = [&](std::uint64_t message) {
    EXPECT_EQ(message, acknowledged) << "writer acknowledgements out of order";
    acknowledged = message + 1;
    if (message % kCheckpointEvery == kCheckpointEvery - 1) waiting_checkpoint = message;
  };
  auto take_messages = [&] {
    while (auto message = child.poll()) take(*message);
  };

  std::uint64_t visible = 0;  // m: the reader's view is the state after m ops
  std::uint64_t refreshes = 0;
  std::uint64_t distinct_states = 1;
  std::size_t sample_cursor = 0;
  std::optional<EntryHandle> pinned;  // a handle taken before the compaction
  std::uint64_t pinned_op = 0;
  bool writer_done = false;
  while (!HasFailure()) {
    // Refresh when the writer has made progress (or after a millisecond, to also catch
    // writes it has not acknowledged yet), rather than spinning: on a busy machine a
    // spinning reader starves the writer it follows.
    if (!waiting_checkpoint && !writer_done) {
      if (auto message = child.receive(std::chrono::milliseconds(1))) take(*message);
    }
    take_messages();
    const std::uint64_t low = acknowledged;  // published before this refresh began
    const bool at_checkpoint = waiting_checkpoint.has_value();  // the writer waits for this refresh
    const std::uint64_t tail = reader.refresh();
    ++refreshes;
    EXPECT_EQ(tail, reader.file_size());
    take_messages();
    const std::uint64_t high = std::min(acknowledged + 1, kFollowOps);  // + the op in flight

    // The keys whose state may differ between the candidates for m: those touched by
    // ops visible - 1 .. high. All other keys are checked by rotation (and all of them
    // at the end).
    std::map<std::uint64_t, std::uint64_t> observed;
    for (std::uint64_t op = visible; op < high; ++op) {
      const FollowOp item = follow_op(op);
      if (item.kind != FollowOp::kCompact && !observed.contains(item.key)) {
        observed[item.key] = checker.observed_version(reader, item.key);
      }
    }
    const std::size_t len = reader.len();
    std::optional<std::uint64_t> match;
    for (std::uint64_t m = high + 1; m-- > std::max(visible, low);) {
      bool same = model.live_after(m) == len;
      for (auto it = observed.begin(); same && it != observed.end(); ++it) same = model.version(it->first, m) == it->second;
      if (same) {
        match = m;
        break;
      }
    }
    if (!match) {
      std::ostringstream detail;
      for (const auto& [key, version] : observed) {
        detail << " " << follow_key(key) << "=" << (version == FollowModel::kAbsent ? std::string("absent")
                                                    : version == FollowChecker::kGarbage ? std::string("GARBAGE")
                                                                                        : "op" + std::to_string(version));
      }
      ADD_FAILURE() << "refresh " << refreshes << ": the reader's view is no state after m ops for m in ["
                    << std::max(visible, low) << ", " << high << "] (last view: m = " << visible << "); len " << len
                    << ";" << detail.str() << "\nwriter's stderr:\n"
                    << text_of_file(child_log);
      break;
    }
    if (*match != visible) ++distinct_states;
    visible = *match;

    // Keys no candidate op touched must still hold what they held: a few per refresh.
    for (int i = 0; i < 8 && visible > 0; ++i) {
      const std::uint64_t key = all_keys[sample_cursor++ % all_keys.size()];
      EXPECT_EQ(checker.observed_version(reader, key), model.version(key, visible))
          << follow_key(key) << " after m = " << visible;
    }
    if (!pinned && visible > 0 && visible < kCompactAt) {
      const std::uint64_t key = follow_op(0).key;
      pinned_op = model.version(key, visible);
      if (pinned_op != FollowModel::kAbsent) pinned = reader.read(follow_key(key));
    }

    if (at_checkpoint) {
      // The writer acknowledged the checkpoint op before this refresh, and waits.
      EXPECT_GE(visible, low);
      ASSERT_TRUE(child.send(0)) << "the writer is gone";
      waiting_checkpoint.reset();
    }
    if (writer_done) break;
    if (child.ended()) {
      const srd_test::ChildExit exit = child.wait();
      ASSERT_TRUE(exit.exited && exit.code == 0) << "the writer " << exit.describe();
      ASSERT_EQ(acknowledged, kFollowOps);
      writer_done = true;  // one more refresh: after the writer's clean close
    }
  }
  ASSERT_FALSE(HasFailure());

  // The end: exactly the writer's final state, every value byte for byte.
  EXPECT_EQ(visible, kFollowOps);
  EXPECT_EQ(reader.len(), model.live_after(kFollowOps));
  for (std::uint64_t key : all_keys) {
    EXPECT_EQ(checker.observed_version(reader, key), model.version(key, kFollowOps)) << follow_key(key);
  }
  const simd_r_drive::VerifyReport report = reader.verify();
  EXPECT_TRUE(report.ok()) << report.chain_error << ", " << report.corrupt_entries.size() << " corrupt entries";
  EXPECT_EQ(report.live_keys, model.live_after(kFollowOps));
  // A handle from before the writer compacted still reads the old bytes.
  ASSERT_TRUE(pinned.has_value());
  const std::vector<std::byte> pinned_value = follow_value(pinned_op);
  EXPECT_TRUE(*pinned == pinned_value);
  // A fresh reader agrees.
  DataStore fresh = DataStore::open(path, read_only());
  EXPECT_EQ(fresh.len(), model.live_after(kFollowOps));
  std::cout << "[ MultiProcess ] follower: " << refreshes << " refreshes, " << distinct_states
            << " distinct states seen, " << checker.values_compared() << " values compared byte for byte" << std::endl;
  RecordProperty("refreshes", std::to_string(refreshes));
  RecordProperty("distinct_states", std::to_string(distinct_states));
}

// ---------------------------------------------------------------------------
// A read-only store changes nothing

// Every write method of a read-only store throws kInvalidArgument.
void expect_every_write_refused(DataStore& store, const std::string& existing_key) {
  using srd_test::kInvalidArgument;
  EXPECT_EQ(code_of([&] { store.write("new", "value"); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { store.write(existing_key, "value"); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { store.write_with_key_hash(42, "value"); }), kInvalidArgument);
  const std::vector<std::pair<std::string, std::string>> batch = {{"a", "1"}, {"b", "2"}};
  EXPECT_EQ(code_of([&] { store.batch_write(batch); }), kInvalidArgument);
  const std::string payload = "x";
  const simd_r_drive::HashedPayload hashed[] = {{7, payload}};
  EXPECT_EQ(code_of([&] { store.batch_write_with_key_hashes(hashed); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] {
              bool sent = false;
              store.write_stream("streamed", [&](std::span<std::byte> buffer) -> std::size_t {
                if (sent) return 0;
                sent = true;
                buffer[0] = std::byte{'s'};
                return 1;
              });
            }),
            kInvalidArgument);
  std::istringstream source("streamed value");
  EXPECT_EQ(code_of([&] { store.write_stream("streamed", source); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { store.remove(existing_key); }), kInvalidArgument);
  const std::vector<std::string> keys = {existing_key};
  EXPECT_EQ(code_of([&] { store.batch_remove(keys); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { store.rename(existing_key, "renamed"); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { store.compact(); }), kInvalidArgument);
}

// Opens `path` read-only, uses it every way a reader can and tries every write, and
// checks that no file in its directory changed and none appeared.
void expect_read_only_changes_nothing(const std::filesystem::path& path, const std::map<std::string, std::string>& expected) {
  const std::map<std::string, std::string> before = directory_state(path.parent_path());
  {
    DataStore store = DataStore::open(path, read_only());
    EXPECT_TRUE(store.is_read_only());
    EXPECT_EQ(store.len(), expected.size());
    for (const auto& [key, value] : expected) EXPECT_EQ(value_of(store, key), value) << key;
    std::size_t iterated = 0;
    for (const EntryHandle& entry : store.iter_entries()) {
      ++iterated;
      EXPECT_TRUE(entry.is_valid_checksum());
    }
    EXPECT_EQ(iterated, expected.size());
    // The entries are sound; a torn tail, which a reader leaves in place, is what
    // verify reports past them.
    const simd_r_drive::VerifyReport report = store.verify();
    EXPECT_TRUE(report.chain_intact);
    EXPECT_TRUE(report.corrupt_entries.empty());
    EXPECT_FALSE(report.writer_active);
    EXPECT_EQ(report.trailing_bytes_damaged, report.trailing_bytes != 0);
    store.refresh();
    store.sync();
    expect_every_write_refused(store, expected.begin()->first);
    // A failed write must not have changed what the store shows either.
    for (const auto& [key, value] : expected) EXPECT_EQ(value_of(store, key), value) << key;

    // Nor can it be the target of a copy.
    TempDir other_dir;
    DataStore source = DataStore::open(other_dir.file("source.bin"));
    source.write("copied", "value");
    EXPECT_EQ(code_of([&] { source.copy("copied", store); }), srd_test::kInvalidArgument);
  }
  EXPECT_EQ(directory_state(path.parent_path()), before) << "a read-only store changed or created a file";
}

TEST(MultiProcess, ReadOnlyStoreNeverChangesTheFile) {
  TempDir dir;
  const std::filesystem::path path = dir.file("store.bin");
  std::map<std::string, std::string> expected;
  {
    DataStore store = DataStore::open(path);
    for (int i = 0; i < 20; ++i) {
      const std::string key = "key-" + std::to_string(i);
      expected[key] = std::string(1 + i * 37, static_cast<char>('a' + i));
      store.write(key, expected[key]);
    }
    store.remove("key-3");
    expected.erase("key-3");
  }
  expect_read_only_changes_nothing(path, expected);
}

TEST(MultiProcess, ReadOnlyStoreLeavesATornTailInPlace) {
  TempDir dir;
  const std::filesystem::path path = dir.file("store.bin");
  std::map<std::string, std::string> expected = {{"kept", "a value before the torn one"}};
  {
    DataStore store = DataStore::open(path);
    store.write("kept", expected["kept"]);
    store.write("torn", std::string(5000, 't'));
  }
  // Cut the last entry short, as a crash in its write would leave it.
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 7);
  const std::string torn_hash = srd_test::sha256_hex(path);
  const std::uintmax_t torn_size = std::filesystem::file_size(path);
  expect_read_only_changes_nothing(path, expected);
  EXPECT_EQ(std::filesystem::file_size(path), torn_size);
  EXPECT_EQ(srd_test::sha256_hex(path), torn_hash);

  // The same without a lock file: a store last written by the original.
  std::filesystem::remove(path.string() + ".lock");
  expect_read_only_changes_nothing(path, expected);
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".lock")) << "a reader created the writer's lock file";

  // A writer repairs it; the reader's refusal to do so was not for want of a fix.
  srd_test::StderrCapture recovery_log;
  DataStore writer = DataStore::open(path);
  EXPECT_NE(recovery_log.take().find("Recovered"), std::string::npos);
  EXPECT_EQ(value_of(writer, "kept"), expected["kept"]);
  EXPECT_FALSE(writer.exists("torn"));
}

TEST(MultiProcess, ReadOnlyOpenOfAMissingFileCreatesNothing) {
  TempDir dir;
  const std::filesystem::path path = dir.file("missing.bin");
  EXPECT_EQ(code_of([&] { DataStore::open(path, read_only()); }), srd_test::kNotFound);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

}  // namespace

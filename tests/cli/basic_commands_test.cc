// The original's commands (read, write, copy, move, rename, delete, info, metadata)
// run through the real binary: outputs, notices on stderr only, exit codes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

#include <simd_r_drive/simd_r_drive.h>

#include "cli_runner.h"

namespace srd_cli_test {
namespace {

using simd_r_drive::DataStore;

class BasicCommands : public CliTest {};

TEST_F(BasicCommands, WriteThenReadGivesTheExactValueOnStdout) {
  const CliRun write = cli({"write", "greeting", "hello, world"});
  EXPECT_EQ(write.exit_code, 0) << write.err;
  EXPECT_EQ(write.out, "");  // the notice goes to stderr, never stdout
  EXPECT_EQ(write.err, "simd-r-drive: Stored 'greeting' (12 bytes)\n");

  const CliRun read = cli({"read", "greeting"});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_EQ(read.out, "hello, world");  // piped: no newline added
  EXPECT_EQ(read.err, "");
}

TEST_F(BasicCommands, SyncWritesAreAcknowledgedLikeOthers) {
  // --sync asks for an fdatasync per write; the outcome seen from outside is the same.
  const CliRun write = cli({"--sync", "write", "k", "durable"});
  EXPECT_EQ(write.exit_code, 0) << write.err;
  EXPECT_EQ(cli({"write", "k2", "also", "--sync"}, {}).exit_code, 0);
  EXPECT_EQ(cli({"read", "k"}).out, "durable");
  EXPECT_EQ(cli({"read", "k2"}).out, "also");
}

TEST_F(BasicCommands, QuietSilencesNoticesButNotTheValue) {
  EXPECT_EQ(cli({"-q", "write", "k", "v"}).err, "");
  const CliRun read = cli({"read", "k", "--quiet"});  // global options may follow the command
  EXPECT_EQ(read.exit_code, 0);
  EXPECT_EQ(read.out, "v");
  EXPECT_EQ(read.err, "");
}

TEST_F(BasicCommands, ReadOfAMissingKeyExitsThreeWithOneLine) {
  ASSERT_EQ(cli({"write", "present", "x"}).exit_code, 0);
  expect_failure(cli({"read", "absent"}), 3, "key 'absent' not found");
}

TEST_F(BasicCommands, ReadWithBufferSizeStreamsEveryByte) {
  // The original's test: 128 KiB piped in, read back with --buffer-size 64K.
  std::string value(128 * 1024, '\0');
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(cli({"write", "big"}, {.data = value}).exit_code, 0);
  for (const char* size : {"64K", "1", "4096", "1m", "3kb"}) {
    const CliRun read = cli({"read", "--buffer-size", size, "big"});
    EXPECT_EQ(read.exit_code, 0) << size << ": " << read.err;
    EXPECT_EQ(read.out.size(), 131072u) << size;
    EXPECT_TRUE(read.out == value) << size;
  }
}

TEST_F(BasicCommands, DeleteRemovesTheKeyAndSaysSoWhenItIsMissing) {
  ASSERT_EQ(cli({"write", "k", "v"}).exit_code, 0);
  const CliRun deleted = cli({"delete", "k"});
  EXPECT_EQ(deleted.exit_code, 0);
  EXPECT_EQ(deleted.err, "simd-r-drive: Deleted key 'k'\n");
  EXPECT_EQ(cli({"read", "k"}).exit_code, 3);

  const auto size_before = std::filesystem::file_size(store());
  expect_failure(cli({"delete", "k"}), 3, "key 'k' not found");
  EXPECT_EQ(std::filesystem::file_size(store()), size_before);  // no redundant tombstone

  const CliRun forced = cli({"delete", "--force", "k"});
  EXPECT_EQ(forced.exit_code, 0);
  EXPECT_NE(forced.err.find("not found"), std::string::npos);
}

TEST_F(BasicCommands, DeleteOfSeveralKeysDeletesThePresentOnesAndReportsTheRest) {
  ASSERT_EQ(cli({"write", "a", "1"}).exit_code, 0);
  ASSERT_EQ(cli({"write", "b", "2"}).exit_code, 0);
  const CliRun run = cli({"delete", "a", "missing", "b"});
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_NE(run.err.find("warning: key 'missing' not found"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("1 of 3 keys not found"), std::string::npos) << run.err;
  EXPECT_EQ(cli({"read", "a"}).exit_code, 3);
  EXPECT_EQ(cli({"read", "b"}).exit_code, 3);
}

TEST_F(BasicCommands, RenameMovesTheValueToTheNewKey) {
  ASSERT_EQ(cli({"write", "old", "value"}).exit_code, 0);
  const CliRun rename = cli({"rename", "old", "new"});
  EXPECT_EQ(rename.exit_code, 0) << rename.err;
  EXPECT_EQ(rename.err, "simd-r-drive: Renamed key 'old' to 'new'\n");
  EXPECT_EQ(cli({"read", "new"}).out, "value");
  EXPECT_EQ(cli({"read", "old"}).exit_code, 3);

  expect_failure(cli({"rename", "old", "other"}), 3, "key 'old' not found");
  expect_failure(cli({"rename", "new", "new"}), 2, "to itself");
}

TEST_F(BasicCommands, CopyLeavesTheSourceAndFillsTheTarget) {
  const std::string target = path("target.bin").string();
  ASSERT_EQ(cli({"write", "k", "value"}).exit_code, 0);
  const CliRun copy = cli({"copy", "k", target});
  EXPECT_EQ(copy.exit_code, 0) << copy.err;
  EXPECT_EQ(run_cli({target, "read", "k"}).out, "value");
  EXPECT_EQ(cli({"read", "k"}).out, "value");

  expect_failure(cli({"copy", "missing", target}), 3, "not found");
  // The same file under another name is still the same store.
  expect_failure(cli({"copy", "k", (dir_ / "." / "store.bin").string()}), 1, "is the store itself");
}

TEST_F(BasicCommands, MoveTakesTheValueOutOfTheSource) {
  const std::string target = path("target.bin").string();
  ASSERT_EQ(cli({"write", "k", "value"}).exit_code, 0);
  const CliRun move = cli({"move", "k", target});
  EXPECT_EQ(move.exit_code, 0) << move.err;
  EXPECT_NE(move.err.find("Moved key 'k'"), std::string::npos);
  EXPECT_EQ(run_cli({target, "read", "k"}).out, "value");
  EXPECT_EQ(cli({"read", "k"}).exit_code, 3);
  expect_failure(cli({"move", "k", target}), 3, "not found");
}

TEST_F(BasicCommands, InfoCountsLiveKeysAfterDeletesAndReopens) {
  ASSERT_EQ(cli({"write", "a", "1"}).exit_code, 0);
  ASSERT_EQ(cli({"write", "b", "2"}).exit_code, 0);
  ASSERT_EQ(cli({"write", "b", "22"}).exit_code, 0);
  ASSERT_EQ(cli({"delete", "a"}).exit_code, 0);  // each command is a fresh open

  const CliRun text = cli({"info"});
  EXPECT_EQ(text.exit_code, 0);
  for (const char* label : {"STORAGE INFO", "STORAGE FILE:", "TOTAL SIZE:", "ACTIVE ENTRIES:", "COMPACTION SAVINGS:",
                            "TOMBSTONES:"}) {
    EXPECT_NE(text.out.find(label), std::string::npos) << label;
  }
  EXPECT_NE(text.out.find("ACTIVE ENTRIES:           1\n"), std::string::npos) << text.out;

  const CliRun json = cli({"info", "--json"});
  ASSERT_EQ(json.exit_code, 0);
  const auto info = nlohmann::json::parse(json.out);
  EXPECT_EQ(info["live_keys"], 1);
  EXPECT_EQ(info["entries"], 4);
  EXPECT_EQ(info["tombstones"], 1);
  EXPECT_EQ(info["stale_entries"], 2);  // b's first value and a's
  EXPECT_EQ(info["live_payload_bytes"], 2);
  EXPECT_EQ(info["file_size"], std::filesystem::file_size(store()));
  const DataStore library = DataStore::open(store());
  EXPECT_EQ(info["reclaimable_bytes"], library.estimate_compaction_savings());
}

TEST_F(BasicCommands, StatsIsInfo) {
  ASSERT_EQ(cli({"write", "a", "1"}).exit_code, 0);
  const CliRun stats = cli({"stats", "--json"});
  EXPECT_EQ(stats.exit_code, 0);
  EXPECT_EQ(stats.out, cli({"info", "--json"}).out);
}

TEST_F(BasicCommands, MetadataDescribesTheEntry) {
  ASSERT_EQ(cli({"write", "alice", "hello"}).exit_code, 0);
  ASSERT_EQ(cli({"write", "bob", "world!"}).exit_code, 0);
  const CliRun text = cli({"metadata", "bob"});
  EXPECT_EQ(text.exit_code, 0);
  for (const char* label : {"METADATA SUMMARY", "ENTRY FOR:", "'bob'", "PAYLOAD SIZE:", "TOTAL SIZE (W/ METADATA):",
                            "OFFSET RANGE:", "MEMORY ADDRESS:", "KEY HASH:", "CHECKSUM:", "CHECKSUM VALIDITY:",
                            "STORED METADATA:"}) {
    EXPECT_NE(text.out.find(label), std::string::npos) << label;
  }
  // The format's worked example: "world!" at 64..70 after "hello" (docs/format.md).
  EXPECT_NE(text.out.find("OFFSET RANGE:             64..70\n"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("CHECKSUM VALIDITY:        VALID\n"), std::string::npos);

  const auto json = nlohmann::json::parse(cli({"metadata", "--json", "alice"}).out);
  EXPECT_EQ(json["key_hash"], "0x4da10dd61a0116b0");  // the original's golden hash of "alice"
  EXPECT_EQ(json["offset_start"], 0);
  EXPECT_EQ(json["offset_end"], 5);
  EXPECT_EQ(json["checksum"], 0x3610A686u);  // CRC-32 of "hello"
  EXPECT_EQ(json["checksum_valid"], true);

  expect_failure(cli({"metadata", "carol"}), 3, "key 'carol' not found");
}

TEST_F(BasicCommands, KeyHashAddressesAnEntryWhoseKeyIsUnknown) {
  ASSERT_EQ(cli({"write", "alice", "hello"}).exit_code, 0);
  EXPECT_EQ(cli({"read", "--key-hash", "0x4da10dd61a0116b0"}).out, "hello");
  EXPECT_EQ(cli({"read", "--key-hash", "4DA10DD61A0116B0"}).out, "hello");
  expect_failure(cli({"read", "--key-hash", "0x1"}), 3, "with hash 0x0000000000000001");
  EXPECT_EQ(cli({"delete", "--key-hash", "0x4da10dd61a0116b0"}).exit_code, 0);
  EXPECT_EQ(cli({"read", "alice"}).exit_code, 3);
}

TEST_F(BasicCommands, NamespacedKeysMatchTheOriginalsNamespaceHasher) {
  ASSERT_EQ(cli({"write", "--namespace", "namespace1", "key1", "v"}).exit_code, 0);
  EXPECT_EQ(cli({"read", "--namespace", "namespace1", "key1"}).out, "v");
  EXPECT_EQ(cli({"read", "key1"}).exit_code, 3);
  // The 16-byte key of the original's golden vector (NamespaceHasher, as in tests/compat/golden/prehashed.json).
  EXPECT_EQ(cli({"read", "--key-hex", "7c066c9df2e6eccbe229d8d50c074d38"}).out, "v");
}

TEST_F(BasicCommands, EmptyAndNullOnlyValuesAreRefusedWithAReason) {
  expect_failure(cli({"write", "k", ""}), 1, "cannot be empty");
  expect_failure(cli({"write", "k", "--value-hex", "00"}), 1, "only 0x00 bytes");
  expect_failure(cli({"write", "k"}, {.data = std::string()}), 1, "stdin is empty");
  expect_failure(cli({"write", "k"}, {.data = std::string(100000, '\0')}), 1, "only 0x00 bytes");
  EXPECT_FALSE(std::filesystem::exists(store()) && std::filesystem::file_size(store()) != 0);
  // Two zero bytes are an ordinary value for a direct write, as in the original.
  EXPECT_EQ(cli({"write", "k", "--value-hex", "0000"}).exit_code, 0);
  EXPECT_EQ(cli({"read", "k"}).out, std::string(2, '\0'));
}

TEST_F(BasicCommands, ValueFileStreamsAFileAndReportsAMissingOne) {
  write_file(path("value.bin"), "from a file");
  EXPECT_EQ(cli({"write", "k", "--value-file", path("value.bin").string()}).exit_code, 0);
  EXPECT_EQ(cli({"read", "k"}).out, "from a file");
  expect_failure(cli({"write", "k", "--value-file", path("nope").string()}), 1, "cannot open");
  EXPECT_EQ(cli({"write", "k2", "--value-file", "-"}, {.data = "dash"}).exit_code, 0);
  EXPECT_EQ(cli({"read", "k2"}).out, "dash");
}

}  // namespace
}  // namespace srd_cli_test

// compact, verify and inspect: what they report, and that the read-only ones
// change nothing, not even a damaged file.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <simd_r_drive/simd_r_drive.h>

#include "cli_runner.h"

namespace srd_cli_test {
namespace {

using simd_r_drive::DataStore;

class Maintenance : public CliTest {
 protected:
  // alice, bob and a deleted carol: the worked example of docs/format.md plus one.
  void write_example() {
    ASSERT_EQ(cli({"write", "alice", "hello"}).exit_code, 0);
    ASSERT_EQ(cli({"write", "bob", "world!"}).exit_code, 0);
    ASSERT_EQ(cli({"write", "carol", "gone soon"}).exit_code, 0);
    ASSERT_EQ(cli({"write", "alice", "hello again"}).exit_code, 0);
    ASSERT_EQ(cli({"delete", "carol"}).exit_code, 0);
  }

  void flip_byte(std::uint64_t offset) {
    std::fstream file(store(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    file.read(&c, 1);
    file.seekp(static_cast<std::streamoff>(offset));
    c = static_cast<char>(c ^ 0x5A);
    file.write(&c, 1);
  }
};

// A flipped bit in an older tombstone that follows an unaligned tail: the engine
// keeps the chain (one byte after an unaligned tail can only be a tombstone) and
// verify reports the damaged entry. inspect and info read the chain through the
// engine's records API, so they agree with it instead of failing on the file.
TEST_F(Maintenance, InspectAndInfoReadADamagedOlderTombstone) {
  ASSERT_EQ(cli({"write", "a", "hello"}).exit_code, 0);  // payload 0..5, record 5..25
  ASSERT_EQ(cli({"delete", "a"}).exit_code, 0);          // tombstone byte at 25 (unaligned)
  ASSERT_EQ(cli({"write", "b", "still here"}).exit_code, 0);
  flip_byte(25);

  const CliRun inspect = cli({"inspect", "--json", "--checksums"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  const auto records = nlohmann::json::parse(inspect.out)["entries"];
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1]["offset"], 25);
  EXPECT_EQ(records[1]["size"], 1);
  EXPECT_EQ(records[1]["state"], "tombstone");
  EXPECT_EQ(records[1]["checksum_valid"], false);
  EXPECT_EQ(records[2]["state"], "live");

  const CliRun info = cli({"info", "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const auto stats = nlohmann::json::parse(info.out);
  EXPECT_EQ(stats["entries"], 3);
  EXPECT_EQ(stats["tombstones"], 1);
  EXPECT_EQ(stats["live_keys"], 1);
  EXPECT_EQ(stats["stale_entries"], 1);

  const CliRun verify = cli({"verify", "--json"});
  EXPECT_EQ(verify.exit_code, 4);
  const auto report = nlohmann::json::parse(verify.out);
  EXPECT_EQ(report["chain_intact"], true);
  ASSERT_EQ(report["corrupt_entries"].size(), 1u);
  EXPECT_EQ(report["corrupt_entries"][0]["payload_offset"], 25);
  EXPECT_EQ(cli({"read", "b"}).out, "still here");
}

TEST_F(Maintenance, CompactFreesSpaceAndKeepsEveryLiveValue) {
  write_example();
  const auto before = std::filesystem::file_size(store());
  const auto reclaimable = nlohmann::json::parse(cli({"info", "--json"}).out)["reclaimable_bytes"].get<std::uint64_t>();
  ASSERT_GT(reclaimable, 0u);

  const CliRun compact = cli({"compact"});
  EXPECT_EQ(compact.exit_code, 0) << compact.err;
  EXPECT_EQ(compact.out, "");
  EXPECT_NE(compact.err.find("Compacted"), std::string::npos) << compact.err;
  EXPECT_EQ(std::filesystem::file_size(store()), before - reclaimable);

  EXPECT_EQ(cli({"read", "alice"}).out, "hello again");
  EXPECT_EQ(cli({"read", "bob"}).out, "world!");
  EXPECT_EQ(cli({"read", "carol"}).exit_code, 3);
  const auto info = nlohmann::json::parse(cli({"info", "--json"}).out);
  EXPECT_EQ(info["reclaimable_bytes"], 0);
  EXPECT_EQ(info["tombstones"], 0);
  EXPECT_EQ(info["live_keys"], 2);
}

TEST_F(Maintenance, CompactThroughALinkedStorePathKeepsOneStore) {
  // links/s.bin -> ../real/s.bin: compaction used to rename its new file over the
  // link, after which links/s.bin and real/s.bin were two stores with two locks.
  std::filesystem::create_directories(path("real"));
  std::filesystem::create_directories(path("links"));
  const std::string real = (path("real") / "s.bin").string();
  const std::string link = (path("links") / "s.bin").string();
  std::filesystem::create_symlink("../real/s.bin", link);
  ASSERT_EQ(run_cli({link, "write", "k", "old"}).exit_code, 0);
  ASSERT_EQ(run_cli({link, "write", "k", "new"}).exit_code, 0);
  const CliRun compact = run_cli({link, "compact"});
  EXPECT_EQ(compact.exit_code, 0) << compact.err;
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  ASSERT_EQ(run_cli({link, "write", "after", "through the link"}).exit_code, 0);
  EXPECT_EQ(run_cli({real, "read", "after"}).out, "through the link");
  EXPECT_EQ(run_cli({real, "read", "k"}).out, "new");
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(link + ".lock")));
}

TEST_F(Maintenance, VerifyPassesASoundStoreAndChangesNothing) {
  write_example();
  const std::string bytes = read_file(store());
  const auto modified = std::filesystem::last_write_time(store());
  const CliRun verify = cli({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_NE(verify.out.find("RESULT:                   OK"), std::string::npos) << verify.out;
  EXPECT_NE(verify.out.find("5 entries on the chain (1 tombstone), 2 live keys"), std::string::npos) << verify.out;
  EXPECT_EQ(verify.err, "");
  EXPECT_EQ(read_file(store()), bytes);
  EXPECT_EQ(std::filesystem::last_write_time(store()), modified);

  const auto json = nlohmann::json::parse(cli({"verify", "--json"}).out);
  EXPECT_EQ(json["ok"], true);
  EXPECT_EQ(json["entries"], 5);
  EXPECT_EQ(json["corrupt_entries"].size(), 0u);
}

TEST_F(Maintenance, VerifyReportsACorruptPayloadWithItsOffsets) {
  write_example();
  // bob's "world!" lies at 64..70 (after alice's 5 bytes, its record and the pad).
  flip_byte(66);
  const std::string damaged = read_file(store());

  const CliRun verify = cli({"verify"});
  EXPECT_EQ(verify.exit_code, 4);
  EXPECT_NE(verify.out.find("CORRUPT ENTRY:            payload at offset 64 (6 bytes), record at 70"),
            std::string::npos)
      << verify.out;
  EXPECT_NE(verify.out.find("DAMAGED"), std::string::npos);
  ASSERT_EQ(verify.err_lines().size(), 1u) << verify.err;
  EXPECT_NE(verify.err.find("is damaged"), std::string::npos);

  const auto json = nlohmann::json::parse(cli({"verify", "--json"}).out);
  EXPECT_EQ(json["ok"], false);
  ASSERT_EQ(json["corrupt_entries"].size(), 1u);
  EXPECT_EQ(json["corrupt_entries"][0]["payload_offset"], 64);
  EXPECT_EQ(json["corrupt_entries"][0]["metadata_offset"], 70);
  EXPECT_EQ(json["corrupt_entries"][0]["key_hash"], "0x1403c0c40f49b8e5");  // "bob"
  EXPECT_EQ(read_file(store()), damaged);  // verify repaired nothing
}

TEST_F(Maintenance, VerifyReportsGarbageAfterTheLastEntryAndLeavesIt) {
  write_example();
  const auto tail = std::filesystem::file_size(store());
  {
    std::ofstream file(store(), std::ios::binary | std::ios::app);
    file << "CORRUPT";
  }
  const CliRun verify = cli({"verify"});
  EXPECT_EQ(verify.exit_code, 4);
  EXPECT_NE(verify.out.find("7 bytes at offsets " + std::to_string(tail) + ".." + std::to_string(tail + 7)),
            std::string::npos)
      << verify.out;
  EXPECT_EQ(std::filesystem::file_size(store()), tail + 7);

  // Reads work on the damaged file without repairing it; their stdout stays clean.
  const CliRun read = cli({"read", "bob"});
  EXPECT_EQ(read.out, "world!");
  EXPECT_EQ(std::filesystem::file_size(store()), tail + 7);

  // A write repairs it, and the engine's notice goes to stderr, not stdout.
  const CliRun write = cli({"write", "dave", "x"});
  EXPECT_EQ(write.exit_code, 0);
  EXPECT_EQ(write.out, "");
  EXPECT_NE(write.err.find("Recovered"), std::string::npos) << write.err;
  EXPECT_EQ(cli({"verify"}).exit_code, 0);
}

TEST_F(Maintenance, InspectListsEveryRecordWithItsState) {
  write_example();
  const CliRun text = cli({"inspect"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("5 entries: 2 live, 1 superseded, 1 deleted, 1 tombstone"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.rfind("OFFSET", 0), 0u);
  EXPECT_EQ(cli({"dump"}).out, text.out);

  const CliRun json_run = cli({"inspect", "--json", "--checksums"});
  ASSERT_EQ(json_run.exit_code, 0) << json_run.err;
  const auto json = nlohmann::json::parse(json_run.out);
  const auto& entries = json["entries"];
  ASSERT_EQ(entries.size(), 5u);
  // Oldest first, as in the file: alice, bob, carol, alice again, carol's tombstone.
  EXPECT_EQ(entries[0]["offset"], 0);
  EXPECT_EQ(entries[0]["size"], 5);
  EXPECT_EQ(entries[0]["tail"], 25);
  EXPECT_EQ(entries[0]["key_hash"], "0x4da10dd61a0116b0");
  EXPECT_EQ(entries[0]["state"], "superseded");
  EXPECT_EQ(entries[1]["offset"], 64);
  EXPECT_EQ(entries[1]["prev_offset"], 25);
  EXPECT_EQ(entries[1]["state"], "live");
  EXPECT_EQ(entries[2]["state"], "deleted");
  EXPECT_EQ(entries[3]["state"], "live");
  EXPECT_EQ(entries[4]["state"], "tombstone");
  EXPECT_EQ(entries[4]["size"], 1);
  EXPECT_EQ(entries[4]["tombstone"], true);
  EXPECT_EQ(entries[4]["tail"], json["file_size"]);
  for (const auto& entry : entries) EXPECT_EQ(entry["checksum_valid"], true);

  // The same offsets as the library's handles.
  const DataStore library = DataStore::open(store());
  EXPECT_EQ(entries[3]["offset"], library.read("alice")->start_offset());
  EXPECT_EQ(entries[1]["checksum"], library.read("bob")->checksum());
}

TEST_F(Maintenance, InspectChecksumsFlagsTheDamagedEntry) {
  write_example();
  flip_byte(66);
  const CliRun run = cli({"inspect", "--checksums"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_NE(run.out.find(" BAD\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("1 bad checksum"), std::string::npos);
}

TEST_F(Maintenance, AnEmptyStoreHasNothingToReport) {
  write_file(store(), "");
  EXPECT_EQ(cli({"verify"}).exit_code, 0);
  EXPECT_NE(cli({"inspect"}).out.find("0 entries: 0 live"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(cli({"info", "--json"}).out)["live_keys"], 0);
  EXPECT_EQ(cli({"compact"}).exit_code, 0);
}

}  // namespace
// The file a crash of an older version left (its reserved space, zeros up to a 2 MiB
// boundary), after the Rust original wrote one entry to it: the original appends at
// the file's length, with a back-link to it, so the zeros read as one entry covering
// the store. Read commands refuse it and say what to do; salvage writes every entry
// to a new file, which both engines read whole.
TEST_F(Maintenance, SalvageKeepsTheEntriesTheOriginalWroteAfterACrash) {
  ASSERT_EQ(cli({"write", "a", "first"}).exit_code, 0);
  ASSERT_EQ(cli({"write", "b", "second"}).exit_code, 0);
  constexpr std::uint64_t kEnd = 2u << 20;
  std::filesystem::resize_file(store(), kEnd);
  {
    const std::string value = "written by the original";
    std::string entry = value;  // kEnd is a multiple of 64: no pre-pad
    auto put = [&entry](std::uint64_t field, int bytes) {
      for (int i = 0; i < bytes; ++i) entry.push_back(static_cast<char>((field >> (8 * i)) & 0xFF));
    };
    put(DataStore::hash_key("new"), 8);
    put(kEnd, 8);
    put(simd_r_drive::compute_checksum(value), 4);
    std::ofstream(store(), std::ios::binary | std::ios::app) << entry;
  }
  const std::string before = read_file(store());

  const CliRun read = cli({"read", "a"});
  expect_failure(read, 4, "salvage --to");
  EXPECT_NE(read.err.find(std::to_string(kEnd)), std::string::npos) << read.err;

  const std::string target = path("salvaged.bin").string();
  const CliRun salvage = cli({"salvage", "--to", target});
  ASSERT_EQ(salvage.exit_code, 0) << salvage.err;
  EXPECT_NE(salvage.err.find("kept 2 entries"), std::string::npos) << salvage.err;
  EXPECT_NE(salvage.err.find("moved 1 entry"), std::string::npos) << salvage.err;
  EXPECT_EQ(read_file(store()), before) << "salvage changed the store";
  EXPECT_EQ(run_cli({target, "read", "a"}).out, "first");
  EXPECT_EQ(run_cli({target, "read", "b"}).out, "second");
  EXPECT_EQ(run_cli({target, "read", "new"}).out, "written by the original");
  EXPECT_EQ(run_cli({target, "verify"}).exit_code, 0);

  expect_failure(cli({"salvage", "--to", target}), 1, "exists");
  expect_failure(cli({"salvage"}), 2, "--to");
}

}  // namespace srd_cli_test

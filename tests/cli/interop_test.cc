// The CLI and the library share files both ways, and the CLI respects the
// engine's one-writer lock while still reading.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <simd_r_drive/simd_r_drive.h>

#include "cli_runner.h"

namespace srd_cli_test {
namespace {

using simd_r_drive::DataStore;

class Interop : public CliTest {};

TEST_F(Interop, AFileWrittenByTheCliReadsBackThroughTheLibrary) {
  ASSERT_EQ(cli({"write", "text", "hello"}).exit_code, 0);
  ASSERT_EQ(cli({"write", "--key-hex", "0001", "--value-file", "-"}, {.data = std::string("\0\1\2", 3)}).exit_code, 0);
  ASSERT_EQ(cli({"write", "gone", "x"}).exit_code, 0);
  ASSERT_EQ(cli({"delete", "gone"}).exit_code, 0);
  ASSERT_EQ(cli({"rename", "text", "greeting"}).exit_code, 0);

  DataStore library = DataStore::open(store());
  EXPECT_EQ(library.len(), 2u);
  ASSERT_TRUE(library.read("greeting").has_value());
  EXPECT_EQ(library.read("greeting")->as_string_view(), "hello");
  ASSERT_TRUE(library.read(std::string("\0\1", 2)).has_value());
  EXPECT_EQ(library.read(std::string("\0\1", 2))->as_string_view(), std::string("\0\1\2", 3));
  EXPECT_FALSE(library.exists("gone"));
  EXPECT_FALSE(library.exists("text"));
  EXPECT_TRUE(library.verify().ok());
}

TEST_F(Interop, AFileWrittenByTheLibraryReadsBackThroughTheCli) {
  {
    DataStore library = DataStore::open(store());
    library.write("alice", "hello");
    std::vector<std::pair<std::string, std::string>> batch = {{"bob", "world!"}, {"carol", "x"}};
    library.batch_write(batch);
    library.remove("carol");
  }
  EXPECT_EQ(cli({"read", "alice"}).out, "hello");
  EXPECT_EQ(cli({"read", "bob"}).out, "world!");
  EXPECT_EQ(cli({"read", "carol"}).exit_code, 3);
  EXPECT_NE(cli({"info"}).out.find("ACTIVE ENTRIES:           2\n"), std::string::npos);
}

TEST_F(Interop, ALockedStoreRefusesCliWritesButServesReads) {
  DataStore writer = DataStore::open(store());
  writer.write("k", "from the library");

  expect_failure(cli({"write", "k", "v"}), 5, "is locked by another writer");
  expect_failure(cli({"delete", "k"}), 5, "only one process may write a store at a time");
  // Read-only commands take no lock: they see what the writer wrote.
  EXPECT_EQ(cli({"read", "k"}).out, "from the library");
  const CliRun verify = cli({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("a writer has the store open"), std::string::npos) << verify.out;
}

}  // namespace
}  // namespace srd_cli_test

// The command line itself: --help and --version, bad arguments (exit 2, one line,
// nothing done), missing store files (exit 1), and error lines that stay one line.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli_runner.h"

namespace srd_cli_test {
namespace {

class Usage : public CliTest {};

const std::vector<std::string> kCommands = {"read",    "write", "copy",     "move",   "rename",  "delete", "compact",
                                            "info",    "stats", "metadata", "verify", "inspect", "dump",   "import",
                                            "export"};

TEST_F(Usage, VersionNamesTheToolAndTheFormat) {
  for (const char* flag : {"--version", "-V"}) {
    const CliRun run = run_cli({flag});
    EXPECT_EQ(run.exit_code, 0);
    EXPECT_EQ(run.out.rfind("simd-r-drive 0.", 0), 0u) << run.out;
    EXPECT_NE(run.out.find("0.16.3-alpha"), std::string::npos);
    EXPECT_EQ(run.err, "");
  }
}

TEST_F(Usage, HelpListsEveryCommandAndTheExitCodes) {
  const CliRun run = run_cli({"--help"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.err, "");
  for (const std::string& command : kCommands) EXPECT_NE(run.out.find(command), std::string::npos) << command;
  EXPECT_NE(run.out.find("Exit status:"), std::string::npos);
  EXPECT_NE(run.out.find("3  a key the command needs is not in the store"), std::string::npos);
}

TEST_F(Usage, EveryCommandHasHelpWithExamples) {
  for (const std::string& command : kCommands) {
    // With a store path, and without one (the command's help is still shown).
    for (const auto& args : {std::vector<std::string>{"s.bin", command, "--help"},
                             std::vector<std::string>{command, "--help"}}) {
      const CliRun run = run_cli(args);
      EXPECT_EQ(run.exit_code, 0) << command;
      // An alias shows the help of the command it names.
      const std::string name = command == "stats" ? "info" : command == "dump" ? "inspect" : command;
      EXPECT_NE(run.out.find("Usage: simd-r-drive [OPTIONS] storage-file " + name), std::string::npos)
          << command << ":\n" << run.out;
      EXPECT_NE(run.out.find("Examples:"), std::string::npos) << command;
      EXPECT_NE(run.out.find("simd-r-drive store.bin "), std::string::npos) << command;
    }
  }
  EXPECT_FALSE(std::filesystem::exists("s.bin"));
}

TEST_F(Usage, BadArgumentsExitTwoAndTouchNothing) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "storage-file is required"},
      {{store()}, "A subcommand is required"},
      {{store(), "frobnicate"}, "unknown command 'frobnicate'"},
      {{"read", "greeting"}, "the storage file comes before the command"},
      {{store(), "read"}, "key is required"},
      {{store(), "read", "a", "b"}, "not expected"},
      {{store(), "read", "--no-such-flag", "a"}, "no-such-flag"},
      {{store(), "read", "--buffer-size", "12Q", "a"}, "--buffer-size"},
      {{store(), "read", "--buffer-size", "0", "a"}, "--buffer-size"},
      {{store(), "read", "--key-hex", "abc"}, "--key-hex"},
      {{store(), "read", "--key-hex", "zz"}, "--key-hex"},
      {{store(), "read", "--key-hash", "0x123456789abcdef01"}, "--key-hash"},
      {{store(), "read", "--key-hash", "--key-hex", "00"}, "excludes"},
      {{store(), "write", "k", "v", "--value-file", "f"}, "excludes"},
      {{store(), "write", "k", "zz", "--value-hex"}, "--value-hex"},
      {{store(), "copy", "k"}, "target is required"},
      {{store(), "rename", "only-one"}, "new-key is required"},
      {{store(), "export", path("out").string()}, "--keys FILE or --from-dir DIR"},
      {{store(), "export", path("out").string(), "--unnamed", "maybe", "--keys", "-"}, "--unnamed"},
  };
  for (const auto& [args, needle] : cases) {
    SCOPED_TRACE(::testing::PrintToString(args));
    expect_failure(run_cli(args), 2, needle);
    EXPECT_FALSE(std::filesystem::exists(store()));
  }
}

TEST_F(Usage, WriteWithoutAValueOnATerminalIsAUsageError) {
  expect_failure(cli({"write", "k"}, {.stdin_terminal = true}), 2, "no value given");
  // The original's switch for its tests: FORCE_NO_TTY makes stdin count as a terminal.
  expect_failure(cli({"write", "k"}, {.data = "ignored", .env = {"FORCE_NO_TTY=1"}}), 2, "no value given");
  EXPECT_FALSE(std::filesystem::exists(store()));
}

TEST_F(Usage, CommandsThatNeedAStoreRefuseAMissingFileAndCreateNothing) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"read", "k"},
                                                                {"metadata", "k"},
                                                                {"delete", "k"},
                                                                {"rename", "a", "b"},
                                                                {"copy", "k", path("t.bin").string()},
                                                                {"move", "k", path("t.bin").string()},
                                                                {"compact"},
                                                                {"info"},
                                                                {"verify"},
                                                                {"inspect"},
                                                                {"export", path("out").string(), "--keys", "-"}}) {
    SCOPED_TRACE(args.front());
    expect_failure(cli(args, {.data = ""}), 1, "the file does not exist");
    EXPECT_FALSE(std::filesystem::exists(store()));
    EXPECT_FALSE(std::filesystem::exists(path("t.bin")));
  }
}

TEST_F(Usage, ADirectoryIsNotAStore) {
  std::filesystem::create_directory(store());
  expect_failure(cli({"read", "k"}), 1, "is a directory");
  expect_failure(cli({"write", "k", "v"}), 1, "is a directory");
}

TEST_F(Usage, ANonStoreFileIsRefusedAsDamagedAndLeftAlone) {
  const std::string text = "this is not a store, just a text file\n";
  write_file(store(), text);
  expect_failure(cli({"read", "k"}), 4, "not a SIMD R Drive store");
  expect_failure(cli({"write", "k", "v"}), 4, "not a SIMD R Drive store");
  EXPECT_EQ(read_file(store()), text);
}

TEST_F(Usage, KeysThatStartWithADashFollowDoubleDash) {
  ASSERT_EQ(cli({"write", "--", "-k", "-v"}).exit_code, 0);
  EXPECT_EQ(cli({"read", "--", "-k"}).out, "-v");
}

TEST_F(Usage, ErrorLinesEscapeKeysSoTheyStayOneLine) {
  ASSERT_EQ(cli({"write", "present", "x"}).exit_code, 0);
  // A key with a newline, a quote and invalid UTF-8, given in hex.
  expect_failure(cli({"read", "--key-hex", "610a27ff"}), 3, "key 'a\\n\\'\\xff' not found");
  // Valid UTF-8 is shown as it is.
  expect_failure(cli({"read", "grüße"}), 3, "key 'grüße' not found");
}

}  // namespace
}  // namespace srd_cli_test

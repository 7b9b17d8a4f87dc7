// "Nestable storage", the original's claim, end to end through the command line: a
// store file and an executable are stored as values, read back byte for byte, and
// still work: the store opens and reads, the executable runs.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "cli_runner.h"

namespace srd_cli_test {
namespace {

class Nesting : public CliTest {};

TEST_F(Nesting, AStoreFileAndAnExecutableSurviveBeingValues) {
  const std::string inner = path("inner.bin").string();
  ASSERT_EQ(run_cli({inner, "write", "greeting", "hello from inside"}).exit_code, 0);
  ASSERT_EQ(run_cli({inner, "write", "other", "another value"}).exit_code, 0);

  // An executable of the system's, as a value.
  const std::string program = "/bin/echo";
  ASSERT_TRUE(std::filesystem::exists(program));
  ASSERT_EQ(cli({"write", "store-file", "--value-file", inner}).exit_code, 0);
  ASSERT_EQ(cli({"write", "program", "--value-file", program}).exit_code, 0);

  // Read both back into files.
  const CliRun store_value = cli({"read", "store-file"});
  ASSERT_EQ(store_value.exit_code, 0) << store_value.err;
  EXPECT_EQ(store_value.out, read_file(inner));
  write_file(path("extracted.bin"), store_value.out);
  const CliRun program_value = cli({"read", "program"});
  ASSERT_EQ(program_value.exit_code, 0) << program_value.err;
  EXPECT_EQ(program_value.out, read_file(program));
  write_file(path("extracted-echo"), program_value.out);
  ASSERT_EQ(::chmod(path("extracted-echo").c_str(), 0755), 0);

  // The store still opens and reads; the program still runs.
  const CliRun greeting = run_cli({path("extracted.bin").string(), "read", "greeting"});
  EXPECT_EQ(greeting.exit_code, 0) << greeting.err;
  EXPECT_EQ(greeting.out, "hello from inside");
  const CliRun verify = run_cli({path("extracted.bin").string(), "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  const std::string command = path("extracted-echo").string() + " nested and alive";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[128] = {};
  const std::size_t got = std::fread(buffer, 1, sizeof buffer - 1, pipe);
  const int status = ::pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(std::string(buffer, got), "nested and alive\n");
}

}  // namespace
}  // namespace srd_cli_test

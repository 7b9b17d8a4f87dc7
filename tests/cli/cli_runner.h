// Runs the simd-r-drive binary in a child process, the way a shell would: stdin
// from a string, a generator or a pseudo-terminal; stdout and stderr collected (or
// stdout streamed to a callback); stderr optionally a pseudo-terminal. Reports the
// exit code and the child's peak resident memory (wait4).
//
// Thread-safety: run_cli may be called from one thread at a time per test.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace srd_cli_test {

struct CliInput {
  // Written to stdin, which is then closed.
  std::optional<std::string> data{};
  // Called for stdin data until it returns 0 (streams of any size).
  std::function<std::size_t(std::span<char>)> producer{};
  // Gets stdout as it arrives; without it, stdout is collected in CliRun::out.
  std::function<void(std::string_view)> stdout_sink{};
  bool stdin_terminal = false;   // stdin is a pseudo-terminal (nothing is typed)
  bool stderr_terminal = false;  // stderr is a pseudo-terminal (still collected)
  std::vector<std::string> env{};  // extra "NAME=value" entries
};

struct CliRun {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
  long max_rss_kib = 0;

  // The lines of stderr.
  std::vector<std::string> err_lines() const;
};

// Runs `build/bin/simd-r-drive args...` (or the binary the environment variable
// SRD_CLI_BINARY names).
CliRun run_cli(const std::vector<std::string>& args, CliInput input = {});

// A fresh temporary directory per test, removed afterwards, with the store path.
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  std::filesystem::path path(std::string_view name) const { return dir_ / name; }
  // The store under test, as a string for argument lists.
  std::string store() const { return (dir_ / "store.bin").string(); }
  // run_cli(store, args...)
  CliRun cli(std::vector<std::string> args, CliInput input = {}) const;

  std::filesystem::path dir_;
};

std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, std::string_view bytes);

// Asserts the shape of every failure: exit `code`, nothing on stdout, exactly one
// line on stderr, starting "simd-r-drive: error: " and containing `needle`.
void expect_failure(const CliRun& run, int code, std::string_view needle);

}  // namespace srd_cli_test

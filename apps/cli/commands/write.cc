// write: store a value under a key, from argv, a file, or stdin (streamed).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <simd_r_drive/data_store.h>
#include <simd_r_drive/error.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "byte_size.h"
#include "commands/commands.h"
#include "console.h"
#include "key_arguments.h"
#include "progress_bar.h"
#include "store_access.h"

namespace srd_cli {

namespace {

struct WriteOptions {
  std::string key;
  std::optional<std::string> value;
  std::optional<std::string> value_file;
  bool value_hex = false;
  KeyOptions key_options;
};

// Closes a descriptor we opened (not stdin) on every path out.
struct SourceFile {
  int fd = STDIN_FILENO;
  ~SourceFile() {
    if (fd != STDIN_FILENO) ::close(fd);
  }
};

// The engine's refusals, in the words of the command line.
[[noreturn]] void rethrow_refusal(const simd_r_drive::Error& error, std::uint64_t bytes, bool any_nonzero,
                                  const std::string& source) {
  if (error.code() == simd_r_drive::ErrorCode::kInvalidArgument) {
    if (bytes == 0) throw CliError(ExitCode::kError, "nothing to store: " + source + " is empty (a value cannot be empty)");
    if (!any_nonzero) {
      throw CliError(ExitCode::kError, "cannot store " + source +
                                           ": it holds only 0x00 bytes, which the format reserves for deletes");
    }
  }
  throw error;
}

ExitCode run_write(const WriteOptions& options, const GlobalOptions& global) {
  const Key key = Key::parse(options.key, options.key_options);

  if (options.value) {
    std::string value = *options.value;
    if (options.value_hex) {
      auto decoded = decode_hex(value);
      if (!decoded) throw CliError(ExitCode::kUsage, "--value-hex wants an even number of hex digits");
      value = std::move(*decoded);
    }
    // Refused before the store is opened (or created) at all.
    if (value.empty()) throw CliError(ExitCode::kError, "cannot store an empty value (a value cannot be empty)");
    if (value == std::string_view("\0", 1)) {
      throw CliError(ExitCode::kError, "cannot store the value: it holds only 0x00 bytes, which the format "
                                       "reserves for deletes");
    }
    simd_r_drive::DataStore store = open_for_writing(global.storage, true);
    try {
      store.write(key.bytes(), value);
    } catch (const simd_r_drive::Error& error) {
      const bool nonzero = std::any_of(value.begin(), value.end(), [](char c) { return c != 0; });
      rethrow_refusal(error, value.size(), nonzero || value.size() > 1, "the value");
    }
    notice("Stored " + key.shown() + " (" + format_bytes(value.size()) + ")");
    return ExitCode::kOk;
  }
  if (options.value_hex) throw CliError(ExitCode::kUsage, "--value-hex needs a VALUE argument");

  SourceFile source;
  std::string source_name = "stdin";
  if (options.value_file && *options.value_file != "-") {
    source_name = quote_bytes(*options.value_file);
    source.fd = ::open(options.value_file->c_str(), O_RDONLY | O_CLOEXEC);
    if (source.fd < 0) {
      const int error = errno;
      source.fd = STDIN_FILENO;
      throw CliError(ExitCode::kError, "cannot open " + source_name + ": " + std::strerror(error));
    }
  } else if (!options.value_file) {
    // The original's FORCE_NO_TTY makes stdin count as a terminal (for its tests).
    if (is_terminal(STDIN_FILENO) || std::getenv("FORCE_NO_TTY") != nullptr) {
      throw CliError(ExitCode::kUsage, "no value given: pass VALUE, --value-file FILE, or pipe the value into stdin");
    }
  }
  struct stat info {};
  std::uint64_t expected = 0;
  if (::fstat(source.fd, &info) == 0) {
    if (S_ISDIR(info.st_mode)) throw CliError(ExitCode::kError, source_name + " is a directory");
    if (S_ISREG(info.st_mode)) expected = static_cast<std::uint64_t>(info.st_size);
  }

  simd_r_drive::DataStore store = open_for_writing(global.storage, true);
  ProgressBar progress("writing", expected);
  std::uint64_t bytes = 0;
  bool any_nonzero = false;
  const simd_r_drive::StreamReader reader = [&](std::span<std::byte> buffer) -> std::size_t {
    for (;;) {
      const ssize_t n = ::read(source.fd, buffer.data(), buffer.size());
      if (n >= 0) {
        const auto got = static_cast<std::size_t>(n);
        if (!any_nonzero) {
          any_nonzero = std::any_of(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(got),
                                    [](std::byte b) { return b != std::byte{0}; });
        }
        bytes += got;
        progress.set(bytes);
        return got;
      }
      if (errno == EINTR) continue;
      throw CliError(ExitCode::kError, "reading " + source_name + " failed: " + std::strerror(errno));
    }
  };
  try {
    store.write_stream(key.bytes(), reader);
  } catch (const simd_r_drive::Error& error) {
    progress.finish();
    rethrow_refusal(error, bytes, any_nonzero, source_name);
  }
  progress.finish();
  notice("Stored " + key.shown() + " (" + format_bytes(bytes) + " from " + source_name + ")");
  return ExitCode::kOk;
}

}  // namespace

Command add_write_command(CLI::App& app, const GlobalOptions& global) {
  auto options = std::make_shared<WriteOptions>();
  CLI::App* command = app.add_subcommand(
      "write", "Store a value under a key (creates the store if needed); without VALUE, streams stdin");
  command->add_option("key", options->key, "The key (see --key-hex)")->required();
  CLI::Option* value = command->add_option("value", options->value, "The value; omit it to read stdin");
  command->add_option("--value-file", options->value_file, "Stream the value from this file ('-' for stdin)")
      ->type_name("FILE")
      ->excludes(value);
  command->add_flag("--value-hex", options->value_hex, "VALUE is hex-encoded bytes");
  add_key_options(*command, options->key_options, false);
  command->footer(R"(A value streamed from stdin or --value-file may be of any size: it is written in
64 KiB pieces and never held in memory. Values cannot be empty, and cannot be
only 0x00 bytes (the format marks deletes that way).

Examples:
  simd-r-drive store.bin write greeting "hello, world"
  echo -n "hello" | simd-r-drive store.bin write greeting
  simd-r-drive store.bin write backup.tar < backup.tar
  simd-r-drive store.bin write image --value-file photo.jpg
  simd-r-drive store.bin write --key-hex 00ff10 --value-hex 0001ff)");
  return {command, [options, &global] { return run_write(*options, global); }};
}

}  // namespace srd_cli

// read: a key's value to stdout, raw, in bounded memory.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <simd_r_drive/data_store.h>

#include <memory>
#include <string>

#include "byte_size.h"
#include "commands/commands.h"
#include "console.h"
#include "key_arguments.h"
#include "progress_bar.h"
#include "store_access.h"
#include "value_output.h"

namespace srd_cli {

namespace {

// Values at least this large get a progress bar (when stderr is a terminal).
constexpr std::uint64_t kProgressThreshold = 64u << 20;

struct ReadOptions {
  std::string key;
  KeyOptions key_options;
  std::string buffer_size = "64K";
};

ExitCode run_read(const ReadOptions& options, const GlobalOptions& global) {
  const auto buffer_size = parse_byte_size(options.buffer_size);
  if (!buffer_size || *buffer_size == 0 || *buffer_size > (1ull << 30)) {
    throw CliError(ExitCode::kUsage, "--buffer-size wants a size from 1 byte to 1G, such as 4096, 64K or 1M, not " +
                                         quote_bytes(options.buffer_size));
  }
  const Key key = Key::parse(options.key, options.key_options);
  simd_r_drive::DataStore store = open_for_reading(global.storage);
  const auto value = key.hash_only() ? store.read_with_key_hash(key.hash()) : store.read(key.bytes());
  if (!value) {
    throw CliError(ExitCode::kKeyNotFound, "key " + key.shown() + " not found in " + quote_bytes(global.storage.string()));
  }
  const bool to_terminal = is_terminal(STDOUT_FILENO);
  ProgressBar progress("reading", value->size(),
                       progress_wanted() && !to_terminal && value->size() >= kProgressThreshold);
  write_mapped(STDOUT_FILENO, value->as_slice(), static_cast<std::size_t>(*buffer_size), "the value to stdout",
               &progress);
  progress.finish();
  // On a terminal, end the line so the prompt does not follow the value (as the
  // original does); piped output is exactly the value.
  if (to_terminal && (value->size() == 0 || value->as_string_view().back() != '\n')) print("\n");
  return ExitCode::kOk;
}

}  // namespace

Command add_read_command(CLI::App& app, const GlobalOptions& global) {
  auto options = std::make_shared<ReadOptions>();
  CLI::App* command = app.add_subcommand("read", "Write a key's value to stdout (raw bytes, no newline when piped)");
  command->add_option("key", options->key, "The key (see --key-hex, --key-hash)")->required();
  add_key_options(*command, options->key_options, true);
  command->add_option("-b,--buffer-size", options->buffer_size,
                      "Bytes per write to stdout: digits with an optional K, M or G (default 64K)")
      ->type_name("SIZE");
  command->footer(R"(Exit status: 0 ok, 3 the key is not in the store, 1 other errors.

Examples:
  simd-r-drive store.bin read greeting
  simd-r-drive store.bin read big-blob > blob.bin
  simd-r-drive store.bin read --buffer-size 1M big-blob | sha256sum
  simd-r-drive store.bin read --key-hex 00ff10
  simd-r-drive store.bin read --key-hash 0x4da10dd61a0116b0)");
  return {command, [options, &global] { return run_read(*options, global); }};
}

}  // namespace srd_cli

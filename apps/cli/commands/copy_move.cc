// copy and move: a value into another store, under the same key.
#include <CLI/CLI.hpp>
#include <simd_r_drive/data_store.h>

#include <filesystem>
#include <memory>
#include <string>

#include "commands/commands.h"
#include "console.h"
#include "key_arguments.h"
#include "store_access.h"

namespace srd_cli {

namespace {

struct CopyOptions {
  std::string key;
  std::filesystem::path target;
  KeyOptions key_options;
};

void refuse_same_store(const std::filesystem::path& source, const std::filesystem::path& target) {
  std::error_code error;
  if (std::filesystem::equivalent(source, target, error)) {
    throw CliError(ExitCode::kError, quote_bytes(target.string()) +
                                         " is the store itself; use `rename` to give a value a new key");
  }
}

ExitCode run_copy(const CopyOptions& options, const GlobalOptions& global, bool move) {
  const Key key = Key::parse(options.key, options.key_options);
  refuse_same_store(global.storage, options.target);
  // copy only reads the source, so it works while another process writes it.
  simd_r_drive::DataStore source = move ? open_for_writing(global.storage, false) : open_for_reading(global.storage);
  if (!source.exists(key.bytes())) {
    throw CliError(ExitCode::kKeyNotFound,
                   "key " + key.shown() + " not found in " + quote_bytes(global.storage.string()));
  }
  simd_r_drive::DataStore target = open_for_writing(options.target, true);
  if (move) {
    source.transfer(key.bytes(), target);
    notice("Moved key " + key.shown() + " to " + quote_bytes(options.target.string()));
  } else {
    source.copy(key.bytes(), target);
    notice("Copied key " + key.shown() + " to " + quote_bytes(options.target.string()));
  }
  return ExitCode::kOk;
}

Command add(CLI::App& app, const GlobalOptions& global, bool move) {
  auto options = std::make_shared<CopyOptions>();
  CLI::App* command =
      move ? app.add_subcommand("move", "Move a key's value into another store (created if needed)")
           : app.add_subcommand("copy", "Copy a key's value into another store (created if needed)");
  command->add_option("key", options->key, "The key (see --key-hex)")->required();
  command->add_option("target", options->target, "The other store's file")->required()->type_name("FILE");
  add_key_options(*command, options->key_options, false);
  if (move) {
    command->footer(R"(The value is written to the target first and deleted from this store after, so
a failure in between leaves it in both, never in neither. A value already under
the key in the target is replaced.

Examples:
  simd-r-drive store.bin move greeting archive.bin
  simd-r-drive store.bin move --key-hex 00ff10 archive.bin)");
  } else {
    command->footer(R"(The value keeps its key (the target stores the same key hash). A value already
under the key in the target is replaced.

Examples:
  simd-r-drive store.bin copy greeting backup.bin
  simd-r-drive store.bin copy --namespace users alice backup.bin)");
  }
  return {command, [options, &global, move] { return run_copy(*options, global, move); }};
}

}  // namespace

Command add_copy_command(CLI::App& app, const GlobalOptions& global) { return add(app, global, false); }
Command add_move_command(CLI::App& app, const GlobalOptions& global) { return add(app, global, true); }

}  // namespace srd_cli

// rename: give a value a new key, in one atomic append.
#include <CLI/CLI.hpp>
#include <simd_r_drive/data_store.h>

#include <memory>
#include <string>

#include "commands/commands.h"
#include "console.h"
#include "key_arguments.h"
#include "store_access.h"

namespace srd_cli {

namespace {

struct RenameOptions {
  std::string old_key;
  std::string new_key;
  KeyOptions key_options;
};

ExitCode run_rename(const RenameOptions& options, const GlobalOptions& global) {
  const Key old_key = Key::parse(options.old_key, options.key_options);
  const Key new_key = Key::parse(options.new_key, options.key_options);
  if (old_key.bytes() == new_key.bytes()) {
    throw CliError(ExitCode::kUsage, "cannot rename key " + old_key.shown() + " to itself");
  }
  simd_r_drive::DataStore store = open_for_writing(global.storage, false);
  if (!store.exists(old_key.bytes())) {
    throw CliError(ExitCode::kKeyNotFound,
                   "key " + old_key.shown() + " not found in " + quote_bytes(global.storage.string()));
  }
  store.rename(old_key.bytes(), new_key.bytes());
  notice("Renamed key " + old_key.shown() + " to " + new_key.shown());
  return ExitCode::kOk;
}

}  // namespace

Command add_rename_command(CLI::App& app, const GlobalOptions& global) {
  auto options = std::make_shared<RenameOptions>();
  CLI::App* command = app.add_subcommand("rename", "Move a value from one key to another in the same store");
  command->add_option("old-key", options->old_key, "The key the value is under now")->required();
  command->add_option("new-key", options->new_key, "The key it gets")->required();
  add_key_options(*command, options->key_options, false);
  command->footer(R"(The new entry and the old key's delete are one append: a crash leaves the value
under exactly one of the two keys. A value already under NEW-KEY is replaced.
--key-hex and --namespace apply to both keys.

Examples:
  simd-r-drive store.bin rename draft final
  simd-r-drive store.bin rename --key-hex 00ff 00fe)");
  return {command, [options, &global] { return run_rename(*options, global); }};
}

}  // namespace srd_cli

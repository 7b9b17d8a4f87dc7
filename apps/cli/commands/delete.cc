// delete: remove keys (one append of tombstones for all of them).
#include <CLI/CLI.hpp>
#include <simd_r_drive/data_store.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "commands/commands.h"
#include "console.h"
#include "key_arguments.h"
#include "store_access.h"

namespace srd_cli {

namespace {

struct DeleteOptions {
  std::vector<std::string> keys;
  KeyOptions key_options;
  bool force = false;
};

ExitCode run_delete(const DeleteOptions& options, const GlobalOptions& global) {
  std::vector<Key> keys;
  for (const std::string& argument : options.keys) keys.push_back(Key::parse(argument, options.key_options));
  simd_r_drive::DataStore store = open_for_writing(global.storage, false);

  std::vector<std::uint64_t> present;
  std::vector<const Key*> deleted;
  std::unordered_set<std::uint64_t> seen;
  std::size_t missing = 0;
  for (const Key& key : keys) {
    if (!seen.insert(key.hash()).second) continue;  // named twice: one tombstone
    if (store.exists_with_key_hash(key.hash())) {
      present.push_back(key.hash());
      deleted.push_back(&key);
    } else {
      ++missing;
      // With --force a missing key is fine (like rm -f), but still worth a notice.
      const std::string text = "key " + key.shown() + " not found in " + quote_bytes(global.storage.string());
      if (options.force) {
        notice(text + "; nothing to delete");
      } else if (keys.size() > 1) {
        warning(text);
      }
    }
  }
  if (!present.empty()) store.batch_remove_key_hashes(present);
  for (const Key* key : deleted) notice("Deleted key " + key->shown());

  if (missing == 0 || options.force) return ExitCode::kOk;
  if (keys.size() == 1) {
    throw CliError(ExitCode::kKeyNotFound, "key " + keys.front().shown() + " not found in " +
                                               quote_bytes(global.storage.string()) + "; nothing deleted");
  }
  throw CliError(ExitCode::kKeyNotFound, std::to_string(missing) + " of " + std::to_string(keys.size()) +
                                             " keys not found (listed above); the others were deleted");
}

}  // namespace

Command add_delete_command(CLI::App& app, const GlobalOptions& global) {
  auto options = std::make_shared<DeleteOptions>();
  CLI::App* command = app.add_subcommand("delete", "Delete keys (the space is reclaimed by compact)");
  command->add_option("keys", options->keys, "One or more keys (see --key-hex, --key-hash)")->required();
  add_key_options(*command, options->key_options, true);
  command->add_flag("-f,--force", options->force, "A key that is not in the store is not an error");
  command->footer(R"(Every key present is deleted in one append. A key that is not in the store is
reported, and makes the exit status 3 (unless --force); the others are still
deleted.

Examples:
  simd-r-drive store.bin delete greeting
  simd-r-drive store.bin delete a b c
  simd-r-drive store.bin delete --force maybe-there
  simd-r-drive store.bin delete --key-hash 0x4da10dd61a0116b0)");
  return {command, [options, &global] { return run_delete(*options, global); }};
}

}  // namespace srd_cli

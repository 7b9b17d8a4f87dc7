// salvage: write every complete entry of a store to a new file. Read-only on the store.
#include <CLI/CLI.hpp>
#include <simd_r_drive/data_store.h>

#include <filesystem>
#include <memory>
#include <string>

#include "byte_size.h"
#include "commands/commands.h"
#include "console.h"
#include "key_arguments.h"
#include "report_format.h"
#include "store_access.h"

namespace srd_cli {

namespace {

struct SalvageOptions {
  std::filesystem::path target;
};

ExitCode run_salvage(const SalvageOptions& options, const GlobalOptions& global) {
  require_store_file(global.storage);
  std::error_code error;
  if (std::filesystem::exists(std::filesystem::symlink_status(options.target, error))) {
    throw CliError(ExitCode::kError, "the target " + quote_bytes(options.target.string()) +
                                         " exists; salvage writes a new file and never replaces one");
  }
  const simd_r_drive::SalvageReport report = simd_r_drive::DataStore::salvage(global.storage, options.target);
  std::string moved;
  if (report.moved_entries != 0) {
    moved = ", and moved " + counted(report.moved_entries, "entry", "entries") + " found after " +
            counted(report.swallowing_records.size(), "record", "records") +
            " that swallowed the chain below (another writer's appends after a crash)";
  }
  const std::uint64_t left = report.source_size - report.kept_bytes;
  notice("Salvaged " + quote_bytes(global.storage.string()) + " to " + quote_bytes(options.target.string()) +
         ": kept " + counted(report.kept_entries, "entry", "entries") + " (" + format_bytes(report.kept_bytes) +
         ")" + moved + "; wrote " + format_bytes(report.target_size) +
         (left != 0 && report.moved_entries == 0 ? "; left out " + format_bytes(left) + " that hold no complete entry"
                                                 : std::string()));
  return ExitCode::kOk;
}

}  // namespace

Command add_salvage_command(CLI::App& app, const GlobalOptions& global) {
  auto options = std::make_shared<SalvageOptions>();
  CLI::App* command =
      app.add_subcommand("salvage", "Write every complete entry of the store to a new file (the store is not changed)");
  command->add_option("--to", options->target, "The new store file to write (must not exist)")
      ->required()
      ->type_name("FILE");
  command->footer(R"(For a store that open refuses because another writer (the Rust original) wrote to
it after a crash of this tool's writer: its reserved space then reads, as a chain,
as one entry covering everything before it, and open names the offsets. salvage
copies the store's own chain as it is and moves the entries appended after that
space onto it with new back-links, so both engines read every one. It also keeps
the complete entries of any other store (a torn tail is left out).

It reads the store without changing it and refuses while another process writes
it. Check the new file with verify, then put it in the store's place.

Examples:
  simd-r-drive store.bin salvage --to store.salvaged.bin
  simd-r-drive store.salvaged.bin verify && mv store.salvaged.bin store.bin)");
  return {command, [options, &global] { return run_salvage(*options, global); }};
}

}  // namespace srd_cli

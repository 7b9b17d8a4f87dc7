// The subcommands of simd-r-drive, one file each (docs/cli.md).
//
// Each add_*_command registers its subcommand with CLI11 (arguments, help text,
// examples) and returns what to run if the user chose it. The run function returns
// the exit code, or throws CliError / simd_r_drive::Error, which main turns into one
// error line on stderr and the matching exit code.
//
// Thread-safety: registration and running happen on the main thread.
#pragma once

#include <filesystem>
#include <functional>

#include "exit_codes.h"

namespace CLI {
class App;
}

namespace srd_cli {

// Options given before the subcommand (or after it: they fall through).
struct GlobalOptions {
  std::filesystem::path storage;
  bool quiet = false;
  bool sync = false;
};

struct Command {
  CLI::App* app = nullptr;
  std::function<ExitCode()> run;
};

Command add_read_command(CLI::App& app, const GlobalOptions& global);
Command add_write_command(CLI::App& app, const GlobalOptions& global);
Command add_copy_command(CLI::App& app, const GlobalOptions& global);
Command add_move_command(CLI::App& app, const GlobalOptions& global);
Command add_rename_command(CLI::App& app, const GlobalOptions& global);
Command add_delete_command(CLI::App& app, const GlobalOptions& global);
Command add_compact_command(CLI::App& app, const GlobalOptions& global);
Command add_info_command(CLI::App& app, const GlobalOptions& global);
Command add_metadata_command(CLI::App& app, const GlobalOptions& global);
Command add_verify_command(CLI::App& app, const GlobalOptions& global);
Command add_inspect_command(CLI::App& app, const GlobalOptions& global);
Command add_import_command(CLI::App& app, const GlobalOptions& global);
Command add_export_command(CLI::App& app, const GlobalOptions& global);
Command add_salvage_command(CLI::App& app, const GlobalOptions& global);

}  // namespace srd_cli

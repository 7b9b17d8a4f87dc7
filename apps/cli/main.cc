// simd-r-drive: the command-line tool over a store file (docs/cli.md).
//
//   simd-r-drive [OPTIONS] <storage-file> <command> [ARGS]
//
// main parses the command line with CLI11, runs the chosen command, and turns every
// failure into one line on stderr and a documented exit code (exit_codes.h).
#include <CLI/CLI.hpp>
#include <simd_r_drive/error.h>

#include <exception>
#include <iostream>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "commands/commands.h"
#include "console.h"
#include "exit_codes.h"
#include "store_access.h"

namespace {

constexpr const char* kVersion = "simd-r-drive " SRD_VERSION
                                  " (C++ port; reads and writes the file format of rust-simd-r-drive 0.16.3-alpha)";

// What precedes a command's name in its usage line.
constexpr const char* kUsagePrefix = "simd-r-drive [OPTIONS] storage-file";

constexpr const char* kFooter = R"(Every command has its own --help, with examples. Data (values, reports, key
lists) goes to stdout; notices and errors go to stderr, one line each.

Exit status:
  0  success
  1  error (I/O, a value the format cannot store, a failed import, ...)
  2  usage error (bad or missing arguments); nothing was done
  3  a key the command needs is not in the store
  4  the store is damaged or is not a store (verify found problems)
  5  another process is writing the store

Examples:
  simd-r-drive store.bin write greeting "hello, world"
  simd-r-drive store.bin read greeting
  cat big.iso | simd-r-drive store.bin write big.iso
  simd-r-drive store.bin info --json
  simd-r-drive store.bin verify)";

// The library's words for a locked store speak of its API; say it for the shell.
std::string locked_message(const std::string& message) {
  const std::size_t cut = message.find(": only one DataStore");
  if (cut == std::string::npos) return message;
  return message.substr(0, cut) + ": only one process may write a store at a time (read commands still work)";
}

// The arguments that are not options, in order (everything after "--" counts).
std::vector<std::string> positional_words(int argc, char** argv) {
  std::vector<std::string> words;
  bool options_ended = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument(argv[i]);
    if (!options_ended && argument == "--") {
      options_ended = true;
    } else if (options_ended || argument.empty() || argument.front() != '-') {
      words.emplace_back(argument);
    }
  }
  return words;
}

bool names_command(const CLI::App& app, const std::string& word) {
  for (const CLI::App* command : app.get_subcommands({})) {
    if (command->check_name(word)) return true;
  }
  return false;
}

// The command whose help is asked for when the first word names a command and -h
// or --help is given, or nullptr.
const CLI::App* command_asking_for_help(const CLI::App& app, int argc, char** argv) {
  bool help = false;
  for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; ++i) {
    help = help || std::string_view(argv[i]) == "-h" || std::string_view(argv[i]) == "--help";
  }
  const auto words = positional_words(argc, argv);
  if (!help || words.empty()) return nullptr;
  for (const CLI::App* command : app.get_subcommands({})) {
    if (command->check_name(words.front())) return command;
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  using srd_cli::ExitCode;
  srd_cli::GlobalOptions global;
  CLI::App app{"SIMD R Drive: an append-only key/value store in one file.", "simd-r-drive"};
  app.set_version_flag("-V,--version", kVersion);
  app.add_option("storage-file", global.storage, "The store file (created by write and import if missing)")
      ->required()
      ->type_name("FILE");
  app.add_flag("-q,--quiet", global.quiet, "No notices or progress on stderr (errors are still printed)");
  app.add_flag("--sync", global.sync, "fdatasync each write before reporting success (survives power loss)");
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the command
  app.footer(kFooter);

  std::vector<srd_cli::Command> commands = {
      srd_cli::add_read_command(app, global),    srd_cli::add_write_command(app, global),
      srd_cli::add_copy_command(app, global),    srd_cli::add_move_command(app, global),
      srd_cli::add_rename_command(app, global),  srd_cli::add_delete_command(app, global),
      srd_cli::add_compact_command(app, global), srd_cli::add_info_command(app, global),
      srd_cli::add_metadata_command(app, global), srd_cli::add_verify_command(app, global),
      srd_cli::add_inspect_command(app, global), srd_cli::add_import_command(app, global),
      srd_cli::add_export_command(app, global),  srd_cli::add_salvage_command(app, global),
  };

  // "simd-r-drive read --help", without a store: CLI11 would take "read" for the
  // store's path and print the general help; show the command's own.
  if (const CLI::App* command = command_asking_for_help(app, argc, argv)) {
    std::cout << command->help(kUsagePrefix);
    return static_cast<int>(ExitCode::kOk);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    // The help of the command given, if any, else the general one; to stdout.
    const auto chosen = app.get_subcommands();
    std::cout << (chosen.empty() ? app.help() : chosen.front()->help(kUsagePrefix));
    return static_cast<int>(ExitCode::kOk);
  } catch (const CLI::Success& success) {
    // --version.
    return app.exit(success, std::cout, std::cerr);
  } catch (const CLI::ParseError& error) {
    std::string hint = "simd-r-drive --help";
    for (const CLI::App* command : app.get_subcommands()) hint = "simd-r-drive " + command->get_name() + " --help";
    std::string message = error.what();
    const auto words = positional_words(argc, argv);
    if (app.get_subcommands().empty() && !words.empty() && names_command(app, words[0])) {
      message = "the storage file comes before the command: simd-r-drive <storage-file> " + words[0] +
                " ... (a store named like a command is written ./" + words[0] + ")";
    } else if (app.get_subcommands().empty() && words.size() >= 2) {
      message = "unknown command '" + words[1] + "'";
    }
    srd_cli::error_line(message + " (see '" + hint + "')");
    return static_cast<int>(ExitCode::kUsage);
  }

  srd_cli::set_quiet(global.quiet);
  srd_cli::set_sync_writes(global.sync);
  try {
    for (const srd_cli::Command& command : commands) {
      if (command.app->parsed()) return static_cast<int>(command.run());
    }
    srd_cli::error_line("no command given (see 'simd-r-drive --help')");
    return static_cast<int>(ExitCode::kUsage);
  } catch (const srd_cli::CliError& error) {
    if (*error.what() != '\0') srd_cli::error_line(error.what());
    return static_cast<int>(error.code());
  } catch (const simd_r_drive::Error& error) {
    const ExitCode code = srd_cli::exit_code_for(error);
    srd_cli::error_line(code == ExitCode::kLocked ? locked_message(error.what()) : std::string(error.what()));
    return static_cast<int>(code);
  } catch (const std::bad_alloc&) {
    srd_cli::error_line("out of memory");
    return static_cast<int>(ExitCode::kError);
  } catch (const std::exception& error) {
    srd_cli::error_line(error.what());
    return static_cast<int>(ExitCode::kError);
  }
}

// import: every file under a directory into the store, keyed by its relative path.
//
// The walk, the keys and the streaming are the extensions library's
// (import_dir_recursively); this command picks its options and prints what it reports.
#include <CLI/CLI.hpp>
#include <simd_r_drive/data_store.h>
#include <simd_r_drive/extensions/file_import.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "byte_size.h"
#include "commands/commands.h"
#include "console.h"
#include "key_arguments.h"
#include "progress_bar.h"
#include "report_format.h"
#include "store_access.h"
#include "walk_report.h"

namespace srd_cli {

namespace {

namespace ext = simd_r_drive::extensions;

struct ImportOptions {
  std::filesystem::path directory;
  std::optional<std::string> name_space;
  bool list = false;
  bool null_separated = false;
  bool skip_empty = false;
  bool follow_symlinks = false;
};

ExitCode run_import(const ImportOptions& options, const GlobalOptions& global) {
  require_directory(options.directory);
  simd_r_drive::DataStore store = open_for_writing(global.storage, true);

  ext::ImportOptions import;
  import.name_space = options.name_space;
  import.symlinks = symlink_policy(options.follow_symlinks);
  std::size_t failed = 0;
  std::size_t not_imported = 0;  // files that could not be stored, also where that is no failure (--skip-empty)
  import.on_skipped = [&](const ext::SkippedFile& file) {
    if (report_skipped(file, options.skip_empty)) ++failed;
    if (file.reason == ext::SkipReason::kEmpty || file.reason == ext::SkipReason::kAllZero ||
        file.reason == ext::SkipReason::kUnreadable) {
      ++not_imported;
    }
  };
  // The total is known once the walk is done: the bar starts with the first file.
  std::optional<ProgressBar> progress;
  import.on_progress = [&](const ext::ImportProgress& step) {
    if (!progress) progress.emplace("importing", step.bytes_total);
    progress->set(step.bytes_done);
  };
  const ext::ImportReport report = ext::import_dir_recursively(store, options.directory, import);
  if (progress) progress->finish();

  if (options.list) {
    std::string keys;
    for (const ext::ImportedFile& file : report.imported) keys += file.key + (options.null_separated ? '\0' : '\n');
    print(keys);
  }
  notice("Imported " + counted(report.imported.size(), "file", "files") + " (" + format_bytes(report.imported_bytes) +
         ") from " + quote_bytes(options.directory.string()) + " into " + quote_bytes(global.storage.string()) +
         (failed != 0 ? ", " + std::to_string(failed) + " not imported" : std::string()));
  if (failed != 0) {
    throw CliError(ExitCode::kError, std::to_string(failed) + " of " +
                                         std::to_string(report.imported.size() + not_imported) +
                                         " files were not imported (see the warnings above)");
  }
  return ExitCode::kOk;
}

}  // namespace

Command add_import_command(CLI::App& app, const GlobalOptions& global) {
  auto options = std::make_shared<ImportOptions>();
  CLI::App* command = app.add_subcommand(
      "import", "Store every file under a directory, keyed by its path relative to it (creates the store)");
  command->add_option("directory", options->directory, "The directory to import")->required()->type_name("DIR");
  command->add_option("--namespace", options->name_space,
                      "Store the keys in this namespace (as the original's import does with one)");
  command->add_flag("--list", options->list, "Print each imported key on stdout (a key list for `export --keys`)");
  command->add_flag("-0,--null", options->null_separated, "With --list, end each key with NUL instead of newline");
  command->add_flag("--skip-empty", options->skip_empty,
                    "Files that cannot be stored (empty, or only 0x00 bytes) are skipped without failing");
  command->add_flag("--follow-symlinks", options->follow_symlinks,
                    "Follow symbolic links to files and directories, also out of DIRECTORY (default: skip them)");
  command->footer(R"(A file's key is its path relative to DIRECTORY with '/' between the parts, as
the original's file-import extension derives it ("docs/a.txt"). Each file is
streamed in 64 KiB pieces, in key order. Symbolic links are skipped, with a
notice, unless --follow-symlinks: then a link to a file is imported under the
link's path and a link to a directory is walked, wherever they point (a link
back to a directory above it is skipped). The store's own files are never
imported.

A file that cannot be stored (empty, or only 0x00 bytes: the format has no way to
hold either) is reported and the import goes on; the exit status is then 1,
unless --skip-empty.

Examples:
  simd-r-drive store.bin import ./site
  simd-r-drive store.bin import ./site --list > site.keys
  simd-r-drive store.bin read "css/main.css")");
  return {command, [options, &global] { return run_import(*options, global); }};
}

}  // namespace srd_cli

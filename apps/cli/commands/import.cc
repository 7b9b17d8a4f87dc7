// import: every file under a directory into the store, keyed by its relative path.
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <simd_r_drive/data_store.h>
#include <simd_r_drive/error.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "byte_size.h"
#include "commands/commands.h"
#include "console.h"
#include "directory_keys.h"
#include "key_arguments.h"
#include "progress_bar.h"
#include "report_format.h"
#include "store_access.h"

namespace srd_cli {

namespace {

struct ImportOptions {
  std::filesystem::path directory;
  std::optional<std::string> name_space;
  bool list = false;
  bool null_separated = false;
  bool skip_empty = false;
  bool follow_symlinks = false;
};

// A file that cannot be stored as a value: empty, or only 0x00 bytes.
void report_unstorable(const DirectoryFile& file, const char* why, const ImportOptions& options, std::size_t& failed) {
  const std::string text = "not imported " + quote_bytes(file.path.string()) + ": " + why;
  if (options.skip_empty) {
    notice(text);
  } else {
    warning(text);
    ++failed;
  }
}

ExitCode run_import(const ImportOptions& options, const GlobalOptions& global) {
  const DirectoryListing listing = list_directory(options.directory, global.storage, options.follow_symlinks);
  std::uint64_t total = 0;
  for (const DirectoryFile& file : listing.files) total += file.size;

  simd_r_drive::DataStore store = open_for_writing(global.storage, true);
  ProgressBar progress("importing", total);
  std::uint64_t done = 0;
  std::uint64_t imported_bytes = 0;
  std::size_t imported = 0;
  std::size_t failed = listing.problems;
  for (const DirectoryFile& file : listing.files) {
    const std::uint64_t done_before = done;
    if (file.size == 0) {
      report_unstorable(file, "it is empty, and a value cannot be empty", options, failed);
      continue;
    }
    // Not following links, a file that became one since the walk is not read either.
    const int fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC | (options.follow_symlinks ? 0 : O_NOFOLLOW));
    if (fd < 0) {
      warning("cannot read " + quote_bytes(file.path.string()) + ": " + std::strerror(errno));
      ++failed;
      continue;
    }
    std::uint64_t bytes = 0;
    bool read_failed = false;
    const simd_r_drive::StreamReader reader = [&](std::span<std::byte> buffer) -> std::size_t {
      for (;;) {
        const ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n >= 0) {
          bytes += static_cast<std::uint64_t>(n);
          progress.set(done_before + bytes);
          return static_cast<std::size_t>(n);
        }
        if (errno == EINTR) continue;
        read_failed = true;
        throw CliError(ExitCode::kError, "reading " + quote_bytes(file.path.string()) + " failed: " + std::strerror(errno));
      }
    };
    const Key key = Key::from_bytes(file.key, options.name_space);
    try {
      store.write_stream(key.bytes(), reader);
      ++imported;
      imported_bytes += bytes;
      if (options.list) print(file.key + (options.null_separated ? '\0' : '\n'));
    } catch (const CliError& error) {
      if (!read_failed) throw;
      warning(error.what());
      ++failed;
    } catch (const simd_r_drive::Error& error) {
      // The stream's own refusals concern this file only; anything else (a full
      // disk, say) stops the import.
      if (error.code() != simd_r_drive::ErrorCode::kInvalidArgument) {
        ::close(fd);
        throw;
      }
      report_unstorable(file, bytes == 0 ? "it is empty, and a value cannot be empty"
                                         : "it holds only 0x00 bytes, which the format reserves for deletes",
                        options, failed);
    }
    ::close(fd);
    done = done_before + file.size;
    progress.set(done);
  }
  progress.finish();
  notice("Imported " + counted(imported, "file", "files") + " (" + format_bytes(imported_bytes) + ") from " +
         quote_bytes(options.directory.string()) + " into " + quote_bytes(global.storage.string()) +
         (failed != 0 ? ", " + std::to_string(failed) + " not imported" : std::string()));
  if (failed != 0) {
    throw CliError(ExitCode::kError, std::to_string(failed) + " of " +
                                         std::to_string(listing.files.size() + listing.problems) +
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

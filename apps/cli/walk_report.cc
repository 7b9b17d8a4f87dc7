#include "walk_report.h"

#include <sys/stat.h>

#include <string>

#include "console.h"
#include "exit_codes.h"
#include "key_arguments.h"

namespace srd_cli {

namespace ext = simd_r_drive::extensions;

ext::SymlinkPolicy symlink_policy(bool follow_symlinks) noexcept {
  return follow_symlinks ? ext::SymlinkPolicy::kFollowAll : ext::SymlinkPolicy::kSkip;
}

bool report_skipped(const ext::SkippedFile& file, bool skip_empty) {
  const std::string path = quote_bytes(file.path.string());
  // The library's detail, where it has one, says more than the reason alone.
  const auto because = [&](const char* reason) { return file.detail.empty() ? std::string(reason) : file.detail; };
  switch (file.reason) {
    case ext::SkipReason::kSymbolicLink:
      notice("skipping " + path + ": " + because("a symbolic link (--follow-symlinks follows links)"));
      return false;
    case ext::SkipReason::kLoop:
      notice("skipping " + path + ": the link leads back to a directory above it (a loop)");
      return false;
    case ext::SkipReason::kNotRegularFile:
      notice("skipping " + path + ": " + because("not a regular file"));
      return false;
    case ext::SkipReason::kStoreFile:
      notice("skipping " + path + ": it is the store's own file");
      return false;
    case ext::SkipReason::kEmpty:
    case ext::SkipReason::kAllZero: {
      const std::string text = "not imported " + path + ": " +
                               (file.reason == ext::SkipReason::kEmpty
                                    ? "it is empty, and a value cannot be empty"
                                    : "it holds only 0x00 bytes, which the format reserves for deletes");
      if (skip_empty) {
        notice(text);
        return false;
      }
      warning(text);
      return true;
    }
    case ext::SkipReason::kUnreadable:
      warning("cannot read " + path + ": " + file.detail);
      return true;
  }
  return true;
}

void require_directory(const std::filesystem::path& directory) {
  struct stat info {};
  if (::stat(directory.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    throw CliError(ExitCode::kError, quote_bytes(directory.string()) + " is not a directory");
  }
}

ext::DirectoryListing list_for_export(const std::filesystem::path& directory, const std::filesystem::path& store,
                                      bool follow_symlinks) {
  require_directory(directory);
  ext::ListOptions options;
  options.symlinks = symlink_policy(follow_symlinks);
  options.store = store;
  options.on_skipped = [](const ext::SkippedFile& file) { report_skipped(file, false); };
  return ext::list_dir_recursively(directory, options);
}

}  // namespace srd_cli

#include "directory_keys.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <simd_r_drive/store_files.h>

#include "console.h"
#include "exit_codes.h"
#include "key_arguments.h"

namespace srd_cli {

namespace {

using Identity = std::pair<dev_t, ino_t>;

std::vector<Identity> store_identities(const std::filesystem::path& store) {
  std::vector<Identity> identities;
  const simd_r_drive::StoreFiles files = simd_r_drive::StoreFiles::of(store);
  for (const std::filesystem::path& path : {files.store, files.lock, files.index_snapshot}) {
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0) identities.emplace_back(info.st_dev, info.st_ino);
  }
  return identities;
}

// Walks one directory, recursing into real subdirectories. A directory that cannot be
// read is reported and skipped; the walk goes on with its siblings.
void walk(const std::filesystem::path& root, const std::filesystem::path& directory, const std::vector<Identity>& skip,
          const std::string& compaction_prefix, DirectoryListing& listing) {
  std::error_code error;
  std::filesystem::directory_iterator it(directory, error);
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    const std::filesystem::path& path = it->path();
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
      // A dangling symbolic link, or a file that went away meanwhile.
      warning("cannot read " + quote_bytes(path.string()) + ": " + std::strerror(errno));
      ++listing.problems;
      continue;
    }
    if (S_ISDIR(info.st_mode)) {
      std::error_code link_error;
      if (!it->is_symlink(link_error)) walk(root, path, skip, compaction_prefix, listing);
      continue;
    }
    if (!S_ISREG(info.st_mode)) {
      notice("skipping " + quote_bytes(path.string()) + ": not a regular file");
      continue;
    }
    const std::string name = path.filename().string();
    if (std::find(skip.begin(), skip.end(), Identity(info.st_dev, info.st_ino)) != skip.end() ||
        (name.starts_with(compaction_prefix) && name.ends_with(".tmp"))) {
      notice("skipping " + quote_bytes(path.string()) + ": it is the store's own file");
      continue;
    }
    listing.files.push_back({path.lexically_relative(root).generic_string(), path,
                             static_cast<std::uint64_t>(info.st_size)});
  }
  if (error) {
    warning("cannot read directory " + quote_bytes(directory.string()) + ": " + error.message());
    ++listing.problems;
  }
}

}  // namespace

DirectoryListing list_directory(const std::filesystem::path& root, const std::filesystem::path& store) {
  std::error_code error;
  if (!std::filesystem::is_directory(root, error)) {
    throw CliError(ExitCode::kError, quote_bytes(root.string()) + " is not a directory");
  }
  DirectoryListing listing;
  walk(root, root, store_identities(store), simd_r_drive::StoreFiles::of(store).compaction_temporary_prefix(),
       listing);
  std::sort(listing.files.begin(), listing.files.end(),
            [](const DirectoryFile& a, const DirectoryFile& b) { return a.key < b.key; });
  return listing;
}

}  // namespace srd_cli

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
  // The companions live beside the file the store path resolves to.
  std::error_code error;
  std::filesystem::path real = std::filesystem::weakly_canonical(store, error);
  if (error) real = store;
  const simd_r_drive::StoreFiles files = simd_r_drive::StoreFiles::of(real);
  for (const std::filesystem::path& path : {files.store, files.lock, files.index_snapshot}) {
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0) identities.emplace_back(info.st_dev, info.st_ino);
  }
  return identities;
}

// Walks one directory, recursing into subdirectories (and, when following links,
// into linked ones, unless one leads back to a directory on the way down: a loop). A
// directory that cannot be read is reported and skipped; the walk goes on with its
// siblings. `ancestors` holds the directories from the root down to `directory`.
void walk(const std::filesystem::path& root, const std::filesystem::path& directory, const std::vector<Identity>& skip,
          const std::string& compaction_prefix, bool follow_symlinks, std::vector<Identity>& ancestors,
          DirectoryListing& listing) {
  std::error_code error;
  std::filesystem::directory_iterator it(directory, error);
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    const std::filesystem::path& path = it->path();
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) {
      warning("cannot read " + quote_bytes(path.string()) + ": " + std::strerror(errno));  // went away meanwhile
      ++listing.problems;
      continue;
    }
    const bool link = S_ISLNK(info.st_mode);
    if (link && !follow_symlinks) {
      notice("skipping " + quote_bytes(path.string()) + ": a symbolic link (--follow-symlinks follows links)");
      continue;
    }
    if (link && ::stat(path.c_str(), &info) != 0) {
      warning("cannot read " + quote_bytes(path.string()) + ": " + std::strerror(errno));  // a dangling link
      ++listing.problems;
      continue;
    }
    if (S_ISDIR(info.st_mode)) {
      const Identity identity(info.st_dev, info.st_ino);
      if (std::find(ancestors.begin(), ancestors.end(), identity) != ancestors.end()) {
        notice("skipping " + quote_bytes(path.string()) + ": the link leads back to a directory above it (a loop)");
        continue;
      }
      ancestors.push_back(identity);
      walk(root, path, skip, compaction_prefix, follow_symlinks, ancestors, listing);
      ancestors.pop_back();
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

DirectoryListing list_directory(const std::filesystem::path& root, const std::filesystem::path& store,
                                bool follow_symlinks) {
  struct stat info {};
  if (::stat(root.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    throw CliError(ExitCode::kError, quote_bytes(root.string()) + " is not a directory");
  }
  DirectoryListing listing;
  std::vector<Identity> ancestors = {Identity(info.st_dev, info.st_ino)};
  walk(root, root, store_identities(store), simd_r_drive::StoreFiles::of(store).compaction_temporary_prefix(),
       follow_symlinks, ancestors,
       listing);
  std::sort(listing.files.begin(), listing.files.end(),
            [](const DirectoryFile& a, const DirectoryFile& b) { return a.key < b.key; });
  return listing;
}

}  // namespace srd_cli

// The files of a directory tree and the keys they are stored under.
//
// As the original's file-import extension derives them: a file's key is its path
// relative to the directory, components joined with '/' (so "docs/a.txt", never
// "./docs/a.txt"). Regular files are listed. Symbolic links are skipped (with a
// notice) unless the caller asks to follow them: then a link to a file is listed
// under the link's own path, and a link to a directory is walked, wherever either
// points, except a link back to a directory above it (a loop). The listing is sorted
// by key, so an import writes its entries in the same order every time.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace srd_cli {

struct DirectoryFile {
  std::string key;
  std::filesystem::path path;
  std::uint64_t size = 0;
};

struct DirectoryListing {
  std::vector<DirectoryFile> files;
  std::size_t problems = 0;  // entries that could not be read (each reported as a warning)
};

// Lists `root`. Files that are `store` itself or its companions ("<store>.lock",
// "<store>.index", "<store>.compact-*.tmp") are left out with a notice, so importing
// a directory that holds the store cannot feed the store into itself. Throws
// CliError(kError) if `root` is not a directory.
DirectoryListing list_directory(const std::filesystem::path& root, const std::filesystem::path& store,
                                bool follow_symlinks);

}  // namespace srd_cli

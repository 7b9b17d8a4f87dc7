// What import and export --from-dir say about the directory they walk.
//
// The walk itself, and the keys it derives, are the extensions library's
// (simd_r_drive/extensions/file_import.h): the CLI only picks the link policy from its
// flags and prints what the library reports, one line each.
//
// Thread-safety: stateless functions; printing is console.h's.
#pragma once

#include <filesystem>

#include <simd_r_drive/extensions/file_import.h>

namespace srd_cli {

// --follow-symlinks follows every link; without it links are skipped.
simd_r_drive::extensions::SymlinkPolicy symlink_policy(bool follow_symlinks) noexcept;

// Prints a skipped file: a notice for what is skipped by design (links, loops, files
// that are not regular, the store's own files, and with `skip_empty` files the format
// cannot hold), a warning for the rest. Returns whether it counts as a failure.
bool report_skipped(const simd_r_drive::extensions::SkippedFile& file, bool skip_empty);

// Throws CliError(kError) unless `directory` is a directory (or a link to one), before
// anything else is done (import must not create its store for nothing).
void require_directory(const std::filesystem::path& directory);

// The files export --from-dir takes keys from: `directory` walked as import walks it,
// leaving out the files of the store at `store`. Skips are printed as they are met.
simd_r_drive::extensions::DirectoryListing list_for_export(const std::filesystem::path& directory,
                                                           const std::filesystem::path& store, bool follow_symlinks);

}  // namespace srd_cli

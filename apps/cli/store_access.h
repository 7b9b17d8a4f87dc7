// Opening the store named on the command line, the way each kind of command needs it.
//
// Commands that only read (read, metadata, info, inspect, verify, export, the source
// of copy) open the store read-only: they take no lock, so they work while another
// process writes, and they never change the file, not even a torn tail. Commands that
// write open it for writing, which takes the store's lock; a second writer gets
// ExitCode::kLocked.
//
// Thread-safety: the settings are written once by main before any command runs.
#pragma once

#include <filesystem>

#include <simd_r_drive/data_store.h>

#include "exit_codes.h"

namespace srd_cli {

// --sync: writes are fdatasync'ed before the command reports success.
void set_sync_writes(bool sync) noexcept;

// Throws CliError(kError) unless `path` names an existing regular file (or a link to one).
void require_store_file(const std::filesystem::path& path);

simd_r_drive::DataStore open_for_reading(const std::filesystem::path& path);
// `create`: make an empty store if the file does not exist (write, import, targets).
simd_r_drive::DataStore open_for_writing(const std::filesystem::path& path, bool create);

// Whether another process holds the writer's lock on the store ("<path>.lock" beside
// the file `path` resolves to), so
// that bytes past the store's tail may be its preallocation or a write in progress.
bool writer_active(const std::filesystem::path& path) noexcept;

// The exit code for a library error.
ExitCode exit_code_for(const simd_r_drive::Error& error) noexcept;

}  // namespace srd_cli

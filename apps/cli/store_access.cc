#include "store_access.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <system_error>

#include <simd_r_drive/error.h>
#include <simd_r_drive/options.h>

#include "key_arguments.h"

namespace srd_cli {

namespace {

std::atomic<bool> g_sync{false};

}  // namespace

void set_sync_writes(bool sync) noexcept { g_sync.store(sync, std::memory_order_relaxed); }

void require_store_file(const std::filesystem::path& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (status.type() == std::filesystem::file_type::not_found) {
    throw CliError(ExitCode::kError, "no store at " + quote_bytes(path.string()) + ": the file does not exist");
  }
  if (error) {
    throw CliError(ExitCode::kError, "cannot open " + quote_bytes(path.string()) + ": " + error.message());
  }
  if (status.type() == std::filesystem::file_type::directory) {
    throw CliError(ExitCode::kError, quote_bytes(path.string()) + " is a directory, not a store file");
  }
  if (status.type() != std::filesystem::file_type::regular) {
    throw CliError(ExitCode::kError, quote_bytes(path.string()) + " is not a regular file");
  }
}

simd_r_drive::DataStore open_for_reading(const std::filesystem::path& path) {
  require_store_file(path);
  simd_r_drive::OpenOptions options;
  options.must_exist = true;
  options.read_only = true;
  return simd_r_drive::DataStore::open(path, options);
}

simd_r_drive::DataStore open_for_writing(const std::filesystem::path& path, bool create) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!create || status.type() != std::filesystem::file_type::not_found) require_store_file(path);
  simd_r_drive::OpenOptions options;
  options.must_exist = !create;
  if (g_sync.load(std::memory_order_relaxed)) options.durability = simd_r_drive::Durability::kSyncEachWrite;
  return simd_r_drive::DataStore::open(path, options);
}

bool writer_active(const std::filesystem::path& path) noexcept {
  // The engine's documented lock: an exclusive OS record lock on "<path>.lock", beside
  // the file the path resolves to (a store opened through a symbolic link keeps its
  // lock beside the real file).
  std::error_code error;
  std::filesystem::path real = std::filesystem::weakly_canonical(path, error);
  if (error) real = path;
  const std::string lock_path = real.string() + ".lock";
  const int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct flock probe {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  const bool held = ::fcntl(fd, F_OFD_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
  ::close(fd);
  return held;
}

ExitCode exit_code_for(const simd_r_drive::Error& error) noexcept {
  switch (error.code()) {
    case simd_r_drive::ErrorCode::kCorruption: return ExitCode::kDamaged;
    case simd_r_drive::ErrorCode::kLocked: return ExitCode::kLocked;
    case simd_r_drive::ErrorCode::kInvalidArgument:
    case simd_r_drive::ErrorCode::kNotFound:
    case simd_r_drive::ErrorCode::kIo: return ExitCode::kError;
  }
  return ExitCode::kError;
}

}  // namespace srd_cli

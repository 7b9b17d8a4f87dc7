// A seam for tests to make the engine's I/O calls fail, or write less, on purpose.
//
// Every call in file_handle.cc that changes a file asks the installed injector first.
// Production code installs none; the check is then one relaxed atomic load beside a
// system call. Tests (tests/fault_injection_test.cc) install one to fail a write,
// shorten it, fail fallocate/ftruncate/fdatasync/rename, and to learn when a sync
// succeeded, which is what lets them model a power loss that drops unsynced bytes.
//
// Thread-safety: install() before the store is used; the injector itself must be
// safe to call from the threads that write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace simd_r_drive::io {

enum class FileOperation { kWrite, kAllocate, kTruncate, kSync, kSyncDirectory, kRename };

class FaultInjector {
 public:
  virtual ~FaultInjector() = default;
  // Called before `operation` on `path` (for kWrite: `bytes` at `offset`). Returns 0
  // to let it run, or an errno value to make it fail with that error. For kWrite,
  // *write_limit may be lowered to make the kernel call write only that many bytes
  // (a short write).
  virtual int before(FileOperation operation, const std::filesystem::path& path, std::uint64_t offset,
                     std::uint64_t bytes, std::uint64_t* write_limit) = 0;
  // Called after a kSync of `path` succeeded: its data up to now is durable.
  virtual void synced(const std::filesystem::path& path) = 0;
};

// Installs `injector` (nullptr removes it). Returns the previous one.
FaultInjector* install_fault_injector(FaultInjector* injector) noexcept;

}  // namespace simd_r_drive::io

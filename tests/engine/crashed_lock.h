// Makes "<store>.lock" say what a crashed writer leaves behind, for tests of open
// after a crash (crash_recovery_test.cc, fault_injection_test.cc).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>

#include "engine/lock_file.h"
#include "io/file_handle.h"

namespace srd_test {

// The writer of `store` "crashed": the store is not marked clean, its last complete
// write ended at `tail`, and its last sync covered [0, durable_tail). With
// `machine_crashed`, the lock file also names another boot of the machine, as after a
// power loss or kernel crash: open then cannot trust `tail` (the page holding it may
// be older or newer than the data) and checks checksums above `durable_tail` instead.
inline void mark_crashed(const std::filesystem::path& store, std::uint64_t tail, std::uint64_t durable_tail,
                         bool machine_crashed) {
  {
    auto lock = simd_r_drive::engine::LockFile::acquire(store, nullptr);
    simd_r_drive::io::FileHandle file(store, simd_r_drive::io::FileHandle::Mode::kOpenExisting);
    lock.publish_file(file.identity(), tail);
    lock.publish_durable_tail(durable_tail);
  }
  if (machine_crashed) {
    // The boot id field, at byte 64 (lock_file.h): a value no boot hashes to in practice.
    const std::uint64_t other_boot = ~simd_r_drive::engine::current_boot_id();
    const int fd = ::open(simd_r_drive::engine::lock_path(store).c_str(), O_WRONLY);
    if (fd < 0 || ::pwrite(fd, &other_boot, sizeof other_boot, 64) != static_cast<ssize_t>(sizeof other_boot)) {
      throw std::runtime_error("cannot rewrite the lock file's boot id");
    }
    ::close(fd);
  }
}

}  // namespace srd_test

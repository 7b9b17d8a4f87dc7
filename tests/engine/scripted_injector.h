// A FaultInjector for tests: counts syncs, and fails or shortens chosen operations.
#pragma once

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <functional>
#include <mutex>

#include "io/fault_injection.h"

namespace srd_test {

class ScriptedInjector : public simd_r_drive::io::FaultInjector {
 public:
  using Operation = simd_r_drive::io::FileOperation;
  // Decides each operation: return 0 to let it run, an errno to fail it; for writes,
  // *limit may be lowered (a short write).
  using Rule = std::function<int(Operation, const std::filesystem::path&, std::uint64_t offset,
                                 std::uint64_t bytes, std::uint64_t* limit)>;
  // Called after each successful sync.
  using OnSync = std::function<void(const std::filesystem::path&)>;

  explicit ScriptedInjector(Rule rule = {}, OnSync on_sync = {})
      : rule_(std::move(rule)), on_sync_(std::move(on_sync)) {
    previous_ = simd_r_drive::io::install_fault_injector(this);
  }
  ~ScriptedInjector() override { simd_r_drive::io::install_fault_injector(previous_); }
  ScriptedInjector(const ScriptedInjector&) = delete;
  ScriptedInjector& operator=(const ScriptedInjector&) = delete;

  int before(Operation operation, const std::filesystem::path& path, std::uint64_t offset, std::uint64_t bytes,
             std::uint64_t* limit) override {
    std::lock_guard lock(mutex_);
    if (operation == Operation::kSync) ++sync_attempts_;
    if (!rule_) return 0;
    const int error = rule_(operation, path, offset, bytes, limit);
    if (error != 0) ++faults_;
    return error;
  }
  void synced(const std::filesystem::path& path) override {
    std::lock_guard lock(mutex_);
    ++syncs_;
    if (on_sync_) on_sync_(path);
  }

  int syncs() const { std::lock_guard lock(mutex_); return syncs_; }
  int sync_attempts() const { std::lock_guard lock(mutex_); return sync_attempts_; }
  int faults() const { std::lock_guard lock(mutex_); return faults_; }

 private:
  Rule rule_;
  OnSync on_sync_;
  simd_r_drive::io::FaultInjector* previous_ = nullptr;
  mutable std::mutex mutex_;
  int syncs_ = 0;
  int sync_attempts_ = 0;
  int faults_ = 0;
};

}  // namespace srd_test

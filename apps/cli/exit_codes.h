// The process exit codes of simd-r-drive, and the exception that carries one.
//
// They are part of the tool's interface (docs/cli.md, README): scripts test them, so
// a code's meaning never changes and new failures reuse the closest existing code.
//
// Thread-safety: CliError is an immutable value.
#pragma once

#include <stdexcept>
#include <string>

namespace srd_cli {

enum class ExitCode : int {
  kOk = 0,
  kError = 1,        // the command failed: I/O, a value the format cannot store, ...
  kUsage = 2,        // bad arguments: nothing was done
  kKeyNotFound = 3,  // a key the command needs is not in the store
  kDamaged = 4,      // the store is damaged or is not a store (verify found problems)
  kLocked = 5,       // another process is writing the store
};

// Thrown by commands to end the process with `code` after printing `message` as the
// one error line on stderr. An empty message prints nothing (the command already
// reported the problem).
class CliError : public std::runtime_error {
 public:
  CliError(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

}  // namespace srd_cli

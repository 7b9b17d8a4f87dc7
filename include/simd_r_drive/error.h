// The one exception type the library throws.
//
// Missing keys are not errors: reads return an empty std::optional and exists()
// returns false. Everything else that fails throws simd_r_drive::Error, whose
// code() says what kind of failure it was and whose what() says what happened and,
// where there is one, what to do about it.
//
// Thread-safety: Error is an immutable value; it may be shared between threads.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "simd_r_drive/export.h"

namespace simd_r_drive {

enum class ErrorCode {
  kInvalidArgument,  // the caller passed something the format cannot store
  kNotFound,         // a key or file the operation needs does not exist
  kCorruption,       // the file is not a store, or is damaged beyond what open repairs
  kIo,               // the operating system refused or failed an I/O call
  kLocked,           // another writer (in this process or another) holds the store
};

// A stable, lower-case name for the code ("invalid_argument", "io", ...).
SRD_API std::string_view to_string(ErrorCode code) noexcept;

class SRD_API Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace simd_r_drive

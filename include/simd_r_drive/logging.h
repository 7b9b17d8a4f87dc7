// What the library logs on stderr: recoveries, compactions, failed syncs.
//
// Thread-safety: set_log_level may be called from any thread at any time.
#pragma once

#include "simd_r_drive/export.h"

namespace simd_r_drive {

enum class LogLevel {
  kOff,      // nothing
  kError,    // failures the caller also sees as exceptions (a failed fdatasync)
  kWarning,  // data the library changed or removed on its own (a torn tail cut off)
  kInfo,     // routine events (a compaction finished); the default
};

// Sets the process-wide level for the library's log lines.
SRD_API void set_log_level(LogLevel level) noexcept;

}  // namespace simd_r_drive

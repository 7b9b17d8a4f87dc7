#include "simd_r_drive/error.h"

namespace simd_r_drive {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kCorruption: return "corruption";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kLocked: return "locked";
  }
  return "unknown";
}

}  // namespace simd_r_drive

#include "simd_r_drive/extensions/codec.h"

#include <string>

#include <simd_r_drive/error.h>

namespace simd_r_drive::extensions::detail {

void throw_decode_error(std::size_t size, const char* what, std::size_t expected_size, bool multiple) {
  throw Error(ErrorCode::kInvalidArgument,
              "a stored value of " + std::to_string(size) + " bytes cannot be decoded as " + what + ": that needs " +
                  (multiple ? "a multiple of " : "") + std::to_string(expected_size) + " bytes");
}

}  // namespace simd_r_drive::extensions::detail

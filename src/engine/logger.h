// The library's logger: spdlog, writing to stderr (never stdout, where a CLI may be
// piping a value). Kept behind functions so that spdlog's headers stay in one file.
#pragma once

#include <string_view>

namespace simd_r_drive::engine {

void log_error(std::string_view message);
void log_warning(std::string_view message);
void log_info(std::string_view message);

}  // namespace simd_r_drive::engine

// DataStore::salvage: every complete entry of a store file, written to a new file.
//
// Thread-safety: any thread; it touches no open store.
#pragma once

#include <filesystem>

#include "simd_r_drive/salvage_report.h"

namespace simd_r_drive::engine {

SalvageReport salvage(const std::filesystem::path& source, const std::filesystem::path& target);

}  // namespace simd_r_drive::engine

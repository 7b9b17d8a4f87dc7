// The stores srd-bench knows, in the order of the table's columns, and a factory
// for each. A peer whose library was missing at configure time is not built in;
// its column then reads "n/a" (bench/CMakeLists.txt makes every peer optional).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend.h"

namespace srd_bench {

// "srd" (ours) first, then the peers.
const std::vector<std::string>& known_stores();

// A new, unopened backend; nullptr if `name` is unknown or was not built in.
std::unique_ptr<Backend> make_backend(std::string_view name);

}  // namespace srd_bench

#include "backend.h"

#include <stdexcept>
#include <string>

namespace srd_bench {

IterationSum Backend::iterate_sum_parallel() {
  throw std::logic_error(std::string(name()) + " has no parallel iteration");
}

std::uint64_t Backend::bytes_on_disk(const std::filesystem::path& dir) const {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(dir)) return fs::file_size(dir);
  std::uint64_t total = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) total += entry.file_size();
  }
  return total;
}

}  // namespace srd_bench

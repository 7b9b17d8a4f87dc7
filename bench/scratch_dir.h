// A workload's scratch database directory: created empty (or as a copy of a
// prepared one) and removed at the end, so W8's gigabyte is gone before the next
// process; an unlinked file's dirty pages are dropped rather than written back.
#pragma once

#include <filesystem>
#include <string_view>
#include <system_error>

namespace srd_bench {

class ScratchDir {
 public:
  ScratchDir(const std::filesystem::path& store_dir, std::string_view workload) : path_(store_dir / workload) {
    std::filesystem::remove_all(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& empty() const {
    std::filesystem::create_directories(path_);
    return path_;
  }
  const std::filesystem::path& copy_of(const std::filesystem::path& source) const {
    std::filesystem::copy(source, path_, std::filesystem::copy_options::recursive);
    return path_;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace srd_bench

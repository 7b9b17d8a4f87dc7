// Helpers shared by the test files: temporary directories, whole-file I/O, hex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "simd_r_drive/byte_view.h"

namespace srd_test {

// A fresh directory under the system temp dir, removed with everything in it when
// the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path file(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

std::vector<std::byte> read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, simd_r_drive::ByteView bytes);
std::vector<std::byte> from_hex(std::string_view hex);
std::string to_hex(simd_r_drive::ByteView bytes);
std::string sha256_hex(const std::filesystem::path& path);
std::vector<std::byte> bytes_of(std::string_view text);
// byte[i] = ((i*31 + len) mod 251) + 1: the generator the golden manifests use.
std::vector<std::byte> pattern_bytes(std::size_t len);
// Directory of the golden files (../shared/compat); fails the test if missing.
std::filesystem::path compat_dir();

}  // namespace srd_test

#include "test_support.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace srd_test {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "srd-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::vector<std::byte> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  // One bulk read: a byte-at-a-time stream iterator takes seconds for a few MiB in
  // sanitizer builds.
  std::vector<std::byte> bytes(std::filesystem::file_size(path));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (in.gcount() != static_cast<std::streamsize>(bytes.size())) throw std::runtime_error("short read of " + path.string());
  return bytes;
}

bool file_equals(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  if (std::filesystem::file_size(path) != bytes.size()) return false;
  std::vector<char> piece(std::size_t{1} << 20);
  for (std::size_t offset = 0; offset < bytes.size(); offset += piece.size()) {
    const std::size_t n = std::min(piece.size(), bytes.size() - offset);
    in.read(piece.data(), static_cast<std::streamsize>(n));
    if (in.gcount() != static_cast<std::streamsize>(n) || std::memcmp(piece.data(), bytes.data() + offset, n) != 0) {
      return false;
    }
  }
  return true;
}

void write_file(const std::filesystem::path& path, simd_r_drive::ByteView bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::vector<std::byte> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) throw std::invalid_argument("odd hex length");
  std::vector<std::byte> out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::byte>(std::stoi(std::string(hex.substr(2 * i, 2)), nullptr, 16));
  }
  return out;
}

std::string to_hex(simd_r_drive::ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::byte b : bytes.span()) {
    out.push_back(kDigits[std::to_integer<unsigned>(b) >> 4]);
    out.push_back(kDigits[std::to_integer<unsigned>(b) & 15]);
  }
  return out;
}

std::string sha256_hex(const std::filesystem::path& path) {
  // sha256sum is part of coreutils on every Debian machine.
  std::string command = "sha256sum '" + path.string() + "'";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) throw std::runtime_error("popen sha256sum failed");
  std::array<char, 128> buffer{};
  std::string output;
  while (std::fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) output += buffer.data();
  return output.substr(0, 64);
}

std::vector<std::byte> bytes_of(std::string_view text) {
  std::vector<std::byte> out(text.size());
  if (!text.empty()) std::memcpy(out.data(), text.data(), text.size());
  return out;
}

std::vector<std::byte> pattern_bytes(std::size_t len) {
  std::vector<std::byte> out(len);
  for (std::size_t i = 0; i < len; ++i) out[i] = static_cast<std::byte>(((i * 31 + len) % 251) + 1);
  return out;
}

StderrCapture::StderrCapture() { testing::internal::CaptureStderr(); }

StderrCapture::~StderrCapture() {
  if (active_) testing::internal::GetCapturedStderr();
}

std::string StderrCapture::take() {
  active_ = false;
  return testing::internal::GetCapturedStderr();
}

std::string smaps_field_at(const void* address, std::string_view field) {
  std::ifstream smaps("/proc/self/smaps");
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t from = 0, to = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> from >> dash >> to && dash == '-') {
      inside = from <= at && at < to;
    } else if (inside && line.rfind(field, 0) == 0) {
      return line.substr(field.size());
    }
  }
  return {};
}

std::vector<MappedRange> mapped_ranges(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::vector<MappedRange> ranges;
  for (std::string line; std::getline(maps, line);) {
    // "begin-end perms offset device inode path": the path is the rest of the line.
    std::istringstream fields(line);
    std::string range, perms, offset, device;
    MappedRange mapped;
    fields >> range >> perms >> offset >> device >> mapped.inode >> std::ws;
    std::getline(fields, mapped.path);
    const auto dash = range.find('-');
    if (dash == std::string::npos) continue;
    mapped.begin = std::stoull(range.substr(0, dash), nullptr, 16);
    mapped.end = std::stoull(range.substr(dash + 1), nullptr, 16);
    mapped.offset = std::stoull(offset, nullptr, 16);
    ranges.push_back(std::move(mapped));
  }
  return ranges;
}

std::vector<std::uint64_t> mapped_sizes(pid_t pid, const std::filesystem::path& file) {
  const std::string target = std::filesystem::canonical(file).string();
  std::vector<MappedRange> joined;
  for (MappedRange& next : mapped_ranges(pid)) {
    if (next.path != target) continue;
    // Ranges that continue each other in memory and in the file are one mapping.
    if (!joined.empty() && joined.back().end == next.begin &&
        joined.back().offset + (joined.back().end - joined.back().begin) == next.offset) {
      joined.back().end = next.end;
    } else {
      joined.push_back(std::move(next));
    }
  }
  std::vector<std::uint64_t> sizes;
  for (const MappedRange& range : joined) sizes.push_back(range.end - range.begin);
  return sizes;
}

bool mentions_number(const std::string& text, std::uint64_t number) {
  const std::regex pattern("(^|[^0-9])" + std::to_string(number) + "([^0-9]|$)");
  return std::regex_search(text, pattern);
}

std::filesystem::path compat_dir() {
  const char* from_env = std::getenv("SRD_COMPAT_DIR");
  std::filesystem::path dir = from_env != nullptr ? from_env : SRD_COMPAT_DIR;
  if (!std::filesystem::exists(dir / "basic.bin")) {
    ADD_FAILURE() << "golden files not found in " << dir
                  << " (tests/compat/golden in the repository, or SRD_COMPAT_DIR)";
  }
  return dir;
}

}  // namespace srd_test

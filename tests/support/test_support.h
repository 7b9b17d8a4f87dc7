// Helpers shared by the test files: temporary directories, whole-file I/O, hex.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "simd_r_drive/byte_view.h"
#include "simd_r_drive/error.h"
#include "simd_r_drive/options.h"

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
// Whether the file holds exactly `bytes`; reads it in pieces, so checking a large file
// costs no second copy of it.
bool file_equals(const std::filesystem::path& path, std::span<const std::byte> bytes);
void write_file(const std::filesystem::path& path, simd_r_drive::ByteView bytes);
std::vector<std::byte> from_hex(std::string_view hex);
std::string to_hex(simd_r_drive::ByteView bytes);
std::string sha256_hex(const std::filesystem::path& path);
std::vector<std::byte> bytes_of(std::string_view text);
// splitmix64's finaliser: a deterministic scatter of `x`, for reproducible "random"
// choices in tests.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// byte[i] = ((i*31 + len) mod 251) + 1: the generator the golden manifests use.
std::vector<std::byte> pattern_bytes(std::size_t len);
// The name of the ErrorCode that `body` throws ("invalid_argument", ...), "no error",
// or a note naming a foreign exception, so a test failure says what happened.
template <class F>
std::string code_of(F&& body) {
  try {
    body();
  } catch (const simd_r_drive::Error& error) {
    return std::string(simd_r_drive::to_string(error.code()));
  } catch (const std::exception& error) {
    return std::string("non-Error exception: ") + error.what();
  }
  return "no error";
}

// The message of whatever `body` throws, or "" if it throws nothing.
template <class F>
std::string message_of(F&& body) {
  try {
    body();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

inline constexpr std::string_view kInvalidArgument = "invalid_argument";
inline constexpr std::string_view kNotFound = "not_found";

// Captures stderr (where the engine logs recoveries) for its lifetime, and always
// releases the capture, also when the test fails part way.
class StderrCapture {
 public:
  StderrCapture();
  ~StderrCapture();
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  std::string take();

 private:
  bool active_ = true;
};

// The value of `field` (say "Rss:" or "VmFlags:") of this process's mapping that
// holds `address`, from /proc/self/smaps; empty if no mapping holds it.
std::string smaps_field_at(const void* address, std::string_view field);

// One line of /proc/<pid>/maps: [begin, end), the offset in the mapped file, its
// inode (0 for anonymous memory) and its path (empty if none).
struct MappedRange {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint64_t offset = 0;
  std::uint64_t inode = 0;
  std::string path;
};

// The mappings of process `pid`, from /proc/<pid>/maps.
std::vector<MappedRange> mapped_ranges(pid_t pid);

// The sizes in bytes of the mappings of `file` in process `pid` (a mapping that the
// kernel lists as several ranges, because parts of it got other advice, counted once).
std::vector<std::uint64_t> mapped_sizes(pid_t pid, const std::filesystem::path& file);

// Whether `text` contains `number` as a whole decimal number.
bool mentions_number(const std::string& text, std::uint64_t number);

// Options that open a store read-only (a follower).
inline simd_r_drive::OpenOptions read_only() {
  simd_r_drive::OpenOptions options;
  options.read_only = true;
  return options;
}

// Options that map `bytes` of address space at open (OpenOptions::
// address_space_reservation), so that a test outgrows the mapping with little data.
inline simd_r_drive::OpenOptions with_reservation(std::uint64_t bytes,
                                                  simd_r_drive::OpenOptions options = {}) {
  options.address_space_reservation = bytes;
  return options;
}

// Options under which a batch of Appender::kDirectWriteThreshold (256 KiB) or more
// of payload goes to the file with pwritev: a mode that syncs each write. The modes
// that take 2 MiB page-cache folios (kFlush, the default, and kSyncPeriodically)
// copy every write into the mapping.
inline simd_r_drive::OpenOptions pwritev_options() {
  simd_r_drive::OpenOptions options;
  options.durability = simd_r_drive::Durability::kSyncEachWrite;
  return options;
}

// Directory of the golden files (tests/compat/golden); fails the test if missing.
std::filesystem::path compat_dir();

}  // namespace srd_test

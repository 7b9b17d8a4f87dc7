#include "memory_warmup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

namespace srd_bench {
namespace {
bool reserves_enabled = true;
}

void enable_memory_reserves(bool enabled) { reserves_enabled = enabled; }

MemoryReserve::MemoryReserve(const std::filesystem::path& dir, std::uint64_t bytes) {
  if (!reserves_enabled || bytes == 0) return;
  std::filesystem::create_directories(dir);
  const std::filesystem::path path = dir / "memory-reserve.tmp";
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "memory reserve file");
  ::unlink(path.c_str());  // the pages go when fd_ closes, and nothing is left behind
  // 2 MiB writes at 2 MiB offsets fill the page cache with 2 MiB folios, which are
  // freed as 2 MiB blocks: what a store's huge-page allocations (index tables,
  // page-cache folios of its mapped file) take first. Smaller pieces would leave
  // those allocations to blocks the host may have taken back.
  const std::vector<char> chunk(2 << 20, 1);
  for (std::uint64_t written = 0; written < bytes;) {
    const ssize_t n = ::write(fd_, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      release();
      throw std::system_error(error, std::generic_category(), "memory reserve write");
    }
    written += static_cast<std::uint64_t>(n);
  }
}

void MemoryReserve::release() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace srd_bench

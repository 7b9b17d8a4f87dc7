#include "value_output.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "console.h"
#include "progress_bar.h"

namespace srd_cli {

namespace {

// Pages are handed back in steps of at least this much, to keep madvise calls rare.
constexpr std::size_t kReleaseStep = 8u << 20;

void release_pages(const std::byte* begin, const std::byte* end) noexcept {
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t first = (reinterpret_cast<std::uintptr_t>(begin) + page - 1) & ~(page - 1);
  const std::uintptr_t last = reinterpret_cast<std::uintptr_t>(end) & ~(page - 1);
  // Only memory use depends on this; a failure changes nothing else.
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace

void write_mapped(int fd, std::span<const std::byte> bytes, std::size_t chunk_size, std::string_view what,
                  ProgressBar* progress) {
  chunk_size = std::max<std::size_t>(chunk_size, 1);
  const std::byte* released = bytes.data();
  std::size_t done = 0;
  while (done < bytes.size()) {
    const std::size_t n = std::min(chunk_size, bytes.size() - done);
    write_all(fd, bytes.data() + done, n, what);
    done += n;
    if (progress != nullptr) progress->advance(n);
    const std::byte* written_end = bytes.data() + done;
    if (static_cast<std::size_t>(written_end - released) >= kReleaseStep || done == bytes.size()) {
      release_pages(released, written_end);
      released = written_end;
    }
  }
}

}  // namespace srd_cli

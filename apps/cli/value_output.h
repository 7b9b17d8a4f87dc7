// Writing a stored value out of the memory mapping, in bounded memory.
//
// A value is a view into the store's mapping. Writing it touches its pages, and
// mapped file pages count as the process's resident memory, so a 1 GiB value would
// make a 1 GiB process. write_mapped() therefore writes the value in chunks and hands
// each written chunk's pages back (madvise MADV_DONTNEED): the data stays in the page
// cache, and resident memory stays near one chunk.
//
// Thread-safety: pure function of its arguments; the view must stay valid meanwhile.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace srd_cli {

class ProgressBar;

// Writes `bytes` to `fd`, `chunk_size` bytes per write(2). `bytes` must view a
// shared file mapping of a store opened read-only (dropping its pages loses nothing).
// Advances `progress` by each chunk written. Throws CliError(kError) naming `what`
// if a write fails.
void write_mapped(int fd, std::span<const std::byte> bytes, std::size_t chunk_size, std::string_view what,
                  ProgressBar* progress = nullptr);

}  // namespace srd_cli

#include "console.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include "exit_codes.h"

namespace srd_cli {

namespace {

std::atomic<bool> g_quiet{false};
std::atomic<bool> g_progress_line{false};

void stderr_line(std::string_view prefix, std::string_view text) {
  std::string line;
  line.reserve(kProgramName.size() + prefix.size() + text.size() + 8);
  if (g_progress_line.load(std::memory_order_relaxed)) line = "\r\x1b[K";
  line.append(kProgramName).append(": ").append(prefix);
  for (char c : text) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
  line.push_back('\n');
  // A failure to write to stderr has nowhere to be reported; ignore it.
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

void set_quiet(bool quiet) noexcept { g_quiet.store(quiet, std::memory_order_relaxed); }
bool quiet() noexcept { return g_quiet.load(std::memory_order_relaxed); }

void notice(std::string_view text) {
  if (!quiet()) stderr_line("", text);
}
void warning(std::string_view text) { stderr_line("warning: ", text); }
void error_line(std::string_view text) { stderr_line("error: ", text); }

void write_all(int fd, const void* data, std::size_t size, std::string_view what) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, bytes, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw CliError(ExitCode::kError, "writing " + std::string(what) + " failed: " + std::strerror(errno));
    }
    bytes += n;
    size -= static_cast<std::size_t>(n);
  }
}

void print(std::string_view text) { write_all(STDOUT_FILENO, text.data(), text.size(), "to stdout"); }

bool is_terminal(int fd) noexcept { return ::isatty(fd) == 1; }

void set_progress_line_active(bool active) noexcept { g_progress_line.store(active, std::memory_order_relaxed); }

}  // namespace srd_cli

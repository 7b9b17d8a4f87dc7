#include "progress_bar.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "byte_size.h"
#include "console.h"

namespace srd_cli {

namespace {

constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

std::size_t terminal_width() noexcept {
  winsize size{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col >= 20) return size.ws_col;
  return 80;
}

// Writes `line` over the current terminal line (\r, text, erase to end of line).
void draw_line(const std::string& line, int fd = STDERR_FILENO) {
  const std::string out = "\r" + line + "\x1b[K";
  ssize_t ignored = ::write(fd, out.data(), out.size());
  (void)ignored;
  set_progress_line_active(!line.empty());
}

// Leaves the cursor at the start of an empty line.
void erase_line() { draw_line(""); }

// How long progress waits before its first draw, so that quick work draws nothing at
// all: 300 ms, or SRD_PROGRESS_DELAY_MS (the tests set 0, so that what they check of
// a drawn line does not depend on how fast the disk is).
std::chrono::milliseconds first_draw_delay() noexcept {
  static const std::chrono::milliseconds delay = [] {
    const char* text = std::getenv("SRD_PROGRESS_DELAY_MS");
    char* end = nullptr;
    const long value = text != nullptr ? std::strtol(text, &end, 10) : -1;
    return std::chrono::milliseconds(text != nullptr && *text != '\0' && *end == '\0' && value >= 0 ? value : 300);
  }();
  return delay;
}

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1fs", seconds);
  return text;
}

}  // namespace

bool progress_wanted() noexcept { return !quiet() && is_terminal(STDERR_FILENO); }

ProgressBar::ProgressBar(std::string label, std::uint64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()),
      // The first draw comes after first_draw_delay() (set() draws kRedrawInterval
      // after the last draw).
      last_draw_(start_ + first_draw_delay() - kRedrawInterval) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::set(std::uint64_t done) {
  done_ = done;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  draw();
}

void ProgressBar::set_label(std::string label) { label_ = std::move(label); }

void ProgressBar::finish() {
  if (!enabled_) return;
  enabled_ = false;
  if (drawn_) erase_line();
}

void ProgressBar::draw() {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string counts = format_bytes(done_);
  if (total_ != 0) counts += " / " + format_bytes(total_);
  if (elapsed > 0.2) counts += "  " + format_bytes(static_cast<std::uint64_t>(static_cast<double>(done_) / elapsed)) + "/s";

  const std::size_t width = terminal_width();
  std::string line = label_;
  if (total_ != 0) {
    const double fraction = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    char percent[16];
    std::snprintf(percent, sizeof percent, " %3d%% ", static_cast<int>(fraction * 100.0));
    // The bar takes what the label, the percentage and the counts leave, 10..40 cells.
    const std::size_t used = label_.size() + 2 + std::string_view(percent).size() + counts.size() + 1;
    const std::size_t cells = width > used + 10 ? std::min<std::size_t>(40, width - used) : 10;
    const auto filled = static_cast<std::size_t>(fraction * static_cast<double>(cells));
    line += " [" + std::string(filled, '#') + std::string(cells - filled, '.') + "]" + percent + counts;
  } else {
    line += "  " + counts;
  }
  if (line.size() >= width) line.resize(width - 1);
  draw_line(line);
  drawn_ = true;
}

ProgressSpinner::ProgressSpinner(std::string label, bool enabled) : label_(std::move(label)) {
  if (!enabled) return;
  int capture[2];
  terminal_fd_ = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  if (terminal_fd_ < 0 || ::pipe2(capture, O_CLOEXEC) != 0) {
    if (terminal_fd_ >= 0) ::close(terminal_fd_);
    terminal_fd_ = -1;
    return;  // no spinner then; the work goes on
  }
  // stderr now goes into the pipe; the spinner draws on the terminal's own copy.
  ::dup2(capture[1], STDERR_FILENO);
  ::close(capture[1]);
  capture_fd_ = capture[0];
  thread_ = std::thread([this] { run(); });
}

ProgressSpinner::~ProgressSpinner() {
  if (!thread_.joinable()) return;
  // Giving stderr back closes the pipe's last write end: the thread sees the end of
  // the pipe, takes what is left in it, and returns.
  ::dup2(terminal_fd_, STDERR_FILENO);
  thread_.join();
  if (drawn_) erase_line();
  if (!captured_.empty()) {
    ssize_t ignored = ::write(STDERR_FILENO, captured_.data(), captured_.size());
    (void)ignored;
  }
  ::close(capture_fd_);
  ::close(terminal_fd_);
}

void ProgressSpinner::run() {
  static constexpr char kFrames[] = {'|', '/', '-', '\\'};
  const auto start = std::chrono::steady_clock::now();
  // The first frame waits a moment, so that quick work draws nothing at all. With no
  // wait it is drawn before anything else, however soon the work ends.
  auto next_frame = start + first_draw_delay();
  std::size_t frame = 0;
  for (;;) {
    if (std::chrono::steady_clock::now() >= next_frame) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::string line = label_ + " " + kFrames[frame % 4] + " " + seconds_text(elapsed);
      const std::size_t width = terminal_width();
      if (line.size() >= width) line.resize(width - 1);
      draw_line(line, terminal_fd_);
      drawn_ = true;
      ++frame;
      next_frame = std::chrono::steady_clock::now() + std::chrono::milliseconds(125);
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_frame - std::chrono::steady_clock::now());
    pollfd capture{capture_fd_, POLLIN, 0};
    const int ready = ::poll(&capture, 1, static_cast<int>(std::max<std::int64_t>(wait.count(), 0)));
    if (ready > 0) {
      char buffer[4096];
      const ssize_t n = ::read(capture_fd_, buffer, sizeof buffer);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return;  // stderr was given back
      if (n > 0) captured_.append(buffer, static_cast<std::size_t>(n));
    }
  }
}

}  // namespace srd_cli

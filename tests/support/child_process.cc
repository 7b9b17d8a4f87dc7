#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>

namespace srd_test {

namespace {

// Reads exactly one message; nullopt on end of file (or an error, which for a pipe
// means the same: nothing more will come).
std::optional<std::uint64_t> read_message(int fd) noexcept {
  std::uint64_t value = 0;
  auto* bytes = reinterpret_cast<char*>(&value);
  std::size_t got = 0;
  while (got < sizeof value) {
    const ssize_t n = ::read(fd, bytes + got, sizeof value - got);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return std::nullopt;
    }
  }
  return value;
}

bool write_message(int fd, std::uint64_t value) noexcept {
  for (;;) {
    const ssize_t n = ::write(fd, &value, sizeof value);
    if (n == static_cast<ssize_t>(sizeof value)) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

// The child keeps only stdin/stdout/stderr and its two pipe ends. Descriptors the
// parent holds for other children would otherwise keep their pipes open, and a child
// would never see end of file when the parent closes its side.
void close_other_descriptors(int keep_a, int keep_b) noexcept {
  const unsigned low = static_cast<unsigned>(std::min(keep_a, keep_b));
  const unsigned high = static_cast<unsigned>(std::max(keep_a, keep_b));
  if (low > 3) ::close_range(3, low - 1, 0);
  if (high > low + 1) ::close_range(low + 1, high - 1, 0);
  ::close_range(high + 1, ~0u, 0);
}

void make_pipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
}

}  // namespace

bool ChildChannel::send(std::uint64_t value) const noexcept { return write_message(to_parent_, value); }

std::optional<std::uint64_t> ChildChannel::receive() const noexcept { return read_message(from_parent_); }

std::string ChildExit::describe() const {
  if (exited) return "exited with status " + std::to_string(code);
  if (signalled) return "killed by signal " + std::to_string(signal);
  return "still running";
}

bool has_other_threads() {
  std::size_t threads = 0;
  // Each thread of this process is a directory in /proc/self/task.
  std::error_code error;
  for (std::filesystem::directory_iterator it("/proc/self/task", error), end; !error && it != end; it.increment(error)) {
    ++threads;
  }
  if (error) throw std::runtime_error("cannot list /proc/self/task: " + error.message());
  return threads > 1;
}

ChildProcess::ChildProcess(const Body& body, const std::optional<std::filesystem::path>& stderr_path) {
  if (has_other_threads()) {
    throw std::logic_error("fork() with other threads running: the child could inherit a mutex held forever");
  }
  int up[2];    // child -> parent
  int down[2];  // parent -> child
  make_pipe(up);
  try {
    make_pipe(down);
  } catch (...) {
    ::close(up[0]);
    ::close(up[1]);
    throw;
  }
  std::fflush(nullptr);  // or the child would flush the parent's buffered output again
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    for (int fd : {up[0], up[1], down[0], down[1]}) ::close(fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(error));
  }
  if (pid == 0) {
    // The child. Only async-signal-safe calls until `body` runs, then _exit whatever
    // happens: returning would run the parent's test framework a second time.
    close_other_descriptors(up[1], down[0]);
    if (stderr_path) {
      const int log = ::open(stderr_path->c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (log >= 0) {
        ::dup2(log, STDERR_FILENO);
        ::close(log);
      }
    }
    int status = kUncaughtException;
    try {
      status = body(ChildChannel(up[1], down[0]));
    } catch (const std::exception& error) {
      std::fprintf(stderr, "child %d: uncaught exception: %s\n", static_cast<int>(::getpid()), error.what());
    } catch (...) {
      std::fprintf(stderr, "child %d: uncaught non-standard exception\n", static_cast<int>(::getpid()));
    }
    std::fflush(stderr);
    ::_exit(status);
  }
  pid_ = pid;
  ::close(up[1]);
  ::close(down[0]);
  from_child_ = up[0];
  to_child_ = down[1];
}

ChildProcess::~ChildProcess() {
  if (!reaped_ && pid_ > 0) {
    kill();
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (from_child_ >= 0) ::close(from_child_);
  close_sending();
}

bool ChildProcess::send(std::uint64_t value) const noexcept {
  if (to_child_ < 0) return false;
  // A child that is gone must not kill the test with SIGPIPE.
  struct sigaction ignore {};
  struct sigaction previous {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &previous);
  const bool sent = write_message(to_child_, value);
  ::sigaction(SIGPIPE, &previous, nullptr);
  return sent;
}

void ChildProcess::close_sending() noexcept {
  if (to_child_ >= 0) ::close(to_child_);
  to_child_ = -1;
}

std::optional<std::uint64_t> ChildProcess::receive(std::chrono::milliseconds timeout) {
  if (ended_) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // Rounded up: a timeout cut down to 0 would make poll() return at once.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd item{from_child_, POLLIN, 0};
    const int ready = ::poll(&item, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    if (ready == 0) return std::nullopt;  // timed out
    std::optional<std::uint64_t> message = read_message(from_child_);
    if (!message) ended_ = true;  // POLLHUP: every writer of the pipe is gone
    return message;
  }
}

void ChildProcess::kill() noexcept {
  if (!reaped_ && pid_ > 0) ::kill(pid_, SIGKILL);
}

ChildExit ChildProcess::wait() {
  ChildExit result;
  if (reaped_ || pid_ <= 0) throw std::logic_error("ChildProcess::wait: no child to wait for");
  int status = 0;
  pid_t got;
  do {
    got = ::waitpid(pid_, &status, 0);
  } while (got < 0 && errno == EINTR);
  if (got != pid_) throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
  reaped_ = true;
  if (WIFEXITED(status)) {
    result.exited = true;
    result.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signalled = true;
    result.signal = WTERMSIG(status);
  }
  return result;
}

}  // namespace srd_test

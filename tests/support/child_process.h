// A forked child process that talks to the test through two pipes, for the tests
// that need a second process: a writer killed with SIGKILL, a writer that holds the
// lock while the test tries to open, a writer that a reader follows.
//
// The child runs a function and leaves with _exit(): no destructors, no atexit
// handlers, no gtest. Whatever it does must not depend on the parent's state beyond
// what fork() copies, so fork() refuses to run while the parent has other threads (a
// mutex one of them held would stay locked forever in the child).
//
// Messages are 64-bit numbers. A write of 8 bytes to a pipe is atomic (below
// PIPE_BUF), so a child killed at any point has sent each message whole or not at all.
//
// Thread-safety: a ChildProcess belongs to the thread that started it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace srd_test {

// The child's end of the two pipes.
class ChildChannel {
 public:
  ChildChannel(int to_parent, int from_parent) : to_parent_(to_parent), from_parent_(from_parent) {}
  // Sends `value` to the parent; false if the parent is gone.
  bool send(std::uint64_t value) const noexcept;
  // Waits for the parent's next message; nullopt when the parent closed its end.
  std::optional<std::uint64_t> receive() const noexcept;

 private:
  int to_parent_;
  int from_parent_;
};

// How a child ended.
struct ChildExit {
  bool exited = false;   // left through _exit: `code` is its status
  int code = -1;
  bool signalled = false;  // killed: `signal` is the signal's number
  int signal = 0;
  std::string describe() const;
};

class ChildProcess {
 public:
  // What the child runs; its return value becomes the exit status. An exception that
  // escapes it is printed on stderr and exits with kUncaughtException.
  using Body = std::function<int(const ChildChannel&)>;
  static constexpr int kUncaughtException = 120;

  // Forks and runs `body` in the child. If `stderr_path` is given, the child's stderr
  // goes to that file (the engine logs every recovery and compaction there, which
  // would drown the test's output when a loop forks hundreds of children).
  explicit ChildProcess(const Body& body, const std::optional<std::filesystem::path>& stderr_path = std::nullopt);
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Kills and reaps a child that is still running, so a failing test leaves none.
  ~ChildProcess();

  pid_t pid() const noexcept { return pid_; }

  // Sends `value` to the child; false if the child is gone.
  bool send(std::uint64_t value) const noexcept;
  // Closes the parent's sending end: the child's receive() then returns nullopt.
  void close_sending() noexcept;
  // The child's next message, waiting at most `timeout`; nullopt on timeout or when
  // the child closed its end (exited or died) with nothing left unread.
  std::optional<std::uint64_t> receive(std::chrono::milliseconds timeout);
  // Like receive(), but without waiting.
  std::optional<std::uint64_t> poll() { return receive(std::chrono::milliseconds(0)); }
  // Whether receive() found the end of the child's messages: it exited or died, and
  // everything it sent has been read.
  bool ended() const noexcept { return ended_; }

  // SIGKILL, however far the child got. Reap it with wait().
  void kill() noexcept;
  // Waits for the child to end. Messages it sent stay readable after that.
  ChildExit wait();

 private:
  pid_t pid_ = -1;
  int from_child_ = -1;
  int to_child_ = -1;
  bool reaped_ = false;
  bool ended_ = false;
};

// Whether this process runs any thread besides the calling one (from /proc).
bool has_other_threads();

}  // namespace srd_test

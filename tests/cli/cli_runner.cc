#include "cli_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace srd_cli_test {

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

// The binary under test: the one this suite was built with, or SRD_CLI_BINARY, so
// that the same suite can run against a sanitizer build of the tool
// (scripts/run-tests.sh).
std::string cli_binary() {
  const char* chosen = std::getenv("SRD_CLI_BINARY");
  return chosen != nullptr && *chosen != '\0' ? chosen : SRD_CLI_BINARY;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

struct Pipe {
  int read = -1, write = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) fail("pipe2");
    read = fds[0];
    write = fds[1];
  }
};

struct Pty {
  int master = -1, slave = -1;
  Pty() {
    if (::openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) fail("openpty");
    ::fcntl(master, F_SETFD, FD_CLOEXEC);
    ::fcntl(slave, F_SETFD, FD_CLOEXEC);
  }
};

}  // namespace

std::vector<std::string> CliRun::err_lines() const {
  std::vector<std::string> lines;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

CliRun run_cli(const std::vector<std::string>& args, CliInput input) {
  // A child that exits early must not kill the test with SIGPIPE; the child itself
  // gets the default disposition back (POSIX_SPAWN_SETSIGDEF).
  ::signal(SIGPIPE, SIG_IGN);

  const bool feeds_stdin = input.data.has_value() || static_cast<bool>(input.producer);
  Pipe out, err;
  std::optional<Pipe> in;
  std::optional<Pty> in_pty, err_pty;
  if (feeds_stdin) in.emplace();
  if (input.stdin_terminal) in_pty.emplace();
  if (input.stderr_terminal) err_pty.emplace();

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (in) {
    posix_spawn_file_actions_adddup2(&actions, in->read, STDIN_FILENO);
  } else if (in_pty) {
    posix_spawn_file_actions_adddup2(&actions, in_pty->slave, STDIN_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, out.write, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pty ? err_pty->slave : err.write, STDERR_FILENO);

  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> argv_storage = {cli_binary()};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
  env_storage.insert(env_storage.end(), input.env.begin(), input.env.end());
  std::vector<char*> envp;
  for (std::string& entry : env_storage) envp.push_back(entry.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  const int spawned = ::posix_spawn(&pid, argv_storage[0].c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawned != 0) {
    errno = spawned;
    fail("posix_spawn " + argv_storage[0]);
  }
  // The parent keeps only its ends.
  ::close(out.write);
  ::close(err.write);
  if (in) ::close(in->read);
  if (in_pty) ::close(in_pty->slave);
  if (err_pty) {
    ::close(err_pty->slave);
    ::close(err.read);
  }
  int stdin_fd = in ? in->write : -1;
  int stdout_fd = out.read;
  int stderr_fd = err_pty ? err_pty->master : err.read;
  if (stdin_fd >= 0) set_nonblocking(stdin_fd);

  CliRun run;
  std::string pending = input.data.value_or("");
  std::size_t pending_at = 0;
  bool producer_done = !input.producer;
  std::vector<char> chunk(1 << 16);
  while (stdout_fd >= 0 || stderr_fd >= 0) {
    pollfd fds[3];
    nfds_t count = 0;
    if (stdin_fd >= 0) fds[count++] = {stdin_fd, POLLOUT, 0};
    if (stdout_fd >= 0) fds[count++] = {stdout_fd, POLLIN, 0};
    if (stderr_fd >= 0) fds[count++] = {stderr_fd, POLLIN, 0};
    if (::poll(fds, count, -1) < 0) {
      if (errno == EINTR) continue;
      fail("poll");
    }
    for (nfds_t i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      const int fd = fds[i].fd;
      if (fd == stdin_fd) {
        if (pending_at == pending.size() && !producer_done) {
          const std::size_t n = input.producer(std::span<char>(chunk.data(), chunk.size()));
          if (n == 0) {
            producer_done = true;
          } else {
            pending.assign(chunk.data(), n);
            pending_at = 0;
          }
        }
        if (pending_at < pending.size()) {
          const ssize_t n = ::write(stdin_fd, pending.data() + pending_at, pending.size() - pending_at);
          if (n > 0) {
            pending_at += static_cast<std::size_t>(n);
          } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            producer_done = true;  // the child closed stdin (EPIPE): stop feeding it
            pending_at = pending.size();
          }
        }
        if (pending_at == pending.size() && producer_done) {
          ::close(stdin_fd);
          stdin_fd = -1;
        }
        continue;
      }
      const ssize_t n = ::read(fd, chunk.data(), chunk.size());
      if (n > 0) {
        const std::string_view got(chunk.data(), static_cast<std::size_t>(n));
        if (fd == stdout_fd && input.stdout_sink) {
          input.stdout_sink(got);
        } else {
          (fd == stdout_fd ? run.out : run.err).append(got);
        }
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        // End of file, or EIO from a pseudo-terminal whose other side is closed.
        ::close(fd);
        (fd == stdout_fd ? stdout_fd : stderr_fd) = -1;
      }
    }
  }
  if (stdin_fd >= 0) ::close(stdin_fd);
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) fail("wait4");
  }
  if (in_pty) ::close(in_pty->master);
  run.max_rss_kib = usage.ru_maxrss;
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) run.signal = WTERMSIG(status);
  return run;
}

void CliTest::SetUp() {
  std::string pattern = (std::filesystem::temp_directory_path() / "srd-cli-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) fail("mkdtemp");
  dir_ = pattern;
}

void CliTest::TearDown() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

CliRun CliTest::cli(std::vector<std::string> args, CliInput input) const {
  args.insert(args.begin(), store());
  return run_cli(args, std::move(input));
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

void write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void expect_failure(const CliRun& run, int code, std::string_view needle) {
  EXPECT_EQ(run.exit_code, code) << "stderr: " << run.err;
  EXPECT_EQ(run.out, "");
  const auto lines = run.err_lines();
  ASSERT_EQ(lines.size(), 1u) << "stderr: " << run.err;
  EXPECT_EQ(lines[0].rfind("simd-r-drive: error: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(needle), std::string::npos) << "wanted '" << needle << "' in: " << lines[0];
}

}  // namespace srd_cli_test

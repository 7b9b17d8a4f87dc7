// Helpers for the network tests: a server core in process, a raw WebSocket client
// that sends whatever bytes a test chooses, the real server binary as a child
// process, and what a process uses of memory.
//
// Every server listens on 127.0.0.1, port 0; every child process is killed and
// reaped by the object that started it, also when a test fails part way.
//
// Thread-safety: each helper object belongs to one thread, except InProcessServer,
// whose server serves any number of clients.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <simd_r_drive/data_store.h>
#include <simd_r_drive/net/server.h>

#include "protocol/codec.h"

namespace srd_net_test {

using namespace std::chrono_literals;

// Options for in-process servers: no connection log, two I/O and two worker threads.
simd_r_drive::net::ServerOptions quiet_options();

// A store and a server core over it, in this process.
class InProcessServer {
 public:
  explicit InProcessServer(const std::filesystem::path& path, simd_r_drive::net::ServerOptions options = quiet_options(),
                           simd_r_drive::OpenOptions open = {});
  ~InProcessServer();
  simd_r_drive::DataStore& store() { return *store_; }
  simd_r_drive::net::Server& server() { return *server_; }
  std::string url() const { return server_->url(); }
  std::uint16_t port() const { return server_->port(); }
  // Stops the server and closes the store.
  void stop();

 private:
  std::optional<simd_r_drive::DataStore> store_;
  std::optional<simd_r_drive::net::Server> server_;
};

// A decoded answer (owned bytes).
struct Answer {
  bool is_notice = false;
  std::string event;
  std::uint32_t id = 0;
  bool ok = false;
  std::string code;
  std::string message;
  std::vector<std::byte> result;  // MessagePack
};
// Every value of one message, or an empty vector if the message is not all answers.
std::vector<Answer> decode_answers(std::span<const std::byte> message);

// Encodes [0, id, method, params]; `params` writes one value (a map, or nil).
std::vector<std::byte> request(std::uint32_t id, std::string_view method,
                               const std::function<void(simd_r_drive::net::mp::Writer&)>& params = nullptr);
std::vector<std::byte> hello_request(std::uint32_t id, std::optional<std::string> token = std::nullopt,
                                     std::uint64_t protocol = 1);
std::vector<std::byte> concat(std::initializer_list<std::vector<std::byte>> parts);

// A WebSocket client with no protocol logic of its own.
class RawSocket {
 public:
  // Connects to ws://127.0.0.1:port/ws and completes the WebSocket handshake.
  explicit RawSocket(std::uint16_t port);
  ~RawSocket();
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  void send_binary(std::span<const std::byte> bytes);
  void send_text(std::string_view text);
  // The next message; nullopt when nothing came within `timeout` or the connection
  // closed (closed() and close_code() then say so).
  std::optional<std::vector<std::byte>> receive(std::chrono::milliseconds timeout = 10s);
  // Answers until one has the id (notices and other ids are skipped); throws if the
  // connection closes or nothing comes.
  Answer call(std::uint32_t id, std::span<const std::byte> request_bytes, std::chrono::milliseconds timeout = 10s);
  bool closed() const noexcept { return closed_; }
  std::optional<std::uint16_t> close_code() const noexcept { return close_code_; }
  // Waits for the server to close the connection; returns its close code (or nullopt
  // if it closed without one, or did not close within the timeout).
  std::optional<std::uint16_t> wait_closed(std::chrono::milliseconds timeout = 10s);
  // Cuts the TCP connection without a close handshake.
  void drop();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
  bool closed_ = false;
  std::optional<std::uint16_t> close_code_;
};

// A write stream opened over its own RawSocket (hello, then write_stream_begin for
// `key`; throws if either fails), moved a chunk at a time. Request ids run from 3.
class RawWriteStream {
 public:
  RawWriteStream(std::uint16_t port, std::string_view key);
  // Sends pattern_value(request id, size); true once the server answered it, that is
  // once the engine took the bytes: the stream's thread then holds the store's writer.
  bool chunk(std::size_t size);
  bool end();
  // Cuts the connection with the stream still open.
  void drop() { socket_.drop(); }

 private:
  RawSocket socket_;
  std::uint64_t stream_ = 0;
  std::uint32_t next_id_ = 3;
};

// A WebSocket server that answers hello and then never answers again (for the
// client's request timeout). Serves one connection.
class SilentServer {
 public:
  SilentServer();
  ~SilentServer();
  std::uint16_t port() const noexcept { return port_; }
  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
};

// Sends an HTTP WebSocket upgrade for /ws and returns the response's status code
// (101 when the upgrade is accepted; the connection is then dropped).
int upgrade_status(std::uint16_t port);

// The real server binary as a child process (SRD_NET_SERVER_BINARY, or the one this
// test binary was built with).
class ServerProcess {
 public:
  // Starts `binary args...` with stdout on a pipe and stderr in a file, and `env`
  // ("NAME=value") added to the environment.
  explicit ServerProcess(std::vector<std::string> args, std::vector<std::string> env = {});
  ~ServerProcess();  // SIGKILL if still running, then reaped
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const noexcept { return pid_; }
  // Waits for the first stdout line; returns it (empty if the process ended first).
  std::string first_line(std::chrono::milliseconds timeout = 30s);
  // The URL of "listening on URL"; fails the test (with stderr) otherwise.
  std::string wait_listening(std::chrono::milliseconds timeout = 30s);
  // Everything on stdout after the first line, once the process has ended.
  std::string rest_of_stdout();
  std::string stderr_text() const;
  void signal(int signal_number);
  // Waits for the process to end; its exit status, or 128 + signal, or -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout = 30s);
  bool running() const noexcept { return pid_ > 0 && !reaped_; }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string stdout_buffer_;
  std::filesystem::path stderr_path_;
  bool reaped_ = false;
  int status_ = -1;
};

// The server binary's path.
std::string server_binary();

// A field of /proc/<pid>/status in KiB (VmHWM, VmRSS, RssAnon, RssFile), 0 if absent.
std::uint64_t proc_status_kib(pid_t pid, std::string_view field);

// Samples RssAnon of a process on a thread of its own until stopped; the maximum.
class AnonRssSampler {
 public:
  explicit AnonRssSampler(pid_t pid, std::chrono::milliseconds period = 20ms);
  ~AnonRssSampler();
  std::uint64_t stop();  // the largest RssAnon seen, KiB
  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// byte[i] of a deterministic value of `size` bytes identified by `seed` (never all
// zero, never a lone 0x00).
std::byte pattern_byte(std::uint64_t seed, std::uint64_t i);
std::vector<std::byte> pattern_value(std::uint64_t seed, std::size_t size);

}  // namespace srd_net_test

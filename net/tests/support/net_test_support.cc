#include "net_test_support.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <mutex>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace srd_net_test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
namespace mp = simd_r_drive::net::mp;

simd_r_drive::net::ServerOptions quiet_options() {
  simd_r_drive::net::ServerOptions options;
  options.log_connections = false;
  options.io_threads = 2;
  options.worker_threads = 2;
  options.shutdown_grace = std::chrono::milliseconds(3000);
  return options;
}

InProcessServer::InProcessServer(const std::filesystem::path& path, simd_r_drive::net::ServerOptions options,
                                 simd_r_drive::OpenOptions open) {
  store_.emplace(simd_r_drive::DataStore::open(path, open));
  server_.emplace(*store_, std::move(options));
}

InProcessServer::~InProcessServer() { stop(); }

void InProcessServer::stop() {
  server_.reset();
  store_.reset();
}

std::vector<Answer> decode_answers(std::span<const std::byte> message) {
  std::vector<simd_r_drive::net::protocol::Bytes> values;
  std::vector<Answer> out;
  if (!simd_r_drive::net::protocol::split_values(message, values)) return {};
  for (auto value : values) {
    simd_r_drive::net::protocol::Response response;
    if (!simd_r_drive::net::protocol::decode_response(value, response)) return {};
    Answer answer;
    answer.is_notice = response.is_notice;
    answer.event = std::string(response.event);
    answer.id = response.id;
    answer.ok = response.ok;
    answer.code = std::string(response.error_code);
    answer.message = std::string(response.error_message);
    answer.result.assign(response.result.begin(), response.result.end());
    if (answer.is_notice) {
      // An error notice carries its code in its details.
      mp::Reader reader(response.result);
      std::uint32_t n = 0;
      if (reader.read_map(n)) {
        for (std::uint32_t i = 0; i < n; ++i) {
          std::string_view name, text;
          if (!reader.read_str(name)) break;
          if (reader.read_str(text)) {
            if (name == "code") answer.code = std::string(text);
            if (name == "message") answer.message = std::string(text);
          } else if (!reader.skip()) {
            break;
          }
        }
      }
    }
    out.push_back(std::move(answer));
  }
  return out;
}

std::vector<std::byte> request(std::uint32_t id, std::string_view method,
                               const std::function<void(mp::Writer&)>& params) {
  std::vector<std::byte> bytes;
  mp::Writer w(bytes);
  simd_r_drive::net::protocol::begin_request(w, id, method);
  if (params) params(w);
  else w.nil();
  return bytes;
}

std::vector<std::byte> hello_request(std::uint32_t id, std::optional<std::string> token, std::uint64_t protocol) {
  return request(id, "hello", [&](mp::Writer& w) {
    w.map(token ? 2 : 1);
    w.str("protocol");
    w.uint(protocol);
    if (token) {
      w.str("token");
      w.str(*token);
    }
  });
}

std::vector<std::byte> concat(std::initializer_list<std::vector<std::byte>> parts) {
  std::vector<std::byte> out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

class RawSocket::Impl {
 public:
  asio::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
};

RawSocket::RawSocket(std::uint16_t port) : impl_(std::make_unique<Impl>()) {
  auto& socket = impl_->ws.next_layer();
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  socket.set_option(tcp::no_delay(true));
  impl_->ws.handshake("127.0.0.1:" + std::to_string(port), "/ws");
  impl_->ws.binary(true);
  impl_->ws.auto_fragment(false);
  impl_->ws.read_message_max(0);
}

RawSocket::~RawSocket() { drop(); }

void RawSocket::send_binary(std::span<const std::byte> bytes) {
  impl_->ws.binary(true);
  impl_->ws.write(asio::buffer(bytes.data(), bytes.size()));
}

void RawSocket::send_text(std::string_view text) {
  impl_->ws.text(true);
  impl_->ws.write(asio::buffer(text.data(), text.size()));
  impl_->ws.binary(true);
}

std::optional<std::vector<std::byte>> RawSocket::receive(std::chrono::milliseconds timeout) {
  if (closed_) return std::nullopt;
  auto& socket = impl_->ws.next_layer();
  // A receive timeout on the socket: a read that waits longer fails (and the
  // WebSocket stream is unusable afterwards, which the tests accept).
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  impl_->ws.read(buffer, ec);
  if (ec == websocket::error::closed) {
    closed_ = true;
    close_code_ = static_cast<std::uint16_t>(impl_->ws.reason().code);
    return std::nullopt;
  }
  if (ec == asio::error::would_block || ec == asio::error::try_again || ec == asio::error::timed_out) {
    return std::nullopt;
  }
  if (ec) {
    closed_ = true;
    if (std::getenv("SRD_NET_TEST_DEBUG") != nullptr) std::fprintf(stderr, "raw receive: %s\n", ec.message().c_str());
    return std::nullopt;
  }
  const auto data = buffer.cdata();
  const auto* begin = static_cast<const std::byte*>(data.data());
  return std::vector<std::byte>(begin, begin + data.size());
}

Answer RawSocket::call(std::uint32_t id, std::span<const std::byte> request_bytes, std::chrono::milliseconds timeout) {
  send_binary(request_bytes);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto message = receive(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()) + 1ms);
    if (!message) break;
    for (auto& answer : decode_answers(*message)) {
      if (!answer.is_notice && answer.id == id) return answer;
    }
  }
  throw std::runtime_error("no answer to request " + std::to_string(id) +
                           (closed_ ? " (the connection closed)" : " (nothing within the timeout)"));
}

std::optional<std::uint16_t> RawSocket::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!closed_ && std::chrono::steady_clock::now() < deadline) {
    if (!receive(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()) + 1ms) &&
        !closed_) {
      break;  // timed out
    }
  }
  return closed_ ? close_code_ : std::nullopt;
}

void RawSocket::drop() {
  if (!impl_) return;
  boost::system::error_code ignored;
  impl_->ws.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
  impl_->ws.next_layer().close(ignored);
  closed_ = true;
}

RawWriteStream::RawWriteStream(std::uint16_t port, std::string_view key) : socket_(port) {
  if (!socket_.call(1, hello_request(1)).ok) throw std::runtime_error("hello failed");
  const Answer begun = socket_.call(2, request(2, "write_stream_begin", [&](mp::Writer& w) {
                                      w.map(1);
                                      w.str("key");
                                      w.bin(mp::as_bytes(key));
                                    }));
  if (!begun.ok) throw std::runtime_error("write_stream_begin failed: " + begun.message);
  mp::Reader reader(begun.result);
  std::uint32_t fields = 0;
  std::string_view name;
  if (!(reader.read_map(fields) && reader.read_str(name) && reader.read_uint(stream_))) {
    throw std::runtime_error("write_stream_begin answered no stream id");
  }
}

bool RawWriteStream::chunk(std::size_t size) {
  const std::uint32_t id = next_id_++;
  return socket_
      .call(id, request(id, "write_stream_chunk", [&](mp::Writer& w) {
              w.map(2);
              w.str("stream");
              w.uint(stream_);
              w.str("data");
              w.bin(pattern_value(id, size));
            }))
      .ok;
}

bool RawWriteStream::end() {
  const std::uint32_t id = next_id_++;
  return socket_
      .call(id, request(id, "write_stream_end", [&](mp::Writer& w) {
              w.map(1);
              w.str("stream");
              w.uint(stream_);
            }))
      .ok;
}

class SilentServer::Impl {
 public:
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::thread thread;
  std::atomic<bool> stop{false};
  std::unique_ptr<websocket::stream<tcp::socket>> ws;
  std::mutex mutex;
};

SilentServer::SilentServer() : impl_(std::make_unique<Impl>()) {
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->thread = std::thread([impl = impl_.get()] {
    boost::system::error_code ec;
    tcp::socket socket(impl->ioc);
    impl->acceptor.accept(socket, ec);
    if (ec) return;
    {
      std::lock_guard lock(impl->mutex);
      impl->ws = std::make_unique<websocket::stream<tcp::socket>>(std::move(socket));
    }
    auto& ws = *impl->ws;
    ws.accept(ec);
    if (ec) return;
    ws.binary(true);
    bool answered_hello = false;
    while (!impl->stop.load()) {
      beast::flat_buffer buffer;
      ws.read(buffer, ec);
      if (ec) return;
      if (answered_hello) continue;  // silence
      const auto data = buffer.cdata();
      std::vector<simd_r_drive::net::protocol::Bytes> values;
      simd_r_drive::net::protocol::split_values(
          {static_cast<const std::byte*>(data.data()), data.size()}, values);
      simd_r_drive::net::protocol::Request request;
      if (values.empty() || simd_r_drive::net::protocol::decode_request(values[0], request)) return;
      simd_r_drive::net::protocol::OutMessage out;
      simd_r_drive::net::protocol::ResponseWriter writer(out);
      writer.begin_result(request.id).map(0);
      ws.write(asio::buffer(out.bytes.data(), out.bytes.size()), ec);
      answered_hello = true;
    }
  });
}

SilentServer::~SilentServer() {
  impl_->stop.store(true);
  boost::system::error_code ignored;
  bool connected = false;
  {
    std::lock_guard lock(impl_->mutex);
    connected = impl_->ws != nullptr;
  }
  // A connected thread returns when its client goes (tests destroy the client first);
  // one still waiting in accept needs a connection to return.
  if (!connected) {
    asio::io_context ioc;
    tcp::socket poke(ioc);
    poke.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ignored);
    poke.close(ignored);
  }
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->acceptor.close(ignored);
}

int upgrade_status(std::uint16_t port) {
  asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  const std::string request =
      "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  asio::write(socket, asio::buffer(request));
  std::string response;
  boost::system::error_code ec;
  asio::read_until(socket, asio::dynamic_buffer(response), "\r\n", ec);
  if (ec) return -1;
  // "HTTP/1.1 503 Service Unavailable"
  std::istringstream line(response.substr(0, response.find("\r\n")));
  std::string version;
  int status = -1;
  line >> version >> status;
  return status;
}

std::string server_binary() {
  if (const char* path = std::getenv("SRD_NET_SERVER_BINARY"); path != nullptr && *path != '\0') return path;
  return SRD_NET_SERVER_BINARY;
}

ServerProcess::ServerProcess(std::vector<std::string> args, std::vector<std::string> env) {
  char pattern[] = "/tmp/srd-net-server-stderr-XXXXXX";
  const int stderr_fd = ::mkstemp(pattern);
  if (stderr_fd < 0) throw std::runtime_error("mkstemp failed");
  stderr_path_ = pattern;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, stderr_fd, STDERR_FILENO);
  std::vector<std::string> argv_strings{server_binary()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& text : argv_strings) argv.push_back(text.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& text : env_strings) envp.push_back(text.data());
  envp.push_back(nullptr);
  const int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  ::close(stderr_fd);
  stdout_fd_ = pipe_fds[0];
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error("cannot start " + argv_strings[0] + ": " + std::strerror(rc));
  }
}

ServerProcess::~ServerProcess() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  std::error_code ignored;
  std::filesystem::remove(stderr_path_, ignored);
}

std::string ServerProcess::first_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const std::size_t newline = stdout_buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = stdout_buffer_.substr(0, newline);
      stdout_buffer_.erase(0, newline + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return {};
    pollfd fd{stdout_fd_, POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(left.count())) <= 0) return {};
    char chunk[4096];
    const ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
    if (n <= 0) return {};
    stdout_buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

std::string ServerProcess::wait_listening(std::chrono::milliseconds timeout) {
  const std::string line = first_line(timeout);
  const std::string prefix = "listening on ";
  if (line.rfind(prefix, 0) != 0) {
    throw std::runtime_error("the server did not announce itself (first line '" + line + "'); stderr: " + stderr_text());
  }
  return line.substr(prefix.size());
}

std::string ServerProcess::rest_of_stdout() {
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
    if (n <= 0) break;
    stdout_buffer_.append(chunk, static_cast<std::size_t>(n));
  }
  return stdout_buffer_;
}

std::string ServerProcess::stderr_text() const {
  std::ifstream in(stderr_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void ServerProcess::signal(int signal_number) {
  if (running()) ::kill(pid_, signal_number);
}

int ServerProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (reaped_) return status_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      reaped_ = true;
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(5ms);
  }
}

std::uint64_t proc_status_kib(pid_t pid, std::string_view field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(std::string(field) + ":", 0) == 0) {
      std::istringstream values(line.substr(field.size() + 1));
      std::uint64_t kib = 0;
      values >> kib;
      return kib;
    }
  }
  return 0;
}

class AnonRssSampler::Impl {
 public:
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> max{0};
  std::thread thread;
};

AnonRssSampler::AnonRssSampler(pid_t pid, std::chrono::milliseconds period) : impl_(std::make_unique<Impl>()) {
  impl_->thread = std::thread([impl = impl_.get(), pid, period] {
    while (!impl->stop.load()) {
      const std::uint64_t now = proc_status_kib(pid, "RssAnon");
      if (now > impl->max.load()) impl->max.store(now);
      std::this_thread::sleep_for(period);
    }
  });
}

AnonRssSampler::~AnonRssSampler() { stop(); }

std::uint64_t AnonRssSampler::stop() {
  impl_->stop.store(true);
  if (impl_->thread.joinable()) impl_->thread.join();
  return impl_->max.load();
}

std::byte pattern_byte(std::uint64_t seed, std::uint64_t i) {
  // Never 0, so no value is all zeros or a lone 0x00.
  const std::uint64_t x = (i * 0x9E3779B97F4A7C15ull) ^ (seed * 0xBF58476D1CE4E5B9ull) ^ (i >> 7);
  return std::byte(static_cast<std::uint8_t>((x >> 29) % 255 + 1));
}

std::vector<std::byte> pattern_value(std::uint64_t seed, std::size_t size) {
  std::vector<std::byte> out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = pattern_byte(seed, i);
  return out;
}

}  // namespace srd_net_test

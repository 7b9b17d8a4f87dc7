// The Redis front door's transport (docs/redis.md): a TCP (or TLS) listener and one
// session per client that moves bytes between the socket, the RESP codec
// (protocol/resp.h) and the RESP dispatcher (resp_dispatcher.h). It shares the
// server's io_context, worker pool, store, limits, token and TLS certificate with
// the WebSocket side (server.cc): one server core, a second front door.
//
// Thread-safety: constructed and stopped by Server::Impl. The acceptor runs on the
// shared io_context; each session runs on one of the listener's own event loops (an
// io_context run by one thread, no strand), and its writes on the worker pool when
// the store's writes may wait (ServerOptions::resp_inline_writes false).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "server/resp_dispatcher.h"
#include "server/server_context.h"

namespace boost::asio {
class io_context;
namespace ssl {
class context;
}  // namespace ssl
}  // namespace boost::asio

namespace simd_r_drive::net::server {

class RespListener {
 public:
  // Binds host:port (0: a free port). Throws std::system_error when it cannot.
  RespListener(ServerContext& context, boost::asio::io_context& ioc, boost::asio::ssl::context* ssl,
               const std::string& host, std::uint16_t port);
  ~RespListener();
  RespListener(const RespListener&) = delete;
  RespListener& operator=(const RespListener&) = delete;

  std::uint16_t port() const noexcept;
  RespShared& shared() noexcept;
  // Starts `threads` event loops (at least one), each on a thread of its own, and
  // accepting; accepted connections are spread over the loops in turn.
  void start(unsigned threads);
  // Stops accepting; every session answers the commands it has read, then closes.
  void begin_shutdown();
  // Waits until no session is left or `deadline` passes; true when none is left.
  bool wait_until_closed(std::chrono::steady_clock::time_point deadline);
  void force_close();
  // Stops the event loops, joins their threads and destroys what they still hold
  // (after the worker pool is stopped: its jobs post to the loops).
  void stop_loops();
  // After the io_context's threads are joined and before it is destroyed.
  void release_acceptor();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace simd_r_drive::net::server

// One client connection's protocol state, between the transport (a Beast WebSocket
// session, session.cc) and the dispatcher: the handshake, the lanes requests run
// in, write streams, flow control and the outgoing queue. No sockets here: the
// transport hands in each received message and takes out what to send.
//
// Thread-safety: every member function runs on the connection's strand (the
// transport's), except where a comment says otherwise. Work on the worker pool and
// write-stream threads comes back through Transport::post.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "protocol/codec.h"
#include "server/dispatcher.h"
#include "server/server_context.h"

namespace simd_r_drive::net::server {

// What the connection needs of its transport.
class Transport {
 public:
  virtual ~Transport() = default;
  // Runs `job` on the connection's strand (from any thread).
  virtual void post(std::function<void()> job) = 0;
  // There is output to send, or reading may resume: look at the connection again.
  virtual void poke() = 0;
  // Sends what is queued, then closes with `code` (WebSocket close status).
  virtual void close_after_output(std::uint16_t code, std::string reason) = 0;
};

class WriteStream;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerContext& context, std::string peer);
  ~Connection();

  void attach(std::weak_ptr<Transport> transport) { transport_ = std::move(transport); }
  std::uint64_t id() const noexcept { return id_; }
  const std::string& peer() const noexcept { return peer_; }

  // A received binary message (the buffer is kept alive while requests view it).
  void on_message(std::shared_ptr<std::vector<std::byte>> message);
  // Whether the transport may read the next message now (flow control).
  bool can_read() const noexcept;
  // The next message to send, or an empty one. The caller sends it and then calls
  // on_sent with its size.
  protocol::OutMessage take_output();
  bool has_output() const noexcept { return !out_queue_.empty(); }
  void on_sent(std::size_t bytes);
  // Unsent output above the limit since this time (or never).
  bool output_over_limit_since(std::chrono::steady_clock::time_point& since) const noexcept;

  // Server stop: the notice, no new requests; the transport closes with 1001 once
  // drained() (or when the grace time is up).
  void begin_shutdown();
  bool drained() const noexcept { return in_flight_ == 0; }
  // The transport is gone (closed, or the peer vanished): abort write streams, drop
  // read streams and scans.
  void on_closed();

 private:
  friend class WriteStream;
  void handle(const protocol::Request& request, const std::shared_ptr<std::vector<std::byte>>& message,
              protocol::ResponseWriter& out);
  void hello(const protocol::Request& request, protocol::ResponseWriter& out);
  void submit_blocking(std::function<void()> job);
  void drain_lane();
  // A response made off the strand (worker pool, write stream), on the strand.
  void deliver(protocol::OutMessage&& message);
  void enqueue(protocol::OutMessage&& message);
  void stream_request(const protocol::Request& request, const std::shared_ptr<std::vector<std::byte>>& message,
                      protocol::ResponseWriter& out);
  void finish_request() noexcept;
  void post(std::function<void()> job);
  void poke();

  ServerContext& context_;
  const std::uint64_t id_;
  const std::string peer_;
  std::weak_ptr<Transport> transport_;

  bool authenticated_ = false;
  bool shutting_down_ = false;
  bool closed_ = false;
  std::optional<std::pair<std::uint16_t, std::string>> pending_close_;  // close once this message is answered
  std::size_t in_flight_ = 0;  // requests received, not answered

  std::deque<protocol::OutMessage> out_queue_;
  std::size_t out_bytes_ = 0;  // queued and being sent
  std::chrono::steady_clock::time_point over_limit_since_{};
  bool over_limit_ = false;

  ConnectionStreams streams_;  // read streams and scans (inline lane)
  std::unordered_map<std::uint64_t, std::shared_ptr<WriteStream>> write_streams_;
  std::uint64_t next_write_stream_ = 1;
  std::size_t stream_bytes_queued_ = 0;  // write-stream chunks received, not yet taken

  // The blocking lane: this connection's jobs, in order, one at a time.
  std::mutex lane_mutex_;
  std::deque<std::function<void()>> lane_;
  bool lane_running_ = false;

  // Reused for decoding.
  std::vector<protocol::Bytes> values_;
  protocol::Request request_;
};

}  // namespace simd_r_drive::net::server

// The server's transport: Boost.Beast WebSocket sessions over Asio (plain TCP or
// TLS), the listener, and Server's lifecycle. The protocol lives in Connection
// (connection.h); this file moves bytes.
//
// Threading: one io_context run by io_threads threads; every WebSocket connection's
// socket is bound to a strand of its own, so its handlers never run concurrently, and
// Connection is only touched on that strand. The RESP listener accepts on this
// io_context too, but runs its sessions on io_threads event loops of its own (one
// io_context and one thread each, resp_listener.h). Blocking work runs on the
// ServerContext's worker pool and comes back through Transport::post.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <simd_r_drive/net/server.h>

#include "server/connection.h"
#include "server/endpoint_text.h"
#include "server/resp_listener.h"
#include "server/server_context.h"
#include "server/session_registry.h"

namespace simd_r_drive::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using server::Connection;
using server::ServerContext;
using server::SessionRegistry;
using server::StoppableSession;
using server::endpoint_text;

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

namespace {


// A received message: the bytes, and the dynamic buffer Beast reads them through
// (it must outlive the read).
struct Incoming {
  explicit Incoming(std::size_t max) : buffer(bytes, max) {}
  std::vector<std::byte> bytes;
  asio::dynamic_vector_buffer<std::byte, std::allocator<std::byte>> buffer;
};

}  // namespace

class Server::Impl {
 public:
  Impl(DataStore& store, ServerOptions options);
  ~Impl();
  void start();
  void stop();

  void do_accept();

  ServerContext context;
  std::string host;
  std::uint16_t port = 0;
  bool tls = false;
  std::atomic<std::size_t> upgraded{0};   // WebSocket sessions (max_connections counts these)
  std::atomic<std::size_t> tcp_sessions{0};
  std::atomic<std::uint64_t> next_session{1};
  std::atomic<bool> stopping{false};

  SessionRegistry sessions;

  std::mutex stop_mutex;
  std::condition_variable stopped_changed;
  bool stopped = false;
  bool stop_started = false;

  std::vector<std::thread> threads;
  // The Redis front door: its acceptor on ioc, its sessions on loops of its own
  // (stopped and emptied in stop()), the same worker pool. Destroyed after ioc (its
  // acceptor is closed and released in stop(), before that).
  std::unique_ptr<server::RespListener> resp;
  // Declared last, destroyed first: pending handlers (which hold sessions) go before
  // what the sessions refer to.
  std::unique_ptr<asio::ssl::context> ssl;
  asio::io_context ioc;
  // On a strand: stop() closes it from another thread while accepts complete.
  tcp::acceptor acceptor{asio::make_strand(ioc)};
};

namespace {

template <class Next>
class Session final : public StoppableSession,
                      public server::Transport,
                      public std::enable_shared_from_this<Session<Next>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Next, beast::tcp_stream>;

  Session(Server::Impl& impl, tcp::socket&& socket)
    requires(!kTls)
      : impl_(impl), ws_(std::move(socket)), watchdog_(ws_.get_executor()) {}
  Session(Server::Impl& impl, tcp::socket&& socket, asio::ssl::context& ssl)
    requires(kTls)
      : impl_(impl), ws_(std::move(socket), ssl), watchdog_(ws_.get_executor()) {}

  ~Session() override {
    if (upgraded_) impl_.upgraded.fetch_sub(1);
    impl_.tcp_sessions.fetch_sub(1);
    impl_.sessions.remove(session_id_);
  }

  void start() {
    session_id_ = impl_.next_session.fetch_add(1);
    impl_.sessions.add(session_id_, this->weak_from_this());
    boost::system::error_code ec;
    peer_ = endpoint_text(beast::get_lowest_layer(ws_).socket().remote_endpoint(ec));
    // Answers go out as soon as they are written: Nagle would hold a small answer
    // back until the client's delayed ACK of the previous one.
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ec);
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(10));
    if constexpr (kTls) {
      ws_.next_layer().async_handshake(asio::ssl::stream_base::server,
                                       [self = this->shared_from_this()](boost::system::error_code error) {
                                         if (error) return self->fail_before_upgrade("TLS handshake: " + error.message());
                                         self->read_http();
                                       });
    } else {
      read_http();
    }
  }

  // ---- Transport (called on the strand, or posts to it) ----
  void post(std::function<void()> job) override {
    asio::post(ws_.get_executor(), [self = this->shared_from_this(), job = std::move(job)] { job(); });
  }
  void poke() override {
    do_write();
    do_read();
    maybe_close_after_shutdown();
  }
  void close_after_output(std::uint16_t code, std::string reason) override {
    if (close_code_ != 0) return;
    close_code_ = code;
    close_reason_ = std::move(reason);
    if (!writing_ && (!connection_ || !connection_->has_output())) do_close();
    else do_write();
  }

  // ---- StoppableSession ----
  void begin_shutdown() override {
    post([self = this->shared_from_this()] {
      if (!self->connection_) return self->force_close_now();  // not upgraded yet
      self->shutting_down_ = true;
      self->connection_->begin_shutdown();
    });
  }
  void force_close() override {
    post([self = this->shared_from_this()] { self->force_close_now(); });
  }

 private:
  void read_http() {
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    parser_->body_limit(0);
    http::async_read(ws_.next_layer(), http_buffer_, *parser_,
                     [self = this->shared_from_this()](boost::system::error_code ec, std::size_t) {
                       if (ec) return self->fail_before_upgrade("HTTP request: " + ec.message());
                       self->on_http();
                     });
  }

  void respond_and_close(http::status status, std::string body) {
    auto response = std::make_shared<http::response<http::string_body>>(status, parser_->get().version());
    response->set(http::field::server, "simd-r-drive-server");
    response->set(http::field::content_type, "text/plain");
    response->set(http::field::connection, "close");
    response->body() = std::move(body);
    response->prepare_payload();
    http::async_write(ws_.next_layer(), *response,
                      [self = this->shared_from_this(), response](boost::system::error_code, std::size_t) {
                        boost::system::error_code ignored;
                        beast::get_lowest_layer(self->ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
                        beast::get_lowest_layer(self->ws_).socket().close(ignored);
                      });
  }

  void on_http() {
    auto& request = parser_->get();
    std::string_view target(request.target().data(), request.target().size());
    if (auto query = target.find('?'); query != std::string_view::npos) target = target.substr(0, query);
    if (target != "/ws") return respond_and_close(http::status::not_found, "the WebSocket endpoint is /ws\n");
    if (!websocket::is_upgrade(request)) {
      return respond_and_close(http::status::upgrade_required, "this endpoint speaks WebSocket only\n");
    }
    if (impl_.stopping.load()) return respond_and_close(http::status::service_unavailable, "the server is stopping\n");
    if (impl_.upgraded.fetch_add(1) >= impl_.context.options.max_connections) {
      impl_.upgraded.fetch_sub(1);
      impl_.context.connections_refused.fetch_add(1);
      impl_.context.log("refused a connection from " + peer_ + ": at max connections (" +
                        std::to_string(impl_.context.options.max_connections) + ")");
      return respond_and_close(http::status::service_unavailable, "the server is at its connection limit\n");
    }
    upgraded_ = true;
    beast::get_lowest_layer(ws_).expires_never();
    const auto& options = impl_.context.options;
    websocket::stream_base::timeout timeout{};
    timeout.handshake_timeout = std::chrono::seconds(10);
    timeout.idle_timeout = options.idle_timeout;
    timeout.keep_alive_pings = true;
    ws_.set_option(timeout);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& response) { response.set(http::field::server, "simd-r-drive-server"); }));
    ws_.read_message_max(0);  // enforced by read_more, which closes with 1009
    // One frame per message: a server-side (unmasked) write then hands the buffers
    // to the socket as they are, without a copy.
    ws_.auto_fragment(false);
    ws_.binary(true);
    ws_.async_accept(request, [self = this->shared_from_this()](boost::system::error_code ec) {
      if (ec) return self->fail_before_upgrade("WebSocket handshake: " + ec.message());
      self->on_open();
    });
  }

  void on_open() {
    connection_ = std::make_shared<Connection>(impl_.context, peer_);
    connection_->attach(std::static_pointer_cast<server::Transport>(this->shared_from_this()));
    impl_.context.connections_accepted.fetch_add(1);
    impl_.context.connections_open.fetch_add(1);
    impl_.context.log("connection " + std::to_string(connection_->id()) + " from " + peer_ + ": accepted" +
                      (kTls ? " (TLS)" : ""));
    if (impl_.stopping.load()) {
      shutting_down_ = true;
      connection_->begin_shutdown();
    }
    arm_watchdog();
    do_read();
  }

  void do_read() {
    if (reading_ || finished_ || close_code_ != 0 || !connection_ || !connection_->can_read()) return;
    reading_ = true;
    read_more(std::make_shared<Incoming>(std::numeric_limits<std::size_t>::max()));
  }

  // Reads a message part by part, never more than max_message_bytes + 1 bytes of it.
  // The limit is checked here rather than by Beast's read_message_max: Beast 1.81
  // then fails the connection with a teardown that stops draining after its first
  // read and resets the connection, so the client never sees the 1009. Closing
  // through async_close instead drains the rest of the message and completes the
  // close handshake.
  void read_more(std::shared_ptr<Incoming> incoming) {
    const std::size_t max = impl_.context.options.max_message_bytes;
    const std::size_t room = max + 1 - incoming->buffer.size();
    ws_.async_read_some(incoming->buffer, room,
                        [self = this->shared_from_this(), incoming, max](boost::system::error_code ec, std::size_t) {
                          if (ec) {
                            self->reading_ = false;
                            return self->finish(ec);
                          }
                          if (incoming->buffer.size() > max) {
                            self->reading_ = false;
                            self->close_note_ = "closed: a message over max_message_bytes (1009)";
                            self->close_code_ = static_cast<std::uint16_t>(websocket::close_code::too_big);
                            self->close_reason_ = "message over max_message_bytes";
                            self->do_close();
                            return;
                          }
                          if (!self->ws_.is_message_done()) return self->read_more(incoming);
                          self->reading_ = false;
                          if (!self->ws_.got_binary()) {
                            self->close_after_output(static_cast<std::uint16_t>(websocket::close_code::unknown_data),
                                                     "text messages are not part of the protocol");
                            return;
                          }
                          incoming->bytes.resize(incoming->buffer.size());
                          // The connection keeps the bytes (its requests view them), not the reader.
                          std::shared_ptr<std::vector<std::byte>> message(incoming, &incoming->bytes);
                          self->connection_->on_message(message);
                          self->poke();
                        });
  }

  void do_write() {
    if (writing_ || finished_ || !connection_ || !connection_->has_output()) return;
    sending_ = connection_->take_output();
    buffers_.clear();
    spans_.clear();
    sending_.for_each_buffer([&](protocol::Bytes bytes) {
      buffers_.emplace_back(bytes.data(), bytes.size());
      spans_.push_back(bytes);
    });
    if (impl_.context.options.on_send) impl_.context.options.on_send(spans_);
    writing_ = true;
    ws_.async_write(buffers_, [self = this->shared_from_this()](boost::system::error_code ec, std::size_t) {
      self->writing_ = false;
      const std::size_t sent = self->sending_.size();
      self->sending_.clear();  // releases the values it pinned
      self->connection_->on_sent(sent);
      if (ec) return self->finish(ec);
      if (self->close_code_ != 0 && !self->connection_->has_output()) return self->do_close();
      self->poke();
    });
  }

  void maybe_close_after_shutdown() {
    if (shutting_down_ && connection_ && connection_->drained() && !connection_->has_output() && !writing_) {
      close_after_output(static_cast<std::uint16_t>(websocket::close_code::going_away), "the server is stopping");
    }
  }

  void do_close() {
    if (closing_ || finished_) return;
    closing_ = true;
    ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(close_code_), close_reason_),
                    [self = this->shared_from_this()](boost::system::error_code ec) {
                      if (self->close_note_.empty()) {
                        self->close_note_ = "closed by the server (" + std::to_string(self->close_code_) + " " +
                                            self->close_reason_ + ")";
                      }
                      if (ec) return self->finish(ec);
                      // Otherwise a pending read ends with `closed` and finishes.
                      if (!self->reading_) self->finish(websocket::error::closed);
                    });
  }

  void arm_watchdog() {
    const auto period = std::max<std::chrono::milliseconds>(impl_.context.options.idle_timeout / 4,
                                                            std::chrono::milliseconds(50));
    watchdog_.expires_after(period);
    watchdog_.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
      if (ec || self->finished_) return;
      std::chrono::steady_clock::time_point since;
      if (self->connection_->output_over_limit_since(since) &&
          std::chrono::steady_clock::now() - since > self->impl_.context.options.idle_timeout) {
        self->close_note_ = "dropped: its unsent answers stayed over the output limit for the idle timeout";
        self->force_close_now();
        return;
      }
      self->arm_watchdog();
    });
  }

  void force_close_now() {
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).socket().close(ignored);
    if (!connection_) return;
    if (!reading_ && !writing_) finish(asio::error::operation_aborted);
  }

  void fail_before_upgrade(const std::string& why) {
    (void)why;  // a port scan or a dropped handshake: not worth a line each
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  void finish(boost::system::error_code ec) {
    if (finished_) return;
    finished_ = true;
    watchdog_.cancel();
    std::string why = close_note_;
    if (why.empty()) {
      if (ec == websocket::error::closed) {
        why = "closed by the client (" + std::to_string(ws_.reason().code) + ")";
      } else if (ec == websocket::error::message_too_big) {
        why = "closed: a message over max_message_bytes (1009)";
      } else if (ec == beast::error::timeout) {
        why = "closed: idle timeout";
      } else if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated) {
        why = "the client went away (" + ec.message() + ")";
      } else {
        why = "closed: " + ec.message();
      }
    }
    if (connection_) {
      impl_.context.log("connection " + std::to_string(connection_->id()) + ": " + why);
      connection_->on_closed();
      impl_.context.connections_open.fetch_sub(1);
    }
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  Server::Impl& impl_;
  websocket::stream<Next> ws_;
  asio::steady_timer watchdog_;
  std::uint64_t session_id_ = 0;
  std::string peer_;
  beast::flat_buffer http_buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::shared_ptr<Connection> connection_;
  protocol::OutMessage sending_;
  std::vector<asio::const_buffer> buffers_;
  std::vector<std::span<const std::byte>> spans_;
  bool upgraded_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool shutting_down_ = false;
  std::uint16_t close_code_ = 0;
  std::string close_reason_;
  std::string close_note_;
};

}  // namespace

Server::Impl::Impl(DataStore& store, ServerOptions options) : context(store, std::move(options)) {
  const ServerOptions& o = context.options;
  if (!is_loopback_host(o.host) && o.token.empty()) {
    throw std::invalid_argument("refusing to listen on " + o.host +
                                ", which is not a loopback address, without a token (docs/security.md)");
  }
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    throw std::invalid_argument("TLS needs both a certificate and a key file");
  }
  if (o.max_message_bytes < 1024 || o.max_in_flight == 0 || o.max_connections == 0 || o.stream_chunk_bytes == 0 ||
      o.stream_chunk_bytes + 64 > o.max_message_bytes || o.idle_timeout.count() <= 0) {
    throw std::invalid_argument(
        "invalid limits: max_message_bytes must be at least 1024 and above stream_chunk_bytes + 64, the others "
        "positive");
  }
  if (!o.tls_cert_file.empty()) {
    tls = true;
    ssl = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    ssl->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    try {
      ssl->use_certificate_chain_file(o.tls_cert_file);
      ssl->use_private_key_file(o.tls_key_file, asio::ssl::context::pem);
    } catch (const boost::system::system_error& error) {
      throw std::invalid_argument("cannot load the TLS certificate or key: " + std::string(error.what()));
    }
  }
  host = o.host == "localhost" ? "127.0.0.1" : o.host;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) throw std::invalid_argument("not an IP address: " + o.host);
  const tcp::endpoint endpoint(address, o.port);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  port = acceptor.local_endpoint().port();
  if (o.resp_port) {
    resp = std::make_unique<server::RespListener>(context, ioc, ssl.get(), host, *o.resp_port);
    if (!o.cluster_node_id.empty()) resp->shared().cluster.set_my_id(o.cluster_node_id);
    if (!o.cluster_topology.empty()) {
      if (!o.cluster_enabled) throw std::invalid_argument("a cluster topology needs cluster mode");
      std::string error;
      auto topology = server::parse_topology(o.cluster_topology, true, error);
      if (!topology) throw std::invalid_argument("the cluster topology: " + error);
      resp->shared().cluster.install(std::move(*topology), true);
    }
  } else if (o.cluster_enabled) {
    throw std::invalid_argument("cluster mode needs the RESP port");
  }
}

Server::Impl::~Impl() { stop(); }

void Server::Impl::start() {
  do_accept();
  const unsigned n = context.options.io_threads != 0 ? context.options.io_threads
                                                     : std::max(1u, std::thread::hardware_concurrency());
  if (resp) resp->start(n);
  for (unsigned i = 0; i < n; ++i) threads.emplace_back([this] { ioc.run(); });
}

void Server::Impl::do_accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopping.load()) return;
    if (!ec) {
      // Connections still in their HTTP handshake are bounded too, so that a flood
      // of idle sockets cannot use up the descriptors.
      if (tcp_sessions.fetch_add(1) >= 2 * context.options.max_connections + 16) {
        tcp_sessions.fetch_sub(1);
        context.connections_refused.fetch_add(1);
        boost::system::error_code ignored;
        socket.close(ignored);
      } else if (tls) {
        std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(*this, std::move(socket), *ssl)->start();
      } else {
        std::make_shared<Session<beast::tcp_stream>>(*this, std::move(socket))->start();
      }
    }
    do_accept();
  });
}

void Server::Impl::stop() {
  {
    std::unique_lock lock(stop_mutex);
    if (stop_started) {
      stopped_changed.wait(lock, [&] { return stopped; });
      return;
    }
    stop_started = true;
  }
  stopping.store(true);
  asio::post(acceptor.get_executor(), [this] {
    boost::system::error_code ignored;
    acceptor.close(ignored);
  });
  sessions.begin_shutdown_all();
  if (resp) resp->begin_shutdown();
  const auto deadline = std::chrono::steady_clock::now() + context.options.shutdown_grace;
  sessions.wait_until_empty(deadline);
  if (resp) resp->wait_until_closed(deadline);
  sessions.force_close_all();
  if (resp) {
    resp->force_close();
    resp->wait_until_closed(std::chrono::steady_clock::now() + std::chrono::seconds(2));
  }
  {
    // Write streams end once their connections are gone (they are aborted).
    std::unique_lock lock(context.streams_mutex);
    context.streams_done.wait_for(lock, context.options.shutdown_grace,
                                  [&] { return context.write_streams_open.load() == 0; });
  }
  sessions.wait_until_empty(std::chrono::steady_clock::now() + std::chrono::seconds(2));
  context.pool.stop();  // finishes the blocking jobs already queued
  ioc.stop();
  for (auto& thread : threads) {
    if (thread.joinable()) thread.join();
  }
  if (resp) {
    resp->stop_loops();
    resp->release_acceptor();
  }
  {
    std::lock_guard lock(stop_mutex);
    stopped = true;
  }
  stopped_changed.notify_all();
}

Server::Server(DataStore& store, ServerOptions options) : impl_(std::make_unique<Impl>(store, std::move(options))) {
  impl_->start();
}

Server::~Server() { stop(); }

const std::string& Server::host() const noexcept { return impl_->host; }
std::uint16_t Server::port() const noexcept { return impl_->port; }

std::string Server::url() const {
  const bool v6 = impl_->host.find(':') != std::string::npos;
  return std::string(impl_->tls ? "wss://" : "ws://") + (v6 ? "[" + impl_->host + "]" : impl_->host) + ":" +
         std::to_string(impl_->port) + "/ws";
}

std::uint16_t Server::resp_port() const noexcept { return impl_->resp ? impl_->resp->port() : 0; }

std::string Server::resp_url() const {
  if (!impl_->resp) return {};
  const bool v6 = impl_->host.find(':') != std::string::npos;
  return std::string(impl_->tls ? "rediss://" : "redis://") + (v6 ? "[" + impl_->host + "]" : impl_->host) + ":" +
         std::to_string(impl_->resp->port());
}

void Server::stop() { impl_->stop(); }

void Server::wait() {
  std::unique_lock lock(impl_->stop_mutex);
  impl_->stopped_changed.wait(lock, [&] { return impl_->stopped; });
}

ServerCounters Server::counters() const {
  const ServerContext& c = impl_->context;
  return {c.connections_accepted.load(), c.connections_refused.load(), c.connections_open.load(), c.requests.load(),
          c.auth_failures.load()};
}

}  // namespace simd_r_drive::net

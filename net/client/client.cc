// simd_r_drive::net::Client over Boost.Beast. One I/O thread per client runs its
// io_context and owns the connection: requests from any thread are posted to it,
// written coalesced (requests that arrive while a write is in flight go out together
// in the next message), and matched to their answers by id.
#include <simd_r_drive/net/client.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <simd_r_drive/hashing.h>

#include "protocol/codec.h"

namespace simd_r_drive::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using protocol::Bytes;
using protocol::Response;

std::string_view to_string(Fault fault) noexcept {
  switch (fault) {
    case Fault::kServerEngine: return "server engine";
    case Fault::kServerProtocol: return "server";
    case Fault::kRequest: return "request";
    case Fault::kNetwork: return "network";
  }
  return "unknown";
}

namespace {

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;
};

Url parse_url(const std::string& url) {
  Url out;
  std::string_view rest(url);
  if (rest.starts_with("ws://")) {
    rest.remove_prefix(5);
  } else if (rest.starts_with("wss://")) {
    out.tls = true;
    rest.remove_prefix(6);
  } else {
    throw ClientError(ErrorCode::kInvalidArgument, Fault::kRequest, "invalid_argument",
                      "not a ws:// or wss:// URL: " + url);
  }
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  out.target = slash == std::string_view::npos ? "/ws" : std::string(rest.substr(slash));
  if (authority.starts_with("[")) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) throw ClientError(ErrorCode::kInvalidArgument, Fault::kRequest, "invalid_argument", "bad IPv6 host in " + url);
    out.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (authority.starts_with(":")) out.port = std::string(authority.substr(1));
  } else {
    const std::size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) out.port = std::string(authority.substr(colon + 1));
  }
  if (out.port.empty()) out.port = out.tls ? "443" : "80";
  if (out.host.empty()) throw ClientError(ErrorCode::kInvalidArgument, Fault::kRequest, "invalid_argument", "no host in " + url);
  return out;
}

std::exception_ptr server_error(std::string_view code, std::string_view message) {
  const std::string text(message);
  const std::string name(code);
  for (ErrorCode engine : {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kCorruption, ErrorCode::kIo,
                           ErrorCode::kLocked}) {
    if (simd_r_drive::to_string(engine) == code) {
      return std::make_exception_ptr(ClientError(engine, Fault::kServerEngine, name, text));
    }
  }
  if (code == protocol::code::kBusy || code == protocol::code::kShuttingDown) {
    return std::make_exception_ptr(ClientError(ErrorCode::kIo, Fault::kServerProtocol, name, text));
  }
  if (code == protocol::code::kStreamNotFound || code == protocol::code::kCursorExpired) {
    return std::make_exception_ptr(ClientError(ErrorCode::kNotFound, Fault::kRequest, name, text));
  }
  return std::make_exception_ptr(ClientError(ErrorCode::kInvalidArgument, Fault::kRequest, name, text));
}

std::exception_ptr network_error(std::string code, const std::string& message) {
  return std::make_exception_ptr(NetworkError(std::move(code), message));
}

[[noreturn]] void protocol_violation(const std::string& what) {
  throw ClientError(ErrorCode::kIo, Fault::kServerProtocol, "malformed", "the server's answer is malformed: " + what);
}

// A received message, and the dynamic buffer Beast reads it through.
struct Incoming {
  explicit Incoming(std::size_t max) : buffer(bytes, max) {}
  std::vector<std::byte> bytes;
  asio::dynamic_vector_buffer<std::byte, std::allocator<std::byte>> buffer;
};

// Runs with the answer (response set) or the failure (error set), on the I/O thread.
using Callback = std::function<void(const Response* response, std::exception_ptr error)>;

std::optional<EntryHandle> handle_from(mp::Reader& reader, std::uint64_t key_hash) {
  if (reader.read_nil()) return std::nullopt;
  Bytes bytes;
  if (!reader.read_bin(bytes)) protocol_violation("a value is not bin or nil");
  return EntryHandle::from_owned_bytes(ByteView(bytes.data(), bytes.size()), key_hash);
}

std::uint64_t read_uint(const Response& response) {
  mp::Reader reader(response.result);
  std::uint64_t value = 0;
  if (!reader.read_uint(value)) protocol_violation("expected an unsigned integer");
  return value;
}

bool read_bool(const Response& response) {
  mp::Reader reader(response.result);
  bool value = false;
  if (!reader.read_bool(value)) protocol_violation("expected a bool");
  return value;
}

// Reads a map of unsigned integers (and bools and strs) by name.
template <class Visit>
void read_fields(mp::Reader& reader, Visit&& visit) {
  std::uint32_t count = 0;
  if (!reader.read_map(count)) protocol_violation("expected a map");
  for (std::uint32_t i = 0; i < count; ++i) {
    std::string_view name;
    if (!reader.read_str(name)) protocol_violation("a map key is not a str");
    if (!visit(name, reader) && !reader.skip()) protocol_violation("truncated map");
  }
}

void put_key(mp::Writer& w, std::string_view name, ByteView bytes) {
  w.str(name);
  w.bin(Bytes(bytes.data(), bytes.size()));
}

}  // namespace

class Client::Impl {
 public:
  Impl(const std::string& url, ClientOptions options)
      : url_(parse_url(url)), options_(std::move(options)), work_(asio::make_work_guard(ioc_)), sweep_(ioc_),
        reconnect_timer_(ioc_) {
    if (url_.tls) {
      ssl_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
      if (options_.tls_verify) {
        ssl_->set_verify_mode(asio::ssl::verify_peer);
        if (!options_.tls_ca_file.empty()) ssl_->load_verify_file(options_.tls_ca_file);
        else ssl_->set_default_verify_paths();
      } else {
        ssl_->set_verify_mode(asio::ssl::verify_none);
      }
    }
    thread_ = std::thread([this] { ioc_.run(); });
    std::promise<void> ready;
    auto connected = ready.get_future();
    asio::post(ioc_, [this, &ready] {
      arm_sweep();
      connect([&ready](std::exception_ptr error) {
        if (error) ready.set_exception(error);
        else ready.set_value();
      });
    });
    try {
      connected.get();
    } catch (...) {
      shutdown();
      throw;
    }
  }

  ~Impl() { shutdown(); }

  void shutdown() {
    if (!thread_.joinable()) return;
    asio::post(ioc_, [this] {
      closing_ = true;
      reconnect_timer_.cancel();
      sweep_.cancel();
      fail_all(network_error("network", "the client was closed"));
      if (open_) {
        open_ = false;
        with_stream([&](auto& ws) {
          ws.async_close(websocket::close_code::normal, [this](boost::system::error_code) { drop_stream(); });
        });
      } else {
        drop_stream();
      }
      work_.reset();
    });
    // The close handshake is bounded: a server that does not answer is cut off.
    if (thread_.get_id() != std::this_thread::get_id()) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      while (!ioc_.stopped() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      ioc_.stop();
      thread_.join();
    } else {
      thread_.detach();
    }
  }

  std::uint32_t next_id() noexcept {
    // Never 0 (some clients use 0 for "none"), wraps below 2^32.
    std::uint32_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    if (id == 0) id = next_id_.fetch_add(1, std::memory_order_relaxed);
    return id;
  }

  // Sends encoded requests (one or more, in one message) with a callback per id.
  void submit(std::vector<std::byte> bytes, std::vector<std::pair<std::uint32_t, Callback>> calls, bool idempotent) {
    asio::post(ioc_, [this, bytes = std::move(bytes), calls = std::move(calls), idempotent]() mutable {
      const auto deadline = std::chrono::steady_clock::now() + options_.request_timeout;
      if (closing_) {
        for (auto& [id, callback] : calls) callback(nullptr, network_error("network", "the client is closed"));
        return;
      }
      for (auto& [id, callback] : calls) {
        pending_[id] = Pending{std::move(callback), deadline, idempotent, {}};
      }
      if (idempotent && options_.reconnect.retry_idempotent && calls.size() == 1) {
        pending_[calls.front().first].request = bytes;
      }
      enqueue(std::move(bytes));
      if (!open_ && !connecting_) start_reconnect();
    });
  }

  template <class Result, class Encode, class Parse>
  std::future<Result> call_async(std::string_view method, Encode&& encode, Parse&& parse, bool idempotent) {
    auto promise = std::make_shared<std::promise<Result>>();
    auto future = promise->get_future();
    call_with_callback<Result>(method, std::forward<Encode>(encode), std::forward<Parse>(parse), idempotent,
                               [promise](std::optional<Result> value, std::exception_ptr error) {
                                 if (error) promise->set_exception(error);
                                 else promise->set_value(std::move(*value));
                               });
    return future;
  }

  template <class Result, class Encode, class Parse, class Done>
  void call_with_callback(std::string_view method, Encode&& encode, Parse&& parse, bool idempotent, Done&& done) {
    const std::uint32_t id = next_id();
    std::vector<std::byte> bytes;
    bytes.reserve(64);
    mp::Writer writer(bytes);
    protocol::begin_request(writer, id, method);
    encode(writer);
    std::vector<std::pair<std::uint32_t, Callback>> calls;
    calls.emplace_back(id, [parse = std::forward<Parse>(parse), done = std::forward<Done>(done)](
                               const Response* response, std::exception_ptr error) mutable {
      if (!error && !response->ok) error = server_error(response->error_code, response->error_message);
      if (error) return done(std::nullopt, error);
      std::optional<Result> value;
      try {
        value.emplace(parse(*response));
      } catch (...) {
        return done(std::nullopt, std::current_exception());
      }
      done(std::move(value), nullptr);
    });
    submit(std::move(bytes), std::move(calls), idempotent);
  }

  template <class Result, class Encode, class Parse>
  Result call(std::string_view method, Encode&& encode, Parse&& parse, bool idempotent) {
    if (thread_.get_id() == std::this_thread::get_id()) {
      throw ClientError(ErrorCode::kInvalidArgument, Fault::kRequest, "invalid_argument",
                        "a blocking call from a callback would wait for itself; use the *_async forms there");
    }
    auto future = call_async<Result>(method, std::forward<Encode>(encode), std::forward<Parse>(parse), idempotent);
    // A round trip on loopback takes tens of microseconds: yielding for a while before
    // sleeping on the future saves the wake-up of this thread when the answer comes.
    const auto spin_until = std::chrono::steady_clock::now() + options_.spin_before_blocking;
    while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready &&
           std::chrono::steady_clock::now() < spin_until) {
      std::this_thread::yield();
    }
    return future.get();
  }

  const ServerInfo& info() const noexcept { return info_; }
  const ClientOptions& options() const noexcept { return options_; }

 private:
  struct Pending {
    Callback callback;
    std::chrono::steady_clock::time_point deadline;
    bool idempotent = false;
    std::vector<std::byte> request;  // kept to send again after a reconnect (retry_idempotent)
  };

  template <class F>
  void with_stream(F&& visit) {
    if (plain_) visit(*plain_);
    else if (secure_) visit(*secure_);
  }

  // Closes the socket and keeps the stream object until the client goes: operations
  // still pending on it complete (aborted) later and must find it alive.
  void drop_stream() {
    boost::system::error_code ignored;
    if (plain_) {
      beast::get_lowest_layer(*plain_).socket().close(ignored);
      retired_plain_.push_back(std::move(plain_));
    }
    if (secure_) {
      beast::get_lowest_layer(*secure_).socket().close(ignored);
      retired_secure_.push_back(std::move(secure_));
    }
  }

  // ---- connecting (I/O thread) ----
  void connect(std::function<void(std::exception_ptr)> done) {
    connecting_ = true;
    connect_done_ = std::move(done);
    ++generation_;
    const std::uint64_t generation = generation_;
    resolver_ = std::make_unique<tcp::resolver>(ioc_);
    resolver_->async_resolve(url_.host, url_.port,
                             [this, generation](boost::system::error_code ec, tcp::resolver::results_type results) {
                               if (generation != generation_) return;
                               if (ec) return connect_failed("cannot resolve " + url_.host + ": " + ec.message());
                               on_resolved(results);
                             });
  }

  void on_resolved(const tcp::resolver::results_type& results) {
    const std::uint64_t generation = generation_;
    auto on_tcp = [this, generation](boost::system::error_code ec, const tcp::endpoint&) {
      if (generation != generation_) return;
      if (ec) return connect_failed("cannot connect to " + url_.host + ":" + url_.port + ": " + ec.message());
      with_stream([&](auto& ws) {
        beast::get_lowest_layer(ws).socket().set_option(tcp::no_delay(true));
      });
      if (secure_) {
        if (!SSL_set_tlsext_host_name(secure_->next_layer().native_handle(), url_.host.c_str())) {
          return connect_failed("cannot set the TLS server name");
        }
        if (options_.tls_verify) secure_->next_layer().set_verify_callback(asio::ssl::host_name_verification(url_.host));
        secure_->next_layer().async_handshake(asio::ssl::stream_base::client,
                                              [this, generation](boost::system::error_code error) {
                                                if (generation != generation_) return;
                                                if (error) return connect_failed("TLS handshake: " + error.message());
                                                websocket_handshake();
                                              });
      } else {
        websocket_handshake();
      }
    };
    if (url_.tls) {
      secure_ = std::make_unique<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>(ioc_, *ssl_);
      beast::get_lowest_layer(*secure_).expires_after(options_.connect_timeout);
      beast::get_lowest_layer(*secure_).async_connect(results, on_tcp);
    } else {
      plain_ = std::make_unique<websocket::stream<beast::tcp_stream>>(ioc_);
      beast::get_lowest_layer(*plain_).expires_after(options_.connect_timeout);
      beast::get_lowest_layer(*plain_).async_connect(results, on_tcp);
    }
  }

  void websocket_handshake() {
    const std::uint64_t generation = generation_;
    with_stream([&](auto& ws) {
      ws.set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
        request.set(beast::http::field::user_agent, "simd-r-drive-cpp-client");
      }));
      ws.async_handshake(url_.host + ":" + url_.port, url_.target, [this, generation](boost::system::error_code ec) {
        if (generation != generation_) return;
        if (ec) return connect_failed("WebSocket handshake with " + url_.host + ":" + url_.port + url_.target + ": " + ec.message());
        with_stream([&](auto& stream) {
          beast::get_lowest_layer(stream).expires_never();
          websocket::stream_base::timeout timeout = websocket::stream_base::timeout::suggested(beast::role_type::client);
          timeout.idle_timeout = std::chrono::seconds(60);
          stream.set_option(timeout);
          stream.binary(true);
          stream.auto_fragment(false);
          stream.read_message_max(0);  // the server bounds what it sends
          // A client masks what it sends, through a buffer of this size: Beast's 4 KiB
          // default makes a 1 MiB value 256 writes.
          stream.write_buffer_bytes(256 * 1024);
        });
        send_hello();
      });
    });
  }

  void send_hello() {
    const std::uint32_t id = next_id();
    std::vector<std::byte> bytes;
    mp::Writer w(bytes);
    protocol::begin_request(w, id, "hello");
    w.map(options_.token.empty() ? 2 : 3);
    w.str("protocol");
    w.uint(protocol::kProtocolVersion);
    w.str("client");
    w.str(options_.client_name);
    if (!options_.token.empty()) {
      w.str("token");
      w.str(options_.token);
    }
    hello_id_ = id;
    start_read();
    write_now(std::move(bytes));
  }

  void on_hello(const Response& response) {
    if (!response.ok) {
      auto error = server_error(response.error_code, response.error_message);
      // A refused hello is not a network problem: no reconnecting.
      connect_refused_ = true;
      return connect_failed_with(error);
    }
    ServerInfo info;
    try {
      mp::Reader reader(response.result);
      read_fields(reader, [&](std::string_view name, mp::Reader& r) {
        if (name == "server") {
          std::string_view text;
          if (!r.read_str(text)) return false;
          info.server = std::string(text);
          return true;
        }
        if (name == "read_only") return r.read_bool(info.read_only);
        if (name == "methods") {
          std::uint32_t n = 0;
          if (!r.read_array(n)) return false;
          for (std::uint32_t i = 0; i < n; ++i) {
            std::string_view text;
            if (!r.read_str(text)) protocol_violation("a method name is not a str");
            info.methods.emplace_back(text);
          }
          return true;
        }
        if (name == "limits") {
          read_fields(r, [&](std::string_view limit, mp::Reader& lr) {
            if (limit == "max_message_bytes") return lr.read_uint(info.max_message_bytes);
            if (limit == "max_in_flight") return lr.read_uint(info.max_in_flight);
            if (limit == "max_batch_items") return lr.read_uint(info.max_batch_items);
            if (limit == "stream_chunk_bytes") return lr.read_uint(info.stream_chunk_bytes);
            if (limit == "idle_timeout_ms") return lr.read_uint(info.idle_timeout_ms);
            return false;
          });
          return true;
        }
        return false;
      });
    } catch (...) {
      return connect_failed_with(std::current_exception());
    }
    // What the first hello said stays (server_info() hands out a reference that other
    // threads read); a reconnect's hello only has to succeed.
    if (!ever_opened_) info_ = std::move(info);
    ever_opened_ = true;
    open_ = true;
    connecting_ = false;
    attempts_ = 0;
    if (auto done = std::move(connect_done_)) {
      connect_done_ = nullptr;
      done(nullptr);
    }
    flush();
  }

  void connect_failed(const std::string& why) { connect_failed_with(network_error("network", why)); }

  void connect_failed_with(std::exception_ptr error) {
    ++generation_;  // ignore whatever the abandoned attempt still reports
    drop_stream();
    open_ = false;
    connecting_ = false;
    if (connect_done_) {
      // The first connection, made by the constructor: it reports the failure itself.
      auto done = std::move(connect_done_);
      connect_done_ = nullptr;
      fail_all(error);
      done(error);
      return;
    }
    if (closing_) return;
    ++attempts_;
    const auto& policy = options_.reconnect;
    if (connect_refused_ || !policy.enabled || (policy.max_attempts != 0 && attempts_ >= policy.max_attempts)) {
      attempts_ = 0;
      connect_refused_ = false;
      fail_all(error);  // queued requests fail; the next request starts a new round
      return;
    }
    schedule_reconnect();
  }

  void start_reconnect() {
    if (closing_ || connecting_ || open_) return;
    if (!options_.reconnect.enabled && ever_connected_) {
      fail_all(network_error("network", "the connection was lost and reconnecting is off"));
      return;
    }
    connect(nullptr);
  }

  void schedule_reconnect() {
    connecting_ = true;
    auto backoff = options_.reconnect.initial_backoff * (1u << std::min(attempts_ - 1, 16u));
    backoff = std::min(backoff, options_.reconnect.max_backoff);
    reconnect_timer_.expires_after(backoff);
    reconnect_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || closing_) return;
      connecting_ = false;
      connect(nullptr);
    });
  }

  // The connection broke while open.
  void on_lost(const std::string& why) {
    if (!open_ && !connecting_) return;
    ++generation_;
    open_ = false;
    writing_ = false;
    reading_ = false;
    drop_stream();
    // Requests in flight fail, except reads kept for a retry.
    std::vector<std::vector<std::byte>> retry;
    auto error = network_error("network", "the connection was lost: " + why);
    std::vector<Callback> failed;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (!it->second.request.empty() && !closing_) {
        retry.push_back(it->second.request);
        ++it;
      } else {
        failed.push_back(std::move(it->second.callback));
        it = pending_.erase(it);
      }
    }
    queue_.clear();
    for (auto& bytes : retry) queue_.push_back(std::move(bytes));
    for (auto& callback : failed) callback(nullptr, error);
    if (closing_) return;
    if (options_.reconnect.enabled) {
      attempts_ = 1;
      schedule_reconnect();
    } else {
      fail_all(network_error("network", "the connection was lost (" + why + ") and reconnecting is off"));
    }
  }

  void fail_all(std::exception_ptr error) {
    queue_.clear();
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [id, entry] : pending) entry.callback(nullptr, error);
  }

  // ---- writing (I/O thread) ----
  void enqueue(std::vector<std::byte>&& bytes) {
    const std::size_t limit = info_.max_message_bytes == 0 ? (64u << 20) : info_.max_message_bytes;
    if (!queue_.empty() && queue_.back().size() + bytes.size() <= limit) {
      auto& back = queue_.back();
      back.insert(back.end(), bytes.begin(), bytes.end());
    } else {
      queue_.push_back(std::move(bytes));
    }
    flush();
  }

  void flush() {
    if (!open_ || writing_ || queue_.empty()) return;
    std::vector<std::byte> bytes = std::move(queue_.front());
    queue_.pop_front();
    write_now(std::move(bytes));
  }

  void write_now(std::vector<std::byte>&& bytes) {
    writing_ = true;
    sending_ = std::move(bytes);
    const std::uint64_t generation = generation_;
    with_stream([&](auto& ws) {
      ws.async_write(asio::buffer(sending_.data(), sending_.size()),
                     [this, generation](boost::system::error_code ec, std::size_t) {
                       if (generation != generation_) return;
                       writing_ = false;
                       if (ec) return on_lost(ec.message());
                       flush();
                     });
    });
  }

  // ---- reading (I/O thread) ----
  void start_read() {
    if (reading_) return;
    reading_ = true;
    const std::uint64_t generation = generation_;
    auto incoming = std::make_shared<Incoming>(std::numeric_limits<std::size_t>::max());
    with_stream([&](auto& ws) {
      ws.async_read(incoming->buffer, [this, generation, incoming](boost::system::error_code ec, std::size_t) {
        if (generation != generation_) return;
        reading_ = false;
        if (ec) {
          if (connecting_ && !open_) return connect_failed("connection closed during hello: " + ec.message());
          return on_lost(ec == websocket::error::closed ? "closed by the server" : ec.message());
        }
        incoming->bytes.resize(incoming->buffer.size());
        on_message(Bytes(incoming->bytes.data(), incoming->bytes.size()));
        if (generation == generation_) start_read();
      });
    });
  }

  void on_message(Bytes message) {
    values_.clear();
    if (!protocol::split_values(message, values_)) return on_lost("the server sent a message that is not MessagePack");
    Response response;
    for (Bytes value : values_) {
      if (!protocol::decode_response(value, response)) return on_lost("the server sent a malformed response");
      if (response.is_notice) continue;  // shutting_down and error notices: the close follows
      if (response.id == hello_id_ && hello_id_ != 0) {
        hello_id_ = 0;
        ever_connected_ = true;
        on_hello(response);
        continue;
      }
      auto it = pending_.find(response.id);
      if (it == pending_.end()) continue;  // timed out already
      Callback callback = std::move(it->second.callback);
      pending_.erase(it);
      callback(&response, nullptr);
    }
  }

  // ---- timeouts (I/O thread) ----
  void arm_sweep() {
    const auto period = std::clamp<std::chrono::milliseconds>(options_.request_timeout / 10,
                                                              std::chrono::milliseconds(10), std::chrono::seconds(1));
    sweep_.expires_after(period);
    sweep_.async_wait([this](boost::system::error_code ec) {
      if (ec || closing_) return;
      const auto now = std::chrono::steady_clock::now();
      std::vector<Callback> expired;
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.deadline <= now) {
          expired.push_back(std::move(it->second.callback));
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
      for (auto& callback : expired) {
        callback(nullptr, network_error("timeout", "no answer within the request timeout"));
      }
      arm_sweep();
    });
  }

  Url url_;
  ClientOptions options_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::unique_ptr<asio::ssl::context> ssl_;
  std::unique_ptr<tcp::resolver> resolver_;
  std::unique_ptr<websocket::stream<beast::tcp_stream>> plain_;
  std::unique_ptr<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> secure_;
  std::vector<std::unique_ptr<websocket::stream<beast::tcp_stream>>> retired_plain_;
  std::vector<std::unique_ptr<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>> retired_secure_;
  asio::steady_timer sweep_;
  asio::steady_timer reconnect_timer_;
  std::thread thread_;
  std::atomic<std::uint32_t> next_id_{1};

  // I/O thread only.
  std::uint64_t generation_ = 0;  // bumped per connection attempt: stale handlers return
  bool open_ = false;
  bool connecting_ = false;
  bool closing_ = false;
  bool writing_ = false;
  bool reading_ = false;
  bool ever_connected_ = false;
  bool connect_refused_ = false;
  unsigned attempts_ = 0;
  std::uint32_t hello_id_ = 0;
  std::function<void(std::exception_ptr)> connect_done_;
  std::deque<std::vector<std::byte>> queue_;
  std::vector<std::byte> sending_;
  std::unordered_map<std::uint32_t, Pending> pending_;
  std::vector<Bytes> values_;

  bool ever_opened_ = false;
  ServerInfo info_;  // written once, by the first hello, before the constructor returns
};

// ---- Client ----------------------------------------------------------------------------

namespace {

struct NoParams {
  void operator()(mp::Writer& w) const { w.nil(); }
};

auto key_params(ByteView key) {
  return [key](mp::Writer& w) {
    w.map(1);
    put_key(w, "key", key);
  };
}

auto hash_params(std::uint64_t key_hash) {
  return [key_hash](mp::Writer& w) {
    w.map(1);
    w.str("key_hash");
    w.uint(key_hash);
  };
}

auto parse_value(std::uint64_t key_hash) {
  return [key_hash](const Response& response) {
    mp::Reader reader(response.result);
    return handle_from(reader, key_hash);
  };
}

auto parse_values(std::vector<std::uint64_t> key_hashes) {
  return [key_hashes = std::move(key_hashes)](const Response& response) {
    mp::Reader reader(response.result);
    std::uint32_t n = 0;
    if (!reader.read_array(n) || n != key_hashes.size()) protocol_violation("expected one value per key");
    std::vector<std::optional<EntryHandle>> out;
    out.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) out.push_back(handle_from(reader, key_hashes[i]));
    return out;
  };
}

constexpr auto kParseUint = [](const Response& response) { return read_uint(response); };
constexpr auto kParseBool = [](const Response& response) { return read_bool(response); };
constexpr auto kParseNothing = [](const Response&) { return true; };

}  // namespace

Client::Client(const std::string& url, ClientOptions options) : impl_(std::make_unique<Impl>(url, std::move(options))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

void Client::close() { impl_.reset(); }

const ServerInfo& Client::server_info() const noexcept { return impl_->info(); }

void Client::ping() {
  impl_->call<bool>("ping", NoParams{}, kParseNothing, true);
}

std::uint64_t Client::write(ByteView key, ByteView payload) {
  return impl_->call<std::uint64_t>(
      "write",
      [&](mp::Writer& w) {
        w.map(2);
        put_key(w, "key", key);
        put_key(w, "value", payload);
      },
      kParseUint, false);
}

std::uint64_t Client::write_with_key_hash(std::uint64_t key_hash, ByteView payload) {
  return impl_->call<std::uint64_t>(
      "write_with_key_hash",
      [&](mp::Writer& w) {
        w.map(2);
        w.str("key_hash");
        w.uint(key_hash);
        put_key(w, "value", payload);
      },
      kParseUint, false);
}

std::uint64_t Client::batch_write_views(std::span<const std::pair<ByteView, ByteView>> items) {
  return impl_->call<std::uint64_t>(
      "batch_write",
      [&](mp::Writer& w) {
        w.map(1);
        w.str("items");
        w.array(static_cast<std::uint32_t>(items.size()));
        for (const auto& [key, payload] : items) {
          w.array(2);
          w.bin(Bytes(key.data(), key.size()));
          w.bin(Bytes(payload.data(), payload.size()));
        }
      },
      kParseUint, false);
}

std::uint64_t Client::batch_write_with_key_hashes(std::span<const HashedPayload> items, bool allow_null_bytes) {
  return impl_->call<std::uint64_t>(
      "batch_write_with_key_hashes",
      [&](mp::Writer& w) {
        w.map(2);
        w.str("items");
        w.array(static_cast<std::uint32_t>(items.size()));
        for (const auto& item : items) {
          w.array(2);
          w.uint(item.key_hash);
          w.bin(Bytes(item.payload.data(), item.payload.size()));
        }
        w.str("allow_null_bytes");
        w.boolean(allow_null_bytes);
      },
      kParseUint, false);
}

namespace {

// Sends a value in chunks: begin, chunks with a window of them in flight, end.
std::uint64_t stream_out(Client::Impl& impl, const std::function<void(mp::Writer&)>& begin_params,
                         const StreamReader& source) {
  const auto& options = impl.options();
  std::uint64_t server_chunk = impl.info().stream_chunk_bytes == 0 ? options.stream_chunk_bytes : impl.info().stream_chunk_bytes;
  const std::size_t chunk = std::max<std::size_t>(1, std::min<std::uint64_t>(options.stream_chunk_bytes, server_chunk));
  const std::uint64_t stream = impl.call<std::uint64_t>(
      "write_stream_begin", begin_params,
      [](const Response& response) {
        mp::Reader reader(response.result);
        std::uint64_t id = 0;
        bool found = false;
        read_fields(reader, [&](std::string_view name, mp::Reader& r) {
          if (name != "stream") return false;
          found = r.read_uint(id);
          return found;
        });
        if (!found) protocol_violation("write_stream_begin gave no stream id");
        return id;
      },
      false);
  std::deque<std::future<bool>> window;
  std::vector<std::byte> buffer(chunk);
  auto send_stream_request = [&](std::string_view method) {
    return impl.call<std::uint64_t>(
        method,
        [&](mp::Writer& w) {
          w.map(1);
          w.str("stream");
          w.uint(stream);
        },
        [](const Response& response) {
          mp::Reader reader(response.result);
          std::uint64_t tail = 0;
          if (reader.read_uint(tail)) return tail;
          return std::uint64_t{0};
        },
        false);
  };
  try {
    for (;;) {
      // Fill a whole chunk (the source may hand out less at a time).
      std::size_t filled = 0;
      while (filled < chunk) {
        const std::size_t n = source(std::span<std::byte>(buffer.data() + filled, chunk - filled));
        if (n == 0) break;
        filled += n;
      }
      if (filled == 0) break;
      if (window.size() >= std::max<std::size_t>(1, options.stream_window)) {
        window.front().get();
        window.pop_front();
      }
      const Bytes data(buffer.data(), filled);
      window.push_back(impl.call_async<bool>(
          "write_stream_chunk",
          [&](mp::Writer& w) {
            w.map(2);
            w.str("stream");
            w.uint(stream);
            w.str("data");
            w.bin(data);
          },
          kParseNothing, false));
      if (filled < chunk) break;
    }
    while (!window.empty()) {
      window.front().get();
      window.pop_front();
    }
  } catch (...) {
    // Leave nothing half written: abort (best effort; a lost connection aborts too).
    for (auto& pending : window) {
      try {
        pending.wait();
      } catch (...) {
      }
    }
    try {
      send_stream_request("write_stream_abort");
    } catch (...) {
    }
    throw;
  }
  return send_stream_request("write_stream_end");
}

// Reads a value in chunks into `sink`, with a window of chunk requests in flight.
std::optional<std::uint64_t> stream_in(Client::Impl& impl, const std::function<void(mp::Writer&)>& begin_params,
                                       const std::function<void(std::span<const std::byte>)>& sink) {
  const auto& options = impl.options();
  struct Begun {
    std::uint64_t stream = 0;
    std::uint64_t size = 0;
    bool found = false;
  };
  const Begun begun = impl.call<Begun>(
      "read_stream_begin", begin_params,
      [](const Response& response) {
        Begun out;
        mp::Reader reader(response.result);
        if (reader.read_nil()) return out;
        out.found = true;
        read_fields(reader, [&](std::string_view name, mp::Reader& r) {
          if (name == "stream") return r.read_uint(out.stream);
          if (name == "size") return r.read_uint(out.size);
          return false;
        });
        return out;
      },
      true);
  if (!begun.found) return std::nullopt;
  std::uint64_t server_chunk = impl.info().stream_chunk_bytes == 0 ? options.stream_chunk_bytes : impl.info().stream_chunk_bytes;
  const std::size_t chunk = std::max<std::size_t>(1, std::min<std::uint64_t>(options.stream_chunk_bytes, server_chunk));
  using Chunk = std::vector<std::byte>;
  std::deque<std::future<Chunk>> window;
  std::uint64_t requested = 0;
  std::uint64_t received = 0;
  auto request_chunk = [&] {
    window.push_back(impl.call_async<Chunk>(
        "read_stream_chunk",
        [&](mp::Writer& w) {
          w.map(2);
          w.str("stream");
          w.uint(begun.stream);
          w.str("max_bytes");
          w.uint(chunk);
        },
        [](const Response& response) {
          mp::Reader reader(response.result);
          Bytes bytes;
          if (!reader.read_bin(bytes)) protocol_violation("a read_stream_chunk answer is not bin");
          return Chunk(bytes.begin(), bytes.end());
        },
        false));
    requested += chunk;
  };
  try {
    while (requested < begun.size && window.size() < std::max<std::size_t>(1, options.stream_window)) request_chunk();
    while (!window.empty()) {
      Chunk bytes = window.front().get();
      window.pop_front();
      if (bytes.empty()) break;
      received += bytes.size();
      sink(std::span<const std::byte>(bytes.data(), bytes.size()));
      if (requested < begun.size) request_chunk();
    }
  } catch (...) {
    for (auto& pending : window) {
      try {
        pending.wait();
      } catch (...) {
      }
    }
    try {
      impl.call<bool>(
          "read_stream_close",
          [&](mp::Writer& w) {
            w.map(1);
            w.str("stream");
            w.uint(begun.stream);
          },
          kParseNothing, false);
    } catch (...) {
    }
    throw;
  }
  // All bytes are here: release the stream (the server closes it itself only after
  // handing out the empty end chunk).
  try {
    impl.call<bool>(
        "read_stream_close",
        [&](mp::Writer& w) {
          w.map(1);
          w.str("stream");
          w.uint(begun.stream);
        },
        kParseNothing, false);
  } catch (const ClientError& error) {
    if (error.protocol_code() != protocol::code::kStreamNotFound) throw;
  }
  if (received != begun.size) {
    throw ClientError(ErrorCode::kIo, Fault::kServerProtocol, "malformed",
                      "the read stream ended after " + std::to_string(received) + " of " + std::to_string(begun.size) + " bytes");
  }
  return begun.size;
}

}  // namespace

std::uint64_t Client::write_stream(ByteView key, const StreamReader& source) {
  return stream_out(*impl_, [&](mp::Writer& w) { key_params(key)(w); }, source);
}

std::uint64_t Client::write_stream(ByteView key, std::istream& source) {
  return write_stream(key, [&](std::span<std::byte> buffer) -> std::size_t {
    source.read(reinterpret_cast<char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
    if (source.bad()) throw Error(ErrorCode::kIo, "reading the stream's source failed");
    return static_cast<std::size_t>(source.gcount());
  });
}

std::uint64_t Client::write_stream_with_key_hash(std::uint64_t key_hash, const StreamReader& source) {
  return stream_out(*impl_, [&](mp::Writer& w) { hash_params(key_hash)(w); }, source);
}

std::optional<std::uint64_t> Client::read_stream(ByteView key, const std::function<void(std::span<const std::byte>)>& sink) {
  return stream_in(*impl_, [&](mp::Writer& w) { key_params(key)(w); }, sink);
}

std::optional<std::uint64_t> Client::read_stream_with_key_hash(std::uint64_t key_hash,
                                                               const std::function<void(std::span<const std::byte>)>& sink) {
  return stream_in(*impl_, [&](mp::Writer& w) { hash_params(key_hash)(w); }, sink);
}

std::optional<EntryHandle> Client::read(ByteView key) {
  return impl_->call<std::optional<EntryHandle>>("read", key_params(key), parse_value(DataStore::hash_key(key)), true);
}

std::optional<EntryHandle> Client::read_with_key_hash(std::uint64_t key_hash) {
  return impl_->call<std::optional<EntryHandle>>("read_with_key_hash", hash_params(key_hash), parse_value(key_hash), true);
}

std::vector<std::optional<EntryHandle>> Client::batch_read_views(std::span<const ByteView> keys) {
  std::vector<std::uint64_t> hashes;
  hashes.reserve(keys.size());
  for (const auto& key : keys) hashes.push_back(DataStore::hash_key(key));
  return impl_->call<std::vector<std::optional<EntryHandle>>>(
      "batch_read",
      [&](mp::Writer& w) {
        w.map(1);
        w.str("keys");
        w.array(static_cast<std::uint32_t>(keys.size()));
        for (const auto& key : keys) w.bin(Bytes(key.data(), key.size()));
      },
      parse_values(std::move(hashes)), true);
}

std::vector<std::optional<EntryHandle>> Client::batch_read_hashed_keys(std::span<const std::uint64_t> key_hashes) {
  return impl_->call<std::vector<std::optional<EntryHandle>>>(
      "batch_read_hashed_keys",
      [&](mp::Writer& w) {
        w.map(1);
        w.str("key_hashes");
        w.array(static_cast<std::uint32_t>(key_hashes.size()));
        for (auto hash : key_hashes) w.uint(hash);
      },
      parse_values(std::vector<std::uint64_t>(key_hashes.begin(), key_hashes.end())), true);
}

std::vector<std::optional<EntryHandle>> Client::batch_read_hashed_keys(std::span<const std::uint64_t> key_hashes,
                                                                       std::span<const ByteView> keys) {
  if (keys.size() != key_hashes.size()) {
    throw ClientError(ErrorCode::kInvalidArgument, Fault::kRequest, "invalid_argument",
                      "batch_read_hashed_keys: the spans must be of equal length");
  }
  return impl_->call<std::vector<std::optional<EntryHandle>>>(
      "batch_read_hashed_keys",
      [&](mp::Writer& w) {
        w.map(2);
        w.str("key_hashes");
        w.array(static_cast<std::uint32_t>(key_hashes.size()));
        for (auto hash : key_hashes) w.uint(hash);
        w.str("keys");
        w.array(static_cast<std::uint32_t>(keys.size()));
        for (const auto& key : keys) w.bin(Bytes(key.data(), key.size()));
      },
      parse_values(std::vector<std::uint64_t>(key_hashes.begin(), key_hashes.end())), true);
}

std::optional<RecordMetadata> Client::read_metadata(ByteView key) {
  return impl_->call<std::optional<RecordMetadata>>(
      "read_metadata", key_params(key),
      [](const Response& response) -> std::optional<RecordMetadata> {
        mp::Reader reader(response.result);
        if (reader.read_nil()) return std::nullopt;
        RecordMetadata out;
        read_fields(reader, [&](std::string_view name, mp::Reader& r) {
          std::uint64_t value = 0;
          if (name == "key_hash") return r.read_uint(out.key_hash);
          if (name == "prev_offset") return r.read_uint(out.prev_offset);
          if (name == "checksum") {
            if (!r.read_uint(value)) return false;
            out.checksum = static_cast<std::uint32_t>(value);
            return true;
          }
          if (name == "payload_offset") return r.read_uint(out.payload_offset);
          if (name == "payload_size") return r.read_uint(out.payload_size);
          return false;
        });
        return out;
      },
      true);
}

bool Client::exists(ByteView key) { return impl_->call<bool>("exists", key_params(key), kParseBool, true); }

bool Client::exists_with_key_hash(std::uint64_t key_hash) {
  return impl_->call<bool>("exists_with_key_hash", hash_params(key_hash), kParseBool, true);
}

std::uint64_t Client::remove(ByteView key) { return impl_->call<std::uint64_t>("delete", key_params(key), kParseUint, false); }

std::uint64_t Client::batch_remove_views(std::span<const ByteView> keys) {
  return impl_->call<std::uint64_t>(
      "batch_delete",
      [&](mp::Writer& w) {
        w.map(1);
        w.str("keys");
        w.array(static_cast<std::uint32_t>(keys.size()));
        for (const auto& key : keys) w.bin(Bytes(key.data(), key.size()));
      },
      kParseUint, false);
}

std::uint64_t Client::batch_remove_key_hashes(std::span<const std::uint64_t> key_hashes) {
  return impl_->call<std::uint64_t>(
      "batch_delete_key_hashes",
      [&](mp::Writer& w) {
        w.map(1);
        w.str("key_hashes");
        w.array(static_cast<std::uint32_t>(key_hashes.size()));
        for (auto hash : key_hashes) w.uint(hash);
      },
      kParseUint, false);
}

std::uint64_t Client::rename(ByteView old_key, ByteView new_key) {
  return impl_->call<std::uint64_t>(
      "rename",
      [&](mp::Writer& w) {
        w.map(2);
        put_key(w, "old_key", old_key);
        put_key(w, "new_key", new_key);
      },
      kParseUint, false);
}

std::size_t Client::len() { return impl_->call<std::uint64_t>("len", NoParams{}, kParseUint, true); }
bool Client::is_empty() { return impl_->call<bool>("is_empty", NoParams{}, kParseBool, true); }
std::uint64_t Client::file_size() { return impl_->call<std::uint64_t>("file_size", NoParams{}, kParseUint, true); }

StoreStats Client::stats() {
  return impl_->call<StoreStats>(
      "stats", NoParams{},
      [](const Response& response) {
        StoreStats out;
        mp::Reader reader(response.result);
        read_fields(reader, [&](std::string_view name, mp::Reader& r) {
          if (name == "file_size") return r.read_uint(out.file_size);
          if (name == "entries") return r.read_uint(out.entries);
          if (name == "live_keys") return r.read_uint(out.live_keys);
          if (name == "tombstones") return r.read_uint(out.tombstones);
          if (name == "stale_entries") return r.read_uint(out.stale_entries);
          if (name == "live_payload_bytes") return r.read_uint(out.live_payload_bytes);
          if (name == "reclaimable_bytes") return r.read_uint(out.reclaimable_bytes);
          return false;
        });
        return out;
      },
      true);
}

VerifyReport Client::verify() {
  return impl_->call<VerifyReport>(
      "verify", NoParams{},
      [](const Response& response) {
        VerifyReport out;
        mp::Reader reader(response.result);
        read_fields(reader, [&](std::string_view name, mp::Reader& r) {
          if (name == "file_size") return r.read_uint(out.file_size);
          if (name == "entries") return r.read_uint(out.entries);
          if (name == "tombstones") return r.read_uint(out.tombstones);
          if (name == "live_keys") return r.read_uint(out.live_keys);
          if (name == "bytes_checked") return r.read_uint(out.bytes_checked);
          if (name == "chain_intact") return r.read_bool(out.chain_intact);
          if (name == "chain_error") {
            std::string_view text;
            if (!r.read_str(text)) return false;
            out.chain_error = std::string(text);
            return true;
          }
          if (name == "trailing_bytes") return r.read_uint(out.trailing_bytes);
          if (name == "writer_active") return r.read_bool(out.writer_active);
          if (name == "trailing_bytes_damaged") return r.read_bool(out.trailing_bytes_damaged);
          if (name == "corrupt_entries") {
            std::uint32_t n = 0;
            if (!r.read_array(n)) return false;
            for (std::uint32_t i = 0; i < n; ++i) {
              CorruptEntry entry;
              read_fields(r, [&](std::string_view field, mp::Reader& fr) {
                std::uint64_t value = 0;
                if (field == "metadata_offset") return fr.read_uint(entry.metadata_offset);
                if (field == "payload_offset") return fr.read_uint(entry.payload_offset);
                if (field == "payload_size") return fr.read_uint(entry.payload_size);
                if (field == "key_hash") return fr.read_uint(entry.key_hash);
                if (field == "stored_checksum" && fr.read_uint(value)) {
                  entry.stored_checksum = static_cast<std::uint32_t>(value);
                  return true;
                }
                if (field == "computed_checksum" && fr.read_uint(value)) {
                  entry.computed_checksum = static_cast<std::uint32_t>(value);
                  return true;
                }
                return false;
              });
              out.corrupt_entries.push_back(entry);
            }
            return true;
          }
          return false;
        });
        return out;
      },
      true);
}

void Client::compact() { impl_->call<bool>("compact", NoParams{}, kParseNothing, false); }
void Client::sync() { impl_->call<bool>("sync", NoParams{}, kParseNothing, false); }

ScanPage Client::scan(const std::optional<std::string>& cursor, std::size_t limit, bool values) {
  return impl_->call<ScanPage>(
      "scan",
      [&](mp::Writer& w) {
        w.map(3);
        w.str("cursor");
        if (cursor) w.bin(mp::as_bytes(*cursor));
        else w.nil();
        w.str("limit");
        w.uint(limit);
        w.str("values");
        w.boolean(values);
      },
      [](const Response& response) {
        ScanPage page;
        mp::Reader reader(response.result);
        read_fields(reader, [&](std::string_view name, mp::Reader& r) {
          if (name == "entries") {
            std::uint32_t n = 0;
            if (!r.read_array(n)) return false;
            page.entries.reserve(n);
            for (std::uint32_t i = 0; i < n; ++i) {
              std::uint32_t pair = 0;
              std::uint64_t key_hash = 0;
              if (!r.read_array(pair) || pair != 2 || !r.read_uint(key_hash)) protocol_violation("a scan entry");
              page.entries.emplace_back(key_hash, handle_from(r, key_hash));
            }
            return true;
          }
          if (name == "cursor") {
            if (r.read_nil()) return true;
            Bytes bytes;
            if (!r.read_bin(bytes)) return false;
            page.cursor = std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
            return true;
          }
          return false;
        });
        return page;
      },
      true);
}

void Client::for_each_entry(const std::function<void(std::uint64_t, const EntryHandle&)>& visit, std::size_t page_size) {
  std::optional<std::string> cursor;
  do {
    ScanPage page = scan(cursor, page_size, true);
    for (const auto& [key_hash, value] : page.entries) {
      if (value) visit(key_hash, *value);
    }
    cursor = std::move(page.cursor);
  } while (cursor);
}

std::uint64_t Client::write_with_ttl(ByteView key, ByteView payload, std::uint64_t ttl_secs) {
  return impl_->call<std::uint64_t>(
      "write_with_ttl",
      [&](mp::Writer& w) {
        w.map(3);
        put_key(w, "key", key);
        put_key(w, "value", payload);
        w.str("ttl_secs");
        w.uint(ttl_secs);
      },
      kParseUint, false);
}

std::optional<EntryHandle> Client::read_with_ttl(ByteView key) {
  return impl_->call<std::optional<EntryHandle>>("read_with_ttl", key_params(key), parse_value(DataStore::hash_key(key)),
                                                 true);
}

TtlRemaining Client::ttl_remaining(ByteView key) {
  return impl_->call<TtlRemaining>(
      "ttl_remaining", key_params(key),
      [](const Response& response) {
        TtlRemaining out;
        mp::Reader reader(response.result);
        read_fields(reader, [&](std::string_view name, mp::Reader& r) {
          if (name == "state") {
            std::string_view state;
            if (!r.read_str(state)) return false;
            out.state = state == "no_expiry" ? TtlRemaining::State::kNoExpiry
                        : state == "expires" ? TtlRemaining::State::kExpiresIn
                                             : TtlRemaining::State::kAbsent;
            return true;
          }
          if (name == "seconds") return r.read_uint(out.seconds);
          return false;
        });
        return out;
      },
      true);
}

std::future<std::uint64_t> Client::write_async(ByteView key, ByteView payload) {
  return impl_->call_async<std::uint64_t>(
      "write",
      [&](mp::Writer& w) {
        w.map(2);
        put_key(w, "key", key);
        put_key(w, "value", payload);
      },
      kParseUint, false);
}

std::future<std::optional<EntryHandle>> Client::read_async(ByteView key) {
  return impl_->call_async<std::optional<EntryHandle>>("read", key_params(key), parse_value(DataStore::hash_key(key)), true);
}

std::future<bool> Client::exists_async(ByteView key) {
  return impl_->call_async<bool>("exists", key_params(key), kParseBool, true);
}

std::future<std::uint64_t> Client::remove_async(ByteView key) {
  return impl_->call_async<std::uint64_t>("delete", key_params(key), kParseUint, false);
}

void Client::read_async(ByteView key, std::function<void(std::optional<EntryHandle>, std::exception_ptr)> done) {
  impl_->call_with_callback<std::optional<EntryHandle>>(
      "read", key_params(key), parse_value(DataStore::hash_key(key)), true,
      [done = std::move(done)](std::optional<std::optional<EntryHandle>> value, std::exception_ptr error) {
        if (error) return done(std::nullopt, error);
        done(std::move(*value), nullptr);
      });
}

void Client::write_async(ByteView key, ByteView payload, std::function<void(std::uint64_t, std::exception_ptr)> done) {
  impl_->call_with_callback<std::uint64_t>(
      "write",
      [&](mp::Writer& w) {
        w.map(2);
        put_key(w, "key", key);
        put_key(w, "value", payload);
      },
      kParseUint, false, [done = std::move(done)](std::optional<std::uint64_t> tail, std::exception_ptr error) {
        done(tail.value_or(0), error);
      });
}

// ---- Pipeline ----------------------------------------------------------------------------

namespace {
enum PipelineKind : std::uint8_t { kPipeRead, kPipeWrite, kPipeExists, kPipeRemove };
}

Client::Pipeline& Client::Pipeline::add(std::uint8_t kind, std::uint64_t key_hash) {
  kinds_.push_back(kind);
  key_hashes_.push_back(key_hash);
  ++count_;
  return *this;
}

Client::Pipeline& Client::Pipeline::read(ByteView key) {
  const std::uint32_t id = client_->impl_->next_id();
  mp::Writer w(bytes_);
  protocol::begin_request(w, id, "read");
  key_params(key)(w);
  ids_.push_back(id);
  return add(kPipeRead, DataStore::hash_key(key));
}

Client::Pipeline& Client::Pipeline::read_with_key_hash(std::uint64_t key_hash) {
  const std::uint32_t id = client_->impl_->next_id();
  mp::Writer w(bytes_);
  protocol::begin_request(w, id, "read_with_key_hash");
  hash_params(key_hash)(w);
  ids_.push_back(id);
  return add(kPipeRead, key_hash);
}

Client::Pipeline& Client::Pipeline::write(ByteView key, ByteView payload) {
  const std::uint32_t id = client_->impl_->next_id();
  mp::Writer w(bytes_);
  protocol::begin_request(w, id, "write");
  w.map(2);
  put_key(w, "key", key);
  put_key(w, "value", payload);
  ids_.push_back(id);
  return add(kPipeWrite, 0);
}

Client::Pipeline& Client::Pipeline::exists(ByteView key) {
  const std::uint32_t id = client_->impl_->next_id();
  mp::Writer w(bytes_);
  protocol::begin_request(w, id, "exists");
  key_params(key)(w);
  ids_.push_back(id);
  return add(kPipeExists, 0);
}

Client::Pipeline& Client::Pipeline::remove(ByteView key) {
  const std::uint32_t id = client_->impl_->next_id();
  mp::Writer w(bytes_);
  protocol::begin_request(w, id, "delete");
  key_params(key)(w);
  ids_.push_back(id);
  return add(kPipeRemove, 0);
}

std::future<std::vector<Reply>> Client::Pipeline::execute_async() {
  struct Shared {
    std::promise<std::vector<Reply>> promise;
    std::vector<Reply> replies;
    std::size_t left = 0;
  };
  auto shared = std::make_shared<Shared>();
  shared->replies.resize(count_);
  shared->left = count_;
  auto future = shared->promise.get_future();
  if (count_ == 0) {
    shared->promise.set_value({});
    return future;
  }
  std::vector<std::pair<std::uint32_t, Callback>> calls;
  calls.reserve(count_);
  for (std::size_t i = 0; i < count_; ++i) {
    calls.emplace_back(ids_[i], [shared, i, kind = kinds_[i], key_hash = key_hashes_[i]](const Response* response,
                                                                                        std::exception_ptr error) {
      Reply& reply = shared->replies[i];
      if (!error && !response->ok) error = server_error(response->error_code, response->error_message);
      if (error) {
        reply.error = error;
      } else {
        try {
          mp::Reader reader(response->result);
          switch (kind) {
            case kPipeRead: reply.value = handle_from(reader, key_hash); break;
            case kPipeExists: reply.flag = read_bool(*response); break;
            default: reply.number = read_uint(*response); break;
          }
        } catch (...) {
          reply.error = std::current_exception();
        }
      }
      if (--shared->left == 0) shared->promise.set_value(std::move(shared->replies));
    });
  }
  const bool idempotent = std::all_of(kinds_.begin(), kinds_.end(),
                                      [](std::uint8_t kind) { return kind == kPipeRead || kind == kPipeExists; });
  client_->impl_->submit(std::move(bytes_), std::move(calls), idempotent);
  bytes_.clear();
  ids_.clear();
  kinds_.clear();
  key_hashes_.clear();
  count_ = 0;
  return future;
}

std::vector<Reply> Client::Pipeline::execute() { return execute_async().get(); }

}  // namespace simd_r_drive::net

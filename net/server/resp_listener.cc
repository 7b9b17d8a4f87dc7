#include "server/resp_listener.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include <cstring>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "protocol/resp.h"
#include "server/endpoint_text.h"
#include "server/event_loop_runner.h"
#include "server/session_registry.h"

namespace simd_r_drive::net::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// A session's socket and timer are bound to its loop's executor itself, not to a
// strand nor to the type-erased any_io_executor: the loop is run by one thread.
using LoopExecutor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, LoopExecutor>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>,
                                         LoopExecutor>;

std::string peer_of(const Socket& socket) {
  boost::system::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) return "?";
  return endpoint_text(endpoint);
}

}  // namespace

struct RespListener::Impl {
  Impl(ServerContext& context_in, asio::io_context& ioc_in, asio::ssl::context* ssl_in)
      : context(context_in),
        ioc(ioc_in),
        ssl(ssl_in),
        shared(context_in.options.cluster_enabled),
        acceptor(std::in_place, asio::make_strand(ioc_in)) {}

  void do_accept();

  ServerContext& context;
  asio::io_context& ioc;
  asio::ssl::context* ssl;
  RespShared shared;
  std::optional<tcp::acceptor> acceptor;
  std::atomic<bool> stopping{false};
  SessionRegistry sessions;
  // The sessions' event loops: one io_context per thread (one_thread_ scheduling), each
  // run by one thread of its own, as Redis's and kvrocks' I/O threads. An accepted
  // socket goes to the next loop in turn and stays there, so a session's handlers
  // never run concurrently without a strand. Declared last: destroyed first, with the
  // handlers that hold sessions, before what the sessions refer to.
  std::vector<std::unique_ptr<asio::io_context>> loops;
  std::vector<std::thread> threads;
  std::size_t next_loop = 0;  // the acceptor's strand only
};

namespace {

// One client. Its handlers run on its loop's one thread; a batch of commands that
// writes runs on the worker pool instead, while no handler of the session is pending
// (it reads, processes and writes in turn), so its state is only ever touched by one
// thread at a time.
template <class Stream>
class Session final : public StoppableSession, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, Socket>;
  // Each read has at least this much room (the read buffer doubles to keep it).
  static constexpr std::size_t kMinReadRoom = 4096;

  Session(RespListener::Impl& impl, Socket&& socket)
    requires(!kTls)
      : impl_(impl), stream_(std::move(socket)), timer_(stream_.get_executor()) {}
  Session(RespListener::Impl& impl, Socket&& socket, asio::ssl::context& ssl)
    requires(kTls)
      : impl_(impl), stream_(std::move(socket), ssl), timer_(stream_.get_executor()) {}

  ~Session() override {
    impl_.shared.connections_open.fetch_sub(1);
    impl_.sessions.remove(client_.id);
  }

  void start() {
    client_.id = impl_.shared.next_client_id.fetch_add(1);
    impl_.shared.connections_open.fetch_add(1);
    impl_.shared.connections_accepted.fetch_add(1);
    impl_.sessions.add(client_.id, this->weak_from_this());
    // Accepted just before the server began stopping: answer nothing, close.
    if (impl_.stopping.load()) shutting_down_ = true;
    peer_ = peer_of(socket());
    boost::system::error_code ec;
    socket().set_option(tcp::no_delay(true), ec);
    last_activity_ = std::chrono::steady_clock::now();
    const auto& options = impl_.context.options;
    if (impl_.shared.connections_open.load() > options.max_connections) {
      impl_.context.connections_refused.fetch_add(1);
      impl_.context.log("refused a redis connection from " + peer_ + ": at max connections (" +
                        std::to_string(options.max_connections) + ")");
      out_ = "-ERR max number of clients reached\r\n";
      client_.close_after_reply = true;
    } else {
      impl_.context.log("redis connection " + std::to_string(client_.id) + " from " + peer_ + ": accepted" +
                        (kTls ? " (TLS)" : ""));
    }
    arm_timer();
    if constexpr (kTls) {
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](boost::system::error_code error) {
                                if (error) return self->finish("TLS handshake: " + error.message());
                                self->process();
                              });
    } else {
      process();
    }
  }

  void begin_shutdown() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->shutting_down_ = true;
      // A session waiting for its client's next command closes now; one that is
      // working on a batch closes when the batch's answers are sent.
      if (self->reading_) self->close_socket();
    });
  }
  void force_close() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->close_socket(); });
  }

 private:
  Socket& socket() {
    if constexpr (kTls) return stream_.next_layer();
    else return stream_;
  }

  void arm_timer() {
    const auto timeout = impl_.context.options.resp_idle_timeout;
    if (timeout.count() <= 0) return;  // never (Redis's default)
    timer_.expires_after(std::max<std::chrono::milliseconds>(timeout / 4, std::chrono::milliseconds(50)));
    timer_.async_wait([self = this->shared_from_this(), timeout](boost::system::error_code ec) {
      if (ec || self->finished_) return;
      if (self->reading_ && std::chrono::steady_clock::now() - self->last_activity_ > timeout) {
        self->note_ = "closed: idle timeout";
        self->close_socket();
        return;
      }
      self->arm_timer();
    });
  }

  // Parses and runs the commands that have arrived, then sends the answers or reads
  // more. Runs on the strand, or on the worker pool (`on_pool`) for a batch that writes
  // or may take long.
  void process(bool on_pool = false) {
    const auto& options = impl_.context.options;
    resp::ParseLimits limits;
    limits.max_bulk_bytes = options.max_message_bytes;
    const bool inline_writes = options.resp_inline_writes;
    // At most max_in_flight commands of a pipeline are worked on before their answers
    // are sent; the rest wait in the read buffer (and then no more is read).
    std::size_t commands = 0;
    while (!client_.close_after_reply && out_.size() + out_piece_bytes_ < options.output_limit_bytes &&
           commands < options.max_in_flight) {
      const std::string_view pending(in_.data() + parsed_, used_ - parsed_);
      if (pending.empty()) break;
      const resp::ParseResult result = resp::parse_command(pending, limits, args_, scratch_);
      if (result.status == resp::ParseStatus::kNeedMore) {
        if (pending.size() > options.max_message_bytes + 4096) {
          resp::ReplyWriter(out_).error("ERR Protocol error: a command over max_message_bytes");
          client_.close_after_reply = true;
        }
        break;
      }
      if (result.status == resp::ParseStatus::kError) {
        resp::ReplyWriter(out_).error("ERR " + result.error);
        client_.close_after_reply = true;
        note_ = "closed: protocol error";
        break;
      }
      if (args_.empty()) {
        parsed_ += result.consumed;
        continue;
      }
      std::unique_lock<std::mutex> key_write_lock;
      if (!on_pool && must_leave_the_loop(resp_placement(args_[0]), inline_writes, key_write_lock)) {
        // Writes may wait for the store's writer or for fdatasync, and a count walks
        // what was written since the last: not on an I/O thread.
        // Until flush() runs on the strand again, the batch owns the session's state.
        on_pool_ = true;
        impl_.context.pool.post([self = this->shared_from_this()] { self->process(true); });
        return;
      }
      const std::size_t pieces_before = out_pieces_.size();
      resp::ReplyWriter writer(out_, &out_pieces_);
      resp_execute(impl_.context, impl_.shared, client_, args_, writer, key_write_lock.owns_lock());
      for (std::size_t i = pieces_before; i < out_pieces_.size(); ++i) out_piece_bytes_ += out_pieces_[i].bytes.size();
      parsed_ += result.consumed;
      ++commands;
    }
    if (on_pool) {
      asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->flush(); });
    } else {
      flush();
    }
  }

  // Whether a command placed so runs on the worker pool rather than here; a write that
  // runs here gets the server's key-write lock in `lock`.
  bool must_leave_the_loop(RespPlacement placement, bool inline_writes, std::unique_lock<std::mutex>& lock) {
    if (placement == RespPlacement::kWorkerPool) return true;
    return placement == RespPlacement::kWrite && !(inline_writes && lock_for_inline_write(lock));
  }

  // Takes the server's key-write lock for a write run on this I/O thread; false if the
  // write must go to the worker pool instead. A WebSocket write stream holds that lock
  // (and the store's writer) while it waits for its next chunk, which an I/O thread
  // may be waiting for from a slow client: an I/O thread that waited for the lock
  // would stall every RESP connection of its event loop, reads included, until the
  // upload ended. A compaction holds the store's writer for long too. Any other
  // holder is a short write that does not wait for the network, so it is waited for
  // here. (A stream's count rises before its thread takes the lock and falls after
  // it lets go. A write that looked just before a compaction began waits for it here:
  // a stall, never a deadlock, as a compaction waits for no client.)
  bool lock_for_inline_write(std::unique_lock<std::mutex>& lock) {
    ServerContext& context = impl_.context;
    if (context.compactions_running.load() > 0) return false;
    lock = std::unique_lock(context.key_write_mutex, std::try_to_lock);
    if (lock.owns_lock()) return true;
    if (context.write_streams_open.load() > 0) return false;
    lock.lock();
    return true;
  }

  void flush() {
    on_pool_ = false;
    // Keep what is not parsed yet at the front of the buffer.
    if (parsed_ > 0) {
      std::memmove(in_.data(), in_.data() + parsed_, used_ - parsed_);
      used_ -= parsed_;
      parsed_ = 0;
    }
    if (!out_.empty()) {
      sending_.swap(out_);
      out_.clear();
      auto written = [self = this->shared_from_this()](boost::system::error_code ec, std::size_t) {
        self->sending_.clear();
        self->sending_pieces_.clear();  // releases the values' handles
        if (ec) return self->finish("the client went away (" + ec.message() + ")");
        self->last_activity_ = std::chrono::steady_clock::now();
        if (self->client_.close_after_reply) return self->close_gracefully();
        self->process();  // commands already received come before reading more
      };
      if (out_pieces_.empty()) {
        if (impl_.context.options.on_send) report_send({asio::buffer(sending_)});
        asio::async_write(stream_, asio::buffer(sending_), std::move(written));
        return;
      }
      // Large values go from the store's mapping: the reply buffer's bytes around
      // them and the values themselves, in order, in one gather write.
      sending_pieces_.swap(out_pieces_);
      out_pieces_.clear();
      out_piece_bytes_ = 0;
      gather_.clear();
      std::size_t from = 0;
      for (const auto& piece : sending_pieces_) {
        gather_.emplace_back(sending_.data() + from, piece.at - from);
        gather_.emplace_back(piece.bytes.data(), piece.bytes.size());
        from = piece.at;
      }
      gather_.emplace_back(sending_.data() + from, sending_.size() - from);
      if (impl_.context.options.on_send) report_send(gather_);
      asio::async_write(stream_, gather_, std::move(written));
      return;
    }
    if (client_.close_after_reply) return close_gracefully();
    if (shutting_down_) return close_socket();
    read();
  }

  // ServerOptions::on_send, for tests: the buffers a write is about to send.
  void report_send(const std::vector<asio::const_buffer>& buffers) {
    std::vector<std::span<const std::byte>> spans;
    for (const auto& b : buffers) spans.emplace_back(static_cast<const std::byte*>(b.data()), b.size());
    impl_.context.options.on_send(spans);
  }

  void read() {
    if (finished_) return;
    if (in_.size() - used_ < kMinReadRoom) in_.resize(std::max<std::size_t>(in_.size() * 2, used_ + kMinReadRoom));
    reading_ = true;
    stream_.async_read_some(asio::buffer(in_.data() + used_, in_.size() - used_),
                            [self = this->shared_from_this()](boost::system::error_code ec, std::size_t n) {
                              self->reading_ = false;
                              if (ec) {
                                return self->finish(self->shutting_down_ ? "closed: the server is stopping"
                                                                         : "the client went away (" + ec.message() + ")");
                              }
                              self->used_ += n;
                              self->last_activity_ = std::chrono::steady_clock::now();
                              self->process();
                            });
  }

  void close_gracefully() {
    if (note_.empty()) note_ = "closed (QUIT or a protocol error)";
    boost::system::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_send, ignored);
    close_socket();
  }

  void close_socket() {
    boost::system::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
    // A pending read, or a batch on the worker pool (whose answer's write then
    // fails), finishes the session instead.
    if (!reading_ && !on_pool_) finish(note_.empty() ? "closed by the server" : note_);
  }

  void finish(const std::string& why) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    impl_.context.log("redis connection " + std::to_string(client_.id) + ": " + (note_.empty() ? why : note_));
    boost::system::error_code ignored;
    socket().close(ignored);
  }

  RespListener::Impl& impl_;
  Stream stream_;
  Timer timer_;
  std::string peer_;
  RespClient client_;
  // Starts at a page and doubles as commands need: a session's first bytes then cost
  // no 64 KiB of fresh, zeroed memory, which on a virtual machine (slow first-touch
  // faults) made each new connection keep its event loop busy for over 0.1 ms.
  std::vector<char> in_ = std::vector<char>(kMinReadRoom);
  std::size_t used_ = 0;    // bytes received in in_
  std::size_t parsed_ = 0;  // of which commands taken
  std::vector<std::string_view> args_;
  std::string scratch_;
  std::string out_;
  std::vector<resp::ReplyPiece> out_pieces_;  // values of out_ sent from where they are
  std::size_t out_piece_bytes_ = 0;
  std::string sending_;
  std::vector<resp::ReplyPiece> sending_pieces_;
  std::vector<asio::const_buffer> gather_;
  std::chrono::steady_clock::time_point last_activity_;
  bool reading_ = false;
  bool on_pool_ = false;  // a batch runs on the worker pool (set and cleared on the strand)
  std::atomic<bool> shutting_down_{false};  // set on the strand while a batch may run on the pool
  bool finished_ = false;
  std::string note_;
};

}  // namespace

void RespListener::Impl::do_accept() {
  // Accepted on the acceptor's own executor, then handed to a loop: a pending accept
  // never holds a socket of a loop, so the loops can be destroyed at stop before the
  // server's io_context destroys the accept it still has pending.
  acceptor->async_accept([this](boost::system::error_code ec, tcp::socket accepted) {
    if (ec == asio::error::operation_aborted || stopping.load()) return;
    if (!ec) {
      asio::io_context& loop = *loops[next_loop];
      next_loop = (next_loop + 1) % loops.size();
      Socket socket(loop);
      const auto protocol = accepted.local_endpoint(ec).protocol();
      if (!ec) {
        const auto handle = accepted.release(ec);
        if (!ec) socket.assign(protocol, handle, ec);
      }
      if (ec) {
        context.log("refused a redis connection: it could not be handed to its event loop (" + ec.message() + ")");
      } else if (ssl != nullptr) {
        // The session starts on its own loop's thread, which alone touches it.
        auto session = std::make_shared<Session<asio::ssl::stream<Socket>>>(*this, std::move(socket), *ssl);
        asio::post(loop.get_executor(), [session] { session->start(); });
      } else {
        auto session = std::make_shared<Session<Socket>>(*this, std::move(socket));
        asio::post(loop.get_executor(), [session] { session->start(); });
      }
    }
    do_accept();
  });
}

RespListener::RespListener(ServerContext& context, asio::io_context& ioc, asio::ssl::context* ssl,
                           const std::string& host, std::uint16_t port)
    : impl_(std::make_unique<Impl>(context, ioc, ssl)) {
  const auto address = asio::ip::make_address(host);
  const tcp::endpoint endpoint(address, port);
  impl_->acceptor->open(endpoint.protocol());
  impl_->acceptor->set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor->bind(endpoint);
  impl_->acceptor->listen(asio::socket_base::max_listen_connections);
  impl_->shared.host = host;
  impl_->shared.port = impl_->acceptor->local_endpoint().port();
  impl_->shared.tls = ssl != nullptr;
}

RespListener::~RespListener() {
  if (!impl_->threads.empty()) stop_loops();
}

std::uint16_t RespListener::port() const noexcept { return impl_->shared.port; }
RespShared& RespListener::shared() noexcept { return impl_->shared; }
void RespListener::start(unsigned threads) {
  threads = std::max(1u, threads);
  for (unsigned i = 0; i < threads; ++i) {
    // Only the loop's thread touches its sockets and timers (the acceptor's thread
    // registers a new socket, under the reactor's registration lock, before the
    // session is posted to the loop): the reactor's per-socket locks are not needed.
    // Other threads still post to the loop (the worker pool, stop), so the
    // scheduler keeps its lock.
    impl_->loops.push_back(std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO));
  }
  const auto window = polling_window(impl_->context.options.resp_busy_poll, threads, usable_cpus());
  for (auto& loop : impl_->loops) {
    impl_->threads.emplace_back([loop = loop.get(), window] {
      auto guard = asio::make_work_guard(*loop);  // idle until stop_loops()
      run_event_loop(*loop, window);
    });
  }
  impl_->do_accept();
}

void RespListener::stop_loops() {
  for (auto& loop : impl_->loops) loop->stop();
  for (auto& thread : impl_->threads) {
    if (thread.joinable()) thread.join();
  }
  impl_->threads.clear();
  // Destroys the handlers still pending, and the sessions they hold, now: before the
  // server's io_context and TLS context that the acceptor and the streams came from.
  impl_->loops.clear();
}

void RespListener::begin_shutdown() {
  impl_->stopping.store(true);
  asio::post(impl_->acceptor->get_executor(), [impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor->close(ignored);
  });
  impl_->sessions.begin_shutdown_all();
}

bool RespListener::wait_until_closed(std::chrono::steady_clock::time_point deadline) {
  return impl_->sessions.wait_until_empty(deadline);
}

void RespListener::release_acceptor() { impl_->acceptor.reset(); }

void RespListener::force_close() {
  impl_->sessions.force_close_all();
}

}  // namespace simd_r_drive::net::server

#include "server/connection.h"

#include <algorithm>
#include <cstring>
#include <string>

#include <simd_r_drive/error.h>

#include "server/auth.h"

namespace simd_r_drive::net::server {

using protocol::Bytes;
using protocol::Method;
using protocol::OutMessage;
using protocol::Request;
using protocol::ResponseWriter;
namespace code = protocol::code;

// ---- write streams ------------------------------------------------------------------
//
// A write stream runs DataStore::write_stream on a thread of its own (it holds the
// store's writer for as long as the stream is open, waiting for chunks, so it must
// not occupy a worker). The strand hands it chunks; the thread answers each chunk's
// request once the engine has taken its bytes, and the end request with the tail.
class WriteStream : public std::enable_shared_from_this<WriteStream> {
 public:
  WriteStream(std::shared_ptr<Connection> connection, std::uint64_t id, std::optional<std::vector<std::byte>> key,
              std::optional<std::uint64_t> key_hash)
      : connection_(std::move(connection)), id_(id), key_(std::move(key)), key_hash_(key_hash) {}

  void start() {
    ServerContext& context = connection_->context_;
    context.write_streams_open.fetch_add(1);
    std::thread([self = shared_from_this()] { self->run(); }).detach();
  }

  // On the strand. Returns false (and answers nothing) if the stream has already
  // failed: the caller answers with `failure()`.
  void push(std::uint32_t request_id, std::shared_ptr<std::vector<std::byte>> message, Bytes data) {
    std::lock_guard lock(mutex_);
    if (state_ != State::kOpen) {
      answer_error(request_id, failure_code_.empty() ? code::kStreamNotFound : std::string_view(failure_code_),
                   failure_message_.empty() ? "the stream is closing" : failure_message_, data.size());
      return;
    }
    chunks_.push_back({request_id, std::move(message), data, 0});
    wake_.notify_one();
  }
  void end(std::uint32_t request_id) { finish(State::kEnding, request_id); }
  void abort(std::optional<std::uint32_t> request_id) { finish(State::kAborting, request_id); }

 private:
  enum class State { kOpen, kEnding, kAborting, kFailed };
  struct Chunk {
    std::uint32_t request_id;
    std::shared_ptr<std::vector<std::byte>> message;
    Bytes data;
    std::size_t taken;
  };

  void finish(State state, std::optional<std::uint32_t> request_id) {
    std::lock_guard lock(mutex_);
    if (state_ != State::kOpen) {
      if (!request_id) return;
      if (state_ == State::kFailed) answer_error(*request_id, failure_code_, failure_message_, 0);
      else answer_error(*request_id, code::kStreamNotFound, "the stream is already ending", 0);
      return;
    }
    state_ = state;
    finish_request_ = request_id;
    wake_.notify_one();
  }

  // Sends one response to the connection, on its strand. `taken` bytes of chunks
  // leave the connection's stream queue.
  void send(OutMessage&& message, std::size_t taken) {
    auto connection = connection_;
    connection->post([connection, taken, message = std::move(message)]() mutable {
      connection->stream_bytes_queued_ -= taken;
      connection->deliver(std::move(message));
    });
  }
  void answer_error(std::uint32_t request_id, std::string_view error_code, const std::string& message,
                    std::size_t taken) {
    OutMessage out;
    ResponseWriter(out).error(request_id, error_code, message);
    send(std::move(out), taken);
  }
  void answer_nil(std::uint32_t request_id, std::size_t taken) {
    OutMessage out;
    ResponseWriter(out).begin_result(request_id).nil();
    send(std::move(out), taken);
  }

  // The engine's source: the next bytes of the value, 0 at the end; throws to abort.
  std::size_t pull(std::span<std::byte> buffer) {
    std::unique_lock lock(mutex_);
    const auto idle = connection_->context_.options.idle_timeout;
    while (chunks_.empty() && state_ == State::kOpen) {
      if (wake_.wait_for(lock, idle) == std::cv_status::timeout && chunks_.empty() && state_ == State::kOpen) {
        state_ = State::kAborting;  // nothing arrived for the idle timeout
        idle_out_ = true;
      }
    }
    if (state_ == State::kAborting) throw Error(ErrorCode::kIo, "write stream aborted");
    if (chunks_.empty()) return 0;  // ending: the value is complete
    Chunk& chunk = chunks_.front();
    const std::size_t n = std::min(buffer.size(), chunk.data.size() - chunk.taken);
    std::memcpy(buffer.data(), chunk.data.data() + chunk.taken, n);
    chunk.taken += n;
    if (chunk.taken == chunk.data.size()) {
      const std::uint32_t request_id = chunk.request_id;
      const std::size_t size = chunk.data.size();
      chunks_.pop_front();
      lock.unlock();
      answer_nil(request_id, size);
    }
    return n;
  }

  void run() {
    ServerContext& context = connection_->context_;
    std::uint64_t tail = 0;
    std::string error_code;
    std::string error_message;
    try {
      const StreamReader reader = [this](std::span<std::byte> buffer) { return pull(buffer); };
      std::lock_guard key_write_lock(context.key_write_mutex);
      if (key_) tail = context.store.write_stream(ByteView(key_->data(), key_->size()), reader);
      else tail = context.store.write_stream_with_key_hash(*key_hash_, reader);
    } catch (const Error& error) {
      error_code = std::string(to_string(error.code()));
      error_message = error.what();
    } catch (const std::exception& error) {
      error_code = std::string(code::kIo);
      error_message = error.what();
    }
    std::unique_lock lock(mutex_);
    const State state = state_;
    std::deque<Chunk> left;
    left.swap(chunks_);
    if (state == State::kOpen) state_ = State::kFailed;  // the engine gave up before the end
    failure_code_ = error_code.empty() ? std::string(code::kStreamNotFound) : error_code;
    failure_message_ = error_message;
    const auto finish_request = finish_request_;
    lock.unlock();

    const bool aborted = state == State::kAborting;
    for (const Chunk& chunk : left) {
      answer_error(chunk.request_id, aborted ? code::kStreamNotFound : std::string_view(failure_code_),
                   aborted ? "the stream was aborted" : error_message, chunk.data.size());
    }
    if (finish_request) {
      OutMessage out;
      ResponseWriter writer(out);
      if (aborted) writer.begin_result(*finish_request).nil();
      else if (error_code.empty()) writer.begin_result(*finish_request).uint(tail);
      else writer.error(*finish_request, error_code, error_message);
      send(std::move(out), 0);
    }
    if (idle_out_) context.log("connection " + std::to_string(connection_->id()) + ": write stream " +
                               std::to_string(id_) + " aborted after the idle timeout");
    auto connection = connection_;
    const std::uint64_t id = id_;
    connection->post([connection, id] { connection->write_streams_.erase(id); });
    // Last: once the count drops, stop() may destroy the context. Notified under the
    // lock, so the waiter cannot return before this thread is done with it.
    std::lock_guard done(context.streams_mutex);
    context.write_streams_open.fetch_sub(1);
    context.streams_done.notify_all();
  }

  // Kept to the end (the strand's map of streams holds this stream until the thread's
  // last post, or until the connection closes: the cycle ends either way).
  const std::shared_ptr<Connection> connection_;
  const std::uint64_t id_;
  const std::optional<std::vector<std::byte>> key_;
  const std::optional<std::uint64_t> key_hash_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Chunk> chunks_;
  State state_ = State::kOpen;
  std::optional<std::uint32_t> finish_request_;
  std::string failure_code_;
  std::string failure_message_;
  bool idle_out_ = false;
};

// ---- the connection ------------------------------------------------------------------

Connection::Connection(ServerContext& context, std::string peer)
    : context_(context), id_(context.next_connection_id.fetch_add(1)), peer_(std::move(peer)) {}

Connection::~Connection() = default;

void Connection::post(std::function<void()> job) {
  if (auto transport = transport_.lock()) transport->post(std::move(job));
}

void Connection::poke() {
  if (auto transport = transport_.lock()) transport->poke();
}

bool Connection::can_read() const noexcept {
  return !closed_ && in_flight_ < context_.options.max_in_flight && out_bytes_ < context_.options.output_limit_bytes &&
         stream_bytes_queued_ < 4 * context_.options.stream_chunk_bytes;
}

OutMessage Connection::take_output() {
  if (out_queue_.empty()) return {};
  OutMessage message = std::move(out_queue_.front());
  out_queue_.pop_front();
  return message;
}

void Connection::on_sent(std::size_t bytes) {
  out_bytes_ -= std::min(bytes, out_bytes_);
  if (out_bytes_ < context_.options.output_limit_bytes) over_limit_ = false;
}

bool Connection::output_over_limit_since(std::chrono::steady_clock::time_point& since) const noexcept {
  if (!over_limit_) return false;
  since = over_limit_since_;
  return true;
}

void Connection::enqueue(OutMessage&& message) {
  if (message.empty() || closed_) return;
  const std::size_t size = message.size();
  out_bytes_ += size;
  if (out_bytes_ >= context_.options.output_limit_bytes && !over_limit_) {
    over_limit_ = true;
    over_limit_since_ = std::chrono::steady_clock::now();
  }
  // Coalesce with the last queued message while the result stays within the limit
  // (a single value over the limit goes alone: docs/protocol.md, "Transport").
  if (!out_queue_.empty() && out_queue_.back().size() + size <= context_.options.max_message_bytes) {
    out_queue_.back().append(std::move(message));
  } else {
    out_queue_.push_back(std::move(message));
  }
}

void Connection::deliver(OutMessage&& message) {
  finish_request();
  enqueue(std::move(message));
  poke();
}

void Connection::finish_request() noexcept {
  if (in_flight_ > 0) --in_flight_;
}

void Connection::on_message(std::shared_ptr<std::vector<std::byte>> message) {
  if (closed_) return;
  values_.clear();
  OutMessage out;
  ResponseWriter writer(out);
  if (!protocol::split_values(Bytes(message->data(), message->size()), values_)) {
    writer.error_notice(code::kMalformed, "the message is not a sequence of MessagePack values");
    enqueue(std::move(out));
    if (auto transport = transport_.lock()) transport->close_after_output(1007, "not MessagePack");
    return;
  }
  const protocol::DecodeLimits limits{context_.options.max_batch_items};
  for (Bytes value : values_) {
    context_.requests.fetch_add(1, std::memory_order_relaxed);
    ++in_flight_;
    if (auto error = protocol::decode_request(value, request_, limits)) {
      if (error->id) writer.error(*error->id, error->code, error->message);
      else writer.error_notice(error->code, error->message);
      finish_request();
      continue;
    }
    handle(request_, message, writer);
    if (closed_) return;
    if (pending_close_) break;  // the rest of the message is not run
  }
  enqueue(std::move(out));
  if (pending_close_) {
    // After the answers that explain it have been queued.
    if (auto transport = transport_.lock()) transport->close_after_output(pending_close_->first, pending_close_->second);
    return;
  }
  poke();
}

void Connection::handle(const Request& request, const std::shared_ptr<std::vector<std::byte>>& message,
                        ResponseWriter& out) {
  if (shutting_down_) {
    out.error(request.id, code::kShuttingDown, "the server is shutting down");
    finish_request();
    return;
  }
  if (request.method == Method::kHello) {
    hello(request, out);
    finish_request();
    return;
  }
  if (!authenticated_) {
    out.error(request.id, code::kHandshakeRequired, "the first request must be hello");
    finish_request();
    return;
  }
  const Lane lane = lane_of(request.method);
  if (lane == Lane::kInline || (lane == Lane::kBlocking && context_.store.is_read_only())) {
    dispatch(context_, streams_, request, out);
    finish_request();
    return;
  }
  if (lane == Lane::kConnection) {
    stream_request(request, message, out);
    return;
  }
  // The blocking lane: a copy of the request (its views keep `message` alive).
  submit_blocking([self = shared_from_this(), request_copy = request, message] {
    OutMessage result;
    ResponseWriter writer(result);
    ConnectionStreams unused;  // blocking methods use no streams
    dispatch(self->context_, unused, request_copy, writer);
    self->post([self, result = std::move(result)]() mutable { self->deliver(std::move(result)); });
  });
}

void Connection::hello(const Request& request, ResponseWriter& out) {
  if (*request.protocol != protocol::kProtocolVersion) {
    out.unsupported_version(request.id, "protocol " + std::to_string(*request.protocol) + " is not supported");
    return;
  }
  if (!context_.options.token.empty()) {
    const Bytes given = request.token.value_or(Bytes{});
    if (!token_matches(context_.options.token, given)) {
      context_.auth_failures.fetch_add(1);
      context_.log("connection " + std::to_string(id_) + " from " + peer_ + ": auth failure (" +
                   (request.token ? "wrong token" : "no token") + ")");
      out.error(request.id, code::kUnauthorized, request.token ? "wrong token" : "this server needs a token");
      authenticated_ = false;
      pending_close_.emplace(1008, "unauthorized");
      return;
    }
  }
  authenticated_ = true;
  write_hello_result(context_, out, request.id);
}

void Connection::stream_request(const Request& request, const std::shared_ptr<std::vector<std::byte>>& message,
                                ResponseWriter& out) {
  auto answered = [&] { finish_request(); };
  if (context_.store.is_read_only() && request.method == Method::kWriteStreamBegin) {
    out.error(request.id, code::kInvalidArgument, "the server is read-only (it serves a follower)");
    return answered();
  }
  if (request.method == Method::kWriteStreamBegin) {
    if (context_.write_streams_open.load() >= context_.options.max_write_streams) {
      out.error(request.id, code::kBusy, "the server has its maximum of write streams open; retry later");
      return answered();
    }
    std::optional<std::vector<std::byte>> key;
    if (request.key) key.emplace(request.key->begin(), request.key->end());
    const std::uint64_t id = next_write_stream_++;
    auto stream = std::make_shared<WriteStream>(shared_from_this(), id, std::move(key),
                                                request.key ? std::nullopt : request.key_hash);
    write_streams_.emplace(id, stream);
    stream->start();
    auto& w = out.begin_result(request.id);
    w.map(1);
    w.str("stream");
    w.uint(id);
    return answered();
  }
  auto it = write_streams_.find(*request.stream);
  if (it == write_streams_.end()) {
    out.error(request.id, code::kStreamNotFound, "no write stream " + std::to_string(*request.stream) + " is open");
    return answered();
  }
  switch (request.method) {
    case Method::kWriteStreamChunk:
      if (request.data->size() > context_.options.stream_chunk_bytes) {
        out.error(request.id, code::kInvalidParams,
                  "param 'data' has " + std::to_string(request.data->size()) + " bytes, over stream_chunk_bytes (" +
                      std::to_string(context_.options.stream_chunk_bytes) + ")");
        return answered();
      }
      stream_bytes_queued_ += request.data->size();
      it->second->push(request.id, message, *request.data);
      return;  // answered by the stream's thread
    case Method::kWriteStreamEnd: {
      auto stream = it->second;
      write_streams_.erase(it);
      stream->end(request.id);
      return;
    }
    case Method::kWriteStreamAbort: {
      auto stream = it->second;
      write_streams_.erase(it);
      stream->abort(request.id);
      return;
    }
    default:
      out.error(request.id, code::kMethodNotFound, "no method '" + std::string(request.method_name) + "'");
      return answered();
  }
}

void Connection::submit_blocking(std::function<void()> job) {
  std::lock_guard lock(lane_mutex_);
  lane_.push_back(std::move(job));
  if (lane_running_) return;
  lane_running_ = true;
  context_.pool.post([self = shared_from_this()] { self->drain_lane(); });
}

void Connection::drain_lane() {
  // Runs this connection's blocking jobs one after another, so that its writes are
  // applied in the order they were received, while other connections' lanes run on
  // the other workers.
  for (;;) {
    std::function<void()> job;
    {
      std::lock_guard lock(lane_mutex_);
      if (lane_.empty()) {
        lane_running_ = false;
        return;
      }
      job = std::move(lane_.front());
      lane_.pop_front();
    }
    job();
  }
}

void Connection::begin_shutdown() {
  if (shutting_down_ || closed_) return;
  shutting_down_ = true;
  OutMessage out;
  ResponseWriter writer(out);
  writer.begin_notice("shutting_down").map(0);
  enqueue(std::move(out));
  poke();
}

void Connection::on_closed() {
  if (closed_) return;
  closed_ = true;
  out_queue_.clear();
  out_bytes_ = 0;
  for (auto& [id, stream] : write_streams_) stream->abort(std::nullopt);
  write_streams_.clear();
  streams_.read_streams.clear();
  streams_.scans.clear();
}

}  // namespace simd_r_drive::net::server

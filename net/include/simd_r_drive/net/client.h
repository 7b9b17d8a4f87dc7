// simd_r_drive::net::Client: a store served by simd-r-drive-server, reached over
// WebSocket (docs/protocol.md, docs/net.md). The methods mirror DataStore's, with the
// same names, arguments and results, so code written against one reads the same
// against the other; values come back as EntryHandles over buffers the client owns.
//
//   simd_r_drive::net::Client client("ws://127.0.0.1:7878/ws");
//   client.write("greeting", "hello, world");
//   if (auto value = client.read("greeting")) std::puts(std::string(value->as_string_view()).c_str());
//
// Errors are simd_r_drive::Error (so code that catches the store's errors catches
// these too) of the subclass ClientError, which also says who was at fault (fault())
// and carries the protocol's error code (protocol_code()). A missing key is an empty
// optional, as with DataStore.
//
// Pipelining: the *_async methods return at once (a std::future, or a callback run
// on the client's I/O thread), so many requests can be in flight on the one
// connection; Pipeline sends many requests in one WebSocket message.
//
// Thread-safety: a Client may be used from any number of threads at once; requests
// from several threads share its connection. Callbacks run on the client's I/O
// thread and must not block on the client's futures (they would wait for themselves).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <istream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simd_r_drive/byte_view.h>
#include <simd_r_drive/data_store.h>
#include <simd_r_drive/entry_handle.h>
#include <simd_r_drive/entry_metadata.h>
#include <simd_r_drive/error.h>
#include <simd_r_drive/store_stats.h>
#include <simd_r_drive/verify_report.h>

namespace simd_r_drive::net {

// Who was at fault.
enum class Fault {
  kServerEngine,    // the store refused or failed (code() is the engine's ErrorCode)
  kServerProtocol,  // the server could not take the request now: busy, shutting_down
  kRequest,         // the request itself: invalid_params, too_large, unauthorized, ...
  kNetwork,         // the connection: refused, lost, timed out, TLS
};
std::string_view to_string(Fault fault) noexcept;

// code(): the engine's ErrorCode when the store answered; otherwise kInvalidArgument
// for a faulty request, kNotFound for stream_not_found and cursor_expired, and kIo for
// busy, shutting_down and the network.
class ClientError : public simd_r_drive::Error {
 public:
  ClientError(ErrorCode code, Fault fault, std::string protocol_code, const std::string& message)
      : Error(code, message), fault_(fault), protocol_code_(std::move(protocol_code)) {}
  Fault fault() const noexcept { return fault_; }
  // The protocol's code ("invalid_argument", "busy", "network", ...).
  const std::string& protocol_code() const noexcept { return protocol_code_; }

 private:
  Fault fault_;
  std::string protocol_code_;
};

// The connection failed, was lost with the request in flight, or the request timed
// out (protocol_code() "network" or "timeout").
class NetworkError : public ClientError {
 public:
  NetworkError(std::string protocol_code, const std::string& message)
      : ClientError(ErrorCode::kIo, Fault::kNetwork, std::move(protocol_code), message) {}
};

struct ReconnectPolicy {
  // Reconnect when the connection is lost (the next request waits for it). Requests
  // in flight when it drops fail with NetworkError, unless retry_idempotent is set
  // and the request only reads: those are sent again on the new connection.
  bool enabled = true;
  std::chrono::milliseconds initial_backoff{50};
  std::chrono::milliseconds max_backoff{2000};  // the backoff doubles up to this
  unsigned max_attempts = 8;                    // per outage; 0: no limit
  bool retry_idempotent = false;
};

struct ClientOptions {
  std::string token;  // when the server needs one (sent in hello)
  std::string client_name = "simd-r-drive-cpp";
  std::chrono::milliseconds connect_timeout{5000};
  // A request not answered within this fails with NetworkError("timeout").
  std::chrono::milliseconds request_timeout{30000};
  ReconnectPolicy reconnect;
  // wss:// only: verify the server's certificate against this CA file (PEM), or the
  // system's CAs when empty; tls_verify false accepts any certificate (tests).
  std::string tls_ca_file;
  bool tls_verify = true;
  // Write streams and read streams move values in chunks of this size at most (and
  // at most the server's stream_chunk_bytes), with this many chunks in flight.
  std::size_t stream_chunk_bytes = 1u << 20;
  std::size_t stream_window = 4;
  // A blocking call yields (stays runnable) this long before it sleeps until its
  // answer: on loopback that saves a thread wake-up per call. Zero: sleep at once.
  std::chrono::microseconds spin_before_blocking{0};
};

// What the server's hello answered (on the first connection).
struct ServerInfo {
  std::string server;
  bool read_only = false;
  std::vector<std::string> methods;
  std::uint64_t max_message_bytes = 0;
  std::uint64_t max_in_flight = 0;
  std::uint64_t max_batch_items = 0;
  std::uint64_t stream_chunk_bytes = 0;
  std::uint64_t idle_timeout_ms = 0;
};

// read_metadata: the record's fields and where the payload lies.
struct RecordMetadata : EntryMetadata {
  std::uint64_t payload_offset = 0;
  std::uint64_t payload_size = 0;
};

// ttl_remaining, as the extensions library answers it.
struct TtlRemaining {
  enum class State { kAbsent, kNoExpiry, kExpiresIn };
  State state = State::kAbsent;
  std::uint64_t seconds = 0;
};

// One page of a scan: (key hash, value) newest first; the cursor for the next page,
// or nullopt when the scan is complete.
struct ScanPage {
  std::vector<std::pair<std::uint64_t, std::optional<EntryHandle>>> entries;
  std::optional<std::string> cursor;
};

// One answer of a Pipeline: which of the fields holds it depends on the request.
struct Reply {
  std::exception_ptr error;          // set if the request failed (rethrow to see it)
  std::optional<EntryHandle> value;  // read, read_with_key_hash
  std::uint64_t number = 0;          // tails (writes, deletes), len, file_size
  bool flag = false;                 // exists
  bool ok() const noexcept { return !error; }
};

class Client {
 public:
  // Connects to `url` (ws://host:port/ws or wss://...) and says hello. Throws
  // NetworkError if it cannot connect, ClientError if the server refuses the hello.
  explicit Client(const std::string& url, ClientOptions options = {});
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ServerInfo& server_info() const noexcept;
  void ping();

  // ---- writes (as DataStore) ----
  std::uint64_t write(ByteView key, ByteView payload);
  std::uint64_t write_with_key_hash(std::uint64_t key_hash, ByteView payload);
  template <class PairRange>
  std::uint64_t batch_write(const PairRange& items) {
    std::vector<std::pair<ByteView, ByteView>> views;
    for (const auto& [key, payload] : items) views.emplace_back(ByteView(key), ByteView(payload));
    return batch_write_views(views);
  }
  std::uint64_t batch_write_views(std::span<const std::pair<ByteView, ByteView>> items);
  std::uint64_t batch_write_with_key_hashes(std::span<const HashedPayload> items, bool allow_null_bytes = false);
  // Streams a value in chunks (write_stream_begin/chunk/end): any size, bounded memory.
  std::uint64_t write_stream(ByteView key, std::istream& source);
  std::uint64_t write_stream(ByteView key, const StreamReader& source);
  std::uint64_t write_stream_with_key_hash(std::uint64_t key_hash, const StreamReader& source);

  // ---- reads ----
  std::optional<EntryHandle> read(ByteView key);
  std::optional<EntryHandle> read_with_key_hash(std::uint64_t key_hash);
  template <class KeyRange>
  std::vector<std::optional<EntryHandle>> batch_read(const KeyRange& keys) {
    std::vector<ByteView> views;
    for (const auto& key : keys) views.emplace_back(ByteView(key));
    return batch_read_views(views);
  }
  std::vector<std::optional<EntryHandle>> batch_read_views(std::span<const ByteView> keys);
  std::vector<std::optional<EntryHandle>> batch_read_hashed_keys(std::span<const std::uint64_t> key_hashes);
  std::vector<std::optional<EntryHandle>> batch_read_hashed_keys(std::span<const std::uint64_t> key_hashes,
                                                                 std::span<const ByteView> keys);
  std::optional<RecordMetadata> read_metadata(ByteView key);
  bool exists(ByteView key);
  bool exists_with_key_hash(std::uint64_t key_hash);
  // Streams a value in chunks to `sink` (read_stream_begin/chunk), in bounded memory.
  // Returns the value's size, or nullopt if the key is absent.
  std::optional<std::uint64_t> read_stream(ByteView key, const std::function<void(std::span<const std::byte>)>& sink);
  std::optional<std::uint64_t> read_stream_with_key_hash(std::uint64_t key_hash,
                                                         const std::function<void(std::span<const std::byte>)>& sink);

  // ---- deletes and moves ----
  std::uint64_t remove(ByteView key);
  template <class KeyRange>
  std::uint64_t batch_remove(const KeyRange& keys) {
    std::vector<ByteView> views;
    for (const auto& key : keys) views.emplace_back(ByteView(key));
    return batch_remove_views(views);
  }
  std::uint64_t batch_remove_views(std::span<const ByteView> keys);
  std::uint64_t batch_remove_key_hashes(std::span<const std::uint64_t> key_hashes);
  std::uint64_t rename(ByteView old_key, ByteView new_key);

  // ---- inspection and maintenance ----
  std::size_t len();
  bool is_empty();
  std::uint64_t file_size();
  StoreStats stats();
  VerifyReport verify();
  void compact();
  void sync();
  // One page of the live entries, newest first (pass the last page's cursor).
  ScanPage scan(const std::optional<std::string>& cursor = std::nullopt, std::size_t limit = 1000, bool values = true);
  // Every live entry, page by page: visit(key_hash, value).
  void for_each_entry(const std::function<void(std::uint64_t, const EntryHandle&)>& visit, std::size_t page = 1000);

  // ---- TTL (the extensions library's functions; method_not_found on a server without them) ----
  std::uint64_t write_with_ttl(ByteView key, ByteView payload, std::uint64_t ttl_secs);
  std::optional<EntryHandle> read_with_ttl(ByteView key);
  TtlRemaining ttl_remaining(ByteView key);

  // ---- asynchronous: many requests in flight ----
  std::future<std::uint64_t> write_async(ByteView key, ByteView payload);
  std::future<std::optional<EntryHandle>> read_async(ByteView key);
  std::future<bool> exists_async(ByteView key);
  std::future<std::uint64_t> remove_async(ByteView key);
  // Callback forms: `done` runs on the client's I/O thread with the result or the error.
  void read_async(ByteView key, std::function<void(std::optional<EntryHandle>, std::exception_ptr)> done);
  void write_async(ByteView key, ByteView payload, std::function<void(std::uint64_t, std::exception_ptr)> done);

  // Many requests in one WebSocket message; execute() sends them and waits for every
  // answer, returned in the order the requests were added.
  class Pipeline {
   public:
    Pipeline& read(ByteView key);
    Pipeline& read_with_key_hash(std::uint64_t key_hash);
    Pipeline& write(ByteView key, ByteView payload);
    Pipeline& exists(ByteView key);
    Pipeline& remove(ByteView key);
    std::size_t size() const noexcept { return count_; }
    std::vector<Reply> execute();
    // The same, returning at once.
    std::future<std::vector<Reply>> execute_async();

   private:
    friend class Client;
    explicit Pipeline(Client& client) : client_(&client) {}
    Pipeline& add(std::uint8_t kind, std::uint64_t key_hash);
    Client* client_;
    std::vector<std::byte> bytes_;  // the requests, encoded
    std::vector<std::uint32_t> ids_;
    std::vector<std::uint8_t> kinds_;
    std::vector<std::uint64_t> key_hashes_;  // of reads, for the handles
    std::size_t count_ = 0;
  };
  Pipeline pipeline() { return Pipeline(*this); }

  // Closes the connection (pending requests fail); the destructor does this too.
  void close();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace simd_r_drive::net

// simd_r_drive::net::Server: serves one DataStore over WebSocket, speaking the
// protocol of docs/protocol.md (docs/net.md describes the threading, limits and
// options). The server core behind build/bin/simd-r-drive-server, and what tests
// start in process.
//
//   simd_r_drive::DataStore store = simd_r_drive::DataStore::open("store.bin");
//   simd_r_drive::net::Server server(store, {});   // 127.0.0.1, a free port
//   std::puts(server.url().c_str());               // ws://127.0.0.1:PORT/ws
//   ...
//   server.stop();                                  // drains, closes connections
//
// Thread-safety: every member function may be called from any thread; stop() may be
// called more than once (later calls wait for the first to finish).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <simd_r_drive/data_store.h>

namespace simd_r_drive::net {

struct ServerOptions {
  // Where to listen. A host that is not a loopback address needs a token (the
  // constructor throws std::invalid_argument otherwise). Port 0 takes a free port.
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;

  // Threads running the sockets (0: one per core), and the worker threads that run
  // what can block: writes, compact, verify, stats, sync (0: two).
  unsigned io_threads = 0;
  unsigned worker_threads = 0;

  // Limits, announced to clients in the hello response (docs/protocol.md).
  std::size_t max_message_bytes = 64u << 20;
  std::size_t max_in_flight = 256;        // requests per connection worked on at once
  std::size_t max_connections = 1024;     // more are refused with HTTP 503
  std::size_t max_batch_items = 100000;
  std::size_t stream_chunk_bytes = 1u << 20;
  std::chrono::milliseconds idle_timeout{300000};
  // Unsent response bytes per connection above which the server stops reading it;
  // a connection kept above it for the idle timeout is dropped.
  std::size_t output_limit_bytes = 64u << 20;
  // Write streams open at once, server-wide (each holds the store's writer).
  std::size_t max_write_streams = 4;

  // A shared secret every client must present in hello; empty: none.
  std::string token;

  // TLS (wss://): PEM files of the certificate chain and its private key. Both or
  // neither.
  std::string tls_cert_file;
  std::string tls_key_file;

  // A read-only store (a follower of a writer in another process) is refreshed before
  // a read when its last refresh is older than this.
  std::chrono::milliseconds refresh_interval{5};

  // stop(): how long requests already received may take to finish.
  std::chrono::milliseconds shutdown_grace{5000};

  // The Redis front door (docs/redis.md): RESP2 on this port too (0: a free one),
  // with the same store, limits, token and TLS. Unset: WebSocket only.
  std::optional<std::uint16_t> resp_port;
  // A RESP connection idle this long is closed; 0: never, as Redis's default
  // `timeout 0` (redis-py's pools keep idle connections). idle_timeout is the
  // WebSocket side's.
  std::chrono::milliseconds resp_idle_timeout{0};
  // RESP commands that write run on the I/O thread that read them instead of the
  // worker pool: right when a write never waits for fdatasync (Durability::kFlush and
  // kSyncPeriodically), and it saves a thread hop per command.
  bool resp_inline_writes = false;
  // After its last handler, a RESP event loop keeps polling for this long before it
  // sleeps in epoll, so that the next request need not wake it (a wake-up costs a
  // client on the same machine more than the polling costs the server; docs/redis.md,
  // "Design"). Used only when the RESP loops (io_threads) are fewer than the CPUs the
  // process may use; 0: never poll.
  std::chrono::microseconds resp_busy_poll{50};
  // Redis Cluster mode (static topology, docs/redis.md "Cluster"): INFO says
  // cluster_enabled:1, keys of slots this node does not own are redirected with MOVED.
  bool cluster_enabled = false;
  // The topology to start with (the text format of docs/redis.md; empty: none until
  // CLUSTERX SETNODES), and this node's id in it (empty: the node whose address is the
  // RESP port's).
  std::string cluster_topology;
  std::string cluster_node_id;

  // One line on stderr per connection event (accept, close, refusal, auth failure).
  bool log_connections = true;

  // For tests: called on an I/O thread with the contiguous buffers of every outgoing
  // WebSocket message, and of every RESP write, as they are handed to the socket's
  // write, before it starts.
  std::function<void(std::span<const std::span<const std::byte>> buffers)> on_send;
};

// What the server has done so far (for tests and logs).
struct ServerCounters {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_refused = 0;  // over max_connections
  std::uint64_t connections_open = 0;
  std::uint64_t requests = 0;
  std::uint64_t auth_failures = 0;
};

class Server {
 public:
  // Binds, starts the threads and begins accepting. `store` must outlive the server.
  // Throws std::invalid_argument for bad options and std::system_error when it
  // cannot listen.
  Server(DataStore& store, ServerOptions options);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const std::string& host() const noexcept;
  std::uint16_t port() const noexcept;
  // "ws://HOST:PORT/ws", or wss:// with TLS (an IPv6 host in brackets).
  std::string url() const;
  // The RESP port (0 without ServerOptions::resp_port), and "redis://HOST:PORT"
  // ("rediss://" with TLS).
  std::uint16_t resp_port() const noexcept;
  std::string resp_url() const;

  // Stops accepting, sends every connection the shutting_down notice, answers the
  // requests it has received (for at most shutdown_grace), closes the connections
  // with status 1001 and joins the threads. The store is left open: its owner syncs
  // and closes it.
  void stop();
  // Blocks until stop() has finished (called from another thread).
  void wait();

  ServerCounters counters() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Whether `host` names a loopback address (127.0.0.0/8, ::1, "localhost").
bool is_loopback_host(const std::string& host);

}  // namespace simd_r_drive::net

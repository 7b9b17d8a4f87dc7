// What every connection of one server shares: the store, the options, the worker
// pool, counters, the connection log. No Beast here (docs/design.md: the server's
// headers stay light).
//
// Thread-safety: the context is shared by every thread of the server; its members
// say how each may be used.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <simd_r_drive/data_store.h>
#include <simd_r_drive/net/server.h>

#include "server/ttl_adapter.h"

namespace simd_r_drive::net::server {

// A fixed set of threads running jobs in the order they were posted. Any thread.
class WorkerPool {
 public:
  explicit WorkerPool(unsigned threads);
  ~WorkerPool();  // stop()
  void post(std::function<void()> job);
  // Runs the jobs already posted, then joins the threads. Later posts are dropped.
  void stop();

 private:
  void run();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// One line per event on stderr, written with a single write(2) so lines of several
// threads never interleave. Never given keys or values.
void log_line(bool enabled, std::string_view text);

struct ServerContext {
  ServerContext(DataStore& store_in, ServerOptions options_in);

  DataStore& store;
  const ServerOptions options;
  WorkerPool pool;
  const TtlAdapter* ttl = nullptr;
  // Bumped by every compaction this server runs: scan cursors name the epoch they
  // began in (docs/protocol.md, "Scan").
  std::atomic<std::uint64_t> compaction_epoch{0};
  std::atomic<std::size_t> write_streams_open{0};
  // Held by every write of this server that changes what a key holds, through either
  // door: the WebSocket methods that write, a write stream for as long as it is open,
  // and the RESP commands that write. RESP's read-then-write commands (SET NX/XX/GET,
  // GETDEL, RENAME, EXPIRE, PERSIST) and SET's choice between a plain and an expiring
  // entry are then atomic against every writer, not only against each other. Taken
  // before the store's own writer lock, never after it. Compaction does not take it
  // (it changes no key), but holds the store's writer throughout.
  std::mutex key_write_mutex;
  // Compactions this server is running: like an open write stream, one holds the
  // store's writer for long, so the RESP side sends its writes to the worker pool
  // meanwhile instead of waiting on an I/O thread.
  std::atomic<std::size_t> compactions_running{0};
  // Signalled when a write stream's thread ends (stop() waits for them all).
  std::mutex streams_mutex;
  std::condition_variable streams_done;

  // Counters (relaxed atomics).
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_refused{0};
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> auth_failures{0};
  std::atomic<std::uint64_t> next_connection_id{1};

  // A read-only store is refreshed before a read at most every refresh_interval, by
  // whichever thread gets there first; the others read what is there.
  void refresh_if_due();
  std::atomic<std::int64_t> last_refresh_ns{0};
  std::mutex refresh_mutex;

  void log(std::string_view text) const { log_line(options.log_connections, text); }
};

}  // namespace simd_r_drive::net::server

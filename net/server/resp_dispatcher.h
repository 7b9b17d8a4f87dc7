// The Redis front door's dispatcher (docs/redis.md): runs one parsed RESP command
// against the store and writes its reply. Like dispatcher.h for the WebSocket
// protocol, it is the only part of the RESP side that calls the store; it knows
// nothing of sockets or threads (the session decides where a command runs, by
// resp_placement).
//
// Thread-safety: resp_execute may run on any thread; a RespClient belongs to one
// connection and is used by one thread at a time. RespShared is server-wide. The
// commands that read and then write (SET NX, GETDEL, RENAME, EXPIRE...) are atomic:
// they hold ServerContext::key_write_mutex, as every writer of the server does.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "protocol/resp.h"
#include "server/cluster.h"
#include "server/redis_keyspace.h"
#include "server/server_context.h"

namespace simd_r_drive::net::server {

struct RespShared {
  explicit RespShared(bool cluster_enabled) : cluster(cluster_enabled) {}
  ClusterState cluster;
  std::atomic<std::uint64_t> next_client_id{1};
  std::atomic<std::uint64_t> commands{0};
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> connections_accepted{0};
  // Where this server's RESP port listens (CLUSTER MYID falls back to the topology's
  // node with this address when no id was set).
  std::string host;
  std::uint16_t port = 0;
  bool tls = false;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  RedisKeyspace keyspace;  // DBSIZE and INFO keyspace
};

struct RespClient {
  std::uint64_t id = 0;
  bool authenticated = false;
  std::string name;
  bool close_after_reply = false;  // QUIT, or a protocol error
};

// Where a command (its name as sent, any case) runs.
enum class RespPlacement {
  kEventLoop,   // on its connection's event loop
  kWrite,       // it may write to the store, so it may wait for the store's writer or
                // fdatasync: on the worker pool, unless the server runs writes inline
  kWorkerPool,  // always on the worker pool: it may take long in any durability mode
                // (a walk over the records written since it last ran, or a sync)
};
RespPlacement resp_placement(std::string_view name) noexcept;

// Runs `args` (args[0] is the command's name) and appends its reply to `out`. A
// command that writes takes ServerContext::key_write_mutex, unless the caller says
// it holds it.
void resp_execute(ServerContext& context, RespShared& shared, RespClient& client,
                  std::span<const std::string_view> args, resp::ReplyWriter& out, bool holds_key_write_lock = false);

}  // namespace simd_r_drive::net::server

// The dispatcher: the only part of the server that calls the store. It runs a
// decoded request and writes its response; it knows nothing of sockets or threads
// (the connection decides where each request runs, by its lane).
//
// Thread-safety: dispatch() may run on any thread; a ConnectionStreams belongs to
// one connection and is only touched on that connection's strand (the inline lane).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <simd_r_drive/data_store.h>

#include "protocol/codec.h"
#include "server/server_context.h"

namespace simd_r_drive::net::server {

// Where a method runs.
enum class Lane {
  kInline,      // on the connection's I/O strand: never waits (reads, streams out of the mapping)
  kBlocking,    // on the worker pool, in the connection's order: writes, compact, verify, stats, sync
  kConnection,  // handled by the connection itself: hello, write streams
};
Lane lane_of(protocol::Method method) noexcept;
// Whether the method changes the store (refused by a read-only server).
bool writes_store(protocol::Method method) noexcept;
// Whether dispatch() runs the method holding ServerContext::key_write_mutex.
bool changes_keys(protocol::Method method) noexcept;

struct ReadStream {
  EntryHandle handle;
  std::size_t position = 0;
};
struct Scan {
  std::optional<EntryRange> range;
  EntryIterator it;
  std::uint64_t epoch = 0;
};

// What a connection keeps for the inline methods: open read streams and scans.
struct ConnectionStreams {
  static constexpr std::size_t kMaxReadStreams = 64;
  static constexpr std::size_t kMaxScans = 4;
  std::unordered_map<std::uint64_t, ReadStream> read_streams;
  std::unordered_map<std::uint64_t, Scan> scans;
  std::uint64_t next_read_stream = 1;
  std::uint64_t next_scan = 1;
};

// Runs an inline or blocking request and writes its response (a result or an error).
void dispatch(ServerContext& context, ConnectionStreams& streams, const protocol::Request& request,
              protocol::ResponseWriter& out);

// The methods this server answers (hello's "methods").
std::vector<std::string_view> served_methods(const ServerContext& context);

// hello's result map (the caller has checked the version and token).
void write_hello_result(const ServerContext& context, protocol::ResponseWriter& out, std::uint32_t id);

// Writes the error response for an exception thrown by the store (or anything else).
void write_exception(protocol::ResponseWriter& out, std::uint32_t id);

}  // namespace simd_r_drive::net::server

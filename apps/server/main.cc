// simd-r-drive-server: serves one store over WebSocket (docs/net.md, the protocol in
// docs/protocol.md).
//
//   simd-r-drive-server <store> [--host 127.0.0.1] [--port 0] [options]
//
// When it is ready it prints one line on stdout, "listening on
// ws://HOST:PORT/ws", so that scripts can wait for it. SIGINT or SIGTERM stops it
// cleanly: no new connections, requests already received are answered (for a bounded
// time), the store is synced and closed, exit status 0. Connection events go to
// stderr, one line each.
//
// Exit status: 0 after a clean stop; 1 when the store cannot be opened or the address
// cannot be bound; 2 for a usage error (including a non-loopback --host without a
// token), with nothing started.
#include <CLI/CLI.hpp>
#include <simd_r_drive/simd_r_drive.h>
#include <simd_r_drive/net/server.h>

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <iostream>
#include <optional>
#include <string>

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

void fail(const std::string& message) { std::fprintf(stderr, "simd-r-drive-server: error: %s\n", message.c_str()); }

// The token: from --token-file (its first line), else SRD_SERVER_TOKEN. Never from the
// command line, where other users of the machine could read it (ps, /proc).
std::optional<std::string> load_token(const std::string& token_file, std::string& error) {
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in) {
      error = "cannot read the token file " + token_file;
      return std::nullopt;
    }
    std::string token;
    std::getline(in, token);
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
    if (token.empty()) {
      error = "the token file " + token_file + " is empty";
      return std::nullopt;
    }
    return token;
  }
  if (const char* env = std::getenv("SRD_SERVER_TOKEN"); env != nullptr && *env != '\0') return std::string(env);
  return std::string();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Serves a SIMD R Drive store over WebSocket (protocol: docs/protocol.md)", "simd-r-drive-server"};
  app.set_version_flag("--version", "simd-r-drive-server " SRD_VERSION);
  app.footer(R"(The server prints "listening on ws://HOST:PORT/ws" on stdout when it is ready.
Stop it with Ctrl-C (SIGINT) or SIGTERM: it answers what it has received, syncs and
closes the store, and exits 0.

Security: it listens on 127.0.0.1 unless told otherwise, and refuses any other address
without a token (--token-file FILE, or the environment variable SRD_SERVER_TOKEN).
Use --tls-cert and --tls-key to serve wss:// (docs/security.md).

Examples:
  simd-r-drive-server data/store.bin --port 7878
  SRD_SERVER_TOKEN=s3cret simd-r-drive-server store.bin --host 0.0.0.0 --tls-cert c.pem --tls-key k.pem
  simd-r-drive-server replica.bin --read-only --port 7879
  simd-r-drive-server store.bin --port 7878 --resp-port 6379     # and redis-cli -p 6379)");

  std::string store_path;
  simd_r_drive::net::ServerOptions options;
  std::string durability = "flush";
  bool read_only = false;
  std::string token_file;
  unsigned idle_timeout_secs = 300;
  unsigned resp_idle_timeout_secs = 0;
  unsigned refresh_ms = 5;
  bool quiet = false;
  std::uint16_t port = 0;

  app.add_option("store", store_path, "the store file (created if missing, unless --read-only)")->required();
  app.add_option("--host", options.host, "address to listen on")->capture_default_str();
  app.add_option("--port", port, "port to listen on; 0 takes a free one")->capture_default_str();
  app.add_flag("--read-only", read_only,
               "serve the store read-only, following a writer in another process (refreshed before reads, "
               "at most every --refresh-interval-ms)");
  app.add_option("--refresh-interval-ms", refresh_ms, "--read-only: how stale a read may be")->capture_default_str();
  app.add_option("--durability", durability, "when writes reach stable storage (docs/durability.md)")
      ->check(CLI::IsMember({"flush", "sync-each-write", "group-commit", "sync-periodically"}))
      ->capture_default_str();
  unsigned sync_interval_ms = static_cast<unsigned>(simd_r_drive::OpenOptions{}.sync_interval.count());
  app.add_option("--sync-interval-ms", sync_interval_ms,
                 "--durability sync-periodically: milliseconds between syncs, at most what a power loss takes")
      ->check(CLI::Range(1u, 86'400'000u))
      ->capture_default_str();
  std::uint64_t address_space_reservation = simd_r_drive::OpenOptions{}.address_space_reservation;
  app.add_option("--address-space-reservation", address_space_reservation,
                 "address space mapped at open for the store to grow into, in bytes or with a unit (16MiB, 4GiB); "
                 "not memory (docs/design.md)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--max-message-bytes", options.max_message_bytes, "largest WebSocket message taken or sent")
      ->capture_default_str();
  app.add_option("--max-in-flight", options.max_in_flight, "requests per connection worked on at once")
      ->capture_default_str();
  app.add_option("--max-connections", options.max_connections, "connections at once; more get HTTP 503")
      ->capture_default_str();
  app.add_option("--idle-timeout", idle_timeout_secs,
                 "seconds without traffic before a WebSocket connection is closed")
      ->capture_default_str();
  app.add_option("--resp-idle-timeout", resp_idle_timeout_secs,
                 "seconds without traffic before a RESP connection is closed; 0: never (Redis's timeout)")
      ->capture_default_str();
  app.add_option("--output-limit", options.output_limit_bytes,
                 "unsent answer bytes per connection before it stops being read")
      ->capture_default_str();
  app.add_option("--io-threads", options.io_threads, "threads running the sockets (0: one per core)")
      ->capture_default_str();
  unsigned busy_poll_us = static_cast<unsigned>(options.resp_busy_poll.count());
  app.add_option("--busy-poll-us", busy_poll_us,
                 "microseconds a RESP event loop polls after its last request before it sleeps, when the loops "
                 "are fewer than the CPUs; 0: never (docs/redis.md)")
      ->check(CLI::Range(0u, 1'000'000u))
      ->capture_default_str();
  app.add_option("--workers", options.worker_threads, "threads running writes and maintenance (0: two)")
      ->capture_default_str();
  app.add_option("--token-file", token_file, "file whose first line is the shared secret clients must send");
  app.add_option("--tls-cert", options.tls_cert_file, "PEM certificate chain: serve wss://");
  app.add_option("--tls-key", options.tls_key_file, "PEM private key of --tls-cert");
  app.add_flag("--quiet", quiet, "no connection log on stderr");
  int resp_port = -1;
  bool cluster = false;
  std::string topology_file;
  app.add_option("--resp-port", resp_port,
                 "also serve the Redis protocol (RESP2) on this port; 0 takes a free one (docs/redis.md)");
  app.add_flag("--cluster", cluster, "Redis Cluster mode with a static topology (needs --resp-port)");
  app.add_option("--cluster-topology", topology_file,
                 "the topology to start with (implies --cluster; else set it with CLUSTERX SETNODES)");
  app.add_option("--cluster-node-id", options.cluster_node_id,
                 "this node's id in the topology (default: the node with this server's RESP address)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int status = app.exit(error);
    return status == 0 ? 0 : kExitUsage;
  }
  options.port = port;
  if (resp_port > 65535) {
    fail("--resp-port must be 0..65535");
    return kExitUsage;
  }
  if (resp_port >= 0) options.resp_port = static_cast<std::uint16_t>(resp_port);
  options.cluster_enabled = cluster || !topology_file.empty() || !options.cluster_node_id.empty();
  if (!topology_file.empty()) {
    std::ifstream in(topology_file);
    if (!in) {
      fail("cannot read the cluster topology " + topology_file);
      return kExitUsage;
    }
    options.cluster_topology.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (options.cluster_enabled && !options.resp_port) {
    fail("--cluster needs --resp-port");
    return kExitUsage;
  }
  // A write in these modes never waits for fdatasync: RESP writes run on the I/O
  // thread that read them (ServerOptions::resp_inline_writes).
  options.resp_inline_writes = durability == "flush" || durability == "sync-periodically";
  options.idle_timeout = std::chrono::seconds(idle_timeout_secs);
  options.resp_busy_poll = std::chrono::microseconds(busy_poll_us);
  options.resp_idle_timeout = std::chrono::seconds(resp_idle_timeout_secs);
  options.refresh_interval = std::chrono::milliseconds(refresh_ms);
  options.log_connections = !quiet;

  std::string error;
  const auto token = load_token(token_file, error);
  if (!token) {
    fail(error);
    return kExitUsage;
  }
  options.token = *token;
  if (!simd_r_drive::net::is_loopback_host(options.host) && options.token.empty()) {
    fail("refusing to listen on " + options.host +
         ", which is not a loopback address, without a token: pass --token-file FILE or set SRD_SERVER_TOKEN");
    return kExitUsage;
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    fail("--tls-cert and --tls-key go together");
    return kExitUsage;
  }

  // SIGINT and SIGTERM are taken by sigwait below: blocked before any thread starts,
  // so every thread inherits the mask and none is interrupted.
  // A shell starts background jobs with SIGINT ignored, and an ignored signal is
  // discarded rather than left pending for sigwait: take both back first.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  simd_r_drive::OpenOptions open_options;
  open_options.read_only = read_only;
  open_options.address_space_reservation = address_space_reservation;
  open_options.sync_interval = std::chrono::milliseconds(sync_interval_ms);
  if (durability == "sync-each-write") open_options.durability = simd_r_drive::Durability::kSyncEachWrite;
  else if (durability == "group-commit") open_options.durability = simd_r_drive::Durability::kGroupCommit;
  else if (durability == "sync-periodically") open_options.durability = simd_r_drive::Durability::kSyncPeriodically;

  std::optional<simd_r_drive::DataStore> store;
  try {
    store.emplace(simd_r_drive::DataStore::open(store_path, open_options));
  } catch (const std::exception& failure) {
    fail(std::string("cannot open the store: ") + failure.what());
    return kExitError;
  }

  std::optional<simd_r_drive::net::Server> server;
  try {
    server.emplace(*store, options);
  } catch (const std::invalid_argument& failure) {
    fail(failure.what());
    return kExitUsage;
  } catch (const std::exception& failure) {
    fail(std::string("cannot listen on ") + options.host + ":" + std::to_string(options.port) + ": " + failure.what());
    return kExitError;
  }
  std::printf("listening on %s\n", server->url().c_str());
  if (options.resp_port) std::printf("listening on %s\n", server->resp_url().c_str());
  std::fflush(stdout);

  int received = 0;
  sigwait(&stop_signals, &received);
  std::fprintf(stderr, "simd-r-drive-server: %s received; stopping\n", received == SIGINT ? "SIGINT" : "SIGTERM");
  server->stop();
  server.reset();
  int status = 0;
  try {
    if (!store->is_read_only()) store->sync();
    store.reset();  // closes the store (trims its preallocation, writes the index snapshot)
  } catch (const std::exception& failure) {
    fail(std::string("closing the store: ") + failure.what());
    status = kExitError;
  }
  std::fprintf(stderr, "simd-r-drive-server: stopped; the store is synced and closed\n");
  return status;
}

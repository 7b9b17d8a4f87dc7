// srd-net-bench: the network layer's figures beside the in-process ones, in one run
// (docs/performance.md, "Over the network").
//
//   srd-net-bench [--runs N] [--server PATH] [--dir DIR] [--spin-us N]
//
// It starts simd-r-drive-server as a child process on 127.0.0.1 (port 0, durability
// flush), and measures through simd_r_drive::net::Client:
//   - 8-byte reads and writes, one at a time (latency percentiles) and pipelined over
//     4 connections (Client::Pipeline, 1,000 requests a message);
//   - batch_read of 1,000 keys;
//   - 1 MiB values read and written;
// the same operations on a DataStore in this process; and the loopback's own round
// trip: 8 bytes ping-ponged over TCP between this process and a forked one, the way a
// client's request and the server's answer travel. Each figure is the median of
// --runs runs (5 by default); the table ends with the ratios to the goals.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <simd_r_drive/simd_r_drive.h>
#include <simd_r_drive/net/client.h>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using simd_r_drive::DataStore;
using simd_r_drive::net::Client;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const std::size_t index = std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())));
  return sorted[index];
}

std::string key_of(std::size_t i) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "key%08zu", i);
  return buffer;
}

// ---- the loopback's own round trip ------------------------------------------------

// Microseconds per 8-byte TCP ping-pong with a forked echo process.
double loopback_rtt_us(std::size_t rounds) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  ::listen(listener, 1);
  const pid_t child = ::fork();
  if (child == 0) {
    const int peer = ::accept(listener, nullptr, nullptr);
    int one = 1;
    ::setsockopt(peer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buffer[8];
    for (;;) {
      std::size_t got = 0;
      while (got < sizeof buffer) {
        const ssize_t n = ::read(peer, buffer + got, sizeof buffer - got);
        if (n <= 0) ::_exit(0);
        got += static_cast<std::size_t>(n);
      }
      if (::write(peer, buffer, sizeof buffer) != sizeof buffer) ::_exit(0);
    }
  }
  ::close(listener);
  const int socket = ::socket(AF_INET, SOCK_STREAM, 0);
  ::connect(socket, reinterpret_cast<sockaddr*>(&address), sizeof address);
  int one = 1;
  ::setsockopt(socket, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char buffer[8] = {'p', 'i', 'n', 'g', 0, 0, 0, 0};
  std::vector<double> samples;
  samples.reserve(rounds);
  for (std::size_t i = 0; i < rounds; ++i) {
    const auto start = Clock::now();
    if (::write(socket, buffer, sizeof buffer) != sizeof buffer) break;
    std::size_t got = 0;
    while (got < sizeof buffer) {
      const ssize_t n = ::read(socket, buffer + got, sizeof buffer - got);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    samples.push_back(seconds_since(start) * 1e6);
  }
  ::close(socket);
  int status = 0;
  ::waitpid(child, &status, 0);
  return median(samples);
}

// ---- the server as a child process ----------------------------------------------

class ServerChild {
 public:
  ServerChild(const std::string& binary, const std::string& store) {
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
    std::vector<std::string> args{binary, store, "--quiet"};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("cannot start " + binary);
    }
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[1]);
    std::string line;
    char c = 0;
    while (::read(pipe_fds[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    ::close(pipe_fds[0]);
    const std::string prefix = "listening on ";
    if (line.rfind(prefix, 0) != 0) throw std::runtime_error("the server did not start: '" + line + "'");
    url_ = line.substr(prefix.size());
  }
  ~ServerChild() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  const std::string& url() const { return url_; }

 private:
  pid_t pid_ = -1;
  std::string url_;
};

// ---- the figures ---------------------------------------------------------------------

struct Figures {
  std::map<std::string, std::vector<double>> samples;  // name -> one value per run
  void add(const std::string& name, double value) { samples[name].push_back(value); }
  double get(const std::string& name) const {
    auto it = samples.find(name);
    return it == samples.end() ? 0 : median(it->second);
  }
};

constexpr std::size_t kSmallKeys = 100000;
constexpr std::size_t kBigValues = 64;

void fill_small(DataStore& store) {
  std::vector<std::pair<std::string, std::string>> items;
  for (std::size_t i = 0; i < kSmallKeys; ++i) items.emplace_back(key_of(i), "8bytes!!");
  store.batch_write(items);
}

int spin_us = 100;  // --spin-us: the spinning row's ClientOptions::spin_before_blocking

void run_once(const std::string& server_binary, const std::filesystem::path& dir, Figures& figures, int run) {
  const std::string big_value(1 << 20, 'b');
  std::vector<std::string> batch_keys;
  for (std::size_t i = 0; i < 1000; ++i) batch_keys.push_back(key_of((i * 7919) % kSmallKeys));

  // In process.
  {
    const auto path = dir / ("local-" + std::to_string(run) + ".bin");
    auto store = DataStore::open(path);
    fill_small(store);
    std::size_t n = 200000;
    auto start = Clock::now();
    std::size_t found = 0;
    for (std::size_t i = 0; i < n; ++i) found += store.read(key_of((i * 7919) % kSmallKeys)) ? 1 : 0;
    figures.add("local read 8 B (ops/s)", static_cast<double>(n) / seconds_since(start));
    n = 100000;
    start = Clock::now();
    for (std::size_t i = 0; i < n; ++i) store.write(key_of(i % kSmallKeys), "8bytes!!");
    figures.add("local write 8 B (ops/s)", static_cast<double>(n) / seconds_since(start));
    start = Clock::now();
    for (int i = 0; i < 200; ++i) found += store.batch_read(batch_keys).size();
    figures.add("local batch_read 1,000 keys (batches/s)", 200 / seconds_since(start));
    for (std::size_t i = 0; i < kBigValues; ++i) store.write("big" + std::to_string(i), big_value);
    std::vector<std::byte> sink(1 << 20);
    start = Clock::now();
    for (int round = 0; round < 8; ++round) {
      for (std::size_t i = 0; i < kBigValues; ++i) {
        const auto value = store.read("big" + std::to_string(i));
        std::memcpy(sink.data(), value->data(), value->size());  // consumed, as a client must
      }
    }
    figures.add("local read 1 MiB, copied out (GiB/s)", 8.0 * kBigValues / 1024 / seconds_since(start));
    start = Clock::now();
    for (std::size_t i = 0; i < 256; ++i) store.write("w" + std::to_string(i % kBigValues), big_value);
    figures.add("local write 1 MiB (GiB/s)", 256.0 / 1024 / seconds_since(start));
    if (found == 0) std::puts("");
  }

  // Over the network.
  const auto path = dir / ("served-" + std::to_string(run) + ".bin");
  {
    auto store = DataStore::open(path);
    fill_small(store);
    for (std::size_t i = 0; i < kBigValues; ++i) store.write("big" + std::to_string(i), big_value);
  }
  ServerChild server(server_binary, path.string());
  {
    Client client(server.url());
    // The loopback's own round trip, right before the reads it is compared with (this
    // machine is shared: figures taken minutes apart do not compare).
    const double rtt = loopback_rtt_us(20000);
    figures.add("loopback TCP round trip, 8 B (us)", rtt);
    std::vector<double> latencies;
    const std::size_t n = 20000;
    latencies.reserve(n);
    auto start = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      const auto t = Clock::now();
      client.read(key_of((i * 7919) % kSmallKeys));
      latencies.push_back(seconds_since(t) * 1e6);
    }
    figures.add("read 8 B, one at a time (ops/s)", static_cast<double>(n) / seconds_since(start));
    std::sort(latencies.begin(), latencies.end());
    figures.add("read 8 B latency p50 (us)", percentile(latencies, 0.50));
    figures.add("read 8 B latency p99 (us)", percentile(latencies, 0.99));
    figures.add("read 8 B latency p999 (us)", percentile(latencies, 0.999));
    figures.add("ratio: read p50 / loopback RTT", percentile(latencies, 0.50) / rtt);
    {
      // The same with ClientOptions::spin_before_blocking: the caller stays runnable.
      simd_r_drive::net::ClientOptions spin;
      spin.spin_before_blocking = std::chrono::microseconds(spin_us);
      Client spinning(server.url(), spin);
      latencies.clear();
      for (std::size_t i = 0; i < n; ++i) {
        const auto t = Clock::now();
        spinning.read(key_of((i * 7919) % kSmallKeys));
        latencies.push_back(seconds_since(t) * 1e6);
      }
      std::sort(latencies.begin(), latencies.end());
      figures.add("read 8 B latency p50, spin_before_blocking (us)", percentile(latencies, 0.50));
      figures.add("read 8 B latency p99, spin_before_blocking (us)", percentile(latencies, 0.99));
      figures.add("ratio: read p50 spinning / loopback RTT", percentile(latencies, 0.50) / rtt);
    }
    latencies.clear();
    start = Clock::now();
    for (std::size_t i = 0; i < n / 2; ++i) {
      const auto t = Clock::now();
      client.write(key_of(i % kSmallKeys), "8bytes!!");
      latencies.push_back(seconds_since(t) * 1e6);
    }
    figures.add("write 8 B, one at a time (ops/s)", static_cast<double>(n / 2) / seconds_since(start));
    std::sort(latencies.begin(), latencies.end());
    figures.add("write 8 B latency p50 (us)", percentile(latencies, 0.50));
    figures.add("write 8 B latency p99 (us)", percentile(latencies, 0.99));
    figures.add("write 8 B latency p999 (us)", percentile(latencies, 0.999));

    start = Clock::now();
    for (int i = 0; i < 200; ++i) client.batch_read(batch_keys);
    figures.add("batch_read 1,000 keys (batches/s)", 200 / seconds_since(start));

    start = Clock::now();
    for (int round = 0; round < 4; ++round) {
      for (std::size_t i = 0; i < kBigValues; ++i) client.read("big" + std::to_string(i));
    }
    figures.add("read 1 MiB (GiB/s)", 4.0 * kBigValues / 1024 / seconds_since(start));
    start = Clock::now();
    for (std::size_t i = 0; i < 256; ++i) client.write("w" + std::to_string(i % kBigValues), big_value);
    figures.add("write 1 MiB (GiB/s)", 256.0 / 1024 / seconds_since(start));
  }
  // Pipelined, 4 connections, one thread each.
  for (const bool writes : {false, true}) {
    constexpr int kConnections = 4;
    constexpr std::size_t kPerMessage = 1000;
    const std::size_t messages = writes ? 100 : 250;
    std::vector<std::unique_ptr<Client>> clients;
    for (int c = 0; c < kConnections; ++c) clients.push_back(std::make_unique<Client>(server.url()));
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int c = 0; c < kConnections; ++c) {
      threads.emplace_back([&, c] {
        ready.fetch_add(1);
        while (!go.load()) std::this_thread::yield();
        for (std::size_t m = 0; m < messages; ++m) {
          auto pipeline = clients[c]->pipeline();
          for (std::size_t i = 0; i < kPerMessage; ++i) {
            const std::string key = key_of((m * kPerMessage + i + static_cast<std::size_t>(c) * 7) % kSmallKeys);
            if (writes) pipeline.write(key, "8bytes!!");
            else pipeline.read(key);
          }
          pipeline.execute();
        }
      });
    }
    while (ready.load() < kConnections) std::this_thread::yield();
    const auto start = Clock::now();
    go.store(true);
    for (auto& thread : threads) thread.join();
    const double ops = static_cast<double>(kConnections) * static_cast<double>(messages * kPerMessage);
    figures.add(writes ? "write 8 B, pipelined, 4 connections (ops/s)" : "read 8 B, pipelined, 4 connections (ops/s)",
                ops / seconds_since(start));
  }
  std::filesystem::remove(path);
}

std::string format(double value) {
  char buffer[64];
  if (value >= 1000) std::snprintf(buffer, sizeof buffer, "%.0f", value);
  else std::snprintf(buffer, sizeof buffer, "%.2f", value);
  std::string text = buffer;
  // Thousands separators for the large counts.
  const std::size_t dot = text.find('.');
  std::size_t digits = dot == std::string::npos ? text.size() : dot;
  for (std::size_t i = digits; i > 3; i -= 3) text.insert(i - 3, ",");
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5;
  std::string server_binary = SRD_NET_SERVER_BINARY;
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("srd-net-bench-" + std::to_string(::getpid()));
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--runs" && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
    else if (arg == "--server" && i + 1 < argc) server_binary = argv[++i];
    else if (arg == "--dir" && i + 1 < argc) dir = argv[++i];
    else if (arg == "--spin-us" && i + 1 < argc) spin_us = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: srd-net-bench [--runs N] [--server PATH] [--dir DIR]\n");
      return 2;
    }
  }
  std::filesystem::create_directories(dir);
  signal(SIGPIPE, SIG_IGN);
  simd_r_drive::set_log_level(simd_r_drive::LogLevel::kWarning);
  Figures figures;
  for (int run = 0; run < runs; ++run) {
    std::fprintf(stderr, "srd-net-bench: run %d of %d\n", run + 1, runs);
    run_once(server_binary, dir, figures, run);
    for (const auto& entry : std::filesystem::directory_iterator(dir)) std::filesystem::remove(entry.path());
  }
  std::filesystem::remove_all(dir);

  std::printf("| srd-net-bench: median of %d runs (client and server on this machine) | value |\n|---|---:|\n", runs);
  for (const auto& [name, values] : figures.samples) std::printf("| %s | %s |\n", name.c_str(), format(median(values)).c_str());
  const double rtt = figures.get("loopback TCP round trip, 8 B (us)");
  const double p50 = figures.get("read 8 B latency p50 (us)");
  std::printf("\n| goal | measured | ratio |\n|---|---:|---:|\n");
  std::printf("| pipelined 8-byte reads over 4 connections >= 1,000,000 ops/s | %s | %.2f |\n",
              format(figures.get("read 8 B, pipelined, 4 connections (ops/s)")).c_str(),
              figures.get("read 8 B, pipelined, 4 connections (ops/s)") / 1e6);
  std::printf("| 1 MiB values read >= 1.5 GiB/s | %s | %.2f |\n", format(figures.get("read 1 MiB (GiB/s)")).c_str(),
              figures.get("read 1 MiB (GiB/s)") / 1.5);
  // The ratios are the medians of each run's own ratio (RTT measured just before).
  std::printf("| unpipelined read round trip <= 1.2 x loopback RTT (%.1f us) | %.1f us | %.2f x |\n", rtt, p50,
              figures.get("ratio: read p50 / loopback RTT"));
  const double spin_p50 = figures.get("read 8 B latency p50, spin_before_blocking (us)");
  std::printf("| the same, spin_before_blocking %d us | %.1f us | %.2f x |\n", spin_us, spin_p50,
              figures.get("ratio: read p50 spinning / loopback RTT"));
  return 0;
}

// The real simd-r-drive-server binary, as a user starts it: its announcement,
// SIGTERM, a follower of a writer in another process, tokens, TLS, a SIGKILL under
// a write load in the sync modes, a client that never reads its answers, and a
// value of gigabytes streamed both ways, with the server's memory measured from
// /proc.
#include <signal.h>
#include <sys/statvfs.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <thread>

#include <simd_r_drive/simd_r_drive.h>
#include <simd_r_drive/net/client.h>

#include "net_test_support.h"
#include "test_support.h"

namespace {

using namespace srd_net_test;
using simd_r_drive::ByteView;
using simd_r_drive::net::Client;
using simd_r_drive::net::ClientOptions;
namespace mp = simd_r_drive::net::mp;

std::uint16_t port_of(const std::string& url) {
  const auto colon = url.rfind(':');
  return static_cast<std::uint16_t>(std::stoi(url.substr(colon + 1)));
}

ClientOptions no_reconnect() {
  ClientOptions options;
  options.reconnect.enabled = false;
  return options;
}

TEST(ServerBinary, AnnouncesOneLineAndStopsCleanlyOnSigterm) {
  srd_test::TempDir dir;
  const auto path = dir.file("store.bin");
  ServerProcess server({path.string(), "--port", "0"});
  const std::string line = server.first_line();
  EXPECT_TRUE(std::regex_match(line, std::regex(R"(listening on ws://127\.0\.0\.1:[0-9]+/ws)"))) << line;
  const std::string url = line.substr(std::string("listening on ").size());
  std::uint64_t tail = 0;
  {
    Client client(url, no_reconnect());
    client.write("secret-key-text", "secret-value-text");
    tail = client.write("second", "2");
  }
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait_exit(), 0) << server.stderr_text();
  EXPECT_EQ(server.rest_of_stdout(), "") << "exactly one line on stdout";
  const std::string log = server.stderr_text();
  EXPECT_NE(log.find("accepted"), std::string::npos) << log;
  EXPECT_NE(log.find("closed by the client"), std::string::npos) << log;
  EXPECT_NE(log.find("synced and closed"), std::string::npos) << log;
  EXPECT_EQ(log.find("secret-key-text"), std::string::npos) << "keys are never logged";
  EXPECT_EQ(log.find("secret-value-text"), std::string::npos) << "values are never logged";
  // Closed: the preallocation is trimmed, the file ends at the last tail.
  EXPECT_EQ(std::filesystem::file_size(path), tail);
  auto store = simd_r_drive::DataStore::open(path);
  EXPECT_EQ(store.read("second")->as_string_view(), "2");
}

TEST(ServerBinary, MapsTheAddressSpaceReservationItIsGiven) {
  srd_test::TempDir dir;
  const auto path = dir.file("store.bin");
  {
    ServerProcess server({path.string()});
    server.wait_listening();
    // (The store maps the file once when it opens; a write adds a page of its own.)
    EXPECT_EQ(srd_test::mapped_sizes(server.pid(), path), std::vector<std::uint64_t>{std::uint64_t{4} << 30});
  }
  {
    ServerProcess server({path.string(), "--address-space-reservation", "16MiB"});
    Client client(server.wait_listening(), no_reconnect());
    EXPECT_EQ(srd_test::mapped_sizes(server.pid(), path), std::vector<std::uint64_t>{std::uint64_t{16} << 20});
    client.write("k", "v");
    EXPECT_EQ(client.read("k")->as_string_view(), "v");
  }
  ServerProcess refused({path.string(), "--address-space-reservation", "lots"});
  EXPECT_EQ(refused.wait_exit(), 2);
  EXPECT_NE(refused.stderr_text().find("--address-space-reservation"), std::string::npos) << refused.stderr_text();
}

// The end of what the writer's last fdatasync covered, from `<store>.lock` (offset 40,
// native-endian; docs/durability.md).
std::uint64_t durable_tail_of(const std::filesystem::path& store) {
  std::ifstream lock(store.string() + ".lock", std::ios::binary);
  lock.seekg(40);
  std::uint64_t tail = 0;
  lock.read(reinterpret_cast<char*>(&tail), sizeof tail);
  return lock ? tail : 0;
}

TEST(ServerBinary, SyncsAsOftenAsItsSyncIntervalSays) {
  srd_test::TempDir dir;
  {
    const auto path = dir.file("often.bin");
    ServerProcess server({path.string(), "--durability", "sync-periodically", "--sync-interval-ms", "20"});
    Client client(server.wait_listening(), no_reconnect());
    const std::uint64_t tail = client.write("k", "v");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (durable_tail_of(path) < tail && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_GE(durable_tail_of(path), tail) << "no sync within 10 s at a 20 ms interval";
  }
  {
    const auto path = dir.file("daily.bin");
    ServerProcess server({path.string(), "--durability", "sync-periodically", "--sync-interval-ms", "86400000"});
    Client client(server.wait_listening(), no_reconnect());
    const std::uint64_t tail = client.write("k", "v");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // 25 of the intervals above
    EXPECT_LT(durable_tail_of(path), tail) << "synced long before its interval of a day";
  }
  ServerProcess refused({dir.file("x.bin").string(), "--sync-interval-ms", "0"});
  EXPECT_EQ(refused.wait_exit(), 2);
  EXPECT_NE(refused.stderr_text().find("--sync-interval-ms"), std::string::npos) << refused.stderr_text();
}

TEST(ServerBinary, RefusesANonLoopbackAddressWithoutAToken) {
  srd_test::TempDir dir;
  ServerProcess server({dir.file("store.bin").string(), "--host", "0.0.0.0", "--port", "0"});
  EXPECT_EQ(server.wait_exit(), 2);
  EXPECT_EQ(server.first_line(std::chrono::milliseconds(100)), "");
  EXPECT_NE(server.stderr_text().find("token"), std::string::npos) << server.stderr_text();
  EXPECT_FALSE(std::filesystem::exists(dir.file("store.bin"))) << "nothing was started";
}

TEST(ServerBinary, TakesItsTokenFromAFileOrTheEnvironment) {
  srd_test::TempDir dir;
  const auto token_file = dir.file("token");
  std::ofstream(token_file) << "from-the-file\n";
  for (int variant = 0; variant < 2; ++variant) {
    const bool from_file = variant == 0;
    const std::string token = from_file ? "from-the-file" : "from-the-environment";
    std::vector<std::string> args{dir.file("store" + std::to_string(variant) + ".bin").string()};
    std::vector<std::string> env;
    if (from_file) {
      args.push_back("--token-file");
      args.push_back(token_file.string());
    } else {
      env.push_back("SRD_SERVER_TOKEN=" + token);
    }
    ServerProcess server(args, env);
    const std::string url = server.wait_listening();
    try {
      Client refused(url, no_reconnect());
      ADD_FAILURE() << "a client without the token was let in";
    } catch (const simd_r_drive::net::ClientError& error) {
      EXPECT_EQ(error.protocol_code(), "unauthorized");
    }
    ClientOptions options = no_reconnect();
    options.token = token;
    Client client(url, options);
    client.write("k", "v");
    EXPECT_EQ(client.read("k")->as_string_view(), "v");
    EXPECT_NE(server.stderr_text().find("auth failure"), std::string::npos);
    EXPECT_EQ(server.stderr_text().find(token), std::string::npos) << "the token is never logged";
  }
}

TEST(ServerBinary, AReadOnlyServerFollowsAWriterInAnotherProcess) {
  srd_test::TempDir dir;
  const auto path = dir.file("store.bin");
  ServerProcess writer({path.string()});
  Client to_writer(writer.wait_listening(), no_reconnect());
  to_writer.write("first", "1");
  ServerProcess follower({path.string(), "--read-only", "--refresh-interval-ms", "1"});
  Client to_follower(follower.wait_listening(), no_reconnect());
  EXPECT_TRUE(to_follower.server_info().read_only);
  EXPECT_EQ(to_follower.read("first")->as_string_view(), "1");
  to_writer.write("second", "2");
  std::optional<simd_r_drive::EntryHandle> second;
  for (int attempt = 0; attempt < 2000 && !second; ++attempt) {
    second = to_follower.read("second");
    if (!second) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(second.has_value()) << "the follower never saw the writer's second write";
  EXPECT_EQ(second->as_string_view(), "2");
  EXPECT_THROW(to_follower.write("third", "3"), simd_r_drive::Error);
  follower.signal(SIGINT);
  EXPECT_EQ(follower.wait_exit(), 0) << follower.stderr_text();
  writer.signal(SIGTERM);
  EXPECT_EQ(writer.wait_exit(), 0) << writer.stderr_text();
}

TEST(ServerBinary, ServesWssWithACertificateMadeForTheTest) {
  srd_test::TempDir dir;
  const auto cert = dir.file("cert.pem");
  const auto key = dir.file("key.pem");
  const std::string command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
                              "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
                              key.string() + " -out " + cert.string() + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << "the openssl tool (scripts/install-deps.sh) made no certificate";
  ServerProcess server({dir.file("store.bin").string(), "--tls-cert", cert.string(), "--tls-key", key.string()});
  const std::string url = server.wait_listening();
  ASSERT_EQ(url.rfind("wss://127.0.0.1:", 0), 0u) << url;
  ClientOptions options = no_reconnect();
  options.tls_ca_file = cert.string();
  {
    Client client(url, options);
    client.write("over", "tls");
    EXPECT_EQ(client.read("over")->as_string_view(), "tls");
    const auto big = pattern_value(5, 3 << 20);
    client.write("big", big);
    EXPECT_TRUE(*client.read("big") == ByteView(big));
  }
  // A client that does not trust the certificate is refused by its own check.
  EXPECT_THROW(Client(url, no_reconnect()), simd_r_drive::net::NetworkError);
  // Plain WebSocket to a TLS port fails as a network error.
  const std::string plain = "ws://127.0.0.1:" + std::to_string(port_of(url)) + "/ws";
  EXPECT_THROW(Client(plain, no_reconnect()), simd_r_drive::net::NetworkError);
  EXPECT_NE(server.stderr_text().find("(TLS)"), std::string::npos) << server.stderr_text();
}

// SIGKILL under a load of acknowledged writes: after a restart every acknowledged
// write is there, byte for byte.
class KilledUnderLoad : public ::testing::TestWithParam<const char*> {};

TEST_P(KilledUnderLoad, EveryAcknowledgedWriteSurvives) {
  srd_test::TempDir dir;
  const auto path = dir.file("store.bin");
  auto server = std::make_unique<ServerProcess>(std::vector<std::string>{path.string(), "--durability", GetParam()});
  const std::string url = server->wait_listening();
  constexpr int kThreads = 4;
  std::vector<std::vector<std::pair<std::string, std::uint64_t>>> acknowledged(kThreads);
  std::atomic<std::uint64_t> total{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      try {
        Client client(url, no_reconnect());
        for (std::uint64_t i = 0; !stop.load(); ++i) {
          const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
          const std::uint64_t seed = static_cast<std::uint64_t>(t) << 32 | i;
          client.write(key, pattern_value(seed, 100 + (i * 97) % 5000));
          acknowledged[t].emplace_back(key, seed);
          total.fetch_add(1);
        }
      } catch (const std::exception&) {
        // The server died: the write in flight was not acknowledged.
      }
    });
  }
  while (total.load() < 400) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server->signal(SIGKILL);
  EXPECT_EQ(server->wait_exit(), 128 + SIGKILL);
  stop.store(true);
  for (auto& writer : writers) writer.join();

  server = std::make_unique<ServerProcess>(std::vector<std::string>{path.string(), "--durability", GetParam()});
  Client client(server->wait_listening(), no_reconnect());
  std::size_t checked = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (const auto& [key, seed] : acknowledged[t]) {
      const auto value = client.read(key);
      ASSERT_TRUE(value.has_value()) << key << " was acknowledged and is gone";
      const std::uint64_t i = seed & 0xffffffffu;
      ASSERT_TRUE(*value == ByteView(pattern_value(seed, 100 + (i * 97) % 5000))) << key;
      ++checked;
    }
  }
  EXPECT_GE(checked, 400u);
  EXPECT_TRUE(client.verify().ok());
}

INSTANTIATE_TEST_SUITE_P(SyncModes, KilledUnderLoad, ::testing::Values("sync-each-write", "group-commit"),
                         [](const auto& param_info) { return std::string(param_info.param) == "group-commit" ? "GroupCommit" : "SyncEachWrite"; });

// A client that sends reads and never reads the answers: the server stops reading it
// once its unsent answers pass the output limit, and drops it after the idle
// timeout. Its memory stays bounded meanwhile, and other clients are served.
TEST(ServerBinary, AClientThatNeverReadsItsAnswersCostsBoundedMemory) {
  srd_test::TempDir dir;
  const auto path = dir.file("store.bin");
  {
    auto store = simd_r_drive::DataStore::open(path);
    store.write("small", pattern_value(1, 1024));  // copied into answers (below the zero-copy size)
    store.write("probe", "probe value");
  }
  ServerProcess server({path.string(), "--output-limit", std::to_string(4 << 20), "--max-in-flight", "64",
                        "--idle-timeout", "3"});
  const std::string url = server.wait_listening();
  Client probe(url, no_reconnect());
  probe.read("probe");
  const std::uint64_t baseline = proc_status_kib(server.pid(), "RssAnon");
  AnonRssSampler sampler(server.pid());
  std::atomic<bool> stop_probe{false};
  std::atomic<std::uint64_t> probe_ok{0};
  std::atomic<std::uint64_t> probe_failed{0};
  std::thread prober([&] {
    while (!stop_probe.load()) {
      try {
        const auto value = probe.read("probe");
        (value && value->as_string_view() == "probe value" ? probe_ok : probe_failed).fetch_add(1);
      } catch (const std::exception&) {
        probe_failed.fetch_add(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  // 2,000 messages of 500 reads of 1 KiB: 1 GB of answers, if the server took them all.
  std::vector<std::byte> batch;
  for (std::uint32_t i = 0; i < 500; ++i) {
    const auto one = request(i + 2, "read", [](mp::Writer& w) {
      w.map(1);
      w.str("key");
      w.bin(mp::as_bytes("small"));
    });
    batch.insert(batch.end(), one.begin(), one.end());
  }
  std::size_t sent = 0;
  {
    RawSocket slow(port_of(url));
    slow.send_binary(hello_request(1));
    try {
      for (; sent < 2000; ++sent) slow.send_binary(batch);  // blocks once TCP's windows are full
    } catch (const std::exception&) {
      // The server dropped the connection: the send failed.
    }
  }
  const std::uint64_t peak = sampler.stop();
  stop_probe.store(true);
  prober.join();
  EXPECT_LT(sent, 2000u) << "the server kept reading a client that never read its answers";
  EXPECT_LT(peak, baseline + 64 * 1024) << "RssAnon peaked at " << peak << " KiB from " << baseline << " KiB";
  EXPECT_GT(probe_ok.load(), 0u);
  EXPECT_EQ(probe_failed.load(), 0u);
  const std::string log = server.stderr_text();
  EXPECT_TRUE(log.find("dropped") != std::string::npos || log.find("idle timeout") != std::string::npos) << log;
  std::printf("slow reader: server RssAnon %llu KiB at the start, peak %llu KiB; %zu messages taken before the drop\n",
              static_cast<unsigned long long>(baseline), static_cast<unsigned long long>(peak), sent);
}

// Bytes of a huge value, by offset: cheap to make and to check.
void fill_huge(std::uint64_t offset, std::span<std::byte> out) {
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::uint64_t at = offset + i;
    out[i] = std::byte(static_cast<std::uint8_t>(((at >> 3) * 0x9E3779B97F4A7C15ull >> 56) | 1));
  }
}

// A value of 4 GiB (less if the disk has no room) through write_stream and
// read_stream; the server holds a few chunks of it at most.
TEST(ServerBinary, AFourGibValueStreamsBothWaysInBoundedServerMemory) {
  srd_test::TempDir dir;
  struct statvfs fs {};
  ASSERT_EQ(::statvfs(dir.path().c_str(), &fs), 0);
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  std::uint64_t size = 4ull << 30;
  if (free_bytes < size + (8ull << 30)) size = std::max<std::uint64_t>(free_bytes / 4, 64ull << 20);
  std::printf("streaming a value of %llu bytes (%.2f GiB)\n", static_cast<unsigned long long>(size),
              static_cast<double>(size) / (1ull << 30));
  ServerProcess server({dir.file("store.bin").string()});
  Client client(server.wait_listening(), no_reconnect());
  const std::uint64_t baseline = proc_status_kib(server.pid(), "RssAnon");
  AnonRssSampler sampler(server.pid());
  std::uint64_t produced = 0;
  client.write_stream("huge", [&](std::span<std::byte> buffer) {
    const std::size_t n = std::min<std::uint64_t>(buffer.size(), size - produced);
    fill_huge(produced, buffer.first(n));
    produced += n;
    return n;
  });
  std::uint64_t received = 0;
  std::uint64_t mismatches = 0;
  std::vector<std::byte> expected;
  const auto got = client.read_stream("huge", [&](std::span<const std::byte> chunk) {
    expected.resize(chunk.size());
    fill_huge(received, expected);
    if (std::memcmp(expected.data(), chunk.data(), chunk.size()) != 0) ++mismatches;
    received += chunk.size();
  });
  const std::uint64_t peak = sampler.stop();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, size);
  EXPECT_EQ(received, size);
  EXPECT_EQ(mismatches, 0u);
  // A few 1 MiB chunks, the write stream's buffers and the engine's: far below the value.
  EXPECT_LT(peak, baseline + 128 * 1024) << "RssAnon peaked at " << peak << " KiB";
  std::printf("huge value: server RssAnon %llu KiB at the start, peak %llu KiB; VmHWM %llu KiB (mapped file pages "
              "count there)\n",
              static_cast<unsigned long long>(baseline), static_cast<unsigned long long>(peak),
              static_cast<unsigned long long>(proc_status_kib(server.pid(), "VmHWM")));
}

}  // namespace

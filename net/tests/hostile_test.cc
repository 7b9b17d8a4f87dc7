// Clients that break the rules: bytes that are not MessagePack, wrong shapes and
// types, oversize and text messages, requests before hello, wrong tokens, clients
// that vanish mid-request and mid-stream, thousands of connections, one too many.
// Throughout each, a probe client keeps reading on a connection of its own, and must
// keep succeeding.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <simd_r_drive/simd_r_drive.h>
#include <simd_r_drive/net/client.h>

#include "net_test_support.h"
#include "test_support.h"

namespace {

using namespace srd_net_test;
using simd_r_drive::net::Client;
namespace mp = simd_r_drive::net::mp;

// Reads a known value over and over on its own connection.
class Probe {
 public:
  Probe(const std::string& url, std::string token = {}) {
    simd_r_drive::net::ClientOptions options;
    options.token = std::move(token);
    options.reconnect.enabled = false;
    client_.emplace(url, options);
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        try {
          const auto value = client_->read("probe");
          if (value && value->as_string_view() == "probe value") ok_.fetch_add(1);
          else failed_.fetch_add(1);
        } catch (const std::exception&) {
          failed_.fetch_add(1);
        }
      }
    });
  }
  ~Probe() { finish(); }
  // Stops the probe and checks that it succeeded, and only succeeded, throughout.
  void finish() {
    if (!thread_.joinable()) return;
    // At least a few reads overlap the scenario, however fast it was.
    while (ok_.load() + failed_.load() < 3) std::this_thread::yield();
    stop_.store(true);
    thread_.join();
    EXPECT_GT(ok_.load(), 0u);
    EXPECT_EQ(failed_.load(), 0u) << "the probe's reads failed while another client misbehaved";
  }

 private:
  std::optional<Client> client_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> ok_{0};
  std::atomic<std::uint64_t> failed_{0};
};

simd_r_drive::net::ServerOptions small_limits() {
  auto options = quiet_options();
  options.max_message_bytes = 256 * 1024;
  options.stream_chunk_bytes = 64 * 1024;
  return options;
}

struct Hostile : ::testing::Test {
  void start(simd_r_drive::net::ServerOptions options = small_limits(), std::string token = {}) {
    options.token = token;
    server.emplace(dir.file("store.bin"), options);
    server->store().write("probe", "probe value");
    probe.emplace(server->url(), token);
  }
  RawSocket& connect_with_hello(std::optional<std::string> token = std::nullopt) {
    sockets.push_back(std::make_unique<RawSocket>(server->port()));
    EXPECT_TRUE(sockets.back()->call(1, hello_request(1, std::move(token))).ok);
    return *sockets.back();
  }
  // The connection still answers.
  void expect_alive(RawSocket& socket) {
    const auto answer = socket.call(77, request(77, "ping"));
    EXPECT_TRUE(answer.ok);
  }

  srd_test::TempDir dir;
  std::optional<InProcessServer> server;
  std::optional<Probe> probe;
  std::vector<std::unique_ptr<RawSocket>> sockets;
};

TEST_F(Hostile, BytesThatAreNotMessagePackGetANoticeAndClose1007) {
  start();
  RawSocket& socket = connect_with_hello();
  socket.send_binary(std::vector<std::byte>{std::byte{0x94}, std::byte{0x00}, std::byte{0xc1}, std::byte{0x01}});
  const auto message = socket.receive();
  ASSERT_TRUE(message.has_value());
  const auto answers = decode_answers(*message);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(answers[0].is_notice);
  EXPECT_EQ(answers[0].event, "error");
  EXPECT_EQ(answers[0].code, "malformed");
  EXPECT_EQ(socket.wait_closed(), std::optional<std::uint16_t>(1007));
  probe->finish();
}

TEST_F(Hostile, ATruncatedValueClosesWith1007AndNothingOfTheMessageRuns) {
  start();
  RawSocket& socket = connect_with_hello();
  // A whole write, then a write whose bin declares 1000 bytes and holds 10.
  auto whole = request(2, "write", [](mp::Writer& w) {
    w.map(2);
    w.str("key");
    w.bin(mp::as_bytes("first"));
    w.str("value");
    w.bin(mp::as_bytes("v"));
  });
  auto cut = request(3, "write", [](mp::Writer& w) {
    w.map(2);
    w.str("key");
    w.bin(mp::as_bytes("second"));
    w.str("value");
    w.bin_header(1000);
  });
  cut.resize(cut.size() + 10, std::byte{'x'});
  socket.send_binary(concat({whole, cut}));
  EXPECT_EQ(socket.wait_closed(), std::optional<std::uint16_t>(1007));
  EXPECT_FALSE(server->store().exists("first"));
  EXPECT_FALSE(server->store().exists("second"));
  probe->finish();
}

TEST_F(Hostile, WrongShapesAreMalformedAndTheConnectionStays) {
  start();
  RawSocket& socket = connect_with_hello();
  // [1, 5, nil, nil]: a response sent to the server. Its id can be read: answered.
  std::vector<std::byte> response_shaped;
  mp::Writer w(response_shaped);
  w.array(4);
  w.uint(1);
  w.uint(5);
  w.nil();
  w.nil();
  const auto answer = socket.call(5, response_shaped);
  EXPECT_EQ(answer.code, "malformed");
  // A bare str: no id to answer, so an error notice.
  std::vector<std::byte> bare;
  mp::Writer(bare).str("hello?");
  socket.send_binary(bare);
  const auto message = socket.receive();
  ASSERT_TRUE(message.has_value());
  const auto answers = decode_answers(*message);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(answers[0].is_notice);
  EXPECT_EQ(answers[0].code, "malformed");
  expect_alive(socket);
  probe->finish();
}

TEST_F(Hostile, AMessageOverTheLimitIsClosedWith1009) {
  start();
  RawSocket& socket = connect_with_hello();
  auto oversize = request(2, "write", [](mp::Writer& w) {
    w.map(2);
    w.str("key");
    w.bin(mp::as_bytes("k"));
    w.str("value");
    w.bin(pattern_value(1, 300 * 1024));
  });
  socket.send_binary(oversize);
  EXPECT_EQ(socket.wait_closed(), std::optional<std::uint16_t>(1009));
  EXPECT_FALSE(server->store().exists("k"));
  probe->finish();
}

TEST_F(Hostile, UnknownMethodsAndWrongTypesAreAnsweredAndTheConnectionStays) {
  start();
  RawSocket& socket = connect_with_hello();
  EXPECT_EQ(socket.call(2, request(2, "drop_table")).code, "method_not_found");
  const auto wrong = socket.call(3, request(3, "write", [](mp::Writer& w) {
                                   w.map(2);
                                   w.str("key");
                                   w.array(0);
                                   w.str("value");
                                   w.bin(mp::as_bytes("v"));
                                 }));
  EXPECT_EQ(wrong.code, "invalid_params");
  EXPECT_NE(wrong.message.find("'key'"), std::string::npos) << wrong.message;
  const auto missing = socket.call(4, request(4, "rename", [](mp::Writer& w) {
                                     w.map(1);
                                     w.str("old_key");
                                     w.bin(mp::as_bytes("a"));
                                   }));
  EXPECT_EQ(missing.code, "invalid_params");
  EXPECT_NE(missing.message.find("'new_key'"), std::string::npos) << missing.message;
  expect_alive(socket);
  probe->finish();
}

TEST_F(Hostile, ATextMessageIsClosedWith1003) {
  start();
  RawSocket& socket = connect_with_hello();
  socket.send_text("{\"method\": \"read\"}");
  EXPECT_EQ(socket.wait_closed(), std::optional<std::uint16_t>(1003));
  probe->finish();
}

TEST_F(Hostile, RequestsBeforeHelloAreRefusedAndOtherVersionsAreUnsupported) {
  start();
  RawSocket socket(server->port());
  EXPECT_EQ(socket.call(1, request(1, "read", [](mp::Writer& w) {
                          w.map(1);
                          w.str("key");
                          w.bin(mp::as_bytes("probe"));
                        }))
                .code,
            "handshake_required");
  const auto version = socket.call(2, hello_request(2, std::nullopt, 2));
  EXPECT_EQ(version.code, "unsupported_version");
  EXPECT_EQ(socket.call(3, request(3, "ping")).code, "handshake_required");
  EXPECT_TRUE(socket.call(4, hello_request(4)).ok);
  expect_alive(socket);
  probe->finish();
}

TEST_F(Hostile, NoTokenOrAWrongTokenIsUnauthorizedAndClosedWith1008) {
  start(small_limits(), "correct horse");
  {
    RawSocket socket(server->port());
    EXPECT_EQ(socket.call(1, hello_request(1)).code, "unauthorized");
    EXPECT_EQ(socket.wait_closed(), std::optional<std::uint16_t>(1008));
  }
  {
    RawSocket socket(server->port());
    EXPECT_EQ(socket.call(1, hello_request(1, "correct horsf")).code, "unauthorized");
    EXPECT_EQ(socket.wait_closed(), std::optional<std::uint16_t>(1008));
  }
  {
    RawSocket socket(server->port());
    EXPECT_TRUE(socket.call(1, hello_request(1, "correct horse")).ok);
    expect_alive(socket);
  }
  EXPECT_EQ(server->server().counters().auth_failures, 2u);
  simd_r_drive::net::ClientOptions wrong;
  wrong.token = "nope";
  EXPECT_THROW(Client(server->url(), wrong), simd_r_drive::net::ClientError);
  probe->finish();
}

TEST_F(Hostile, DuplicateIdsAreEachAnswered) {
  start();
  RawSocket& socket = connect_with_hello();
  socket.send_binary(concat({request(9, "ping"), request(9, "len"), request(9, "is_empty")}));
  const auto message = socket.receive();
  ASSERT_TRUE(message.has_value());
  const auto answers = decode_answers(*message);
  ASSERT_EQ(answers.size(), 3u);
  for (const auto& answer : answers) {
    EXPECT_EQ(answer.id, 9u);
    EXPECT_TRUE(answer.ok);
  }
  probe->finish();
}

TEST_F(Hostile, AClientThatVanishesMidRequestLeavesTheBatchWholeOrAbsent) {
  start();
  for (int round = 0; round < 5; ++round) {
    RawSocket socket(server->port());
    ASSERT_TRUE(socket.call(1, hello_request(1)).ok);
    socket.send_binary(request(2, "batch_write", [round](mp::Writer& w) {
      w.map(1);
      w.str("items");
      w.array(500);
      for (int i = 0; i < 500; ++i) {
        w.array(2);
        w.bin(mp::as_bytes("r" + std::to_string(round) + "-" + std::to_string(i)));
        w.bin(mp::as_bytes("value"));
      }
    }));
    socket.drop();
  }
  // Each batch is one append: all of its keys, or none.
  Client client(server->url());
  for (int round = 0; round < 5; ++round) {
    std::size_t present = 0;
    for (int i = 0; i < 500; ++i) present += client.exists("r" + std::to_string(round) + "-" + std::to_string(i)) ? 1 : 0;
    EXPECT_TRUE(present == 0 || present == 500) << "round " << round << ": " << present;
  }
  EXPECT_TRUE(server->store().verify().ok());
  probe->finish();
}

TEST_F(Hostile, AClientThatVanishesMidStreamLeavesNothingHalfWritten) {
  start();
  const std::uint64_t size_before = server->store().file_size();
  {
    RawWriteStream stream(server->port(), "half");
    for (int chunk = 0; chunk < 3; ++chunk) ASSERT_TRUE(stream.chunk(60 * 1024));
    stream.drop();
  }
  // The stream held the store's writer; once the server sees the connection gone it
  // aborts it, and a write from another client goes through.
  Client client(server->url());
  EXPECT_GT(client.write("after", "v"), size_before);
  EXPECT_FALSE(client.exists("half"));
  EXPECT_TRUE(server->store().verify().ok());
  server->store().compact();
  EXPECT_EQ(server->store().len(), 2u);
  probe->finish();
}

TEST_F(Hostile, TwoThousandConnectionsOpenedAndDroppedLeaveTheServerServing) {
  start();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 250;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        try {
          RawSocket socket(server->port());
          if ((i + t) % 2 == 0) {
            if (!socket.call(1, hello_request(1)).ok) failures.fetch_add(1);
          }
          socket.drop();
        } catch (const std::exception&) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(server->server().counters().connections_accepted, std::uint64_t{kThreads * kPerThread});
  // Every dropped connection is noticed and released: only the probe stays.
  for (int i = 0; i < 500 && server->server().counters().connections_open > 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server->server().counters().connections_open, 1u);
  probe->finish();
}

TEST_F(Hostile, ConnectionsBeyondTheMaximumAreRefusedWith503) {
  auto options = small_limits();
  options.max_connections = 3;
  start(options);  // the probe is one
  RawSocket& first = connect_with_hello();
  connect_with_hello();
  EXPECT_EQ(upgrade_status(server->port()), 503);
  EXPECT_GE(server->server().counters().connections_refused, 1u);
  first.drop();
  // Once the server has noticed the drop, a new connection is taken again.
  int status = 0;
  for (int i = 0; i < 500 && status != 101; ++i) {
    status = upgrade_status(server->port());
    if (status != 101) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(status, 101);
  probe->finish();
}

}  // namespace

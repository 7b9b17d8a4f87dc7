// The Redis front door in process (docs/redis.md): a server core with a RESP port and
// a raw RESP client over a socket. What the Python suite (net/tests/redis/) cannot
// see from outside: that a key set over RESP is the entry the C++ API and the TTL
// extension read, and the other way round; a stop that answers what was received;
// hostile bytes; the token. Every server listens on 127.0.0.1, port 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <simd_r_drive/extensions/ttl_cache.h>
#include <simd_r_drive/net/client.h>
#include <simd_r_drive/simd_r_drive.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "net_test_support.h"
#include "test_support.h"

namespace {

namespace ext = simd_r_drive::extensions;
using srd_net_test::InProcessServer;
using srd_net_test::RawWriteStream;

// A blocking RESP client: sends bytes, reads one reply at a time as its raw text.
class RespSocket {
 public:
  explicit RespSocket(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) throw std::runtime_error("connect");
    timeval timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~RespSocket() { ::close(fd_); }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  static std::string command(std::initializer_list<std::string_view> args) {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (auto a : args) out += "$" + std::to_string(a.size()) + "\r\n" + std::string(a) + "\r\n";
    return out;
  }
  std::string call(std::initializer_list<std::string_view> args) {
    send(command(args));
    return reply();
  }
  // One whole reply, as it came ("+OK", "$5\r\nhello", ":1", "*2\r\n..."), without the
  // final CRLF. Empty when the server closed the connection.
  std::string reply() {
    std::string out;
    if (!read_reply(out)) return {};
    if (out.size() >= 2) out.resize(out.size() - 2);
    return out;
  }
  // Whether the server closed the connection (reads until EOF or the timeout).
  bool closed_by_server() {
    char byte;
    return ::recv(fd_, &byte, 1, 0) == 0;
  }

 private:
  bool fill() {
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  bool line(std::string& out) {
    std::size_t end;
    while ((end = buffer_.find("\r\n")) == std::string::npos) {
      if (!fill()) return false;
    }
    out += buffer_.substr(0, end + 2);
    const std::string text = buffer_.substr(0, end);
    buffer_.erase(0, end + 2);
    last_line_ = text;
    return true;
  }
  bool read_reply(std::string& out) {
    if (!line(out)) return false;
    const std::string header = last_line_;
    if (header[0] == '$') {
      const long n = std::stol(header.substr(1));
      if (n < 0) return true;
      while (buffer_.size() < static_cast<std::size_t>(n) + 2) {
        if (!fill()) return false;
      }
      out += buffer_.substr(0, static_cast<std::size_t>(n) + 2);
      buffer_.erase(0, static_cast<std::size_t>(n) + 2);
    } else if (header[0] == '*') {
      const long n = std::stol(header.substr(1));
      for (long i = 0; i < n; ++i) {
        if (!read_reply(out)) return false;
      }
    }
    return true;
  }
  int fd_ = -1;
  std::string buffer_;
  std::string last_line_;
};

simd_r_drive::net::ServerOptions resp_options(bool inline_writes = false) {
  auto options = srd_net_test::quiet_options();
  options.resp_port = 0;
  options.resp_inline_writes = inline_writes;
  return options;
}

std::string bulk(std::string_view v) { return "$" + std::to_string(v.size()) + "\r\n" + std::string(v); }

std::string text_of(const simd_r_drive::EntryHandle& handle) {
  return {reinterpret_cast<const char*>(handle.data()), handle.size()};
}

TEST(RespServer, PlainAndExpiringKeysAreTheEntriesTheLibraryReads) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("s.bin"), resp_options());
  auto& store = server.store();
  RespSocket c(server.server().resp_port());

  // SET: the plain entry, read(key) in C++ finds it.
  EXPECT_EQ(c.call({"SET", "plain", std::string("a\0b\r\n", 5)}), "+OK");
  ASSERT_TRUE(store.read("plain").has_value());
  EXPECT_EQ(text_of(*store.read("plain")), std::string("a\0b\r\n", 5));

  // SET EX: the TTL extension's value, and no plain entry.
  EXPECT_EQ(c.call({"SET", "plain", "expiring", "EX", "100"}), "+OK");
  EXPECT_FALSE(store.exists("plain"));
  const auto ttl_value = ext::read_with_ttl(store, "plain");
  ASSERT_TRUE(ttl_value.has_value());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ttl_value->view().data()), ttl_value->view().size()), "expiring");
  const auto remaining = ext::ttl_remaining(store, "plain");
  EXPECT_EQ(remaining.state, ext::TtlRemaining::State::kExpiresIn);
  EXPECT_LE(remaining.seconds, 101u);
  EXPECT_EQ(c.call({"GET", "plain"}), bulk("expiring"));

  // PERSIST: back to the plain entry; the TTL entry and its registry entry are gone.
  EXPECT_EQ(c.call({"PERSIST", "plain"}), ":1");
  EXPECT_EQ(text_of(*store.read("plain")), "expiring");
  EXPECT_FALSE(store.exists_with_key_hash(ext::ttl_value_hash("plain")));
  EXPECT_FALSE(store.exists_with_key_hash(ext::ttl_registry_hash("plain")));
  EXPECT_EQ(c.call({"TTL", "plain"}), ":-1");

  // The other way: values the library writes are what GET and TTL answer.
  store.write("from-cpp", "written in C++");
  ext::write_with_ttl(store, "ttl-from-cpp", "expires", 50);
  EXPECT_EQ(c.call({"GET", "from-cpp"}), bulk("written in C++"));
  EXPECT_EQ(c.call({"GET", "ttl-from-cpp"}), bulk("expires"));
  const std::string ttl = c.call({"TTL", "ttl-from-cpp"});
  EXPECT_TRUE(ttl == ":50" || ttl == ":49") << ttl;
  EXPECT_EQ(c.call({"TTL", "from-cpp"}), ":-1");
  EXPECT_EQ(c.call({"TTL", "missing"}), ":-2");

  // An expiry in the past: absent everywhere (the library agrees).
  ext::write_with_ttl(store, "gone", "x", 0);
  EXPECT_EQ(c.call({"GET", "gone"}), "$-1");
  EXPECT_EQ(c.call({"EXISTS", "gone"}), ":0");

  // Values the store cannot hold plainly (empty, one NUL byte) are TTL values that
  // never expire: GET and TTL behave as Redis, and nothing is lost.
  EXPECT_EQ(c.call({"SET", "empty", ""}), "+OK");
  EXPECT_EQ(c.call({"GET", "empty"}), "$0\r\n");
  EXPECT_EQ(c.call({"TTL", "empty"}), ":-1");
  EXPECT_EQ(c.call({"SET", "nul", std::string("\0", 1)}), "+OK");
  EXPECT_EQ(c.call({"GET", "nul"}), bulk(std::string("\0", 1)));
  EXPECT_EQ(ext::ttl_remaining(store, "nul").state, ext::TtlRemaining::State::kNoExpiry);

  // DEL removes either form; RENAME keeps the expiry.
  EXPECT_EQ(c.call({"SET", "r", "v", "EX", "100"}), "+OK");
  EXPECT_EQ(c.call({"RENAME", "r", "r2"}), "+OK");
  EXPECT_EQ(ext::ttl_remaining(store, "r2").state, ext::TtlRemaining::State::kExpiresIn);
  EXPECT_EQ(c.call({"DEL", "r2", "from-cpp", "missing"}), ":2");
  EXPECT_FALSE(store.exists("from-cpp"));
  EXPECT_FALSE(ext::read_with_ttl(store, "r2").has_value());
}

// SET without conditions and MSET replace a key whatever form it had: a plain value
// replaces a TTL value (and its registry entry), a value kept as a TTL value (empty)
// replaces a plain one, in the same append.
TEST(RespServer, UnconditionalWritesReplaceTheOtherFormOfAKey) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("s.bin"), resp_options());
  auto& store = server.store();
  RespSocket c(server.server().resp_port());
  auto ttl_form_exists = [&](std::string_view key) {
    return store.exists_with_key_hash(ext::ttl_value_hash(key)) ||
           store.exists_with_key_hash(ext::ttl_registry_hash(key));
  };

  EXPECT_EQ(c.call({"SET", "a", "1", "EX", "100"}), "+OK");
  EXPECT_EQ(c.call({"SET", "b", "2", "EX", "100"}), "+OK");
  EXPECT_EQ(c.call({"SET", "c", "3"}), "+OK");
  EXPECT_EQ(c.call({"MSET", "a", "plain-a", "b", "", "c", "plain-c"}), "+OK");
  EXPECT_EQ(text_of(*store.read("a")), "plain-a");
  EXPECT_FALSE(ttl_form_exists("a"));
  EXPECT_FALSE(store.exists("b"));
  EXPECT_EQ(c.call({"GET", "b"}), "$0\r\n");
  EXPECT_EQ(c.call({"TTL", "b"}), ":-1");
  EXPECT_EQ(text_of(*store.read("c")), "plain-c");
  EXPECT_FALSE(ttl_form_exists("c"));

  EXPECT_EQ(c.call({"SET", "a", ""}), "+OK");  // plain -> kept as a TTL value
  EXPECT_FALSE(store.exists("a"));
  EXPECT_EQ(c.call({"SET", "b", "plain-b"}), "+OK");  // TTL value -> plain
  EXPECT_FALSE(ttl_form_exists("b"));
  EXPECT_EQ(c.call({"SET", "c", "ttl-c", "PX", "100000"}), "+OK");  // plain -> TTL value
  EXPECT_FALSE(store.exists("c"));
  EXPECT_EQ(c.call({"MGET", "a", "b", "c"}), "*3\r\n$0\r\n\r\n$7\r\nplain-b\r\n$5\r\nttl-c");
  EXPECT_EQ(c.call({"DBSIZE"}), ":3");

  // One key twice in one MSET, in different forms: the later pair is the key, and
  // nothing of the earlier one is left beside it.
  EXPECT_EQ(c.call({"MSET", "d", "", "d", "plain-d"}), "+OK");
  EXPECT_EQ(text_of(*store.read("d")), "plain-d");
  EXPECT_FALSE(ttl_form_exists("d"));
  EXPECT_EQ(c.call({"MSET", "e", "plain-e", "x", "1", "e", ""}), "+OK");
  EXPECT_FALSE(store.exists("e"));
  EXPECT_EQ(c.call({"GET", "e"}), "$0\r\n");
  EXPECT_EQ(c.call({"DBSIZE"}), ":6");
  // Past the pairs compared directly (32), through the hash set.
  std::string many = "*" + std::to_string(1 + 2 * 40) + "\r\n$4\r\nMSET\r\n";
  auto arg = [&](std::string_view a) { many += "$" + std::to_string(a.size()) + "\r\n" + std::string(a) + "\r\n"; };
  for (int i = 0; i < 39; ++i) {
    arg("m" + std::to_string(i));
    arg(i == 0 ? std::string() : "v" + std::to_string(i));
  }
  arg("m0");
  arg("plain-m0");
  c.send(many);
  EXPECT_EQ(c.reply(), "+OK");
  EXPECT_EQ(text_of(*store.read("m0")), "plain-m0");
  EXPECT_FALSE(ttl_form_exists("m0"));
  EXPECT_EQ(c.call({"DBSIZE"}), ":45");
}

// DBSIZE and INFO keyspace count keys as Redis does, whichever door wrote them: a key
// with an expiry is one key (not its TTL value and registry entry), and an expired one
// is none. The count follows writes, deletes and compactions.
TEST(RespServer, DbsizeCountsKeysNotEntriesWhicheverDoorWroteThem) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("s.bin"), resp_options());
  auto& store = server.store();
  RespSocket c(server.server().resp_port());
  EXPECT_EQ(c.call({"DBSIZE"}), ":0");

  EXPECT_EQ(c.call({"SET", "plain", "1"}), "+OK");
  EXPECT_EQ(c.call({"SET", "expiring", "2", "EX", "100"}), "+OK");
  EXPECT_EQ(c.call({"SET", "empty", ""}), "+OK");  // a TTL value that never expires
  ext::write_with_ttl(store, "from-cpp", "3", 200);
  store.write("plain-from-cpp", "4");
  EXPECT_EQ(store.len(), 8u);  // 2 plain, 3 TTL values, 3 registry entries
  EXPECT_EQ(c.call({"DBSIZE"}), ":5");
  const std::string info = c.call({"INFO", "keyspace"});
  EXPECT_NE(info.find("db0:keys=5,expires=2,avg_ttl="), std::string::npos) << info;
  // The mean time left of the two expiring keys (100 s and 200 s), in ms. The store
  // keeps whole seconds: SET EX rounds the expiry up, write_with_ttl counts from the
  // current second.
  const std::size_t at = info.find("avg_ttl=") + 8;
  const long avg_ttl = std::stol(info.substr(at));
  EXPECT_GT(avg_ttl, 148000);
  EXPECT_LE(avg_ttl, 150500);

  // Overwrites do not count twice; a key that changes form is still one key.
  EXPECT_EQ(c.call({"SET", "expiring", "5", "EX", "300"}), "+OK");
  EXPECT_EQ(c.call({"PERSIST", "from-cpp"}), ":1");
  EXPECT_EQ(c.call({"EXPIRE", "plain", "50"}), ":1");
  EXPECT_EQ(c.call({"DBSIZE"}), ":5");
  EXPECT_NE(c.call({"INFO", "keyspace"}).find("db0:keys=5,expires=2,"), std::string::npos);

  // Deletes, through RESP and through the library.
  EXPECT_EQ(c.call({"DEL", "expiring", "plain-from-cpp"}), ":2");
  EXPECT_TRUE(ext::remove_with_ttl(store, "plain"));
  EXPECT_EQ(c.call({"DBSIZE"}), ":2");

  // A compaction rewrites the file: the next count starts over and agrees.
  for (int i = 0; i < 50; ++i) EXPECT_EQ(c.call({"SET", "k" + std::to_string(i), "v", "EX", "1000"}), "+OK");
  for (int i = 0; i < 50; i += 2) EXPECT_EQ(c.call({"DEL", "k" + std::to_string(i)}), ":1");
  EXPECT_EQ(c.call({"DBSIZE"}), ":27");
  store.compact();
  EXPECT_EQ(c.call({"DBSIZE"}), ":27");
  EXPECT_EQ(c.call({"SET", "after", "x", "EX", "10"}), "+OK");
  EXPECT_EQ(c.call({"DBSIZE"}), ":28");
  EXPECT_NE(c.call({"INFO", "keyspace"}).find("db0:keys=28,expires=26,"), std::string::npos);

  // An expired value still stored is no key; once everything is gone, INFO has no db0.
  ext::write_with_ttl(store, "expired", "x", 0);
  EXPECT_EQ(c.call({"DBSIZE"}), ":28");
  EXPECT_EQ(ext::purge_expired(store), 1u);
  EXPECT_EQ(c.call({"DBSIZE"}), ":28");
  std::vector<std::string> everything{"from-cpp", "empty", "after"};
  for (int i = 1; i < 50; i += 2) everything.push_back("k" + std::to_string(i));
  for (const std::string& key : everything) EXPECT_EQ(c.call({"DEL", key}), ":1") << key;
  EXPECT_EQ(c.call({"DBSIZE"}), ":0");
  EXPECT_EQ(c.call({"INFO", "keyspace"}).find("db0:"), std::string::npos);
}

TEST(RespServer, AStopAnswersWhatWasReceivedAndKeepsItsWrites) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("s.bin"), resp_options());
  RespSocket c(server.server().resp_port());
  std::string pipeline;
  for (int i = 0; i < 200; ++i) pipeline += RespSocket::command({"SET", "k" + std::to_string(i), "v"});
  c.send(pipeline);
  EXPECT_EQ(c.reply(), "+OK");  // the server has the pipeline
  std::thread stopper([&] { server.server().stop(); });
  int answered = 1;
  while (c.reply() == "+OK") ++answered;
  stopper.join();
  // Every SET that was answered is in the store.
  for (int i = 0; i < answered; ++i) EXPECT_TRUE(server.store().exists("k" + std::to_string(i))) << i;
  EXPECT_GE(answered, 1);
}

// A session's read buffer starts at a page and grows as commands need: a value of
// 1 MiB sent in pieces of 1,000 bytes, and a pipeline far larger than the first
// buffer, arrive whole, and a small command after them still works.
TEST(RespServer, CommandsLargerThanTheFirstReadBufferArriveWhole) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("s.bin"), resp_options());
  RespSocket c(server.server().resp_port());
  std::string big(1 << 20, 'v');
  for (std::size_t i = 0; i < big.size(); i += 4099) big[i] = static_cast<char>('a' + i % 26);
  const std::string set_big = RespSocket::command({"SET", "big", big});
  for (std::size_t at = 0; at < set_big.size(); at += 1000) c.send(std::string_view(set_big).substr(at, 1000));
  EXPECT_EQ(c.reply(), "+OK");
  std::string pipeline;
  for (int i = 0; i < 2000; ++i) pipeline += RespSocket::command({"SET", "p" + std::to_string(i), std::string(100, 'x')});
  ASSERT_GT(pipeline.size(), 64u * 1024);
  c.send(pipeline);
  int answered = 0;
  for (int i = 0; i < 2000; ++i) answered += c.reply() == "+OK";
  EXPECT_EQ(answered, 2000);
  const auto handle = server.store().read("big");
  ASSERT_TRUE(handle.has_value());
  EXPECT_EQ(text_of(*handle), big);
  EXPECT_TRUE(server.store().exists("p1999"));
  EXPECT_EQ(c.call({"GET", "p0"}), bulk(std::string(100, 'x')));
}

// A server that runs RESP writes on its one event loop (both RESP connections of a
// test share it), holding "before", with a WebSocket write stream of "uploaded" open
// after its first 1000 bytes: the stream holds the store's writer until it ends.
class ServerWithAnOpenUpload {
 public:
  explicit ServerWithAnOpenUpload(unsigned worker_threads = 0) : server_(dir_.file("s.bin"), options(worker_threads)) {
    server_.store().write("before", "the stream");
    upload_.emplace(server_.port(), "uploaded");
    if (!upload_->chunk(1000)) throw std::runtime_error("the upload's first chunk was refused");
  }
  InProcessServer& server() { return server_; }
  RawWriteStream& upload() { return *upload_; }

 private:
  static simd_r_drive::net::ServerOptions options(unsigned worker_threads) {
    auto options = resp_options(/*inline_writes=*/true);
    options.io_threads = 1;
    options.worker_threads = worker_threads;
    return options;
  }
  srd_test::TempDir dir_;
  InProcessServer server_;
  std::optional<RawWriteStream> upload_;
};

// A WebSocket write stream holds the store's writer while it waits for its next chunk.
// A RESP write that arrives meanwhile, in a mode that runs writes on the RESP side's
// I/O threads, must wait elsewhere: waiting on its I/O thread would stall every RESP
// connection of that thread, reads included, for as long as the upload lasts.
TEST(RespServer, AWriteWaitingForAWebSocketWriteStreamStallsNoOtherRespClient) {
  ServerWithAnOpenUpload fixture;
  InProcessServer& server = fixture.server();
  RawWriteStream& upload = fixture.upload();

  RespSocket writer(server.server().resp_port());
  RespSocket reader(server.server().resp_port());
  writer.send(RespSocket::command({"SET", "during", "the stream"}));  // waits for the stream
  // Another RESP client is served meanwhile (the socket gives up after 10 s).
  EXPECT_EQ(reader.call({"GET", "before"}), bulk("the stream"));
  EXPECT_EQ(reader.call({"GET", "during"}), "$-1");
  // The stream goes on and ends; then the SET is answered.
  ASSERT_TRUE(upload.chunk(1000));
  ASSERT_TRUE(upload.end());
  EXPECT_EQ(writer.reply(), "+OK");
  ASSERT_TRUE(server.store().read("uploaded").has_value());
  EXPECT_EQ(server.store().read("uploaded")->size(), 2000u);
  ASSERT_TRUE(server.store().read("during").has_value());
  EXPECT_EQ(text_of(*server.store().read("during")), "the stream");
}

// DBSIZE walks what was written since it last ran, which after a large load takes
// tens of milliseconds: it runs on the worker pool, never on the event loop that other
// connections share. Shown with one worker, kept busy by a SET that waits for a
// WebSocket write stream: DBSIZE waits behind it and counts the SET's key, while
// another client of the same event loop is served.
TEST(RespServer, DbsizeRunsOnTheWorkerPoolNotOnTheEventLoop) {
  ServerWithAnOpenUpload fixture(/*worker_threads=*/1);
  InProcessServer& server = fixture.server();
  RawWriteStream& upload = fixture.upload();

  RespSocket writer(server.server().resp_port());
  RespSocket counter(server.server().resp_port());
  RespSocket other(server.server().resp_port());
  writer.send(RespSocket::command({"SET", "during", "the stream"}));  // takes the worker, and waits
  // No way to see the SET reach the worker from outside: give it the time to.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  counter.send(RespSocket::command({"DBSIZE"}));
  EXPECT_EQ(other.call({"PING"}), "+PONG");
  EXPECT_EQ(other.call({"GET", "before"}), bulk("the stream"));
  ASSERT_TRUE(upload.end());
  EXPECT_EQ(writer.reply(), "+OK");
  // Run on the event loop, DBSIZE would have answered at once, before the stream ended:
  // 1. Behind the SET on the worker, it counts "before", "uploaded" and "during".
  EXPECT_EQ(counter.reply(), ":3");
  EXPECT_EQ(counter.call({"INFO", "keyspace"}), bulk("# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n\r\n"));
  EXPECT_EQ(counter.call({"SAVE"}), "+OK");
}

// SET NX reads, then writes, holding the server's key-write lock, which every writer
// of the server takes, a WebSocket write stream for as long as it is open. So a SET NX
// sent while a stream of the same key is open is decided after the stream's value is
// in: the key is present, and NX sets nothing. (Were the check made at once and only
// the write made to wait, NX would answer OK and replace the uploaded value.)
TEST(RespServer, SetNxIsDecidedAfterAWebSocketWriteStreamOfTheSameKey) {
  for (const bool inline_writes : {true, false}) {
    SCOPED_TRACE(inline_writes ? "writes on the I/O thread" : "writes on the worker pool");
    srd_test::TempDir dir;
    InProcessServer server(dir.file("s.bin"), resp_options(inline_writes));
    RawWriteStream upload(server.port(), "k");
    ASSERT_TRUE(upload.chunk(1000));
    RespSocket resp(server.server().resp_port());
    resp.send(RespSocket::command({"SET", "k", "from NX", "NX"}));
    // No way to see the SET wait from outside: give a wrong implementation the time to
    // make its check before the stream ends.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ASSERT_TRUE(upload.end());
    EXPECT_EQ(resp.reply(), "$-1");
    ASSERT_TRUE(server.store().read("k").has_value());
    EXPECT_EQ(server.store().read("k")->size(), 1000u);
  }
}

// Compactions over WebSocket while a RESP client writes (in the mode that runs writes
// on the I/O thread, which sends them to the worker pool while a compaction runs):
// every acknowledged SET is there afterwards, through both doors.
TEST(RespServer, WritesDuringWebSocketCompactionsAllLand) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("s.bin"), resp_options(/*inline_writes=*/true));
  for (int i = 0; i < 2000; ++i) server.store().write("filler" + std::to_string(i % 200), std::string(512, 'f'));
  std::atomic<bool> writing{true};
  std::thread compactor([&] {
    simd_r_drive::net::Client ws(server.url());
    for (int round = 0; round < 20 && writing.load(); ++round) ws.compact();
  });
  RespSocket resp(server.server().resp_port());
  constexpr int kKeys = 500;
  int acknowledged = 0;
  for (int i = 0; i < kKeys; ++i) acknowledged += resp.call({"SET", "k" + std::to_string(i), "v" + std::to_string(i)}) == "+OK";
  writing.store(false);
  compactor.join();
  EXPECT_EQ(acknowledged, kKeys);
  simd_r_drive::net::Client ws(server.url());
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "k" + std::to_string(i);
    ASSERT_EQ(resp.call({"GET", key}), bulk("v" + std::to_string(i))) << key;
    const auto value = ws.read(key);
    ASSERT_TRUE(value.has_value()) << key;
  }
}

TEST(RespServer, HostileBytesGetAnErrorAndACloseWhileOthersAreServed) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("s.bin"), resp_options(true));
  const auto port = server.server().resp_port();
  RespSocket probe(port);
  EXPECT_EQ(probe.call({"SET", "probe", "1"}), "+OK");
  const std::vector<std::string> hostile = {
      "*3000000000\r\n", "*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2147483648\r\n", "*1\r\nfoo\r\n",
      "*2\r\n$3\r\nGET\r\n$-7\r\n", "set k \"unbalanced\r\n", std::string(70 * 1024, 'x')};
  for (const auto& bytes : hostile) {
    RespSocket c(port);
    c.send(bytes);
    const std::string reply = c.reply();
    EXPECT_EQ(reply.rfind("-ERR Protocol error", 0), 0u) << reply;
    EXPECT_TRUE(c.closed_by_server());
    EXPECT_EQ(probe.call({"GET", "probe"}), bulk("1"));
  }
  // A client that vanishes mid-command.
  {
    RespSocket c(port);
    c.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc");
  }
  EXPECT_EQ(probe.call({"PING"}), "+PONG");
}

// GET of a large value sends it from the store's mapping (a gather write of the
// reply's header, the mapped bytes, CRLF); a small one is copied into the reply.
TEST(RespServer, ALargeValueIsSentFromTheMappingItself) {
  srd_test::TempDir dir;
  auto options = resp_options();
  std::mutex mutex;
  std::vector<std::vector<std::span<const std::byte>>> sends;
  options.on_send = [&](std::span<const std::span<const std::byte>> buffers) {
    std::lock_guard lock(mutex);
    sends.emplace_back(buffers.begin(), buffers.end());
  };
  InProcessServer server(dir.file("s.bin"), options);
  auto& store = server.store();
  std::string big(1 << 20, 'v');
  big[0] = '\0';
  big[1] = '\r';
  big[2] = '\n';
  store.write("big", big);
  store.write("small", "tiny");
  const auto handle = store.read("big");
  ASSERT_TRUE(handle.has_value());
  const std::byte* mapped = handle->data();

  RespSocket c(server.server().resp_port());
  // Pipelined: small, big, small, big in one write each way, answered in order.
  c.send(RespSocket::command({"GET", "small"}) + RespSocket::command({"GET", "big"}) +
         RespSocket::command({"GET", "small"}) + RespSocket::command({"GET", "big"}));
  EXPECT_EQ(c.reply(), bulk("tiny"));
  EXPECT_EQ(c.reply(), bulk(big));
  EXPECT_EQ(c.reply(), bulk("tiny"));
  EXPECT_EQ(c.reply(), bulk(big));
  std::lock_guard lock(mutex);
  std::size_t from_mapping = 0;
  for (const auto& buffers : sends) {
    for (const auto& b : buffers) {
      if (b.data() == mapped && b.size() == big.size()) ++from_mapping;
      EXPECT_TRUE(b.data() == mapped || b.size() < 4096) << "a copy of " << b.size() << " bytes";
    }
  }
  EXPECT_EQ(from_mapping, 2u);
}

// --max-in-flight bounds the commands of a pipeline worked on before their answers are
// sent, as it bounds a WebSocket connection's requests: the rest wait to be read.
TEST(RespServer, MaxInFlightBoundsTheCommandsAnsweredInOneWrite) {
  srd_test::TempDir dir;
  auto options = resp_options();
  options.max_in_flight = 2;
  std::mutex mutex;
  std::vector<std::size_t> write_sizes;
  options.on_send = [&](std::span<const std::span<const std::byte>> buffers) {
    std::size_t n = 0;
    for (const auto& b : buffers) n += b.size();
    std::lock_guard lock(mutex);
    write_sizes.push_back(n);
  };
  InProcessServer server(dir.file("s.bin"), options);
  RespSocket c(server.server().resp_port());
  std::string pipeline;
  for (int i = 0; i < 5; ++i) pipeline += RespSocket::command({"PING"});
  c.send(pipeline);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(c.reply(), "+PONG") << i;
  std::lock_guard lock(mutex);
  ASSERT_EQ(write_sizes.size(), 3u);  // 2 + 2 + 1 answers
  for (auto n : write_sizes) EXPECT_LE(n, 2 * std::string_view("+PONG\r\n").size());
}

// Redis never closes an idle client by default (timeout 0); the WebSocket side's idle
// timeout does not apply to RESP, which has its own.
TEST(RespServer, IdleConnectionsStayOpenUnlessARespIdleTimeoutIsSet) {
  srd_test::TempDir dir;
  auto options = resp_options();
  options.idle_timeout = std::chrono::milliseconds(200);
  {
    InProcessServer server(dir.file("a.bin"), options);
    RespSocket c(server.server().resp_port());
    EXPECT_EQ(c.call({"CONFIG", "GET", "timeout"}), "*2\r\n$7\r\ntimeout\r\n$1\r\n0");
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    EXPECT_EQ(c.call({"PING"}), "+PONG");
  }
  options.resp_idle_timeout = std::chrono::milliseconds(200);
  InProcessServer server(dir.file("b.bin"), options);
  RespSocket c(server.server().resp_port());
  EXPECT_EQ(c.call({"PING"}), "+PONG");
  EXPECT_TRUE(c.closed_by_server());  // within the 10 s receive timeout
}

// CPU time this process has used so far.
std::chrono::nanoseconds process_cpu_time() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

// What the server's threads use while the test thread sleeps for `period`.
std::chrono::milliseconds cpu_used_over(std::chrono::milliseconds period) {
  const auto before = process_cpu_time();
  std::this_thread::sleep_for(period);
  return std::chrono::duration_cast<std::chrono::milliseconds>(process_cpu_time() - before);
}

unsigned usable_cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return static_cast<unsigned>(CPU_COUNT(&set));
}

// A RESP event loop with a CPU to spare keeps polling for ServerOptions::resp_busy_poll
// after its last request, then sleeps; with a loop per CPU it never polls. (The window
// is made long here so that both phases can be told apart by the CPU time they use.)
TEST(RespServer, AnEventLoopPollsForItsWindowThenSleeps) {
  const unsigned cpus = usable_cpu_count();
  if (cpus < 2) GTEST_SKIP() << "polling needs a CPU besides the one event loop";
  using std::chrono::milliseconds;
  srd_test::TempDir dir;
  auto options = resp_options(/*inline_writes=*/true);
  options.io_threads = 1;
  options.resp_busy_poll = milliseconds(400);
  {
    InProcessServer server(dir.file("polling.bin"), options);
    RespSocket client(server.server().resp_port());
    // Requests are answered as usual by a polling loop.
    for (int i = 0; i < 500; ++i) {
      const std::string key = "k" + std::to_string(i);
      ASSERT_EQ(client.call({"SET", key, "v" + std::to_string(i)}), "+OK");
      ASSERT_EQ(client.call({"GET", key}), bulk("v" + std::to_string(i)));
    }
    // Within the window the loop polls: a busy thread. Loose bounds, for a loaded
    // machine and sanitizers: a polling loop uses close to all of the 200 ms, a
    // sleeping one next to nothing.
    EXPECT_GE(cpu_used_over(milliseconds(200)), milliseconds(40));
    std::this_thread::sleep_for(milliseconds(300));  // the window ends
    EXPECT_LT(cpu_used_over(milliseconds(300)), milliseconds(40));
    EXPECT_EQ(client.call({"GET", "k7"}), bulk("v7"));  // and a sleeping loop wakes for a request
  }
  options.io_threads = cpus;  // no CPU to spare: no polling
  InProcessServer server(dir.file("sleeping.bin"), options);
  RespSocket client(server.server().resp_port());
  EXPECT_EQ(client.call({"PING"}), "+PONG");
  EXPECT_LT(cpu_used_over(milliseconds(200)), milliseconds(40));
}

TEST(RespServer, TheTokenIsAuthsPassword) {
  srd_test::TempDir dir;
  auto options = resp_options();
  options.token = "s3cret";
  InProcessServer server(dir.file("s.bin"), options);
  RespSocket c(server.server().resp_port());
  EXPECT_EQ(c.call({"GET", "k"}), "-NOAUTH Authentication required.");
  EXPECT_EQ(c.call({"AUTH", "wrong"}), "-WRONGPASS invalid username-password pair or user is disabled.");
  EXPECT_EQ(c.call({"AUTH", "other", "s3cret"}), "-WRONGPASS invalid username-password pair or user is disabled.");
  EXPECT_EQ(c.call({"AUTH", "default", "s3cret"}), "+OK");
  EXPECT_EQ(c.call({"SET", "k", "v"}), "+OK");
  RespSocket d(server.server().resp_port());
  EXPECT_EQ(d.call({"AUTH", "s3cret"}), "+OK");
  EXPECT_EQ(d.call({"GET", "k"}), bulk("v"));
  EXPECT_GE(server.server().counters().auth_failures, 2u);
}

}  // namespace

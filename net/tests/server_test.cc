// The server core in process: the zero-copy path, pipelining and coalescing, streams,
// scans, a read-only server, the errors' faults, and a graceful stop.
#include <dlfcn.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <simd_r_drive/extensions/ttl_cache.h>
#include <simd_r_drive/simd_r_drive.h>
#include <simd_r_drive/net/client.h>

#include "net_test_support.h"
#include "test_support.h"

// Every sendmsg of this process passes through here, so a test can see which
// addresses the kernel was asked to send from: the proof that a value went to the
// socket straight from the store's mapping, copied neither by the server nor by
// Beast. (Asio sends a sequence of buffers with sendmsg.)
namespace {
std::atomic<bool> g_record_sends{false};
std::mutex g_sends_mutex;
std::vector<std::pair<const void*, std::size_t>> g_sends;
}  // namespace

extern "C" ssize_t sendmsg(int fd, const struct msghdr* message, int flags) {
  using Real = ssize_t (*)(int, const struct msghdr*, int);
  static const Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "sendmsg"));
  if (g_record_sends.load()) {
    std::lock_guard lock(g_sends_mutex);
    for (std::size_t i = 0; i < message->msg_iovlen; ++i) {
      g_sends.emplace_back(message->msg_iov[i].iov_base, message->msg_iov[i].iov_len);
    }
  }
  return real(fd, message, flags);
}

namespace {

using namespace srd_net_test;
using simd_r_drive::ByteView;
using simd_r_drive::EntryHandle;
using simd_r_drive::ErrorCode;
using simd_r_drive::net::Client;
using simd_r_drive::net::ClientError;
using simd_r_drive::net::Fault;
namespace mp = simd_r_drive::net::mp;

template <class F>
std::string protocol_code_of(F&& body) {
  try {
    body();
  } catch (const ClientError& error) {
    return error.protocol_code();
  } catch (const std::exception& error) {
    return std::string("non-ClientError: ") + error.what();
  }
  return "no error";
}

TEST(ZeroCopy, ALargeValueIsSentFromTheMappingItself) {
  srd_test::TempDir dir;
  std::mutex mutex;
  std::vector<std::vector<std::span<const std::byte>>> handed;
  auto options = quiet_options();
  options.on_send = [&](std::span<const std::span<const std::byte>> buffers) {
    std::lock_guard lock(mutex);
    handed.emplace_back(buffers.begin(), buffers.end());
  };
  InProcessServer server(dir.file("store.bin"), options);
  const auto value = pattern_value(1, 1 << 20);
  server.store().write("big", value);
  const EntryHandle in_store = *server.store().read("big");  // the same mapping the server reads

  Client client(server.url());
  {
    std::lock_guard lock(g_sends_mutex);
    g_sends.clear();
  }
  g_record_sends.store(true);
  const auto got = client.read("big");
  g_record_sends.store(false);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(*got == ByteView(value));

  // What the server handed to Beast: the value as one buffer at the mapping's address.
  bool handed_in_place = false;
  {
    std::lock_guard lock(mutex);
    for (const auto& buffers : handed) {
      for (const auto& buffer : buffers) {
        if (buffer.data() == in_store.data() && buffer.size() == in_store.size()) handed_in_place = true;
      }
    }
  }
  EXPECT_TRUE(handed_in_place) << "the value was copied before the write";

  // What Beast handed to the kernel: iovecs covering the value at the mapping's
  // address (in one sendmsg, or several if the socket took part of it at a time).
  std::size_t sent_from_mapping = 0;
  {
    std::lock_guard lock(g_sends_mutex);
    const auto begin = reinterpret_cast<std::uintptr_t>(in_store.data());
    const auto end = begin + in_store.size();
    for (const auto& [base, length] : g_sends) {
      const auto address = reinterpret_cast<std::uintptr_t>(base);
      if (address >= begin && address < end) sent_from_mapping += std::min<std::uintptr_t>(length, end - address);
    }
  }
  EXPECT_GE(sent_from_mapping, in_store.size()) << "Beast copied the value before sending it";
}

TEST(Pipelining, RequestsOfOneMessageAreAnsweredInOneMessage) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("store.bin"));
  server.store().write("k", "value");
  RawSocket socket(server.port());
  ASSERT_TRUE(socket.call(1, hello_request(1)).ok);
  std::vector<std::byte> burst;
  for (std::uint32_t id = 100; id < 200; ++id) {
    const auto one = request(id, "read", [](mp::Writer& w) {
      w.map(1);
      w.str("key");
      w.bin(mp::as_bytes("k"));
    });
    burst.insert(burst.end(), one.begin(), one.end());
  }
  socket.send_binary(burst);
  const auto message = socket.receive();
  ASSERT_TRUE(message.has_value());
  const auto answers = decode_answers(*message);
  ASSERT_EQ(answers.size(), 100u) << "the answers of one message go out together";
  std::set<std::uint32_t> ids;
  for (const auto& answer : answers) {
    EXPECT_TRUE(answer.ok);
    ids.insert(answer.id);
  }
  EXPECT_EQ(ids.size(), 100u);
  EXPECT_EQ(*ids.begin(), 100u);
}

TEST(Pipelining, AsyncCallsAndPipelinesMatchTheirAnswers) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("store.bin"));
  Client client(server.url());
  std::vector<std::future<std::uint64_t>> writes;
  for (int i = 0; i < 300; ++i) writes.push_back(client.write_async("k" + std::to_string(i), "v" + std::to_string(i)));
  std::uint64_t last_tail = 0;
  for (auto& write : writes) {
    const std::uint64_t tail = write.get();
    EXPECT_GT(tail, last_tail) << "writes of one connection apply in order";
    last_tail = tail;
  }
  auto pipeline = client.pipeline();
  for (int i = 0; i < 300; ++i) pipeline.read("k" + std::to_string(i));
  pipeline.exists("k1").exists("nope").remove("k0").read("k0");
  const auto replies = pipeline.execute();
  ASSERT_EQ(replies.size(), 304u);
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(replies[i].ok());
    ASSERT_TRUE(replies[i].value.has_value());
    EXPECT_EQ(replies[i].value->as_string_view(), "v" + std::to_string(i));
  }
  EXPECT_TRUE(replies[300].flag);
  EXPECT_FALSE(replies[301].flag);
  EXPECT_TRUE(replies[302].ok());
  EXPECT_GT(replies[302].number, last_tail);
  std::promise<std::optional<EntryHandle>> callback_result;
  client.read_async("k5", [&](std::optional<EntryHandle> value, std::exception_ptr error) {
    if (error) callback_result.set_exception(error);
    else callback_result.set_value(std::move(value));
  });
  const auto via_callback = callback_result.get_future().get();
  ASSERT_TRUE(via_callback.has_value());
  EXPECT_EQ(via_callback->as_string_view(), "v5");
}

TEST(Streams, AValueStreamsInBothDirectionsInChunks) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("store.bin"));
  simd_r_drive::net::ClientOptions options;
  options.stream_chunk_bytes = 64 * 1024;
  Client client(server.url(), options);
  const auto value = pattern_value(7, 2 * 1024 * 1024 + 12345);
  std::size_t position = 0;
  std::size_t pulls = 0;
  const std::uint64_t tail = client.write_stream("streamed", [&](std::span<std::byte> buffer) {
    ++pulls;
    const std::size_t n = std::min({buffer.size(), std::size_t{10000}, value.size() - position});
    std::memcpy(buffer.data(), value.data() + position, n);
    position += n;
    return n;
  });
  EXPECT_EQ(tail, server.store().file_size());
  EXPECT_GT(pulls, 200u);
  const auto stored = server.store().read("streamed");
  ASSERT_TRUE(stored.has_value());
  EXPECT_TRUE(*stored == ByteView(value));

  std::vector<std::byte> back;
  std::size_t chunks = 0;
  const auto size = client.read_stream("streamed", [&](std::span<const std::byte> chunk) {
    ++chunks;
    EXPECT_LE(chunk.size(), options.stream_chunk_bytes);
    back.insert(back.end(), chunk.begin(), chunk.end());
  });
  ASSERT_TRUE(size.has_value());
  EXPECT_EQ(*size, value.size());
  EXPECT_EQ(back, value);
  EXPECT_GE(chunks, value.size() / options.stream_chunk_bytes);
  EXPECT_FALSE(client.read_stream("absent", [](std::span<const std::byte>) {}).has_value());
}

TEST(Streams, ASourceThatFailsLeavesNothing) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("store.bin"));
  server.store().write("before", "x");
  const std::uint64_t size_before = server.store().file_size();
  simd_r_drive::net::ClientOptions options;
  options.stream_chunk_bytes = 16 * 1024;
  Client client(server.url(), options);
  std::size_t produced = 0;
  const std::string code = srd_test::code_of([&] {
    client.write_stream("half", [&](std::span<std::byte> buffer) -> std::size_t {
      if (produced > 200 * 1024) throw simd_r_drive::Error(ErrorCode::kIo, "the source broke");
      std::memset(buffer.data(), 'h', buffer.size());
      produced += buffer.size();
      return buffer.size();
    });
  });
  EXPECT_EQ(code, "io");
  EXPECT_FALSE(client.exists("half"));
  EXPECT_EQ(client.file_size(), size_before);
  // The writer is free again: a plain write goes through.
  EXPECT_GT(client.write("after", "y"), size_before);
  EXPECT_TRUE(server.store().verify().ok());
}

TEST(Streams, AStreamThatReceivesNothingForTheIdleTimeoutIsAborted) {
  srd_test::TempDir dir;
  auto options = quiet_options();
  options.idle_timeout = std::chrono::milliseconds(300);
  InProcessServer server(dir.file("store.bin"), options);
  const std::uint64_t size_before = server.store().file_size();
  simd_r_drive::net::ClientOptions client_options;
  client_options.stream_chunk_bytes = 4096;
  Client client(server.url(), client_options);
  int pulls = 0;
  const std::string code = protocol_code_of([&] {
    client.write_stream("idle", [&](std::span<std::byte> buffer) -> std::size_t {
      // The first chunk goes out; then the source stalls past the server's idle timeout.
      if (++pulls == 2) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      if (pulls > 3) return 0;
      std::memset(buffer.data(), 'i', buffer.size());
      return buffer.size();
    });
  });
  EXPECT_NE(code, "no error") << "a stream idle for longer than the idle timeout was kept";
  EXPECT_FALSE(server.store().exists("idle"));
  EXPECT_EQ(server.store().file_size(), size_before);
  EXPECT_GT(client.write("after", "v"), size_before) << "the writer is free again";
}

TEST(Streams, UnknownStreamIdsAreStreamNotFound) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("store.bin"));
  RawSocket socket(server.port());
  ASSERT_TRUE(socket.call(1, hello_request(1)).ok);
  for (const char* method : {"write_stream_chunk", "write_stream_end", "read_stream_chunk", "read_stream_close"}) {
    const auto answer = socket.call(2, request(2, method, [](mp::Writer& w) {
                                      w.map(2);
                                      w.str("stream");
                                      w.uint(999);
                                      w.str("data");
                                      w.bin(mp::as_bytes("x"));
                                    }));
    EXPECT_EQ(answer.code, "stream_not_found") << method;
  }
}

TEST(Scan, PagesVisitEveryEntryOnceAndACompactionExpiresTheCursor) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("store.bin"));
  std::vector<std::pair<std::string, std::string>> items;
  for (int i = 0; i < 2500; ++i) items.emplace_back("key" + std::to_string(i), "value" + std::to_string(i));
  server.store().batch_write(items);
  Client client(server.url());
  std::set<std::uint64_t> seen;
  std::size_t visits = 0;
  client.for_each_entry(
      [&](std::uint64_t key_hash, const EntryHandle& value) {
        ++visits;
        seen.insert(key_hash);
        EXPECT_EQ(value.key_hash(), key_hash);
      },
      1000);
  EXPECT_EQ(visits, 2500u);
  EXPECT_EQ(seen.size(), 2500u);

  const auto first = client.scan(std::nullopt, 10, false);
  ASSERT_EQ(first.entries.size(), 10u);
  EXPECT_FALSE(first.entries[0].second.has_value()) << "values: false sends hashes only";
  ASSERT_TRUE(first.cursor.has_value());
  client.compact();
  EXPECT_EQ(protocol_code_of([&] { client.scan(first.cursor, 10); }), "cursor_expired");
}

// The TTL methods are the extensions library's functions: what the client writes, the
// library reads in process from the same store, and the other way round.
TEST(Ttl, MethodsAreTheExtensionsLibrarysFunctions) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("store.bin"), quiet_options());
  Client client(server.url());
  const auto& methods = client.server_info().methods;
  for (const char* name : {"write_with_ttl", "read_with_ttl", "ttl_remaining"}) {
    EXPECT_NE(std::find(methods.begin(), methods.end(), name), methods.end()) << name;
  }
  namespace ext = simd_r_drive::extensions;
  using State = simd_r_drive::net::TtlRemaining::State;

  EXPECT_EQ(client.ttl_remaining("absent").state, State::kAbsent);
  EXPECT_FALSE(client.read_with_ttl("absent").has_value());

  client.write_with_ttl("session", "token-1", 600);
  const auto read = client.read_with_ttl("session");
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->as_string_view(), "token-1");  // the header is not part of the value
  const auto remaining = client.ttl_remaining("session");
  ASSERT_EQ(remaining.state, State::kExpiresIn);
  EXPECT_GE(remaining.seconds, 1u);
  EXPECT_LE(remaining.seconds, 600u);
  const auto in_process = ext::read_with_ttl(server.store(), ByteView("session"));
  ASSERT_TRUE(in_process.has_value());
  EXPECT_EQ(in_process->as_string_view(), "token-1");
  // The plain key is untouched: TTL values live under their own namespace.
  EXPECT_FALSE(client.read("session").has_value());

  ext::write_with_ttl(server.store(), ByteView("forever"), ByteView("v"), ext::kNeverExpires);
  EXPECT_EQ(client.ttl_remaining("forever").state, State::kNoExpiry);
  EXPECT_EQ(client.read_with_ttl("forever")->as_string_view(), "v");

  // Zero seconds: expired at once, so neither read sees it.
  client.write_with_ttl("gone", "v", 0);
  EXPECT_FALSE(client.read_with_ttl("gone").has_value());
  EXPECT_EQ(client.ttl_remaining("gone").state, State::kAbsent);
}

TEST(ReadOnlyServer, RefusesWritesAndFollowsTheFile) {
  srd_test::TempDir dir;
  const auto path = dir.file("store.bin");
  auto writer = simd_r_drive::DataStore::open(path);
  writer.write("a", "1");
  simd_r_drive::OpenOptions follow;
  follow.read_only = true;
  auto options = quiet_options();
  options.refresh_interval = std::chrono::milliseconds(1);
  InProcessServer server(path, options, follow);
  Client client(server.url());
  EXPECT_TRUE(client.server_info().read_only);
  EXPECT_EQ(client.read("a")->as_string_view(), "1");
  EXPECT_EQ(protocol_code_of([&] { client.write("b", "2"); }), "invalid_argument");
  EXPECT_EQ(protocol_code_of([&] { client.write_stream("b", [](std::span<std::byte>) { return std::size_t{0}; }); }),
            "invalid_argument");
  writer.write("b", "2");
  // The follower refreshes before reads once its last refresh is a millisecond old.
  std::optional<EntryHandle> b;
  for (int attempt = 0; attempt < 1000 && !b; ++attempt) {
    b = client.read("b");
    if (!b) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->as_string_view(), "2");
}

TEST(Errors, SayWhoWasAtFault) {
  srd_test::TempDir dir;
  auto options = quiet_options();
  options.max_message_bytes = 64 * 1024;
  options.stream_chunk_bytes = 16 * 1024;
  InProcessServer server(dir.file("store.bin"), options);
  Client client(server.url());
  try {
    client.rename("absent", "other");
    FAIL() << "rename of an absent key succeeded";
  } catch (const ClientError& error) {
    EXPECT_EQ(error.code(), ErrorCode::kNotFound);
    EXPECT_EQ(error.fault(), Fault::kServerEngine);
    EXPECT_EQ(error.protocol_code(), "not_found");
  }
  try {
    client.write("k", "");
    FAIL() << "an empty value was written";
  } catch (const simd_r_drive::Error& error) {  // catchable as the store's own error
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument);
  }
  // A batch whose values together exceed max_message_bytes: too_large.
  const auto big = pattern_value(3, 40 * 1024);
  client.write("x1", big);
  client.write("x2", big);
  EXPECT_EQ(protocol_code_of([&] { client.batch_read(std::vector<std::string>{"x1", "x2"}); }), "too_large");
  // A single value larger than the limit still comes back whole.
  const auto huge = pattern_value(4, 100 * 1024);
  server.store().write("huge", huge);
  EXPECT_TRUE(*client.read("huge") == ByteView(huge));
  EXPECT_TRUE(client.batch_read(std::vector<std::string>{"huge", "nope"})[0].has_value());

  try {
    Client nowhere("ws://127.0.0.1:1/ws");
    FAIL() << "connected to port 1";
  } catch (const simd_r_drive::net::NetworkError& error) {
    EXPECT_EQ(error.fault(), Fault::kNetwork);
    EXPECT_EQ(error.code(), ErrorCode::kIo);
  }
}

TEST(Client, ARequestTheServerNeverAnswersTimesOut) {
  SilentServer silent;
  simd_r_drive::net::ClientOptions options;
  options.request_timeout = std::chrono::milliseconds(200);
  Client client("ws://127.0.0.1:" + std::to_string(silent.port()) + "/ws", options);
  try {
    client.len();
    FAIL() << "the silent server answered";
  } catch (const simd_r_drive::net::NetworkError& error) {
    EXPECT_EQ(error.protocol_code(), "timeout");
  }
}

TEST(Client, ReconnectsAfterTheServerRestartsAndFailsWhatWasInFlight) {
  srd_test::TempDir dir;
  const auto path = dir.file("store.bin");
  auto server = std::make_unique<InProcessServer>(path);
  const std::uint16_t port = server->port();
  simd_r_drive::net::ClientOptions options;
  options.reconnect.initial_backoff = std::chrono::milliseconds(20);
  options.reconnect.max_backoff = std::chrono::milliseconds(200);
  options.reconnect.max_attempts = 0;  // until the server is back
  Client client(server->url(), options);
  client.write("k", "before");
  server.reset();  // the server and its store go away
  // In flight when the connection drops (a network error), or queued until the
  // client has reconnected (then answered).
  auto pending = client.read_async("k");
  auto restarted_options = quiet_options();
  restarted_options.port = port;
  std::optional<InProcessServer> again;
  for (int attempt = 0; attempt < 100 && !again; ++attempt) {
    try {
      again.emplace(path, restarted_options);
    } catch (const std::system_error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the port is still being released
    }
  }
  ASSERT_TRUE(again.has_value());
  const std::string outcome = protocol_code_of([&] {
    const auto value = pending.get();
    if (!value || value->as_string_view() != "before") throw std::runtime_error("wrong value");
  });
  EXPECT_TRUE(outcome == "network" || outcome == "no error") << outcome;
  const auto value = client.read("k");
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(value->as_string_view(), "before");
  EXPECT_GT(client.write("k", "after"), 0u);
}

TEST(Shutdown, AStopAnswersWhatWasReceivedSendsTheNoticeAndClosesWith1001) {
  srd_test::TempDir dir;
  InProcessServer server(dir.file("store.bin"));
  RawSocket watcher(server.port());
  ASSERT_TRUE(watcher.call(1, hello_request(1)).ok);
  simd_r_drive::net::ClientOptions options;
  options.reconnect.enabled = false;
  Client client(server.url(), options);
  std::vector<std::future<std::uint64_t>> writes;
  for (int i = 0; i < 200; ++i) writes.push_back(client.write_async("k" + std::to_string(i), "v"));
  std::thread stopper([&] { server.server().stop(); });
  // The watcher reads while the server stops (its close handshake needs an answer).
  bool notice = false;
  for (;;) {
    const auto message = watcher.receive(std::chrono::seconds(5));
    if (!message) break;
    for (const auto& answer : decode_answers(*message)) notice = notice || (answer.is_notice && answer.event == "shutting_down");
  }
  std::vector<std::string> acknowledged;
  for (int i = 0; i < 200; ++i) {
    try {
      writes[i].get();
      acknowledged.push_back("k" + std::to_string(i));
    } catch (const ClientError& error) {
      EXPECT_TRUE(error.protocol_code() == "shutting_down" || error.protocol_code() == "network")
          << error.protocol_code();
    }
  }
  stopper.join();
  EXPECT_TRUE(notice);
  EXPECT_TRUE(watcher.closed());
  EXPECT_EQ(watcher.close_code(), std::optional<std::uint16_t>(1001));
  for (const auto& key : acknowledged) EXPECT_TRUE(server.store().exists(key)) << key;
}

}  // namespace

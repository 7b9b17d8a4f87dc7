// write_stream and EntryStream: catalogue 9.15, plus the decided stream rules
// (empty and all-zero streams rejected) and rollback of a failed source (the
// original committed partial data and left stray bytes behind).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <istream>
#include <memory>
#include <span>
#include <sstream>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

#include <simd_r_drive/simd_r_drive.h>

#include "test_support.h"

namespace {

using srd_test::code_of;
using srd_test::message_of;
using srd_test::kInvalidArgument;

using simd_r_drive::ByteView;
using simd_r_drive::compute_checksum;
using simd_r_drive::compute_hash;
using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using simd_r_drive::EntryStream;
using simd_r_drive::Error;
using simd_r_drive::StreamReader;


std::string as_string(const std::vector<std::byte>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::vector<std::byte> bytes_of(const EntryHandle& handle) {
  auto view = handle.as_slice();
  return {view.begin(), view.end()};
}

std::uint64_t align_up(std::uint64_t offset) { return (offset + 63) / 64 * 64; }

// A StreamReader over `data` that hands out at most `max_chunk` bytes per call.
StreamReader reader_over(const std::vector<std::byte>& data, std::size_t max_chunk = SIZE_MAX) {
  auto position = std::make_shared<std::size_t>(0);
  return [&data, position, max_chunk](std::span<std::byte> buffer) -> std::size_t {
    const std::size_t n = std::min({buffer.size(), data.size() - *position, max_chunk});
    if (n > 0) std::memcpy(buffer.data(), data.data() + *position, n);
    *position += n;
    return n;
  };
}

// A streambuf that serves `data` in chunks of `chunk` bytes and throws once
// `fail_after` bytes have been served. std::istream turns the throw into badbit
// (and rethrows it only if exceptions() asks for badbit).
class FailingStreambuf : public std::streambuf {
 public:
  FailingStreambuf(std::string data, std::size_t fail_after, std::size_t chunk)
      : data_(std::move(data)), fail_after_(fail_after), chunk_(chunk) {}

 protected:
  int_type underflow() override {
    if (gptr() != nullptr && gptr() < egptr()) return traits_type::to_int_type(*gptr());
    if (served_ >= fail_after_) throw std::runtime_error("simulated device failure");
    const std::size_t n = std::min({chunk_, fail_after_ - served_, data_.size() - served_});
    if (n == 0) return traits_type::eof();
    char* begin = data_.data() + served_;
    setg(begin, begin, begin + n);
    served_ += n;
    return traits_type::to_int_type(*gptr());
  }

 private:
  std::string data_;
  std::size_t fail_after_;
  std::size_t chunk_;
  std::size_t served_ = 0;
};

class Streaming : public ::testing::Test {
 protected:
  std::filesystem::path path() const { return dir_.file("stream.bin"); }
  DataStore open() const { return DataStore::open(path()); }

  // Seeds the store with two entries so failures happen on a non-empty store.
  static void seed(DataStore& store) {
    store.write("seed1", "first seed value");
    store.write("seed2", srd_test::pattern_bytes(100));
  }

  // After a failed stream: nothing changed, and the next write lands at the old
  // tail, reads back, and survives a reopen.
  void expect_clean_after_failure(DataStore& store, std::uint64_t old_tail, std::size_t old_len,
                                  std::string_view failed_key) {
    EXPECT_EQ(store.file_size(), old_tail);
    EXPECT_EQ(store.len(), old_len);
    EXPECT_FALSE(store.exists(failed_key));
    const auto payload = srd_test::pattern_bytes(777);
    const std::uint64_t tail = store.write("after_failure", payload);
    auto entry = store.read("after_failure");
    ASSERT_TRUE(entry.has_value());
    EXPECT_EQ(entry->metadata().prev_offset, old_tail);
    EXPECT_EQ(entry->start_offset(), align_up(old_tail));
    EXPECT_EQ(tail, align_up(old_tail) + payload.size() + simd_r_drive::kMetadataSize);
    EXPECT_EQ(bytes_of(*entry), payload);
    EXPECT_TRUE(entry->is_valid_checksum());
  }

  void expect_clean_after_reopen(std::uint64_t expected_tail, std::size_t expected_len,
                                 std::string_view failed_key) {
    EXPECT_EQ(std::filesystem::file_size(path()), expected_tail);
    DataStore store = open();
    EXPECT_EQ(store.file_size(), expected_tail);
    EXPECT_EQ(store.len(), expected_len);
    EXPECT_FALSE(store.exists(failed_key));
    EXPECT_EQ(store.read("seed1")->as_string_view(), "first seed value");
    EXPECT_EQ(bytes_of(*store.read("seed2")), srd_test::pattern_bytes(100));
    auto entry = store.read("after_failure");
    ASSERT_TRUE(entry.has_value());
    EXPECT_EQ(bytes_of(*entry), srd_test::pattern_bytes(777));
    EXPECT_TRUE(entry->is_valid_checksum());
  }

  srd_test::TempDir dir_;
};

// ---- catalogue 9.15 ----

TEST_F(Streaming, WriteAndReadStreams) {
  const std::vector<std::byte> source = srd_test::pattern_bytes(1024 * 1024);
  DataStore store = open();
  std::istringstream input(as_string(source));
  const std::uint64_t tail = store.write_stream("large_file", input);
  EXPECT_EQ(tail, store.file_size());

  auto entry = store.read("large_file");
  ASSERT_TRUE(entry.has_value());
  ASSERT_EQ(entry->size(), source.size());
  EXPECT_EQ(entry->checksum(), compute_checksum(source));
  EXPECT_TRUE(entry->is_valid_checksum());

  EntryStream stream(*entry);
  std::vector<std::byte> chunk(4096);
  std::vector<std::byte> reassembled;
  std::size_t reads = 0;
  while (true) {
    const std::size_t n = stream.read(chunk);
    if (n == 0) break;
    EXPECT_EQ(n, 4096u);
    EXPECT_EQ(std::memcmp(chunk.data(), source.data() + reassembled.size(), n), 0) << "chunk " << reads;
    reassembled.insert(reassembled.end(), chunk.begin(), chunk.begin() + n);
    ++reads;
  }
  EXPECT_EQ(reads, 256u);
  EXPECT_TRUE(stream.eof());
  EXPECT_EQ(stream.remaining(), 0u);
  EXPECT_EQ(reassembled, source);
  EXPECT_EQ(compute_checksum(reassembled), entry->checksum());
}

TEST_F(Streaming, WriteStreamNullByteFails) {
  DataStore store = open();
  seed(store);
  const std::uint64_t tail = store.file_size();
  std::istringstream input(std::string(1, '\0'));
  EXPECT_EQ(code_of([&] { store.write_stream("nul", input); }), kInvalidArgument);
  expect_clean_after_failure(store, tail, 2, "nul");
}

// ---- decided rules ----

TEST_F(Streaming, AllZeroStreamsOfAnyLengthFail) {
  std::uint64_t final_tail = 0;
  {
    DataStore store = open();
    seed(store);
    const std::uint64_t tail = store.file_size();
    for (std::size_t length : {std::size_t{1}, std::size_t{2}, std::size_t{63}, std::size_t{65536},
                               std::size_t{65537}, std::size_t{200000}}) {
      std::istringstream input(std::string(length, '\0'));
      EXPECT_EQ(code_of([&] { store.write_stream("zeros", input); }), kInvalidArgument) << length;
      std::istringstream again(std::string(length, '\0'));
      EXPECT_EQ(message_of([&] { store.write_stream("zeros", again); }),
                "NULL-byte-only streams cannot be written directly.")
          << length;
      const std::vector<std::byte> zeros(length);
      EXPECT_EQ(code_of([&] { store.write_stream("zeros", reader_over(zeros, 1000)); }),
                kInvalidArgument)
          << length;
      EXPECT_EQ(store.file_size(), tail) << length;
    }
    expect_clean_after_failure(store, tail, 2, "zeros");
    final_tail = store.file_size();
  }
  expect_clean_after_reopen(final_tail, 3, "zeros");
}

TEST_F(Streaming, EmptyStreamFails) {
  DataStore store = open();
  seed(store);
  const std::uint64_t tail = store.file_size();
  std::istringstream input("");
  EXPECT_EQ(code_of([&] { store.write_stream("empty", input); }), kInvalidArgument);
  const StreamReader nothing = [](std::span<std::byte>) -> std::size_t { return 0; };
  EXPECT_EQ(code_of([&] { store.write_stream("empty", nothing); }), kInvalidArgument);
  EXPECT_EQ(message_of([&] { store.write_stream("empty", nothing); }), "Payload cannot be empty.");
  EXPECT_EQ(code_of([&] { store.write_stream_with_key_hash(99, nothing); }), kInvalidArgument);
  expect_clean_after_failure(store, tail, 2, "empty");
}

TEST_F(Streaming, EmptyStreamOnEmptyStoreLeavesFileEmpty) {
  {
    DataStore store = open();
    std::istringstream input("");
    EXPECT_EQ(code_of([&] { store.write_stream("empty", input); }), kInvalidArgument);
    std::istringstream zeros(std::string(100, '\0'));
    EXPECT_EQ(code_of([&] { store.write_stream("zeros", zeros); }), kInvalidArgument);
    EXPECT_EQ(store.file_size(), 0u);
    EXPECT_TRUE(store.is_empty());
  }
  EXPECT_EQ(std::filesystem::file_size(path()), 0u);
}

TEST_F(Streaming, ZerosFollowedByOneNonZeroByteAreAccepted) {
  // The all-zero rule looks at the whole stream, not at the first chunk.
  std::vector<std::byte> payload(70000);
  payload.back() = std::byte{0x01};
  DataStore store = open();
  std::istringstream input(as_string(payload));
  store.write_stream("mostly_zero", input);
  auto entry = store.read("mostly_zero");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(bytes_of(*entry), payload);
  EXPECT_TRUE(entry->is_valid_checksum());
}

TEST_F(Streaming, WriteStreamFromCallbackInSmallChunks) {
  const std::vector<std::byte> source = srd_test::pattern_bytes(150'000);
  DataStore store = open();
  seed(store);
  const std::uint64_t before = store.file_size();
  const std::uint64_t tail = store.write_stream("callback", reader_over(source, 4999));
  EXPECT_EQ(tail, store.file_size());
  EXPECT_EQ(tail, align_up(before) + source.size() + simd_r_drive::kMetadataSize);
  auto entry = store.read("callback");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(bytes_of(*entry), source);
  EXPECT_EQ(entry->checksum(), compute_checksum(source));
  EXPECT_EQ(entry->metadata().prev_offset, before);
  EXPECT_EQ(entry->start_offset() % simd_r_drive::kPayloadAlignment, 0u);
  EXPECT_EQ(store.len(), 3u);
}

TEST_F(Streaming, WriteStreamOneByteAtATime) {
  const std::vector<std::byte> source = srd_test::pattern_bytes(3000);
  DataStore store = open();
  store.write_stream("bytewise", reader_over(source, 1));
  EXPECT_EQ(bytes_of(*store.read("bytewise")), source);
}

TEST_F(Streaming, WriteStreamWithKeyHash) {
  const std::vector<std::byte> source = srd_test::pattern_bytes(1000);
  DataStore store = open();
  const std::uint64_t hash = 0xdeadbeef12345678ULL;
  const std::uint64_t tail = store.write_stream_with_key_hash(hash, reader_over(source));
  EXPECT_EQ(tail, store.file_size());
  auto entry = store.read_with_key_hash(hash);
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->key_hash(), hash);
  EXPECT_EQ(bytes_of(*entry), source);
}

TEST_F(Streaming, StreamAndWriteGiveTheSameEntry) {
  const std::vector<std::byte> payload = srd_test::pattern_bytes(5000);
  DataStore store = open();
  store.write("written", payload);
  std::istringstream input(as_string(payload));
  store.write_stream("streamed", input);
  auto written = store.read("written");
  auto streamed = store.read("streamed");
  ASSERT_TRUE(written && streamed);
  EXPECT_EQ(written->checksum(), streamed->checksum());
  EXPECT_EQ(bytes_of(*written), bytes_of(*streamed));
  EXPECT_EQ(written->size(), streamed->size());
}

TEST_F(Streaming, StreamOverwriteReplacesValueAndSurvivesReopen) {
  const std::vector<std::byte> second = srd_test::pattern_bytes(70'000);
  {
    DataStore store = open();
    std::istringstream first("the first value");
    store.write_stream("key", first);
    store.write_stream("key", reader_over(second, 10'000));
    EXPECT_EQ(bytes_of(*store.read("key")), second);
    EXPECT_EQ(store.len(), 1u);
  }
  DataStore store = open();
  EXPECT_EQ(bytes_of(*store.read("key")), second);
  EXPECT_EQ(store.len(), 1u);
}

TEST_F(Streaming, ThrowingReaderPropagatesAndRollsBack) {
  std::uint64_t final_tail = 0;
  {
    DataStore store = open();
    seed(store);
    const std::uint64_t tail = store.file_size();
    const std::vector<std::byte> source = srd_test::pattern_bytes(300'000);
    std::size_t served = 0;
    const StreamReader failing = [&](std::span<std::byte> buffer) -> std::size_t {
      if (served >= 100'000) throw std::runtime_error("source failed");
      const std::size_t n = std::min<std::size_t>(buffer.size(), 100'000 - served);
      std::memcpy(buffer.data(), source.data() + served, n);
      served += n;
      return n;
    };
    EXPECT_ANY_THROW(store.write_stream("broken", failing));
    EXPECT_EQ(served, 100'000u);  // the source really did yield bytes before failing
    expect_clean_after_failure(store, tail, 2, "broken");
    final_tail = store.file_size();
  }
  expect_clean_after_reopen(final_tail, 3, "broken");
}

TEST_F(Streaming, ThrowingReaderOnFirstCallRollsBack) {
  std::uint64_t final_tail = 0;
  {
    DataStore store = open();
    seed(store);
    const std::uint64_t tail = store.file_size();
    const StreamReader failing = [](std::span<std::byte>) -> std::size_t {
      throw std::runtime_error("source failed at once");
    };
    EXPECT_ANY_THROW(store.write_stream("broken", failing));
    expect_clean_after_failure(store, tail, 2, "broken");
    final_tail = store.file_size();
  }
  expect_clean_after_reopen(final_tail, 3, "broken");
}

TEST_F(Streaming, ThrowingReaderDoesNotDisturbAnOverwrittenKey) {
  DataStore store = open();
  seed(store);
  const std::vector<std::byte> source = srd_test::pattern_bytes(10'000);
  std::size_t calls = 0;
  const StreamReader failing = [&](std::span<std::byte> buffer) -> std::size_t {
    if (++calls > 2) throw std::runtime_error("source failed");
    const std::size_t n = std::min<std::size_t>(buffer.size(), 1000);
    std::memcpy(buffer.data(), source.data(), n);
    return n;
  };
  EXPECT_ANY_THROW(store.write_stream("seed1", failing));
  EXPECT_EQ(store.read("seed1")->as_string_view(), "first seed value");
  EXPECT_EQ(store.len(), 2u);
}

TEST_F(Streaming, ReaderClaimingMoreThanItsBufferIsRejected) {
  std::uint64_t final_tail = 0;
  {
    DataStore store = open();
    seed(store);
    const std::uint64_t tail = store.file_size();
    std::size_t calls = 0;
    const StreamReader liar = [&](std::span<std::byte> buffer) -> std::size_t {
      std::memset(buffer.data(), 0x41, buffer.size());
      return ++calls < 3 ? buffer.size() : buffer.size() + 1;
    };
    EXPECT_ANY_THROW(store.write_stream("liar", liar));
    expect_clean_after_failure(store, tail, 2, "liar");
    final_tail = store.file_size();
  }
  expect_clean_after_reopen(final_tail, 3, "liar");
}

TEST_F(Streaming, IstreamGoingBadMidwayRollsBack) {
  std::uint64_t final_tail = 0;
  {
    DataStore store = open();
    seed(store);
    const std::uint64_t tail = store.file_size();
    const std::string data(300'000, 'x');
    FailingStreambuf buffer(data, 150'000, 8192);
    std::istream input(&buffer);  // no exceptions(): the failure shows up as badbit
    EXPECT_ANY_THROW(store.write_stream("bad_stream", input));
    expect_clean_after_failure(store, tail, 2, "bad_stream");
    final_tail = store.file_size();
  }
  expect_clean_after_reopen(final_tail, 3, "bad_stream");
}

TEST_F(Streaming, IstreamThrowingMidwayRollsBack) {
  std::uint64_t final_tail = 0;
  {
    DataStore store = open();
    seed(store);
    const std::uint64_t tail = store.file_size();
    const std::string data(300'000, 'y');
    FailingStreambuf buffer(data, 70'000, 4096);
    std::istream input(&buffer);
    input.exceptions(std::ios::badbit);  // the streambuf's exception propagates
    EXPECT_ANY_THROW(store.write_stream("throwing_stream", input));
    expect_clean_after_failure(store, tail, 2, "throwing_stream");
    final_tail = store.file_size();
  }
  expect_clean_after_reopen(final_tail, 3, "throwing_stream");
}

TEST_F(Streaming, IstreamThatEndsNormallyThroughCustomStreambufIsAccepted) {
  // Control for the two tests above: the same streambuf without a failure point.
  const std::string data(100'000, 'z');
  FailingStreambuf buffer(data, SIZE_MAX, 3000);
  std::istream input(&buffer);
  DataStore store = open();
  store.write_stream("complete", input);
  auto entry = store.read("complete");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->as_string_view(), data);
}

TEST_F(Streaming, EntryStreamAsWriteStreamSource) {
  const std::vector<std::byte> payload = srd_test::pattern_bytes(200'000);
  DataStore store = open();
  store.write("origin", payload);
  EntryStream stream(*store.read("origin"));
  store.write_stream("copy", [&](std::span<std::byte> buffer) { return stream.read(buffer); });
  EXPECT_EQ(bytes_of(*store.read("copy")), payload);
  EXPECT_EQ(store.read("copy")->checksum(), store.read("origin")->checksum());
}

TEST_F(Streaming, EntryStreamEdgeCases) {
  const auto handle = EntryHandle::from_owned_bytes(ByteView("abcdefghij"), 1);
  EntryStream stream(handle);
  EXPECT_EQ(stream.remaining(), 10u);
  EXPECT_FALSE(stream.eof());
  std::vector<std::byte> empty;
  EXPECT_EQ(stream.read(empty), 0u);  // an empty buffer reads nothing, not the end
  EXPECT_EQ(stream.remaining(), 10u);
  std::vector<std::byte> three(3);
  EXPECT_EQ(stream.read(three), 3u);
  EXPECT_EQ(as_string(three), "abc");
  std::vector<std::byte> big(100);
  EXPECT_EQ(stream.read(big), 7u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(big.data()), 7), "defghij");
  EXPECT_TRUE(stream.eof());
  EXPECT_EQ(stream.read(big), 0u);
  EXPECT_EQ(stream.handle().size(), 10u);
}

}  // namespace

namespace simd_r_drive {
namespace {

TEST(StreamingFromEntry, CopiesAnotherEntry) {
  srd_test::TempDir dir;
  auto store = DataStore::open(dir.file("s.bin"));
  const auto payload = srd_test::pattern_bytes(200000);
  store.write("source", payload);
  EntryStream stream(*store.read("source"));
  const std::uint64_t tail = store.write_stream("copy", stream);
  EXPECT_EQ(tail, store.file_size());
  EXPECT_TRUE(stream.eof());
  auto copy = store.read("copy");
  ASSERT_TRUE(copy);
  EXPECT_TRUE(*copy == ByteView(payload));
  EXPECT_EQ(copy->checksum(), store.read("source")->checksum());
}

}  // namespace
}  // namespace simd_r_drive

// Values through pipes: binary bytes, stdin streams, the progress display (only on
// a terminal), and a 1 GiB value written and read back in bounded memory.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include <simd_r_drive/simd_r_drive.h>

#include "cli_runner.h"

namespace srd_cli_test {
namespace {

using simd_r_drive::DataStore;

class Streaming : public CliTest {};

// A deterministic byte stream (xorshift64*), so a large value can be generated on
// the way into the child and checked on the way out without being stored.
class ByteStream {
 public:
  explicit ByteStream(std::uint64_t size) : remaining_(size) {}
  std::size_t fill(std::span<char> buffer) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, buffer.size()));
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const std::uint64_t word = next();
      std::memcpy(buffer.data() + i, &word, 8);
    }
    if (i < n) {
      const std::uint64_t word = next();
      std::memcpy(buffer.data() + i, &word, n - i);
    }
    remaining_ -= n;
    return n;
  }

 private:
  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1Dull;
  }
  std::uint64_t state_ = 0x9E3779B97F4A7C15ull;
  std::uint64_t remaining_;
};

// Checks a stream against ByteStream(size) as it arrives. Chunks of any size;
// the expected bytes are generated in 8-byte words, so a partial word is kept.
class StreamChecker {
 public:
  explicit StreamChecker(std::uint64_t size) : expected_(size) {}
  void consume(std::string_view got) {
    received_ += got.size();
    while (!got.empty()) {
      if (at_ == buffered_) {
        buffered_ = expected_.fill(std::span<char>(buffer_, sizeof buffer_));
        at_ = 0;
        if (buffered_ == 0) {
          mismatch_ = true;  // more bytes than the value has
          return;
        }
      }
      const std::size_t n = std::min(got.size(), buffered_ - at_);
      mismatch_ |= std::memcmp(buffer_ + at_, got.data(), n) != 0;
      at_ += n;
      got.remove_prefix(n);
    }
  }
  bool matches(std::uint64_t size) const { return !mismatch_ && received_ == size; }
  std::uint64_t received() const { return received_; }

 private:
  ByteStream expected_;
  char buffer_[1 << 16];
  std::size_t buffered_ = 0;
  std::size_t at_ = 0;
  std::uint64_t received_ = 0;
  bool mismatch_ = false;
};

TEST_F(Streaming, BinaryValuesWithNulBytesRoundTripThroughPipes) {
  std::string value;
  for (int i = 0; i < 4096; ++i) value.push_back(static_cast<char>(i % 256));  // every byte, NUL included
  ASSERT_EQ(cli({"write", "--key-hex", "00ff00", "--value-file", "-"}, {.data = value}).exit_code, 0);
  const CliRun read = cli({"read", "--key-hex", "00ff00"});
  EXPECT_EQ(read.exit_code, 0);
  EXPECT_TRUE(read.out == value);
  // The library sees the same key (with its NULs) and the same bytes.
  const DataStore library = DataStore::open(store());
  const auto entry = library.read(std::string("\0\xff\0", 3));
  ASSERT_TRUE(entry.has_value());
  EXPECT_TRUE(*entry == simd_r_drive::ByteView(value));
  EXPECT_TRUE(entry->is_valid_checksum());
}

TEST_F(Streaming, ValueHexCarriesBytesArgvCannot) {
  ASSERT_EQ(cli({"write", "k", "--value-hex", "0x00410042"}).exit_code, 0);
  EXPECT_EQ(cli({"read", "k"}).out, std::string("\0A\0B", 4));
}

TEST_F(Streaming, StdinIsStreamedWhenNoValueIsGiven) {
  ByteStream source(5'000'000);
  const CliRun write = cli({"write", "blob"}, {.producer = [&](std::span<char> b) { return source.fill(b); }});
  EXPECT_EQ(write.exit_code, 0) << write.err;
  EXPECT_NE(write.err.find("from stdin"), std::string::npos);
  StreamChecker checker(5'000'000);
  const CliRun read = cli({"read", "blob"}, {.stdout_sink = [&](std::string_view got) { checker.consume(got); }});
  EXPECT_EQ(read.exit_code, 0);
  EXPECT_TRUE(checker.matches(5'000'000)) << checker.received();
}

TEST_F(Streaming, ProgressIsDrawnOnATerminalOnly) {
  // Feeds 16 MiB over about a second, so the progress display has time to appear.
  auto slow_source = [] {
    return [source = std::make_shared<ByteStream>(16u << 20)](std::span<char> buffer) {
      std::this_thread::sleep_for(std::chrono::milliseconds(4));
      return source->fill(buffer);
    };
  };
  const CliRun on_terminal = cli({"write", "slow"}, {.producer = slow_source(), .stderr_terminal = true});
  EXPECT_EQ(on_terminal.exit_code, 0) << on_terminal.err;
  EXPECT_NE(on_terminal.err.find("\rwriting"), std::string::npos) << on_terminal.err;
  EXPECT_NE(on_terminal.err.find("MiB"), std::string::npos);
  EXPECT_NE(on_terminal.err.find("Stored 'slow'"), std::string::npos);

  const CliRun on_pipe = cli({"write", "slow"}, {.producer = slow_source()});
  EXPECT_EQ(on_pipe.exit_code, 0);
  EXPECT_EQ(on_pipe.err, "simd-r-drive: Stored 'slow' (16.00 MiB from stdin)\n");

  // --quiet turns it off on a terminal as well.
  const CliRun quiet = cli({"-q", "write", "slow"}, {.producer = slow_source(), .stderr_terminal = true});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.err, "");
}

TEST_F(Streaming, TheCompactionSpinnerKeepsLogLinesOffItsLine) {
  // With no delay before its first frame the spinner draws at once, however quick the
  // compaction: what is checked here does not depend on the disk's speed.
  ASSERT_EQ(cli({"-q", "write", "v", "first"}).exit_code, 0);
  ASSERT_EQ(cli({"-q", "write", "v", "second"}).exit_code, 0);
  const CliRun run = cli({"compact"}, {.stderr_terminal = true, .env = {"SRD_PROGRESS_DELAY_MS=0"}});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("\rcompacting "), std::string::npos) << run.err;
  // The engine logs its own line about the compaction; it must start on a line of
  // its own, after the spinner was erased, not after a spinner frame.
  const std::size_t log = run.err.find("[simd_r_drive]");
  ASSERT_NE(log, std::string::npos) << run.err;
  const std::size_t line_start = run.err.rfind('[', log - 1);
  ASSERT_NE(line_start, std::string::npos);
  EXPECT_EQ(run.err.substr(line_start - 4, 4), "\r\x1b[K") << run.err;
  EXPECT_NE(run.err.find("simd-r-drive: Compacted"), std::string::npos);
}

TEST_F(Streaming, OneGibValueIsWrittenAndReadBackInBoundedMemory) {
  constexpr std::uint64_t kSize = 1ull << 30;
  // Well below the value: the streams need a few 64 KiB buffers, the process its
  // code and the engine's tables.
  constexpr long kMaxRssKib = 64 * 1024;

  ByteStream source(kSize);
  const auto write_start = std::chrono::steady_clock::now();
  const CliRun write = cli({"write", "huge"}, {.producer = [&](std::span<char> b) { return source.fill(b); }});
  const double write_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count();
  ASSERT_EQ(write.exit_code, 0) << write.err;
  EXPECT_LT(write.max_rss_kib, kMaxRssKib);
  EXPECT_GE(std::filesystem::file_size(store()), kSize);
  // The 1 GiB value is the store's last entry: opening the store checksums it, and
  // that check must not make the whole value resident either.

  StreamChecker checker(kSize);
  const auto read_start = std::chrono::steady_clock::now();
  const CliRun read = cli({"read", "huge", "--buffer-size", "1M"},
                          {.stdout_sink = [&](std::string_view got) { checker.consume(got); }});
  const double read_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - read_start).count();
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_TRUE(checker.matches(kSize)) << checker.received();
  EXPECT_LT(read.max_rss_kib, kMaxRssKib);
  std::printf("1 GiB value: write %.2f s, peak RSS %ld KiB; read %.2f s, peak RSS %ld KiB\n", write_seconds,
              write.max_rss_kib, read_seconds, read.max_rss_kib);

  std::filesystem::remove(store());  // do not keep 1 GiB around longer than needed
}

}  // namespace
}  // namespace srd_cli_test

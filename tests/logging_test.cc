// set_log_level: the library's stderr lines can be silenced (the CLI does so).
#include <gtest/gtest.h>

#include <string>

#include "simd_r_drive/data_store.h"
#include "simd_r_drive/logging.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::LogLevel;

std::string log_of_a_compaction(LogLevel level) {
  srd_test::TempDir dir;
  auto store = DataStore::open(dir.file("s.bin"));
  store.write("k", std::string("1"));
  store.write("k", std::string("2"));
  simd_r_drive::set_log_level(level);
  srd_test::StderrCapture capture;
  store.compact();
  std::string log = capture.take();
  simd_r_drive::set_log_level(LogLevel::kInfo);
  return log;
}

TEST(Logging, InfoLinesFollowTheLevel) {
  EXPECT_NE(log_of_a_compaction(LogLevel::kInfo).find("Compacted"), std::string::npos);
  EXPECT_EQ(log_of_a_compaction(LogLevel::kWarning), "");
  EXPECT_EQ(log_of_a_compaction(LogLevel::kOff), "");
}

TEST(Logging, WarningsCanBeSilencedToo) {
  srd_test::TempDir dir;
  const auto path = dir.file("s.bin");
  { DataStore::open(path).write("k", std::string("v")); }
  auto bytes = srd_test::read_file(path);
  bytes.push_back(std::byte{0x7f});  // a torn tail
  srd_test::write_file(path, bytes);
  simd_r_drive::set_log_level(LogLevel::kError);
  std::string log;
  {
    srd_test::StderrCapture capture;
    auto store = DataStore::open(path);
    EXPECT_TRUE(store.read("k"));
    log = capture.take();
  }
  simd_r_drive::set_log_level(LogLevel::kInfo);
  EXPECT_EQ(log, "");
}

}  // namespace

// One writer per store: the OFD lock on "<store>.lock" (in-process cases; the
// cross-process ones are in multi_process_test.cc).
#include <gtest/gtest.h>

#include <string>

#include "simd_r_drive/data_store.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::OpenOptions;
using srd_test::TempDir;

TEST(Locking, ASecondWriterOnTheSameFileIsRefused) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  auto first = DataStore::open(path);
  first.write("k", std::string("v"));
  EXPECT_EQ(srd_test::code_of([&] { DataStore::open(path); }), "locked");
  const std::string message = srd_test::message_of([&] { DataStore::open_existing(path); });
  EXPECT_NE(message.find("locked by another writer"), std::string::npos) << message;
  EXPECT_NE(message.find("read_only"), std::string::npos) << "says how to read meanwhile: " << message;
  // The refused open changed nothing.
  ASSERT_TRUE(first.read("k"));
  first.write("k2", std::string("v2"));
  EXPECT_EQ(first.len(), 2u);
}

TEST(Locking, TheLockIsReleasedOnClose) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  { DataStore::open(path).write("k", std::string("v")); }
  auto second = DataStore::open(path);
  EXPECT_EQ(second.read("k")->as_string_view(), "v");
}

TEST(Locking, AFailedOpenDoesNotKeepTheLock) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  srd_test::write_file(path, srd_test::bytes_of("definitely not a store"));
  EXPECT_EQ(srd_test::code_of([&] { DataStore::open(path); }), "corruption");
  // Neither the lock nor a "crashed writer" mark is left behind: the file is still
  // refused (not emptied), and it can be repaired explicitly.
  EXPECT_EQ(srd_test::code_of([&] { DataStore::open(path); }), "corruption");
  OpenOptions repair;
  repair.repair_unrecoverable = true;
  auto store = DataStore::open(path, repair);
  EXPECT_EQ(store.file_size(), 0u);
}

TEST(Locking, ReadersNeedNoLockAndDoNotBlockTheWriter) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  { DataStore::open(path).write("k", std::string("v")); }
  OpenOptions read_only;
  read_only.read_only = true;
  auto reader = DataStore::open(path, read_only);
  auto writer = DataStore::open(path);
  auto second_reader = DataStore::open(path, read_only);
  writer.write("k2", std::string("v2"));
  EXPECT_TRUE(reader.read("k"));
  EXPECT_TRUE(second_reader.read("k"));
}

TEST(Locking, MovedStoresKeepTheirLock) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  auto first = DataStore::open(path);
  DataStore moved = std::move(first);
  EXPECT_EQ(srd_test::code_of([&] { DataStore::open(path); }), "locked");
  moved.write("k", std::string("v"));
}

TEST(Locking, ASecondNameForTheSameFileIsRefusedToo) {
  TempDir dir;
  const auto path = dir.file("s.bin");
  auto store = DataStore::open(path);
  store.write("k", std::string("v"));
  std::error_code error;
  std::filesystem::create_hard_link(path, dir.file("alias.bin"), error);
  ASSERT_FALSE(error);
  // The alias has a lock file of its own, but the store file itself is locked too.
  EXPECT_EQ(srd_test::code_of([&] { DataStore::open(dir.file("alias.bin")); }), "locked");
  // Also after compaction, which replaces the file: the new file is locked as well.
  store.compact();
  std::filesystem::remove(dir.file("alias.bin"));
  std::filesystem::create_hard_link(path, dir.file("alias.bin"), error);
  ASSERT_FALSE(error);
  EXPECT_EQ(srd_test::code_of([&] { DataStore::open(dir.file("alias.bin")); }), "locked");
}

}  // namespace

// A store opened through a symbolic link (to the file, or to a directory on its path)
// is the file the link resolves to, for its whole session: compaction replaces that
// file, not the link; the lock file and the index snapshot live beside it; path()
// names it. Files the engine creates or locks beside the store are never opened
// through a link planted under their names.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "simd_r_drive/simd_r_drive.h"
#include "test_support.h"

namespace {

using simd_r_drive::DataStore;
using simd_r_drive::OpenOptions;
using srd_test::TempDir;
namespace fs = std::filesystem;

std::string text_of(const fs::path& path) {
  const std::vector<std::byte> bytes = srd_test::read_file(path);
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Two directories: real/ holds the store, links/ a link to it.
class SymlinkPaths : public testing::Test {
 protected:
  void SetUp() override {
    fs::create_directory(real_dir());
    fs::create_directory(link_dir());
  }
  fs::path real_dir() const { return dir_.path() / "real"; }
  fs::path link_dir() const { return dir_.path() / "links"; }
  TempDir dir_;
};

// The split this guards against: compaction through links/s.bin used to rename the
// new file over the link, so links/s.bin became a file of its own, with its own lock.
TEST_F(SymlinkPaths, CompactionThroughALinkReplacesTheFileNotTheLink) {
  const fs::path real = real_dir() / "s.bin";
  const fs::path link = link_dir() / "s.bin";
  fs::create_symlink("../real/s.bin", link);
  {
    DataStore store = DataStore::open(link);
    EXPECT_EQ(store.path(), fs::canonical(real));
    store.write("a", "first");
    store.write("a", "second, after which compaction has something to drop");
    store.write("b", "kept");
    store.compact();
    store.write("c", "written after the compaction");
    // One store, one lock, whichever name opens it.
    EXPECT_EQ(srd_test::code_of([&] { DataStore::open(real); }), "locked");
    EXPECT_EQ(srd_test::code_of([&] { DataStore::open(link); }), "locked");
  }
  EXPECT_TRUE(fs::is_symlink(link)) << "compaction replaced the link with a file of its own";
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(real)));
  // The lock file is beside the real file, and nothing was left beside the link.
  EXPECT_TRUE(fs::exists(real_dir() / "s.bin.lock"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(link_dir() / "s.bin.lock")));

  const DataStore through_real = DataStore::open(real);
  ASSERT_TRUE(through_real.read("c").has_value()) << "a write through the link after compaction is not in the real file";
  EXPECT_EQ(through_real.read("c")->as_string_view(), "written after the compaction");
  EXPECT_EQ(through_real.read("a")->as_string_view(), "second, after which compaction has something to drop");
  EXPECT_EQ(through_real.len(), 3u);
}

// A link to the directory: the store is named by the real directory, and compaction
// still leaves the link alone.
TEST_F(SymlinkPaths, CompactionThroughALinkedDirectoryKeepsOneStore) {
  const fs::path linked_dir = dir_.path() / "linked";
  fs::create_directory_symlink("real", linked_dir);
  {
    DataStore store = DataStore::open(linked_dir / "s.bin");
    EXPECT_EQ(store.path(), fs::canonical(real_dir()) / "s.bin");
    store.write("k", "old");
    store.write("k", "new");
    store.compact();
    store.write("after", "compaction");
    EXPECT_EQ(srd_test::code_of([&] { DataStore::open(real_dir() / "s.bin"); }), "locked");
  }
  EXPECT_TRUE(fs::is_symlink(linked_dir));
  const DataStore through_real = DataStore::open(real_dir() / "s.bin");
  EXPECT_EQ(through_real.read("k")->as_string_view(), "new");
  EXPECT_TRUE(through_real.exists("after"));
}

// A link to a store that does not exist yet creates the file it points to, and the
// store is that file from the start.
TEST_F(SymlinkPaths, ADanglingLinkCreatesTheStoreItPointsTo) {
  const fs::path link = link_dir() / "new.bin";
  fs::create_symlink("../real/new.bin", link);
  {
    DataStore store = DataStore::open(link);
    EXPECT_EQ(store.path(), fs::canonical(real_dir()) / "new.bin");
    store.write("k", "v1");
    store.write("k", "v2");
    store.compact();
  }
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(DataStore::open(real_dir() / "new.bin").read("k")->as_string_view(), "v2");
}

// A store that does not exist in a directory reached through a link: the directory
// is resolved and the file name kept.
TEST_F(SymlinkPaths, ANewStoreInALinkedDirectoryIsNamedByTheRealDirectory) {
  fs::create_directory_symlink("real", dir_.path() / "linked");
  const DataStore store = DataStore::open(dir_.path() / "linked" / "fresh.bin");
  EXPECT_EQ(store.path(), fs::canonical(real_dir()) / "fresh.bin");
  EXPECT_TRUE(fs::exists(real_dir() / "fresh.bin"));
}

// The index snapshot's temporary used to be opened with O_CREAT and then truncated: a
// link planted under its name made closing the store truncate the link's target.
TEST_F(SymlinkPaths, ALinkPlantedAtTheSnapshotTemporaryIsNotWrittenThrough) {
  const fs::path store_path = real_dir() / "s.bin";
  const fs::path victim = dir_.path() / "victim.txt";
  srd_test::write_file(victim, srd_test::bytes_of("must stay as it is"));
  fs::create_symlink(victim, store_path.string() + ".index.tmp-" + std::to_string(::getpid()));
  OpenOptions options;
  options.index_snapshot_min_keys = 1;
  {
    DataStore store = DataStore::open(store_path, options);
    for (int i = 0; i < 100; ++i) store.write("key-" + std::to_string(i), "value");
  }  // closing saves the snapshot
  EXPECT_TRUE(text_of(victim) == "must stay as it is") << "the link's target was written";
  const DataStore reopened = DataStore::open(store_path, options);
  EXPECT_TRUE(reopened.index_loaded_from_snapshot()) << "the snapshot was not saved beside the planted link";
  EXPECT_EQ(reopened.len(), 100u);
}

// The lock file is created and written through a mapping: a link planted under its
// name would have the writer truncate and overwrite the link's target.
TEST_F(SymlinkPaths, ALinkPlantedAtTheLockFileIsRefused) {
  const fs::path store_path = real_dir() / "s.bin";
  const fs::path victim = dir_.path() / "victim.txt";
  srd_test::write_file(victim, srd_test::bytes_of("must stay as it is"));
  fs::create_symlink(victim, store_path.string() + ".lock");
  const std::string message = srd_test::message_of([&] { DataStore::open(store_path); });
  EXPECT_NE(message.find("symbolic link"), std::string::npos) << message;
  EXPECT_TRUE(text_of(victim) == "must stay as it is") << "the link's target was written";
}

}  // namespace

// Directory import (file_import.h): every case of the original's
// storage_file_import_tests, and what it adds: bad files reported and skipped,
// the three link policies, the store's own files, progress, and the key derivation.
#include <gtest/gtest.h>

#include <simd_r_drive/extensions/extensions.h>
#include <simd_r_drive/simd_r_drive.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdint>
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "test_support.h"

namespace simd_r_drive::extensions {
// Names in failure messages rather than the enum's bytes.
void PrintTo(SkipReason reason, std::ostream* out) { *out << to_string(reason); }
}  // namespace simd_r_drive::extensions

namespace {

namespace ext = simd_r_drive::extensions;
namespace fs = std::filesystem;
using simd_r_drive::ByteView;
using simd_r_drive::DataStore;
using srd_test::code_of;
using srd_test::to_hex;
using ext::SkipReason;
using ext::SymlinkPolicy;

std::string read_all(const fs::path& path) {
  const std::vector<std::byte> bytes = srd_test::read_file(path);
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string as_string(const std::vector<std::byte>& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::vector<std::string> keys_of(const ext::ImportReport& report) {
  std::vector<std::string> keys;
  for (const ext::ImportedFile& file : report.imported) keys.push_back(file.key);
  return keys;
}

// key -> reason, of what was skipped.
std::map<std::string, SkipReason> skipped_of(const std::vector<ext::SkippedFile>& skipped) {
  std::map<std::string, SkipReason> reasons;
  for (const ext::SkippedFile& file : skipped) reasons[file.key] = file.reason;
  return reasons;
}

const std::string kBinary = std::string("\x89PNG\0\0\x01\x02", 8) + std::string(70000, '\x7f') + std::string(1, '\0');
const std::string kRawName = "\xff\xfe-raw.bin";  // not UTF-8

class FileImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(tree_ / "css");
    fs::create_directories(tree_ / "img" / "icons");
    fs::create_directories(tree_ / "with space");
    fs::create_directories(tree_ / "\xc3\xa9");  // é
    write("index.html", "<html>hello</html>");
    write("css/main.css", "body { color: red }");
    write("img/icons/logo.png", kBinary);
    write("with space/a file.txt", "spaced");
    write("\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.txt", "unicode");  // é/日本.txt
    write(kRawName, "raw name");
  }

  void write(const std::string& relative, const std::string& content) {
    srd_test::write_file(tree_ / relative, ByteView(content));
  }

  // The keys of the tree SetUp makes, in key (byte) order.
  static std::vector<std::string> tree_keys() {
    return {"css/main.css", "img/icons/logo.png", "index.html", "with space/a file.txt",
            "\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.txt", kRawName};
  }

  srd_test::TempDir dir_;
  fs::path tree_ = dir_.file("tree");
  DataStore store_ = DataStore::open(dir_.file("store.bin"));
};

// ---- the original's cases (storage_file_import_tests.rs) ----

TEST_F(FileImportTest, ImportDirectoryAndVerifyContents) {
  const ext::ImportReport report = ext::import_dir_recursively(store_, tree_);
  EXPECT_EQ(keys_of(report), tree_keys());
  EXPECT_TRUE(report.skipped.empty());
  std::uint64_t bytes = 0;
  std::uint64_t previous_tail = 0;
  for (const ext::ImportedFile& file : report.imported) {
    SCOPED_TRACE(file.key);
    EXPECT_EQ(file.path, tree_ / file.key);
    const auto stored = store_.read(file.key);
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->as_string_view(), read_all(file.path));
    EXPECT_EQ(file.size, stored->size());
    EXPECT_GT(file.tail, previous_tail);
    previous_tail = file.tail;
    bytes += file.size;
  }
  EXPECT_EQ(report.imported_bytes, bytes);
  EXPECT_EQ(previous_tail, store_.file_size());
  EXPECT_EQ(store_.len(), tree_keys().size());
}

TEST_F(FileImportTest, ImportWithoutNamespaceStoresThePathItself) {
  const ext::ImportReport report = ext::import_dir_recursively(store_, tree_, std::nullopt);
  for (const ext::ImportedFile& file : report.imported) EXPECT_EQ(as_string(file.stored_key), file.key);
  EXPECT_EQ(store_.read("css/main.css")->as_string_view(), "body { color: red }");
}

TEST_F(FileImportTest, ImportIntoANamespace) {
  const ext::ImportReport report = ext::import_dir_recursively(store_, tree_, "files");
  ASSERT_EQ(keys_of(report), tree_keys());
  for (const ext::ImportedFile& file : report.imported) {
    SCOPED_TRACE(file.key);
    EXPECT_EQ(to_hex(file.stored_key), to_hex(ext::namespaced_key("files", file.key)));
    EXPECT_FALSE(store_.exists(file.key));
    EXPECT_EQ(ext::read_file_entry(store_, file.key, "files")->as_string_view(), read_all(file.path));
  }
  EXPECT_FALSE(ext::read_file_entry(store_, "index.html").has_value());
  EXPECT_FALSE(ext::read_file_entry(store_, "index.html", "other").has_value());
}

TEST_F(FileImportTest, ReadFileEntryReturnsCorrectContents) {
  ext::import_dir_recursively(store_, tree_);
  const auto entry = ext::read_file_entry(store_, "img/icons/logo.png");
  ASSERT_TRUE(entry.has_value());
  EXPECT_TRUE(*entry == ByteView(kBinary));
  EXPECT_EQ(ext::read_file_entry(store_, kRawName)->as_string_view(), "raw name");
  EXPECT_FALSE(ext::read_file_entry(store_, "nope").has_value());
}

TEST_F(FileImportTest, OpenFileStreamReadsAllBytes) {
  ext::import_dir_recursively(store_, tree_);
  std::optional<ext::ValueStream> stream = ext::open_file_stream(store_, "img/icons/logo.png");
  ASSERT_TRUE(stream.has_value());
  std::string streamed;
  std::byte chunk[4096];
  while (const std::size_t got = stream->read(chunk)) streamed.append(reinterpret_cast<const char*>(chunk), got);
  EXPECT_TRUE(streamed == kBinary);
  EXPECT_TRUE(stream->eof());
  EXPECT_FALSE(ext::open_file_stream(store_, "nope").has_value());
}

TEST_F(FileImportTest, ImportFailsOnANonexistentDirectory) {
  EXPECT_EQ(code_of([&] { ext::import_dir_recursively(store_, dir_.file("nope")); }), srd_test::kNotFound);
  EXPECT_EQ(code_of([&] { ext::import_dir_recursively(store_, tree_ / "index.html" / "below"); }),
            srd_test::kNotFound);
  EXPECT_EQ(store_.len(), 0u);
}

TEST_F(FileImportTest, ImportFailsWhenGivenAFileInsteadOfADirectory) {
  EXPECT_EQ(code_of([&] { ext::import_dir_recursively(store_, tree_ / "index.html"); }), srd_test::kInvalidArgument);
  EXPECT_NE(srd_test::message_of([&] { ext::import_dir_recursively(store_, tree_ / "index.html"); })
                .find("is not a directory"),
            std::string::npos);
  EXPECT_EQ(store_.len(), 0u);
}

// ---- files that cannot be imported are reported and skipped ----

TEST_F(FileImportTest, EmptyAndAllZeroFilesAreSkippedAndTheRestImported) {
  write("empty.txt", "");
  write("css/zeros.bin", std::string(100000, '\0'));
  std::vector<ext::SkippedFile> seen;
  ext::ImportOptions options;
  options.on_skipped = [&](const ext::SkippedFile& file) { seen.push_back(file); };
  const ext::ImportReport report = ext::import_dir_recursively(store_, tree_, options);
  EXPECT_EQ(keys_of(report), tree_keys());
  EXPECT_EQ(skipped_of(report.skipped),
            (std::map<std::string, SkipReason>{{"empty.txt", SkipReason::kEmpty}, {"css/zeros.bin", SkipReason::kAllZero}}));
  EXPECT_EQ(skipped_of(seen), skipped_of(report.skipped)) << "the callback sees each skip too";
  EXPECT_FALSE(store_.exists("empty.txt"));
  EXPECT_FALSE(store_.exists("css/zeros.bin"));
  // Nothing of the refused streams is left in the file.
  EXPECT_EQ(store_.file_size(), report.imported.back().tail);
  EXPECT_TRUE(store_.verify().ok());
}

// Root reads any file, so unreadable files are made the ways root meets them too: a
// file gone between the walk and the open, a file that fails its reads, a link that
// leads nowhere.
TEST_F(FileImportTest, UnreadableFilesAreReportedAndSkipped) {
  write("vanishes.txt", "here at the walk");
  write("becomes-fifo.txt", "a file at the walk");
  ASSERT_EQ(::mkfifo((tree_ / "a-fifo").c_str(), 0600), 0);
  // /proc/self/mem lists as a regular file, opens for root, and fails every read at
  // offset 0 with EIO (nothing is mapped there).
  fs::create_symlink("/proc/self/mem", tree_ / "fails-to-read");
  fs::create_symlink("no-such-target", tree_ / "dangling");

  ext::ImportOptions options;
  options.symlinks = SymlinkPolicy::kFollowAll;
  // The progress call before each file opens is the seam: it removes one file and
  // puts a FIFO in place of another, after the walk listed them.
  options.on_progress = [&](const ext::ImportProgress& progress) {
    if (progress.stage != ext::ImportProgress::Stage::kOpening) return;
    if (progress.file->key == "vanishes.txt") fs::remove(progress.file->path);
    if (progress.file->key == "becomes-fifo.txt") {
      fs::remove(progress.file->path);
      ASSERT_EQ(::mkfifo(progress.file->path.c_str(), 0600), 0);
    }
  };
  const ext::ImportReport report = ext::import_dir_recursively(store_, tree_, options);
  EXPECT_EQ(keys_of(report), tree_keys()) << "the good files are all imported";
  const auto skipped = skipped_of(report.skipped);
  EXPECT_EQ(skipped, (std::map<std::string, SkipReason>{{"a-fifo", SkipReason::kNotRegularFile},
                                                        {"becomes-fifo.txt", SkipReason::kNotRegularFile},
                                                        {"dangling", SkipReason::kUnreadable},
                                                        {"fails-to-read", SkipReason::kUnreadable},
                                                        {"vanishes.txt", SkipReason::kUnreadable}}));
  for (const ext::SkippedFile& file : report.skipped) {
    SCOPED_TRACE(file.key);
    if (file.key == "fails-to-read") {
      EXPECT_EQ(file.detail, std::strerror(EIO));
    } else if (file.key == "vanishes.txt" || file.key == "dangling") {
      EXPECT_EQ(file.detail, std::strerror(ENOENT));
    }
  }
  EXPECT_FALSE(store_.exists("fails-to-read"));
  EXPECT_EQ(store_.file_size(), report.imported.back().tail) << "a failed read leaves nothing in the store";
  EXPECT_TRUE(store_.verify().ok());
}

TEST_F(FileImportTest, TheStoresOwnFilesAreNeverImported) {
  DataStore inner = DataStore::open(tree_ / "inner.bin");
  inner.write("seed", "x");
  const ext::ImportReport report = ext::import_dir_recursively(inner, tree_);
  EXPECT_EQ(keys_of(report), tree_keys());
  const auto skipped = skipped_of(report.skipped);
  EXPECT_EQ(skipped.at("inner.bin"), SkipReason::kStoreFile);
  EXPECT_EQ(skipped.at("inner.bin.lock"), SkipReason::kStoreFile);
  // Another store's files are ordinary files.
  DataStore other = DataStore::open(tree_ / "other.bin");
  other.write("k", "v");
  const ext::ImportReport into_outer = ext::import_dir_recursively(store_, tree_);
  EXPECT_TRUE(store_.exists("inner.bin"));
  EXPECT_TRUE(store_.exists("other.bin"));
  for (const ext::SkippedFile& file : into_outer.skipped) EXPECT_NE(file.reason, SkipReason::kStoreFile) << file.key;
}

TEST_F(FileImportTest, ProgressIsReportedBeforeEachFileAfterEachPieceAndAtTheEnd) {
  write("big.bin", std::string(200000, 'b'));
  std::vector<ext::ImportProgress> calls;  // `file` is valid only during the call: not used later
  std::vector<std::string> opened;
  int big_pieces = 0;
  ext::ImportOptions options;
  options.on_progress = [&](const ext::ImportProgress& progress) {
    calls.push_back(progress);
    if (progress.stage == ext::ImportProgress::Stage::kOpening) opened.push_back(progress.file->key);
    if (progress.stage == ext::ImportProgress::Stage::kReading) {
      ASSERT_FALSE(opened.empty());
      EXPECT_EQ(progress.file->key, opened.back()) << "a piece of a file not opened last";
      if (progress.file->key == "big.bin") ++big_pieces;
    }
  };
  const ext::ImportReport report = ext::import_dir_recursively(store_, tree_, options);
  ASSERT_GE(calls.size(), 2 * report.imported.size() + 1);
  std::vector<std::string> expected = tree_keys();
  expected.insert(std::upper_bound(expected.begin(), expected.end(), "big.bin"), "big.bin");
  EXPECT_EQ(opened, expected);
  std::uint64_t previous = 0;
  for (const ext::ImportProgress& progress : calls) {
    EXPECT_EQ(progress.files_total, expected.size());
    EXPECT_EQ(progress.bytes_total, report.imported_bytes);
    EXPECT_GE(progress.bytes_done, previous);
    previous = progress.bytes_done;
  }
  EXPECT_EQ(calls.back().stage, ext::ImportProgress::Stage::kFinished);
  EXPECT_EQ(calls.back().file, nullptr);
  EXPECT_EQ(calls.back().files_done, expected.size());
  EXPECT_EQ(calls.back().bytes_done, report.imported_bytes);
  // The 200,000-byte file arrives in several pieces, each reported.
  EXPECT_GE(big_pieces, 4);
}

TEST_F(FileImportTest, AReadOnlyStoreIsRefusedBeforeAnythingIsRead) {
  store_.write("k", "v");
  simd_r_drive::OpenOptions options;
  options.read_only = true;
  DataStore reader = DataStore::open(store_.path(), options);
  EXPECT_EQ(code_of([&] { ext::import_dir_recursively(reader, tree_); }), srd_test::kInvalidArgument);
}

// ---- symbolic links ----

class FileImportLinks : public FileImportTest {
 protected:
  void SetUp() override {
    FileImportTest::SetUp();
    const fs::path outside = dir_.file("outside");
    fs::create_directories(outside / "deep");
    srd_test::write_file(outside / "secret.txt", ByteView("from outside"));
    srd_test::write_file(outside / "deep" / "file.txt", ByteView("deep outside"));
    fs::create_symlink("index.html", tree_ / "inside-file-link");
    fs::create_directory_symlink("css", tree_ / "inside-dir-link");
    fs::create_symlink(outside / "secret.txt", tree_ / "outside-file-link");
    fs::create_directory_symlink(outside / "deep", tree_ / "outside-dir-link");
    fs::create_directory_symlink("..", tree_ / "css" / "loop");  // back up to the root
  }

  ext::ImportReport import(SymlinkPolicy policy) {
    ext::ImportOptions options;
    options.symlinks = policy;
    return ext::import_dir_recursively(store_, tree_, options);
  }
};

TEST_F(FileImportLinks, TheDefaultSkipsEveryLink) {
  EXPECT_EQ(ext::ImportOptions().symlinks, SymlinkPolicy::kSkip);
  EXPECT_EQ(ext::ListOptions().symlinks, SymlinkPolicy::kSkip);
  const ext::ImportReport report = ext::import_dir_recursively(store_, tree_);
  EXPECT_EQ(keys_of(report), tree_keys());
  EXPECT_EQ(skipped_of(report.skipped), (std::map<std::string, SkipReason>{
                                            {"css/loop", SkipReason::kSymbolicLink},
                                            {"inside-dir-link", SkipReason::kSymbolicLink},
                                            {"inside-file-link", SkipReason::kSymbolicLink},
                                            {"outside-dir-link", SkipReason::kSymbolicLink},
                                            {"outside-file-link", SkipReason::kSymbolicLink}}));
}

// The original (walkdir's defaults): links to files are followed, wherever they point;
// links to directories are not walked.
TEST_F(FileImportLinks, FollowFilesIsTheOriginalsBehaviour) {
  const ext::ImportReport report = import(SymlinkPolicy::kFollowFiles);
  std::vector<std::string> expected = tree_keys();
  expected.insert(expected.begin() + 3, {"inside-file-link", "outside-file-link"});
  EXPECT_EQ(keys_of(report), expected);
  EXPECT_EQ(store_.read("outside-file-link")->as_string_view(), "from outside");
  EXPECT_EQ(store_.read("inside-file-link")->as_string_view(), "<html>hello</html>");
  EXPECT_EQ(skipped_of(report.skipped),
            (std::map<std::string, SkipReason>{{"css/loop", SkipReason::kSymbolicLink},
                                               {"inside-dir-link", SkipReason::kSymbolicLink},
                                               {"outside-dir-link", SkipReason::kSymbolicLink}}));
}

TEST_F(FileImportLinks, FollowAllWalksLinkedDirectoriesButNotLoops) {
  const ext::ImportReport report = import(SymlinkPolicy::kFollowAll);
  std::vector<std::string> expected = tree_keys();
  expected.insert(expected.begin() + 3,
                  {"inside-dir-link/main.css", "inside-file-link", "outside-dir-link/file.txt", "outside-file-link"});
  EXPECT_EQ(keys_of(report), expected);
  EXPECT_EQ(store_.read("outside-dir-link/file.txt")->as_string_view(), "deep outside");
  // The loop is met twice: below css/ and below inside-dir-link/ (the same directory).
  for (const ext::SkippedFile& file : report.skipped) EXPECT_EQ(file.reason, SkipReason::kLoop) << file.key;
  EXPECT_EQ(skipped_of(report.skipped).count("css/loop"), 1u);
  EXPECT_EQ(skipped_of(report.skipped).count("inside-dir-link/loop"), 1u);
}

// Not following links, a file replaced by a link after the walk is not read either.
TEST_F(FileImportLinks, AFileThatBecomesALinkAfterTheWalkIsNotFollowed) {
  ext::ImportOptions options;
  options.on_progress = [&](const ext::ImportProgress& progress) {
    if (progress.stage == ext::ImportProgress::Stage::kOpening && progress.file->key == "index.html") {
      fs::remove(progress.file->path);
      fs::create_symlink(dir_.file("outside") / "secret.txt", progress.file->path);
    }
  };
  const ext::ImportReport report = ext::import_dir_recursively(store_, tree_, options);
  EXPECT_EQ(skipped_of(report.skipped).at("index.html"), SkipReason::kSymbolicLink);
  EXPECT_FALSE(store_.exists("index.html"));
}

TEST_F(FileImportLinks, ListingTakesTheSamePolicyAndImportsNothing) {
  const std::uint64_t tail = store_.file_size();
  ext::ListOptions options;
  options.symlinks = SymlinkPolicy::kFollowFiles;
  const ext::DirectoryListing listing = ext::list_dir_recursively(tree_, options);
  std::vector<std::string> keys;
  for (const ext::DirectoryFile& file : listing.files) keys.push_back(file.key);
  std::vector<std::string> expected = tree_keys();
  expected.insert(expected.begin() + 3, {"inside-file-link", "outside-file-link"});
  EXPECT_EQ(keys, expected);
  EXPECT_EQ(listing.skipped.size(), 3u);
  EXPECT_EQ(store_.file_size(), tail);
}

// ---- the key derivation ----

TEST(FileKey, FollowsTheOriginalsComponentRules) {
  const auto key = [](std::string_view path) {
    const std::vector<std::byte> bytes = ext::file_key(path);
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  };
  EXPECT_EQ(key("a/b.txt"), "a/b.txt");
  EXPECT_EQ(key("a//b/"), "a/b");
  EXPECT_EQ(key("a/./b"), "a/b");
  EXPECT_EQ(key("a/b/."), "a/b");
  EXPECT_EQ(key("./a"), "./a");  // the current-directory component stays, as in the original
  EXPECT_EQ(key("././a"), "./a");
  EXPECT_EQ(key(".//a"), "./a");
  EXPECT_EQ(key("."), ".");
  EXPECT_EQ(key(".hidden"), ".hidden");
  EXPECT_EQ(key("../a"), "../a");
  EXPECT_EQ(key("/a"), "//a");  // the root component is "/", joined with '/'
  EXPECT_EQ(key("/"), "/");
  EXPECT_EQ(key(""), "");
  EXPECT_EQ(key("with space/\xc3\xa9 \xff"), "with space/\xc3\xa9 \xff");  // bytes kept as they are
  EXPECT_EQ(to_hex(ext::file_key("a//b", "ns")), to_hex(ext::namespaced_key("ns", "a/b")));
}

TEST_F(FileImportTest, ReadFileEntryRebuildsTheKeyFromAPath) {
  ext::import_dir_recursively(store_, tree_);
  EXPECT_TRUE(ext::read_file_entry(store_, "css//main.css").has_value());
  EXPECT_TRUE(ext::read_file_entry(store_, "css/./main.css/").has_value());
  // A leading "./" becomes part of the key, as in the original: no import produces it.
  EXPECT_FALSE(ext::read_file_entry(store_, "./css/main.css").has_value());
  EXPECT_FALSE(ext::read_file_entry(store_, "/css/main.css").has_value());
}

// ---- reading in bounded memory ----

TEST_F(FileImportTest, AStreamThatGivesPagesBackStillReadsEveryByte) {
  std::string big(5 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(srd_test::mix64(i) & 0xff);
  write("big.bin", big);
  ext::import_dir_recursively(store_, tree_);
  // Odd chunk sizes, so that chunks and pages never line up.
  std::optional<ext::ValueStream> stream = ext::open_file_stream(store_, "big.bin");
  ASSERT_TRUE(stream.has_value());
  std::string streamed;
  std::vector<std::byte> chunk(100003);
  while (const std::size_t got = stream->read(chunk)) streamed.append(reinterpret_cast<const char*>(chunk.data()), got);
  EXPECT_TRUE(streamed == big);
  // The pages it gave back were only unmapped: the value is intact for every reader,
  // this process's included.
  EXPECT_TRUE(*ext::read_file_entry(store_, "big.bin") == ByteView(big));
  EXPECT_TRUE(store_.verify().ok());
  std::optional<ext::ValueStream> again = ext::open_file_stream(store_, "big.bin");
  std::string second;
  while (const std::size_t got = again->read(chunk)) second.append(reinterpret_cast<const char*>(chunk.data()), got);
  EXPECT_TRUE(second == big);
}

// A stream over a handle that does not view a store's file (heap memory) only copies:
// giving its pages back would erase them.
TEST(ValueStream, OverAnOwnedHandleOnlyCopies) {
  const std::string text(3 << 20, 'x');
  const simd_r_drive::EntryHandle handle = simd_r_drive::EntryHandle::from_owned_bytes(ByteView(text), 1);
  ext::ValueStream stream(handle);
  std::vector<std::byte> chunk(1 << 20);
  std::size_t total = 0;
  while (const std::size_t got = stream.read(chunk)) total += got;
  EXPECT_EQ(total, text.size());
  EXPECT_TRUE(handle == ByteView(text)) << "the owned bytes were changed";
  EXPECT_EQ(stream.position(), text.size());
}

}  // namespace

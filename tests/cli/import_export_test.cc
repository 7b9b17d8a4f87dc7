// import and export: files in and out, keyed by their path relative to the
// directory, and what export does with entries whose keys it is not told.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include <simd_r_drive/simd_r_drive.h>

#include "cli_runner.h"

namespace srd_cli_test {
namespace {

using simd_r_drive::DataStore;

class ImportExport : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    source_ = path("site");
    std::filesystem::create_directories(source_ / "css");
    std::filesystem::create_directories(source_ / "img" / "icons");
    write_file(source_ / "index.html", "<html>hello</html>");
    write_file(source_ / "css" / "main.css", "body { color: red }");
    binary_ = std::string("\x89PNG\0\0\x01\x02", 8) + std::string(200000, '\x7f') + std::string(1, '\0');
    write_file(source_ / "img" / "icons" / "logo.png", binary_);
  }

  std::filesystem::path source_;
  std::string binary_;
};

TEST_F(ImportExport, ImportKeysEachFileByItsRelativePath) {
  const CliRun run = cli({"import", source_.string(), "--list"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  // --list prints the keys, in key order, on stdout.
  EXPECT_EQ(run.out, "css/main.css\nimg/icons/logo.png\nindex.html\n");
  EXPECT_NE(run.err.find("Imported 3 files"), std::string::npos) << run.err;

  EXPECT_EQ(cli({"read", "index.html"}).out, "<html>hello</html>");
  EXPECT_EQ(cli({"read", "css/main.css"}).out, "body { color: red }");
  EXPECT_TRUE(cli({"read", "img/icons/logo.png"}).out == binary_);
  // Through the library too, with the key the original's extension would use.
  const DataStore library = DataStore::open(store());
  EXPECT_EQ(library.len(), 3u);
  EXPECT_TRUE(*library.read("img/icons/logo.png") == simd_r_drive::ByteView(binary_));
}

TEST_F(ImportExport, NullSeparatedListAndNamespace) {
  const CliRun run = cli({"import", source_.string(), "--list", "-0", "--namespace", "files"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, std::string("css/main.css\0img/icons/logo.png\0index.html\0", 43));
  EXPECT_EQ(cli({"read", "index.html"}).exit_code, 3);
  EXPECT_EQ(cli({"read", "--namespace", "files", "index.html"}).out, "<html>hello</html>");
}

TEST_F(ImportExport, FilesThatCannotBeStoredAreReportedAndTheRestImported) {
  write_file(source_ / "empty.txt", "");
  write_file(source_ / "zeros.bin", std::string(1000, '\0'));
  const CliRun run = cli({"import", source_.string()});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("warning: not imported '" + (source_ / "empty.txt").string() + "': it is empty"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("zeros.bin': it holds only 0x00 bytes"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("error: 2 of 5 files were not imported"), std::string::npos) << run.err;
  EXPECT_EQ(cli({"read", "index.html"}).out, "<html>hello</html>");
  EXPECT_EQ(cli({"read", "zeros.bin"}).exit_code, 3);
  // Nothing of the refused stream is left in the file.
  EXPECT_EQ(cli({"verify"}).exit_code, 0);
  EXPECT_EQ(DataStore::open(store()).len(), 3u);

  EXPECT_EQ(cli({"import", source_.string(), "--skip-empty"}).exit_code, 0);
}

TEST_F(ImportExport, ImportNeverFeedsTheStoreIntoItself) {
  const std::string inner_store = (source_ / "store.bin").string();
  ASSERT_EQ(run_cli({inner_store, "write", "seed", "x"}).exit_code, 0);
  const CliRun run = run_cli({inner_store, "import", source_.string(), "--list"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out.find("store.bin"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("it is the store's own file"), std::string::npos) << run.err;
}

TEST_F(ImportExport, ImportOfAMissingDirectoryFails) {
  expect_failure(cli({"import", path("nope").string()}), 1, "is not a directory");
  write_file(path("file"), "x");
  expect_failure(cli({"import", path("file").string()}), 1, "is not a directory");
}

TEST_F(ImportExport, ExportWithTheImportsKeyListRestoresTheTree) {
  const CliRun imported = cli({"import", source_.string(), "--list"});
  ASSERT_EQ(imported.exit_code, 0);
  write_file(path("site.keys"), imported.out);
  const auto out = path("restored");
  const CliRun run = cli({"export", out.string(), "--keys", path("site.keys").string()});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("Exported 3 files"), std::string::npos) << run.err;
  EXPECT_EQ(read_file(out / "index.html"), "<html>hello</html>");
  EXPECT_EQ(read_file(out / "css" / "main.css"), "body { color: red }");
  EXPECT_TRUE(read_file(out / "img" / "icons" / "logo.png") == binary_);

  // Keys from stdin, NUL-separated, work the same.
  const auto out2 = path("restored2");
  EXPECT_EQ(cli({"export", out2.string(), "--keys", "-", "-0"}, {.data = std::string("index.html\0", 11)}).exit_code,
            0);
  EXPECT_EQ(read_file(out2 / "index.html"), "<html>hello</html>");
}

TEST_F(ImportExport, ExportFromTheImportedDirectorySkipsWhatItCannotName) {
  ASSERT_EQ(cli({"import", source_.string()}).exit_code, 0);
  ASSERT_EQ(cli({"write", "not-a-file", "value"}).exit_code, 0);
  write_file(source_ / "new-since.txt", "not in the store");
  const auto out = path("restored");
  const CliRun run = cli({"export", out.string(), "--from-dir", source_.string()});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("skipped 1 live entry whose key it was not told"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("1 given key is not in the store"), std::string::npos) << run.err;
  EXPECT_EQ(read_file(out / "css" / "main.css"), "body { color: red }");
  EXPECT_FALSE(std::filesystem::exists(out / "new-since.txt"));
  EXPECT_FALSE(std::filesystem::exists(out / "not-a-file"));
}

TEST_F(ImportExport, UnnamedEntriesCanBeWrittenUnderTheirHashesOrFailTheExport) {
  ASSERT_EQ(cli({"write", "alice", "hello"}).exit_code, 0);
  ASSERT_EQ(cli({"write", "index.html", "page"}).exit_code, 0);
  write_file(path("keys"), "index.html\n");

  const auto failed = path("failed");
  expect_failure(cli({"export", failed.string(), "--keys", path("keys").string(), "--unnamed", "fail"}), 1,
                 "1 live entry has a key this export was not told");
  EXPECT_FALSE(std::filesystem::exists(failed));

  const auto out = path("out");
  const CliRun run = cli({"export", out.string(), "--keys", path("keys").string(), "--unnamed=hash"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(read_file(out / "index.html"), "page");
  EXPECT_EQ(read_file(out / "_by_hash" / "4da10dd61a0116b0"), "hello");  // hash of "alice"

  // Without any key source, --unnamed=hash exports everything by hash.
  const auto all = path("all");
  EXPECT_EQ(cli({"export", all.string(), "--unnamed=hash"}).exit_code, 0);
  EXPECT_EQ(read_file(all / "_by_hash" / "4da10dd61a0116b0"), "hello");
}

TEST_F(ImportExport, ExportRefusesToOverwriteUnlessAsked) {
  ASSERT_EQ(cli({"write", "a.txt", "new"}).exit_code, 0);
  const auto out = path("out");
  std::filesystem::create_directories(out);
  write_file(out / "a.txt", "old");
  expect_failure(cli({"export", out.string(), "--keys", "-"}, {.data = "a.txt\n"}), 1, "already exists");
  EXPECT_EQ(read_file(out / "a.txt"), "old");
  EXPECT_EQ(cli({"export", out.string(), "--keys", "-", "--overwrite"}, {.data = "a.txt\n"}).exit_code, 0);
  EXPECT_EQ(read_file(out / "a.txt"), "new");
}

TEST_F(ImportExport, KeysThatCannotAllBeFilesStopTheExportBeforeItWrites) {
  ASSERT_EQ(cli({"write", "a", "file"}).exit_code, 0);
  ASSERT_EQ(cli({"write", "a/b", "below it"}).exit_code, 0);
  const auto out = path("out");
  expect_failure(cli({"export", out.string(), "--keys", "-"}, {.data = "a\na/b\n"}), 1,
                 "keys 'a' and 'a/b' cannot both be files");
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST_F(ImportExport, KeysThatAreNotSafePathsAreNeverWrittenOutsideTheDirectory) {
  ASSERT_EQ(cli({"write", "../escape", "x"}).exit_code, 0);
  ASSERT_EQ(cli({"write", "/etc/abs", "y"}).exit_code, 0);
  const auto out = path("out");
  const CliRun run = cli({"export", out.string(), "--keys", "-"}, {.data = "../escape\n/etc/abs\n"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("'../escape' is not a relative path inside the export directory"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path("escape")));
  EXPECT_NE(run.err.find("skipped 2 live entries"), std::string::npos) << run.err;
}

// Export never writes through a symbolic link inside its directory: a linked folder
// (out/sub -> ../outside) used to let key "sub/x" create outside/x, exit 0.
TEST_F(ImportExport, ExportRefusesAKeyWhosePathLeadsThroughALinkedFolder) {
  ASSERT_EQ(cli({"write", "sub/x", "escaped"}).exit_code, 0);
  ASSERT_EQ(cli({"write", "fine", "stays inside"}).exit_code, 0);
  const auto out = path("out");
  const auto outside = path("outside");
  std::filesystem::create_directories(out);
  std::filesystem::create_directories(outside);
  std::filesystem::create_directory_symlink("../outside", out / "sub");
  expect_failure(cli({"export", out.string(), "--keys", "-"}, {.data = "fine\nsub/x\n"}), 1,
                 "'" + (out / "sub").string() + "' is a symbolic link");
  EXPECT_FALSE(std::filesystem::exists(outside / "x")) << "export wrote through the link";
  EXPECT_TRUE(std::filesystem::is_empty(outside));
  // Refused before anything was written, like the other checks.
  EXPECT_FALSE(std::filesystem::exists(out / "fine"));
  // --overwrite does not make a link a way out either.
  EXPECT_EQ(cli({"export", out.string(), "--keys", "-", "--overwrite"}, {.data = "sub/x\n"}).exit_code, 1);
  EXPECT_TRUE(std::filesystem::is_empty(outside));
}

// The temporary file used to be "<target>.srd-export.tmp", opened with O_CREAT|O_TRUNC
// (following links): a link planted under that name made export overwrite the file it
// points to, without --overwrite. Temporaries are now fresh names created with
// O_EXCL|O_NOFOLLOW, so the planted link is never opened; the export writes a file of
// its own.
TEST_F(ImportExport, ExportNeverWritesThroughALinkPlantedAtItsTemporaryName) {
  ASSERT_EQ(cli({"write", "victim", "exported value"}).exit_code, 0);
  const auto out = path("out");
  std::filesystem::create_directories(out);
  write_file(path("precious.txt"), "must stay as it is");
  std::filesystem::create_symlink(path("precious.txt"), out / "victim.srd-export.tmp");
  const CliRun run = cli({"export", out.string(), "--keys", "-"}, {.data = "victim\n"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(read_file(path("precious.txt")), "must stay as it is");
  EXPECT_FALSE(std::filesystem::is_symlink(out / "victim"));
  EXPECT_EQ(read_file(out / "victim"), "exported value");
  // A link at the target itself counts as an existing file.
  std::filesystem::remove(out / "victim");
  std::filesystem::create_symlink(path("precious.txt"), out / "victim");
  expect_failure(cli({"export", out.string(), "--keys", "-"}, {.data = "victim\n"}), 1, "already exists");
  EXPECT_EQ(read_file(path("precious.txt")), "must stay as it is");
  // --overwrite replaces the link, never what it points to.
  EXPECT_EQ(cli({"export", out.string(), "--keys", "-", "--overwrite"}, {.data = "victim\n"}).exit_code, 0);
  EXPECT_FALSE(std::filesystem::is_symlink(out / "victim"));
  EXPECT_EQ(read_file(out / "victim"), "exported value");
  EXPECT_EQ(read_file(path("precious.txt")), "must stay as it is");
}

// Limits the size of files this process and its children write, while in scope; and
// no core files, since passing the limit kills with SIGXFSZ, whose default dumps core.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_size_);
    ::getrlimit(RLIMIT_CORE, &saved_core_);
    const rlimit size{bytes, saved_size_.rlim_max};
    const rlimit core{0, saved_core_.rlim_max};
    set_ = ::setrlimit(RLIMIT_FSIZE, &size) == 0 && ::setrlimit(RLIMIT_CORE, &core) == 0;
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_size_);
    ::setrlimit(RLIMIT_CORE, &saved_core_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  bool set() const { return set_; }

 private:
  rlimit saved_size_{};
  rlimit saved_core_{};
  bool set_ = false;
};

// An export that dies mid-write leaves no file behind, with or without --overwrite:
// the file is written unnamed (O_TMPFILE) and named only when whole. It used to leave
// its temporary, `<name>.srd-export-<random>.tmp`. The death here is the file size
// limit's SIGXFSZ, as abrupt as SIGKILL (no handler runs) and at a known point: after
// 1 MiB of a 4 MiB value.
TEST_F(ImportExport, AnExportKilledMidWriteLeavesNoFileBehind) {
  const auto out = path("out");
  std::filesystem::create_directories(out);
  const int probe = ::open(out.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
  if (probe < 0) GTEST_SKIP() << "the file system of " << out << " has no O_TMPFILE";
  ::close(probe);
  ASSERT_EQ(cli({"write", "big"}, {.data = std::string(4 << 20, 'b')}).exit_code, 0);
  write_file(out / "kept", "another file");
  auto export_dying_mid_write = [&](std::vector<std::string> extra, std::vector<std::string> env = {}) {
    std::vector<std::string> args = {"export", out.string(), "--keys", "-"};
    args.insert(args.end(), extra.begin(), extra.end());
    const FileSizeLimit limit(1 << 20);
    EXPECT_TRUE(limit.set());
    const CliRun run = cli(args, {.data = "big\n", .env = std::move(env)});
    EXPECT_EQ(run.signal, SIGXFSZ) << "exit " << run.exit_code << ": " << run.err;
  };
  auto names_in_out = [&] {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(out)) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  };

  export_dying_mid_write({});
  EXPECT_EQ(names_in_out(), std::vector<std::string>{"kept"});

  // --overwrite over an older file: the older file stays whole, and nothing is added.
  write_file(out / "big", "the older big");
  export_dying_mid_write({"--overwrite"});
  EXPECT_EQ(names_in_out(), (std::vector<std::string>{"big", "kept"}));
  EXPECT_EQ(read_file(out / "big"), "the older big");
  EXPECT_EQ(read_file(out / "kept"), "another file");

  // Where there is no O_TMPFILE, the temporary has a name, and the kill leaves it.
  export_dying_mid_write({"--overwrite"}, {"SRD_CLI_EXPORT_NAMED_TEMPORARIES=1"});
  const std::vector<std::string> names = names_in_out();
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names[0], "big");
  EXPECT_TRUE(names[1].starts_with("big.srd-export-") && names[1].ends_with(".tmp")) << names[1];
  EXPECT_EQ(read_file(out / "big"), "the older big");
}

// The named temporaries, as on file systems without O_TMPFILE: the same results as
// the unnamed ones when nothing dies, and no temporary left behind.
TEST_F(ImportExport, ExportThroughNamedTemporariesWritesTheSameFiles) {
  ASSERT_EQ(cli({"write", "a/b", "value b"}).exit_code, 0);
  ASSERT_EQ(cli({"write", "c", "value c"}).exit_code, 0);
  const auto out = path("out");
  const CliInput named{.data = "a/b\nc\n", .env = {"SRD_CLI_EXPORT_NAMED_TEMPORARIES=1"}};
  ASSERT_EQ(cli({"export", out.string(), "--keys", "-"}, named).exit_code, 0);
  EXPECT_EQ(read_file(out / "a" / "b"), "value b");
  EXPECT_EQ(read_file(out / "c"), "value c");
  expect_failure(cli({"export", out.string(), "--keys", "-"}, named), 1, "already exists");
  ASSERT_EQ(cli({"write", "c", "value c2"}).exit_code, 0);
  ASSERT_EQ(cli({"export", out.string(), "--keys", "-", "--overwrite"}, named).exit_code, 0);
  EXPECT_EQ(read_file(out / "c"), "value c2");
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(out)) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
    files += entry.is_regular_file() ? 1 : 0;
  }
  EXPECT_EQ(files, 2u);
}

// Links inside and outside the imported tree, to files and to directories.
class ImportLinks : public ImportExport {
 protected:
  void SetUp() override {
    ImportExport::SetUp();
    const auto outside = path("outside");
    std::filesystem::create_directories(outside / "deep");
    write_file(outside / "secret.txt", "from outside");
    write_file(outside / "deep" / "file.txt", "deep outside");
    std::filesystem::create_symlink("index.html", source_ / "inside-file-link");
    std::filesystem::create_directory_symlink("css", source_ / "inside-dir-link");
    std::filesystem::create_symlink(outside / "secret.txt", source_ / "outside-file-link");
    std::filesystem::create_directory_symlink(outside / "deep", source_ / "outside-dir-link");
    std::filesystem::create_directory_symlink("..", source_ / "css" / "loop");  // back up to the root
  }
};

TEST_F(ImportLinks, ImportSkipsEveryLinkByDefault) {
  const CliRun run = cli({"import", source_.string(), "--list"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "css/main.css\nimg/icons/logo.png\nindex.html\n");
  for (const char* link : {"inside-file-link", "inside-dir-link", "outside-file-link", "outside-dir-link"}) {
    EXPECT_NE(run.err.find((source_ / link).string() + "': a symbolic link (--follow-symlinks follows links)"),
              std::string::npos)
        << link << " was not reported as skipped: " << run.err;
  }
  EXPECT_EQ(cli({"read", "outside-file-link"}).exit_code, 3);
  EXPECT_EQ(DataStore::open(store()).len(), 3u);
}

TEST_F(ImportLinks, FollowSymlinksFollowsLinksToFilesAndDirectoriesButNotLoops) {
  const CliRun run = cli({"import", source_.string(), "--list", "--follow-symlinks"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "css/main.css\nimg/icons/logo.png\nindex.html\ninside-dir-link/main.css\ninside-file-link\n"
            "outside-dir-link/file.txt\noutside-file-link\n");
  EXPECT_NE(run.err.find("loop"), std::string::npos) << run.err;
  EXPECT_EQ(cli({"read", "outside-file-link"}).out, "from outside");
  EXPECT_EQ(cli({"read", "outside-dir-link/file.txt"}).out, "deep outside");
  EXPECT_EQ(cli({"read", "inside-file-link"}).out, "<html>hello</html>");
  // export --from-dir derives the same keys with the same flag.
  const auto out = path("out");
  const CliRun exported = cli({"export", out.string(), "--from-dir", source_.string(), "--follow-symlinks"});
  EXPECT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(read_file(out / "outside-dir-link" / "file.txt"), "deep outside");
}

}  // namespace
}  // namespace srd_cli_test

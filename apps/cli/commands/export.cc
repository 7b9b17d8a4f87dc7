// export: live entries out as files, named by the keys the command is told.
//
// The store holds key hashes, not keys, so export cannot name an entry by itself.
// It takes candidate keys from a key list (--keys, e.g. what `import --list`
// printed) and/or by walking a directory as import would (--from-dir, e.g. the
// directory that was imported), hashes them, and writes each live entry whose hash
// matches to DIR/<key>. What happens to the live entries no candidate names is
// --unnamed: skip them (the default; they are counted), write them under their
// hashes (DIR/_by_hash/<hash>), or fail before writing anything.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <simd_r_drive/data_store.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <algorithm>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "byte_size.h"
#include "commands/commands.h"
#include "console.h"
#include "key_arguments.h"
#include "progress_bar.h"
#include "report_format.h"
#include "store_access.h"
#include "value_output.h"
#include "walk_report.h"

namespace srd_cli {

namespace {

constexpr std::size_t kWriteChunk = 1 << 20;
constexpr std::string_view kByHashDirectory = "_by_hash";

struct ExportOptions {
  std::filesystem::path directory;
  std::vector<std::string> key_files;
  std::vector<std::filesystem::path> from_dirs;
  bool null_separated = false;
  std::optional<std::string> name_space;
  std::string unnamed = "skip";
  bool overwrite = false;
  bool follow_symlinks = false;  // in --from-dir directories, as import's flag
};

struct Planned {
  std::uint64_t key_hash;
  std::string relative;  // path below the export directory
  std::uint64_t size;
};

std::string read_all(int fd, const std::string& name) {
  std::string content;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      content.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0) {
      return content;
    } else if (errno != EINTR) {
      throw CliError(ExitCode::kError, "reading " + name + " failed: " + std::strerror(errno));
    }
  }
}

// One key per line (or per NUL with -0); empty lines are ignored.
void read_key_list(const std::string& file, bool null_separated, std::vector<std::string>& keys) {
  std::string content;
  if (file == "-") {
    content = read_all(STDIN_FILENO, "stdin");
  } else {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw CliError(ExitCode::kError, "cannot open " + quote_bytes(file) + ": " + std::strerror(errno));
    try {
      content = read_all(fd, quote_bytes(file));
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
  }
  const char separator = null_separated ? '\0' : '\n';
  std::size_t start = 0;
  while (start < content.size()) {
    std::size_t end = content.find(separator, start);
    if (end == std::string::npos) end = content.size();
    if (end > start) keys.emplace_back(content, start, end - start);
    start = end + 1;
  }
}

// A key can name a file below the export directory only if it is a relative path
// that stays inside it.
bool safe_relative_path(std::string_view key) {
  if (key.empty() || key.front() == '/' || key.find('\0') != std::string_view::npos) return false;
  std::size_t start = 0;
  while (start <= key.size()) {
    std::size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    const std::string_view part = key.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

// The export directory, opened once: every file goes below it through *at() calls
// relative to this descriptor, never through a path string that the kernel would
// resolve anew (and through whatever symbolic links are in it by then).
class ExportRoot {
 public:
  explicit ExportRoot(const std::filesystem::path& directory) : name_(directory) {
    std::error_code error;
    std::filesystem::create_directories(directory, error);
    if (error) throw CliError(ExitCode::kError, "cannot create " + quote_bytes(directory.string()) + ": " + error.message());
    // The directory named on the command line may itself be a link: the user chose it.
    fd_ = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) throw CliError(ExitCode::kError, "cannot open " + quote_bytes(directory.string()) + ": " + std::strerror(errno));
  }
  ExportRoot(const ExportRoot&) = delete;
  ExportRoot& operator=(const ExportRoot&) = delete;
  ~ExportRoot() { ::close(fd_); }

  // Refuses, before anything is written, a target that export would have to reach
  // through a symbolic link or a file, or (without --overwrite) one that exists.
  void check(const std::string& relative, bool overwrite) const {
    int directory = fd_;
    Descriptor walked;
    std::size_t start = 0;
    for (std::size_t slash = relative.find('/'); slash != std::string::npos; slash = relative.find('/', start)) {
      const std::string part = relative.substr(0, slash);
      struct stat info {};
      if (::fstatat(directory, relative.substr(start, slash - start).c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
        return;  // not there yet: export creates it, so nothing below it exists either
      }
      refuse_unless_directory(part, info);
      walked = Descriptor(::openat(directory, relative.substr(start, slash - start).c_str(),
                                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (walked.fd < 0) fail("cannot open", part, errno);
      directory = walked.fd;
      start = slash + 1;
    }
    struct stat info {};
    if (!overwrite && ::fstatat(directory, relative.substr(start).c_str(), &info, AT_SYMLINK_NOFOLLOW) == 0) {
      throw CliError(ExitCode::kError, quote_bytes(shown(relative)) +
                                           " already exists; nothing was exported (--overwrite replaces files)");
    }
  }

  // Writes one value to `relative` through a temporary file named only once it is
  // whole, so a failed export never leaves a half-written file under the real name.
  // Directories on the way are created, and none is entered through a symbolic link
  // (O_NOFOLLOW). The temporary is unnamed (O_TMPFILE) where the file system allows
  // it, so an export killed mid-write leaves nothing behind; elsewhere it is a fresh
  // name created with O_EXCL|O_NOFOLLOW. Either way a file or link planted beside the
  // target is never written through, and without --overwrite the final naming
  // refuses to replace a file that appeared since the check.
  void write(const std::string& relative, const simd_r_drive::EntryHandle& value, bool overwrite,
             ProgressBar& progress) const {
    int directory = fd_;
    Descriptor walked;
    std::size_t start = 0;
    for (std::size_t slash = relative.find('/'); slash != std::string::npos; slash = relative.find('/', start)) {
      const std::string name = relative.substr(start, slash - start);
      if (::mkdirat(directory, name.c_str(), 0755) != 0 && errno != EEXIST) {
        fail("cannot create", relative.substr(0, slash), errno);
      }
      walked = Descriptor(::openat(directory, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (walked.fd < 0) {
        const int saved = errno;
        struct stat info {};
        if (::fstatat(directory, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) == 0) {
          refuse_unless_directory(relative.substr(0, slash), info);
        }
        fail("cannot open", relative.substr(0, slash), saved);
      }
      directory = walked.fd;
      start = slash + 1;
    }
    const std::string name = relative.substr(start);
    std::string temporary;
    int fd = unnamed_temporaries() ? ::openat(directory, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644) : -1;
    const bool unnamed = fd >= 0;
    if (!unnamed) {
      fd = under_fresh_name(name, temporary, [&](const std::string& fresh) {
        return ::openat(directory, fresh.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      });
      if (fd < 0) fail("cannot create a temporary file for", relative, errno);
    }
    try {
      write_mapped(fd, value.as_slice(), kWriteChunk, quote_bytes(shown(relative)), &progress);
    } catch (...) {
      ::close(fd);
      if (!unnamed) ::unlinkat(directory, temporary.c_str(), 0);
      throw;
    }
    int result = 0;
    if (unnamed) {
      // linkat never replaces a name, so without --overwrite it is the whole check;
      // with it, the file is linked under a fresh name and renamed over the target.
      std::string linked;  // the name given, removed again if a later step fails
      if (!overwrite) {
        result = link_unnamed(fd, directory, name);
        if (result == 0) linked = name;
      } else {
        result = under_fresh_name(name, temporary,
                                  [&](const std::string& fresh) { return link_unnamed(fd, directory, fresh); });
        if (result == 0) linked = temporary;
      }
      const int link_errno = errno;
      if (::close(fd) != 0) result = -1;  // errno: the close's
      else errno = link_errno;
      if (result == 0 && overwrite) result = ::renameat(directory, temporary.c_str(), directory, name.c_str());
      temporary = result == 0 ? std::string() : linked;
    } else {
      result = ::close(fd);
      if (result == 0) result = overwrite ? ::renameat(directory, temporary.c_str(), directory, name.c_str())
                                          : rename_no_replace(directory, temporary, name);
    }
    if (result != 0) {
      const int saved = errno;
      if (!temporary.empty()) ::unlinkat(directory, temporary.c_str(), 0);
      if (saved == EEXIST) {
        throw CliError(ExitCode::kError, quote_bytes(shown(relative)) +
                                             " appeared while export ran; it was not replaced (--overwrite replaces files)");
      }
      fail("cannot write", relative, saved);
    }
  }

 private:
  struct Descriptor {
    int fd = -1;
    Descriptor() = default;
    explicit Descriptor(int descriptor) : fd(descriptor) {}
    Descriptor(Descriptor&& other) noexcept : fd(std::exchange(other.fd, -1)) {}
    Descriptor& operator=(Descriptor&& other) noexcept {
      if (this != &other) {
        if (fd >= 0) ::close(fd);
        fd = std::exchange(other.fd, -1);
      }
      return *this;
    }
    ~Descriptor() {
      if (fd >= 0) ::close(fd);
    }
  };

  static std::uint64_t random_word() {
    static std::mt19937_64 generator{std::random_device{}()};
    return generator();
  }

  // Calls make(candidate), which fails with EEXIST when the name is taken, for fresh
  // names beside `name` (`<name>.srd-export-<random>.tmp`) until one is free, at most
  // 16 times; the name tried last is left in `temporary`. Returns make's result:
  // negative, errno set, if no name could be made.
  template <class Make>
  static int under_fresh_name(const std::string& name, std::string& temporary, const Make& make) {
    int result = -1;
    for (int attempt = 0; result < 0 && attempt < 16; ++attempt) {
      temporary = name + ".srd-export-" + hex_u64(random_word()).substr(2) + ".tmp";
      result = make(temporary);
      if (result < 0 && errno != EEXIST) break;
    }
    return result;
  }

  // Whether to try O_TMPFILE: an unnamed file gets its name by linkat through
  // /proc/self/fd, so only with /proc. SRD_CLI_EXPORT_NAMED_TEMPORARIES=1 turns it off,
  // for the tests of the named path, which file systems without O_TMPFILE take.
  static bool unnamed_temporaries() {
    static const bool wanted = std::getenv("SRD_CLI_EXPORT_NAMED_TEMPORARIES") == nullptr &&
                               ::access("/proc/self/fd", X_OK) == 0;
    return wanted;
  }

  // Gives the unnamed file open as `fd` the name `name` in `directory`; fails with
  // EEXIST if the name exists (a link there included, which is not followed).
  static int link_unnamed(int fd, int directory, const std::string& name) {
    const std::string handle = "/proc/self/fd/" + std::to_string(fd);
    return ::linkat(AT_FDCWD, handle.c_str(), directory, name.c_str(), AT_SYMLINK_FOLLOW);
  }

  // renameat2(RENAME_NOREPLACE), or where the file system has no such rename, a hard
  // link under the new name (which fails if the name exists) and an unlink of the old.
  static int rename_no_replace(int directory, const std::string& from, const std::string& to) {
    if (::renameat2(directory, from.c_str(), directory, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
    if (::linkat(directory, from.c_str(), directory, to.c_str(), 0) != 0) return -1;
    ::unlinkat(directory, from.c_str(), 0);
    return 0;
  }

  std::string shown(const std::string& relative) const { return (name_ / relative).string(); }

  void refuse_unless_directory(const std::string& part, const struct stat& info) const {
    if (S_ISLNK(info.st_mode)) {
      throw CliError(ExitCode::kError, quote_bytes(shown(part)) +
                                           " is a symbolic link; export writes only inside " +
                                           quote_bytes(name_.string()) + " and follows no link there");
    }
    if (!S_ISDIR(info.st_mode)) {
      throw CliError(ExitCode::kError, quote_bytes(shown(part)) + " is in the way: it is not a directory");
    }
  }

  [[noreturn]] void fail(const char* what, const std::string& relative, int error) const {
    throw CliError(ExitCode::kError, std::string(what) + " " + quote_bytes(shown(relative)) + ": " + std::strerror(error));
  }

  std::filesystem::path name_;
  int fd_ = -1;
};

// Two keys that need the same path, or one key that is a directory of another
// ("a" and "a/b"), cannot both become files. Found before anything is written.
void refuse_conflicts(const std::vector<Planned>& plan) {
  std::unordered_set<std::string_view> paths;
  for (const Planned& entry : plan) {
    if (!paths.insert(entry.relative).second) {
      throw CliError(ExitCode::kError, "two entries would both be written to " + quote_bytes(entry.relative) +
                                           "; nothing was exported");
    }
  }
  for (const Planned& entry : plan) {
    for (std::size_t slash = entry.relative.find('/'); slash != std::string::npos;
         slash = entry.relative.find('/', slash + 1)) {
      const std::string_view parent = std::string_view(entry.relative).substr(0, slash);
      if (paths.count(parent) != 0) {
        throw CliError(ExitCode::kError, "keys " + quote_bytes(parent) + " and " + quote_bytes(entry.relative) +
                                             " cannot both be files (one is the other's directory); nothing "
                                             "was exported");
      }
    }
  }
}

ExitCode run_export(const ExportOptions& options, const GlobalOptions& global) {
  if (options.unnamed != "skip" && options.unnamed != "hash" && options.unnamed != "fail") {
    throw CliError(ExitCode::kUsage, "--unnamed wants skip, hash or fail");
  }
  if (options.key_files.empty() && options.from_dirs.empty() && options.unnamed != "hash") {
    throw CliError(ExitCode::kUsage,
                   "the store holds key hashes, not keys: tell export the keys with --keys FILE or --from-dir DIR "
                   "(or use --unnamed=hash to write every entry under its hash)");
  }
  std::vector<std::string> candidates;
  for (const std::string& file : options.key_files) read_key_list(file, options.null_separated, candidates);
  for (const std::filesystem::path& from : options.from_dirs) {
    for (auto& file : list_for_export(from, global.storage, options.follow_symlinks).files) {
      candidates.push_back(std::move(file.key));
    }
  }
  std::unordered_map<std::uint64_t, std::string> names;  // key hash -> key
  for (std::string& candidate : candidates) {
    const Key key = Key::from_bytes(candidate, options.name_space);
    names.emplace(key.hash(), std::move(candidate));
  }

  simd_r_drive::DataStore store = open_for_reading(global.storage);
  std::vector<Planned> plan;
  std::vector<Planned> unnamed;
  std::size_t found = 0;
  for (const simd_r_drive::EntryHandle& entry : store.iter_entries()) {
    const auto name = names.find(entry.key_hash());
    if (name == names.end()) {
      unnamed.push_back({entry.key_hash(), {}, entry.size()});
      continue;
    }
    ++found;
    if (!safe_relative_path(name->second)) {
      warning("key " + quote_bytes(name->second) + " is not a relative path inside the export directory; "
              "treating its entry as unnamed");
      unnamed.push_back({entry.key_hash(), {}, entry.size()});
      continue;
    }
    plan.push_back({entry.key_hash(), name->second, entry.size()});
  }
  const std::size_t not_in_store = names.size() - found;

  if (!unnamed.empty() && options.unnamed == "fail") {
    throw CliError(ExitCode::kError, counted(unnamed.size(), "live entry has a key", "live entries have keys") +
                                         " this export was not told (--keys, --from-dir); "
                                         "nothing was exported (--unnamed=fail)");
  }
  if (options.unnamed == "hash") {
    for (Planned& entry : unnamed) {
      entry.relative = std::string(kByHashDirectory) + "/" + hex_u64(entry.key_hash).substr(2);
      plan.push_back(entry);
    }
  }
  // In file order of the store, newest first as iteration yields them; sort by
  // path so that the output is the same every time.
  std::sort(plan.begin(), plan.end(), [](const Planned& a, const Planned& b) { return a.relative < b.relative; });
  refuse_conflicts(plan);
  std::uint64_t total = 0;
  for (const Planned& entry : plan) total += entry.size;
  std::error_code missing;
  if (std::filesystem::exists(options.directory, missing)) {
    // Checked before anything is written (or created): nothing below a missing
    // directory can be in the way.
    const ExportRoot existing(options.directory);
    for (const Planned& entry : plan) existing.check(entry.relative, options.overwrite);
  }
  const ExportRoot root(options.directory);

  ProgressBar progress("exporting", total);
  std::uint64_t written = 0;
  for (const Planned& entry : plan) {
    const auto value = store.read_with_key_hash(entry.key_hash);
    if (!value) continue;  // cannot happen: the store is read-only and unchanged
    root.write(entry.relative, *value, options.overwrite, progress);
    written += value->size();
  }
  progress.finish();

  std::string summary = "Exported " + counted(plan.size(), "file", "files") + " (" + format_bytes(written) + ") to " +
                        quote_bytes(options.directory.string());
  if (options.unnamed == "hash" && !unnamed.empty()) {
    summary += ", " + std::to_string(unnamed.size()) + " of them under their key hashes in " +
               std::string(kByHashDirectory) + "/";
  } else if (!unnamed.empty()) {
    summary += "; skipped " + counted(unnamed.size(), "live entry", "live entries") +
               " whose key it was not told (see --unnamed)";
  }
  if (not_in_store != 0) {
    summary += "; " + counted(not_in_store, "given key is", "given keys are") + " not in the store";
  }
  notice(summary);
  return ExitCode::kOk;
}

}  // namespace

Command add_export_command(CLI::App& app, const GlobalOptions& global) {
  auto options = std::make_shared<ExportOptions>();
  CLI::App* command = app.add_subcommand("export", "Write live entries out as files under a directory");
  command->add_option("directory", options->directory, "Where to write the files (created if needed)")
      ->required()
      ->type_name("DIR");
  command->add_option("--keys", options->key_files, "A file of keys, one per line ('-' for stdin); repeatable")
      ->type_name("FILE");
  command->add_option("--from-dir", options->from_dirs,
                      "Take the keys from this directory's files, as import derives them; repeatable")
      ->type_name("DIR");
  command->add_flag("-0,--null", options->null_separated, "Keys in --keys files end with NUL, not newline");
  command->add_flag("--follow-symlinks", options->follow_symlinks,
                    "Walk --from-dir directories following symbolic links, as `import --follow-symlinks` does");
  command->add_option("--namespace", options->name_space, "The keys live in this namespace (as given to import)");
  command->add_option("--unnamed", options->unnamed,
                      "Live entries whose keys were not given: skip (default), hash (write them to "
                      "_by_hash/<key hash>), or fail (export nothing)")
      ->check(CLI::IsMember({"skip", "hash", "fail"}));
  command->add_flag("--overwrite", options->overwrite, "Replace files that exist (otherwise export refuses)");
  command->footer(R"(The store keeps only a hash of each key, so export cannot name entries on its
own. Give it the keys: a list (what `import --list` printed), or a directory to
walk as import would (the directory that was imported; files added since are
simply not in the store). Each live entry whose key matches is written to
DIRECTORY/<key>. The other live entries are skipped and counted (--unnamed=skip),
written as DIRECTORY/_by_hash/<16 hex digits> (--unnamed=hash), or make export
fail before writing anything (--unnamed=fail). Keys that are not safe relative
paths ("/etc/x", "a/../b") are treated as unnamed.

Nothing is overwritten unless --overwrite; each file is written whole before
it gets its name (unnamed with O_TMPFILE where the file system allows it, so an
export killed mid-write leaves nothing behind). Export never follows a symbolic
link inside DIRECTORY: a key whose path leads through one is refused before
anything is written.

Examples:
  simd-r-drive store.bin import ./site --list > site.keys
  simd-r-drive store.bin export ./restored --keys site.keys
  simd-r-drive store.bin export ./restored --from-dir ./site
  simd-r-drive store.bin export ./everything --unnamed=hash)");
  return {command, [options, &global] { return run_export(*options, global); }};
}

}  // namespace srd_cli

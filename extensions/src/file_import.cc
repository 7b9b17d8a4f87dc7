#include "simd_r_drive/extensions/file_import.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include <simd_r_drive/error.h>
#include <simd_r_drive/store_files.h>

#include "simd_r_drive/extensions/namespaces.h"

namespace simd_r_drive::extensions {

namespace detail {
// open_file_stream's way to the stream that gives pages back.
struct ValueStreamAccess {
  static ValueStream releasing(EntryHandle handle) noexcept { return ValueStream(std::move(handle), true); }
};
}  // namespace detail

namespace {

struct Identity {
  dev_t device = 0;
  ino_t inode = 0;
  friend bool operator==(const Identity&, const Identity&) = default;
};

Identity identity_of(const struct stat& info) noexcept { return {info.st_dev, info.st_ino}; }

std::string quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

// What identifies the store's own files: the store, its lock and its index snapshot by
// device and inode (whatever name a walk reaches them by), its temporaries by name in
// the store's directory.
struct StoreOwnFiles {
  std::vector<Identity> files;
  std::optional<Identity> directory;
  StoreFiles names;

  static StoreOwnFiles of(const std::filesystem::path& store) {
    StoreOwnFiles own;
    if (store.empty()) return own;
    std::error_code error;
    std::filesystem::path real = std::filesystem::weakly_canonical(store, error);
    if (error) real = store;
    own.names = StoreFiles::of(real);
    for (const std::filesystem::path& path : {own.names.store, own.names.lock, own.names.index_snapshot}) {
      struct stat info {};
      if (::stat(path.c_str(), &info) == 0) own.files.push_back(identity_of(info));
    }
    struct stat info {};
    if (::stat(real.parent_path().c_str(), &info) == 0) own.directory = identity_of(info);
    return own;
  }

  bool owns(Identity file, Identity in_directory, const std::string& name) const {
    if (std::find(files.begin(), files.end(), file) != files.end()) return true;
    if (!directory || *directory != in_directory) return false;
    return names.temporary_named(name) != StoreFiles::Temporary::kNone;
  }
};

class Walker {
 public:
  Walker(const ListOptions& options, DirectoryListing& listing)
      : options_(options), own_(StoreOwnFiles::of(options.store)), listing_(listing) {}

  void walk(const std::filesystem::path& directory, Identity identity, const std::string& prefix) {
    ancestors_.push_back(identity);
    std::error_code error;
    std::filesystem::directory_iterator it(directory, error);
    for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
      visit(it->path(), identity, prefix);
    }
    if (error) skip(directory, prefix, SkipReason::kUnreadable, error.message());
    ancestors_.pop_back();
  }

 private:
  void visit(const std::filesystem::path& path, Identity directory, const std::string& prefix) {
    const std::string name = path.filename().string();
    const std::string key = prefix.empty() ? name : prefix + "/" + name;
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) {
      skip(path, key, SkipReason::kUnreadable, std::strerror(errno));  // went away meanwhile
      return;
    }
    if (S_ISLNK(info.st_mode)) {
      if (options_.symlinks == SymlinkPolicy::kSkip) {
        skip(path, key, SkipReason::kSymbolicLink, "");
        return;
      }
      if (::stat(path.c_str(), &info) != 0) {
        skip(path, key, SkipReason::kUnreadable, std::strerror(errno));  // a dangling link
        return;
      }
      if (S_ISDIR(info.st_mode) && options_.symlinks == SymlinkPolicy::kFollowFiles) {
        skip(path, key, SkipReason::kSymbolicLink, "a link to a directory, not followed");
        return;
      }
    }
    if (S_ISDIR(info.st_mode)) {
      if (std::find(ancestors_.begin(), ancestors_.end(), identity_of(info)) != ancestors_.end()) {
        skip(path, key, SkipReason::kLoop, "");
        return;
      }
      walk(path, identity_of(info), key);
      return;
    }
    if (!S_ISREG(info.st_mode)) {
      skip(path, key, SkipReason::kNotRegularFile, "");
      return;
    }
    if (own_.owns(identity_of(info), directory, name)) {
      skip(path, key, SkipReason::kStoreFile, "");
      return;
    }
    listing_.files.push_back({key, path, static_cast<std::uint64_t>(info.st_size)});
  }

  void skip(const std::filesystem::path& path, const std::string& key, SkipReason reason, std::string detail) {
    listing_.skipped.push_back({path, key, reason, std::move(detail)});
    if (options_.on_skipped) options_.on_skipped(listing_.skipped.back());
  }

  const ListOptions& options_;
  const StoreOwnFiles own_;
  DirectoryListing& listing_;
  std::vector<Identity> ancestors_;  // the directories from the root down to the one walked
};

// A file descriptor closed on every way out.
class Descriptor {
 public:
  explicit Descriptor(int fd) noexcept : fd_(fd) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

// Thrown by the stream reader when reading the file fails: write_stream takes the
// partial value back out of the store and lets it through.
struct FileReadFailed {
  int error;
};

class Importer {
 public:
  Importer(DataStore& store, const ImportOptions& options, ImportReport& report, ImportProgress& progress)
      : store_(store), options_(options), report_(report), progress_(progress) {}

  void import(const DirectoryFile& file) {
    // Not following links, a file that became one since the walk is not read either.
    // O_NONBLOCK: a file replaced by a FIFO since the walk must not block the open.
    const int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (options_.symlinks == SymlinkPolicy::kSkip ? O_NOFOLLOW : 0);
    const Descriptor fd(::open(file.path.c_str(), flags));
    if (fd.get() < 0) {
      const int error = errno;
      if (error == ELOOP && options_.symlinks == SymlinkPolicy::kSkip) {
        skip(file, SkipReason::kSymbolicLink, "it became a symbolic link after the walk");
      } else {
        skip(file, SkipReason::kUnreadable, std::strerror(error));
      }
      return;
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) {
      skip(file, SkipReason::kUnreadable, std::strerror(errno));
      return;
    }
    if (!S_ISREG(info.st_mode)) {
      skip(file, SkipReason::kNotRegularFile, "it is no longer a regular file");
      return;
    }

    std::vector<std::byte> key = file_key(file.key, name_space());
    std::uint64_t bytes = 0;
    bool any_non_zero = false;
    const StreamReader reader = [&](std::span<std::byte> buffer) -> std::size_t {
      for (;;) {
        const ssize_t got = ::read(fd.get(), buffer.data(), buffer.size());
        if (got >= 0) {
          const auto count = static_cast<std::size_t>(got);
          if (!any_non_zero) {
            any_non_zero = std::any_of(buffer.begin(), buffer.begin() + got, [](std::byte b) { return b != std::byte{0}; });
          }
          bytes += count;
          progress_.bytes_done += count;
          progress_.stage = ImportProgress::Stage::kReading;
          if (options_.on_progress) options_.on_progress(progress_);
          return count;
        }
        if (errno == EINTR) continue;
        throw FileReadFailed{errno};
      }
    };
    std::uint64_t tail = 0;
    try {
      tail = store_.write_stream(ByteView(key), reader);
    } catch (const FileReadFailed& failure) {
      skip(file, SkipReason::kUnreadable, std::strerror(failure.error));
      return;
    } catch (const Error& error) {
      // The store refuses an empty value and one of only 0x00 bytes; it took nothing
      // of it. Anything else is the store's own failure and ends the import.
      if (error.code() == ErrorCode::kInvalidArgument && !any_non_zero) {
        skip(file, bytes == 0 ? SkipReason::kEmpty : SkipReason::kAllZero, "");
        return;
      }
      throw Error(error.code(), "importing " + quoted(file.path) + " failed, after " +
                                    std::to_string(report_.imported.size()) + " files were imported: " + error.what());
    }
    report_.imported.push_back({file.key, std::move(key), file.path, bytes, tail});
    report_.imported_bytes += bytes;
  }

 private:
  std::optional<ByteView> name_space() const {
    if (!options_.name_space) return std::nullopt;
    return ByteView(*options_.name_space);
  }

  void skip(const DirectoryFile& file, SkipReason reason, std::string detail) {
    report_.skipped.push_back({file.path, file.key, reason, std::move(detail)});
    if (options_.on_skipped) options_.on_skipped(report_.skipped.back());
  }

  DataStore& store_;
  const ImportOptions& options_;
  ImportReport& report_;
  ImportProgress& progress_;
};

}  // namespace

std::string_view to_string(SkipReason reason) noexcept {
  switch (reason) {
    case SkipReason::kSymbolicLink: return "symbolic_link";
    case SkipReason::kLoop: return "loop";
    case SkipReason::kNotRegularFile: return "not_regular_file";
    case SkipReason::kStoreFile: return "store_file";
    case SkipReason::kEmpty: return "empty";
    case SkipReason::kAllZero: return "all_zero";
    case SkipReason::kUnreadable: return "unreadable";
  }
  return "unknown";
}

DirectoryListing list_dir_recursively(const std::filesystem::path& dir, const ListOptions& options) {
  struct stat info {};
  if (::stat(dir.c_str(), &info) != 0) {
    const int error = errno;
    if (error == ENOENT || error == ENOTDIR) {
      throw Error(ErrorCode::kNotFound, "directory " + quoted(dir) + " does not exist");
    }
    throw Error(ErrorCode::kIo, "cannot read " + quoted(dir) + ": " + std::strerror(error));
  }
  if (!S_ISDIR(info.st_mode)) throw Error(ErrorCode::kInvalidArgument, quoted(dir) + " is not a directory");
  DirectoryListing listing;
  Walker(options, listing).walk(dir, identity_of(info), "");
  std::sort(listing.files.begin(), listing.files.end(),
            [](const DirectoryFile& a, const DirectoryFile& b) { return a.key < b.key; });
  return listing;
}

ImportReport import_dir_recursively(DataStore& store, const std::filesystem::path& dir, const ImportOptions& options) {
  if (store.is_read_only()) {
    throw Error(ErrorCode::kInvalidArgument, "import_dir_recursively needs a store open for writing");
  }
  ListOptions list;
  list.symlinks = options.symlinks;
  list.store = store.path();
  list.on_skipped = options.on_skipped;
  DirectoryListing listing = list_dir_recursively(dir, list);

  ImportReport report;
  report.skipped = std::move(listing.skipped);
  ImportProgress progress;
  progress.files_total = listing.files.size();
  for (const DirectoryFile& file : listing.files) progress.bytes_total += file.size;
  Importer importer(store, options, report, progress);
  for (const DirectoryFile& file : listing.files) {
    progress.stage = ImportProgress::Stage::kOpening;
    progress.file = &file;
    if (options.on_progress) options.on_progress(progress);
    importer.import(file);
    ++progress.files_done;
  }
  progress.stage = ImportProgress::Stage::kFinished;
  progress.file = nullptr;
  if (options.on_progress) options.on_progress(progress);
  return report;
}

ImportReport import_dir_recursively(DataStore& store, const std::filesystem::path& dir,
                                    std::optional<ByteView> name_space) {
  ImportOptions options;
  if (name_space) options.name_space = std::string(name_space->as_string_view());
  return import_dir_recursively(store, dir, options);
}

std::vector<std::byte> file_key(std::string_view relative_path, std::optional<ByteView> name_space) {
  // Rust's Path::components() on Unix: a leading '/' is the root component ("/"); a
  // leading "." followed by '/' or the end is the current-directory component; after
  // that, empty parts (repeated or trailing separators) and "." parts are dropped.
  std::string key;
  bool first = true;
  const auto add = [&](std::string_view part) {
    if (!first) key += '/';
    key += part;
    first = false;
  };
  std::string_view rest = relative_path;
  if (rest.starts_with('/')) {
    add("/");
  } else if (rest == "." || rest.starts_with("./")) {
    add(".");
    rest.remove_prefix(1);
  }
  while (!rest.empty()) {
    const std::size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    if (!part.empty() && part != ".") add(part);
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  if (name_space) {
    const NamespacedKey namespaced = namespaced_key(*name_space, key);
    return {namespaced.begin(), namespaced.end()};
  }
  const auto* data = reinterpret_cast<const std::byte*>(key.data());
  return {data, data + key.size()};
}

std::optional<EntryHandle> read_file_entry(const DataStore& store, std::string_view relative_path,
                                           std::optional<ByteView> name_space) {
  return store.read(ByteView(file_key(relative_path, name_space)));
}

std::optional<ValueStream> open_file_stream(const DataStore& store, std::string_view relative_path,
                                            std::optional<ByteView> name_space) {
  std::optional<EntryHandle> entry = read_file_entry(store, relative_path, name_space);
  if (!entry) return std::nullopt;
  return detail::ValueStreamAccess::releasing(std::move(*entry));
}

}  // namespace simd_r_drive::extensions

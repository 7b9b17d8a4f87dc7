#include "io/file_handle.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cerrno>
#include <cstring>
#include <vector>

#include "io/fault_injection.h"
#include "simd_r_drive/error.h"

namespace simd_r_drive::io {

namespace {

std::atomic<FaultInjector*> installed_injector{nullptr};

std::string os_reason(int error) { return std::strerror(error); }

// The injector's verdict on an operation: 0 to go ahead, else the errno to fail with.
int injected_error(FileOperation operation, const std::filesystem::path& path, std::uint64_t offset = 0,
                   std::uint64_t bytes = 0, std::uint64_t* write_limit = nullptr) {
  FaultInjector* injector = installed_injector.load(std::memory_order_acquire);
  if (injector == nullptr) return 0;
  std::uint64_t unused = bytes;
  return injector->before(operation, path, offset, bytes, write_limit != nullptr ? write_limit : &unused);
}

}  // namespace

FaultInjector* install_fault_injector(FaultInjector* injector) noexcept {
  return installed_injector.exchange(injector, std::memory_order_acq_rel);
}

FileHandle::FileHandle(const std::filesystem::path& path, Mode mode) : path_(path) {
  int flags = (mode == Mode::kReadOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  if (mode == Mode::kOpenOrCreate) flags |= O_CREAT | O_NOFOLLOW;
  if (mode == Mode::kCreateExclusive) flags |= O_CREAT | O_EXCL | O_NOFOLLOW;
  do {
    fd_ = ::open(path.c_str(), flags, 0644);
  } while (fd_ < 0 && errno == EINTR);
  if (fd_ < 0) {
    const int error = errno;
    if (error == ENOENT && (mode == Mode::kOpenExisting || mode == Mode::kReadOnly)) {
      throw Error(ErrorCode::kNotFound, "Storage file '" + path.string() + "' does not exist.");
    }
    if (error == ELOOP && (flags & O_NOFOLLOW) != 0) {
      throw Error(ErrorCode::kIo, "cannot open '" + path.string() +
                                      "': it is a symbolic link, which the engine does not follow for a file it "
                                      "creates or locks");
    }
    throw Error(ErrorCode::kIo, "cannot open '" + path.string() + "': " + os_reason(error));
  }
  struct stat info {};
  if (::fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw Error(ErrorCode::kInvalidArgument, "'" + path.string() + "' is not a valid file.");
  }
}

FileHandle::FileHandle(FileHandle&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

FileHandle& FileHandle::operator=(FileHandle&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

FileHandle::~FileHandle() { close(); }

void FileHandle::close() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);  // nothing useful to do on failure: data was handed over already
    fd_ = -1;
  }
}

void FileHandle::fail_if_injected(FileOperation operation, const char* what, std::uint64_t offset,
                                  std::uint64_t bytes) const {
  if (const int error = injected_error(operation, path_, offset, bytes)) {
    errno = error;
    fail(what);
  }
}

void FileHandle::fail(const std::string& what) const {
  const int error = errno;
  throw Error(ErrorCode::kIo, what + " on '" + path_.string() + "' failed: " + os_reason(error));
}

std::uint64_t FileHandle::size() const {
  struct stat info {};
  if (::fstat(fd_, &info) != 0) fail("fstat");
  return static_cast<std::uint64_t>(info.st_size);
}

FileIdentity FileHandle::identity() const {
  struct stat info {};
  if (::fstat(fd_, &info) != 0) fail("fstat");
  return {static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino)};
}

void FileHandle::pwrite_all(std::uint64_t offset, std::span<const std::span<const std::byte>> pieces) {
  std::vector<iovec> vectors;
  vectors.reserve(pieces.size());
  for (auto piece : pieces) {
    if (!piece.empty()) vectors.push_back({const_cast<std::byte*>(piece.data()), piece.size()});
  }
  std::size_t first = 0;
  while (first < vectors.size()) {
    const int count = static_cast<int>(std::min<std::size_t>(vectors.size() - first, IOV_MAX));
    ssize_t written;
    std::uint64_t total = 0;
    for (int i = 0; i < count; ++i) total += vectors[first + static_cast<std::size_t>(i)].iov_len;
    std::uint64_t limit = total;
    if (const int error = injected_error(FileOperation::kWrite, path_, offset, total, &limit)) {
      errno = error;
      written = -1;
    } else if (limit < total) {
      // A short write, as the kernel may do: write only the first `limit` bytes.
      std::vector<iovec> shortened(vectors.begin() + static_cast<std::ptrdiff_t>(first),
                                   vectors.begin() + static_cast<std::ptrdiff_t>(first) + count);
      std::uint64_t left = limit;
      int kept = 0;
      for (iovec& piece : shortened) {
        if (left == 0) break;
        piece.iov_len = static_cast<std::size_t>(std::min<std::uint64_t>(piece.iov_len, left));
        left -= piece.iov_len;
        ++kept;
      }
      written = kept == 0 ? 0 : ::pwritev(fd_, shortened.data(), kept, static_cast<off_t>(offset));
    } else {
      written = ::pwritev(fd_, vectors.data() + first, count, static_cast<off_t>(offset));
    }
    if (written < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    if (written == 0) {
      errno = EIO;
      fail("write");
    }
    offset += static_cast<std::uint64_t>(written);
    auto remaining = static_cast<std::size_t>(written);
    while (first < vectors.size() && remaining >= vectors[first].iov_len) {
      remaining -= vectors[first].iov_len;
      ++first;
    }
    if (remaining > 0) {
      vectors[first].iov_base = static_cast<char*>(vectors[first].iov_base) + remaining;
      vectors[first].iov_len -= remaining;
    }
  }
}

void FileHandle::allocate(std::uint64_t new_size) {
  const std::uint64_t current = size();
  if (new_size <= current) return;
  fail_if_injected(FileOperation::kAllocate, "fallocate", current, new_size - current);
  int result;
  do {
    result = ::fallocate(fd_, 0, static_cast<off_t>(current), static_cast<off_t>(new_size - current));
  } while (result != 0 && errno == EINTR);
  if (result == 0) return;
  if (errno == EOPNOTSUPP || errno == ENOSYS) {
    truncate(new_size);
    return;
  }
  fail("fallocate");
}

void FileHandle::reserve_blocks(std::uint64_t new_end) {
  const std::uint64_t current = size();
  if (new_end <= current) return;
  fail_if_injected(FileOperation::kAllocate, "fallocate", current, new_end - current);
  int result;
  do {
    result = ::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(current), static_cast<off_t>(new_end - current));
  } while (result != 0 && errno == EINTR);
  if (result == 0 || errno == EOPNOTSUPP || errno == ENOSYS) return;
  fail("fallocate");
}

void FileHandle::zero_range(std::uint64_t offset, std::uint64_t length) {
  if (length == 0) return;
  fail_if_injected(FileOperation::kAllocate, "fallocate", offset, length);
  auto call = [this, offset, length](int mode) {
    int result;
    do {
      result = ::fallocate(fd_, mode, static_cast<off_t>(offset), static_cast<off_t>(length));
    } while (result != 0 && errno == EINTR);
    return result == 0 ? 0 : errno;
  };
  int error = call(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE);
  if (error == 0) return;
  if (error != EOPNOTSUPP && error != ENOSYS) {
    errno = error;
    fail("fallocate (zero range)");
  }
  error = call(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
  if (error == 0) {
    error = call(0);
    if (error == 0 || error == EOPNOTSUPP || error == ENOSYS) return;
    errno = error;
    fail("fallocate");
  }
  if (error != EOPNOTSUPP && error != ENOSYS) {
    errno = error;
    fail("fallocate (punch hole)");
  }
  const std::vector<std::byte> zeros(static_cast<std::size_t>(length));
  const std::span<const std::byte> pieces[] = {zeros};
  pwrite_all(offset, pieces);
}

std::size_t FileHandle::pread_some(std::uint64_t offset, std::span<std::byte> out) const {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t got = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail("pread");
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

void FileHandle::truncate(std::uint64_t new_size) {
  fail_if_injected(FileOperation::kTruncate, "ftruncate", new_size);
  int result;
  do {
    result = ::ftruncate(fd_, static_cast<off_t>(new_size));
  } while (result != 0 && errno == EINTR);
  if (result != 0) fail("ftruncate");
}

void FileHandle::sync_data() {
  fail_if_injected(FileOperation::kSync, "fdatasync");
  if (::fdatasync(fd_) != 0) fail("fdatasync");
  if (FaultInjector* injector = installed_injector.load(std::memory_order_acquire)) injector->synced(path_);
}

void FileHandle::start_writeback(std::uint64_t offset, std::uint64_t length) noexcept {
  (void)::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(length), SYNC_FILE_RANGE_WRITE);
}

bool FileHandle::try_lock_exclusive() {
  struct flock request {};
  request.l_type = F_WRLCK;
  request.l_whence = SEEK_SET;
  if (::fcntl(fd_, F_OFD_SETLK, &request) == 0) return true;
  if (errno == EAGAIN || errno == EACCES) return false;
  fail("fcntl(F_OFD_SETLK)");
}

bool FileHandle::locked_elsewhere() const {
  struct flock probe {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  if (::fcntl(fd_, F_OFD_GETLK, &probe) != 0) return false;
  return probe.l_type != F_UNLCK;
}

void sync_directory(const std::filesystem::path& directory) {
  if (const int error = injected_error(FileOperation::kSyncDirectory, directory)) {
    throw Error(ErrorCode::kIo, "fsync of directory '" + directory.string() + "' failed: " + os_reason(error));
  }
  const int fd = ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    throw Error(ErrorCode::kIo, "cannot open directory '" + directory.string() + "': " + os_reason(errno));
  }
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (result != 0) {
    throw Error(ErrorCode::kIo, "fsync of directory '" + directory.string() + "' failed: " + os_reason(error));
  }
}

std::filesystem::path resolve_store_path(const std::filesystem::path& path) {
  std::filesystem::path current = path;
  // As many links as the kernel follows in one path (MAXSYMLINKS) before ELOOP.
  for (int links = 0; links <= 40; ++links) {
    const std::filesystem::path name = current.filename();
    if (name.empty() || name == "." || name == "..") return path;  // a directory: open reports it
    std::error_code error;
    const std::filesystem::path directory =
        std::filesystem::canonical(current.has_parent_path() ? current.parent_path() : ".", error);
    if (error) return path;
    const std::filesystem::path full = directory / name;
    struct stat info {};
    if (::lstat(full.c_str(), &info) != 0 || !S_ISLNK(info.st_mode)) return full;
    const std::filesystem::path target = std::filesystem::read_symlink(full, error);
    if (error) return full;
    current = target.is_absolute() ? target : directory / target;
  }
  throw Error(ErrorCode::kIo, "cannot open '" + path.string() + "': " + os_reason(ELOOP));
}

void rename_file(const std::filesystem::path& from, const std::filesystem::path& to) {
  int error = injected_error(FileOperation::kRename, from);
  if (error == 0 && ::rename(from.c_str(), to.c_str()) != 0) error = errno;
  if (error != 0) {
    throw Error(ErrorCode::kIo, "renaming '" + from.string() + "' to '" + to.string() + "' failed: " + os_reason(error));
  }
}

}  // namespace simd_r_drive::io

#include "io/file_handle.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <climits>
#include <cerrno>
#include <cstring>
#include <vector>

#include "simd_r_drive/error.h"

namespace simd_r_drive::io {

namespace {

std::string os_reason(int error) { return std::strerror(error); }

}  // namespace

FileHandle::FileHandle(const std::filesystem::path& path, Mode mode) : path_(path) {
  int flags = O_RDWR | O_CLOEXEC;
  if (mode == Mode::kOpenOrCreate) flags |= O_CREAT;
  if (mode == Mode::kCreateExclusive) flags |= O_CREAT | O_EXCL;
  do {
    fd_ = ::open(path.c_str(), flags, 0644);
  } while (fd_ < 0 && errno == EINTR);
  if (fd_ < 0) {
    const int error = errno;
    if (error == ENOENT && mode == Mode::kOpenExisting) {
      throw Error(ErrorCode::kNotFound, "Storage file '" + path.string() + "' does not exist.");
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
    const ssize_t written = ::pwritev(fd_, vectors.data() + first, count, static_cast<off_t>(offset));
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

void FileHandle::truncate(std::uint64_t new_size) {
  int result;
  do {
    result = ::ftruncate(fd_, static_cast<off_t>(new_size));
  } while (result != 0 && errno == EINTR);
  if (result != 0) fail("ftruncate");
}

void FileHandle::sync_data() {
  if (::fdatasync(fd_) != 0) fail("fdatasync");
}

void sync_directory(const std::filesystem::path& directory) {
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

}  // namespace simd_r_drive::io

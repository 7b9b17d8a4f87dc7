// A POSIX file descriptor with the few calls the engine needs, each turning a
// failure into Error(ErrorCode::kIo) with the path and the OS's reason.
//
// Thread-safety: positional calls (pread/pwrite) may run concurrently; everything
// that changes the file's size belongs to the store's single writer.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "io/fault_injection.h"

namespace simd_r_drive::io {

// Device and inode: two paths name the same file iff these are equal.
struct FileIdentity {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
};

class FileHandle {
 public:
  // The creating modes (kOpenOrCreate, kCreateExclusive) never follow a symbolic link
  // in the last component (O_NOFOLLOW): the engine opens names it resolved itself
  // (resolve_store_path), so a link found there was planted since, and following it
  // would make the writer create, truncate or lock some other file.
  enum class Mode { kOpenOrCreate, kOpenExisting, kCreateExclusive, kReadOnly };

  FileHandle() = default;
  FileHandle(const std::filesystem::path& path, Mode mode);
  FileHandle(FileHandle&& other) noexcept;
  FileHandle& operator=(FileHandle&& other) noexcept;
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  ~FileHandle();

  int fd() const noexcept { return fd_; }
  const std::filesystem::path& path() const noexcept { return path_; }
  // After the file was renamed: the name error messages (and fault injection) use.
  void renamed_to(std::filesystem::path path) { path_ = std::move(path); }
  bool is_open() const noexcept { return fd_ >= 0; }

  std::uint64_t size() const;
  FileIdentity identity() const;
  // Reads up to out.size() bytes at `offset`; returns how many (fewer only at the end
  // of the file).
  std::size_t pread_some(std::uint64_t offset, std::span<std::byte> out) const;
  // Writes every byte of each piece at `offset` (one pwritev, repeated only if the
  // kernel writes less).
  void pwrite_all(std::uint64_t offset, std::span<const std::span<const std::byte>> pieces);
  // Grows the file to `new_size` with blocks reserved, so later writes through a
  // mapping cannot fail for lack of space (falls back to ftruncate where the file
  // system has no fallocate).
  void allocate(std::uint64_t new_size);
  // Reserves blocks for [current size, new_end) without changing the file's size
  // (fallocate with FALLOC_FL_KEEP_SIZE), so that a full disk is reported here and a
  // later write that extends the file into that range finds its blocks. Does nothing
  // where the file system has no fallocate.
  void reserve_blocks(std::uint64_t new_end);
  // Makes [offset, offset + length) read as zeros, its blocks still reserved, and
  // drops its pages from the page cache (fallocate FALLOC_FL_ZERO_RANGE; else a hole
  // punched and allocated again, which first writes back a dirty page; else zeros
  // written, which keeps the pages cached). `length` should be a multiple of the file
  // system's block size.
  void zero_range(std::uint64_t offset, std::uint64_t length);
  void truncate(std::uint64_t new_size);
  void sync_data();
  // Asks the kernel to start writing back [offset, offset + length) now, without
  // waiting (sync_file_range). A bulk writer calls it behind its progress so that a
  // later sync_data() finds most of the work done. A hint only: it guarantees nothing
  // and reports no error; sync_data() remains what makes data durable.
  void start_writeback(std::uint64_t offset, std::uint64_t length) noexcept;
  // Takes an exclusive open-file-description lock on the whole file without waiting;
  // false if another open of the file (in any process) holds one.
  bool try_lock_exclusive();
  // Whether another open of the file holds a lock that try_lock_exclusive would
  // collide with. Only asks: takes nothing (F_OFD_GETLK).
  bool locked_elsewhere() const;
  void close() noexcept;

 private:
  [[noreturn]] void fail(const std::string& what) const;
  // Fails `what` as the OS would if an installed FaultInjector says so (fault_injection.h).
  void fail_if_injected(FileOperation operation, const char* what, std::uint64_t offset = 0,
                        std::uint64_t bytes = 0) const;
  int fd_ = -1;
  std::filesystem::path path_;
};

// The file a store path names, as an absolute path with every symbolic link resolved:
// the store's companions (lock file, index snapshot, compaction temporaries) live
// beside that file, and compaction replaces that file, never a link to it. A path
// whose last component does not exist yet keeps that name in its resolved directory
// (a dangling link is resolved to the file it would create). A path whose directory
// cannot be resolved is returned as given, for open to report.
std::filesystem::path resolve_store_path(const std::filesystem::path& path);

// fsync of a directory, so a rename inside it is durable.
void sync_directory(const std::filesystem::path& directory);
// rename(2): atomically replaces `to` with `from` (same file system).
void rename_file(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace simd_r_drive::io

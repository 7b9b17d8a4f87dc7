#include "chain_walker.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <simd_r_drive/format.h>

#include "exit_codes.h"
#include "key_arguments.h"
#include "store_access.h"

namespace srd_cli {

namespace {

using simd_r_drive::kMetadataSize;
using simd_r_drive::kPayloadAlignment;

bool same_inode(int fd, const std::filesystem::path& path) {
  struct stat open_file {};
  struct stat named_file {};
  return ::fstat(fd, &open_file) == 0 && ::stat(path.c_str(), &named_file) == 0 &&
         open_file.st_dev == named_file.st_dev && open_file.st_ino == named_file.st_ino;
}

[[noreturn]] void malformed(std::uint64_t metadata_offset, std::uint64_t prev) {
  throw CliError(ExitCode::kDamaged, "malformed record at offset " + std::to_string(metadata_offset) +
                                         " (back-link " + std::to_string(prev) + ")");
}

}  // namespace

simd_r_drive::DataStore StoreView::open_matching(const std::filesystem::path& path, int& fd) {
  require_store_file(path);
  // A writer's compaction renames a new file over the path. Open our descriptor
  // first, then the store, and accept the pair only if the path still names our
  // inode afterwards: then the store opened that same inode.
  for (int attempt = 0;; ++attempt) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      throw CliError(ExitCode::kError, "cannot open " + quote_bytes(path.string()) + ": " + std::strerror(errno));
    }
    try {
      simd_r_drive::DataStore store = open_for_reading(path);
      if (same_inode(fd, path) || attempt == 3) return store;
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
  }
}

StoreView::StoreView(const std::filesystem::path& path) : store_(open_matching(path, fd_)) {
  length_ = store_.file_size();
  if (length_ != 0) {
    void* base = ::mmap(nullptr, length_, PROT_READ, MAP_SHARED, fd_, 0);
    if (base == MAP_FAILED) {
      const int error = errno;
      ::close(fd_);
      throw CliError(ExitCode::kError, "cannot map " + quote_bytes(path.string()) + ": " + std::strerror(error));
    }
    base_ = static_cast<const std::byte*>(base);
  }
}

StoreView::~StoreView() {
  if (base_ != nullptr) ::munmap(const_cast<std::byte*>(base_), length_);
  if (fd_ >= 0) ::close(fd_);
}

ChainRecord decode_record(std::span<const std::byte> file, std::uint64_t tail) {
  if (tail < kMetadataSize + 1 || tail > file.size()) {
    throw CliError(ExitCode::kDamaged, "back-link to offset " + std::to_string(tail) + " is outside the entries");
  }
  ChainRecord record;
  record.tail = tail;
  record.metadata_offset = tail - kMetadataSize;
  record.metadata = simd_r_drive::EntryMetadata::deserialize(file.subspan(record.metadata_offset, kMetadataSize));
  const std::uint64_t prev = record.metadata.prev_offset;
  if (prev >= record.metadata_offset) malformed(record.metadata_offset, prev);
  if (record.metadata_offset - prev == 1 && file[prev] == simd_r_drive::kTombstoneByte) {
    record.payload_offset = prev;
  } else {
    const std::uint64_t pad = (kPayloadAlignment - prev % kPayloadAlignment) % kPayloadAlignment;
    record.payload_offset = prev + pad;
    if (record.payload_offset >= record.metadata_offset) malformed(record.metadata_offset, prev);
  }
  record.payload_size = record.metadata_offset - record.payload_offset;
  record.tombstone = record.payload_size == 1 && file[record.payload_offset] == simd_r_drive::kTombstoneByte;
  return record;
}

std::vector<std::uint64_t> chain_tails(std::span<const std::byte> file, std::uint64_t tail) {
  std::vector<std::uint64_t> tails;
  while (tail != 0) {
    tails.push_back(tail);
    tail = decode_record(file, tail).metadata.prev_offset;
  }
  return tails;
}

}  // namespace srd_cli

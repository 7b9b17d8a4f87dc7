// Every record on a store's chain, not only the live ones: for inspect and info.
//
// The library iterates live entries only, so `inspect` reads the records itself,
// from the facts of the format that the public headers state (format.h,
// EntryMetadata): each entry ends with a 20-byte record whose back-link is the
// previous entry's tail; a payload starts at the first 64-byte boundary after that
// tail, except a tombstone, the single byte 0x00 right at it (docs/format.md).
//
// The file is mapped read-only, up to the tail that the read-only store found, so the
// walk covers exactly the entries the store itself sees.
//
// Thread-safety: a StoreView is used by one thread; the functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include <simd_r_drive/data_store.h>
#include <simd_r_drive/entry_metadata.h>

namespace srd_cli {

struct ChainRecord {
  std::uint64_t payload_offset = 0;
  std::uint64_t payload_size = 0;
  std::uint64_t metadata_offset = 0;
  std::uint64_t tail = 0;  // metadata_offset + 20: where the next entry's pre-pad starts
  simd_r_drive::EntryMetadata metadata;
  bool tombstone = false;
};

// A read-only store plus a read-only mapping of its file, both of the same inode.
class StoreView {
 public:
  explicit StoreView(const std::filesystem::path& path);
  StoreView(const StoreView&) = delete;
  StoreView& operator=(const StoreView&) = delete;
  ~StoreView();

  simd_r_drive::DataStore& store() noexcept { return store_; }
  // The file's bytes up to the store's tail.
  std::span<const std::byte> bytes() const noexcept { return {base_, length_}; }
  std::uint64_t tail() const noexcept { return length_; }

 private:
  static simd_r_drive::DataStore open_matching(const std::filesystem::path& path, int& fd);

  int fd_ = -1;
  simd_r_drive::DataStore store_;
  const std::byte* base_ = nullptr;
  std::uint64_t length_ = 0;
};

// Decodes the entry whose record ends at `tail`. Throws CliError(kDamaged) if the
// record's back-link is malformed.
ChainRecord decode_record(std::span<const std::byte> file, std::uint64_t tail);

// The tails of every entry on the chain, newest first (the chain's own order).
std::vector<std::uint64_t> chain_tails(std::span<const std::byte> file, std::uint64_t tail);

}  // namespace srd_cli

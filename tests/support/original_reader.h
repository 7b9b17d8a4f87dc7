// A model of how the Rust original (rust-simd-r-drive 0.16.3-alpha) reads and appends
// to a store file, for tests that ask "what would the original see in this file?".
// It follows reference/original-inventory.md, not this engine:
//
//  * open (§2.1, §2.2): if the file is shorter than 20 bytes, nothing; otherwise a
//    cursor goes down from the file's end one byte at a time. The 20 bytes before the
//    cursor are taken as a record; its payload start is derived as in §1.7 (the
//    tombstone rule first: one byte right after `prev` that is 0x00; else `prev`
//    rounded up to 64). The candidate is rejected if that start is not below the
//    record. Otherwise the back-links are walked from its `prev` down to 0: a link
//    below 20, a record outside the file, an entry without a payload byte, or a
//    `prev` not strictly below its own record rejects it. The candidate is accepted
//    when the walk reaches exactly 0 and the sum of (payload + 20) over the chain is
//    at most the file's length. No checksum is looked at. Nothing accepted: length 0.
//    The original truncates the file to what it accepted.
//  * the index (§2.4): from the accepted end, newest first, the first record seen for
//    a key hash wins (tombstones included); the walk stops after the record whose
//    `prev` is 0, or when the cursor drops below 20.
//  * a read (§1.7): the indexed record's range; a tombstone (one byte, 0x00) or a
//    range that is empty or runs past the file reads as absent.
//  * an append (§1.2, §1.3): at the file's length, a pre-pad up to the next multiple
//    of 64, the payload, and a record whose `prev` is the length before the entry; a
//    delete is one 0x00 byte with no pre-pad. Checksums are CRC-32 (computed here
//    independently of the engine). The index is updated as the original does at run
//    time (a delete removes the hash).
//
// Independent of the engine on purpose: it shares only the public constants.
//
// Thread-safety: a value type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace srd_test {

// CRC-32 (IEEE, zlib's), bit by bit: the original's checksum, without the engine's code.
std::uint32_t reference_crc32(std::span<const std::byte> bytes) noexcept;

class OriginalStore {
 public:
  // "Opens" a file as the original does: recovers the chain and truncates the rest.
  explicit OriginalStore(std::vector<std::byte> file);
  static OriginalStore open(const std::filesystem::path& path);

  // The length the original's recovery kept (it truncates the file to it).
  std::uint64_t recovered_length() const noexcept { return recovered_length_; }
  // The file's bytes as the original holds them now (recovered, then appended to).
  const std::vector<std::byte>& bytes() const noexcept { return file_; }
  void save(const std::filesystem::path& path) const;

  // What read(key) returns: the value's bytes (a view into bytes()), or nullopt.
  std::optional<std::span<const std::byte>> read(std::uint64_t key_hash) const;
  // The original's len(): indexed key hashes, deleted ones included after an open.
  std::size_t len() const noexcept { return index_.size(); }
  // Key hash -> metadata offset of its newest record, as the original's index holds it.
  const std::unordered_map<std::uint64_t, std::uint64_t>& index() const noexcept { return index_; }
  // The stored and the computed checksum of a key's indexed entry agree (what the
  // original's EntryHandle::is_valid_checksum() answers); nullopt if not indexed.
  std::optional<bool> checksum_matches(std::uint64_t key_hash) const;

  // Appends as the original's write() and delete() do; both return the new length.
  std::uint64_t write(std::uint64_t key_hash, std::span<const std::byte> value);
  std::uint64_t write(std::uint64_t key_hash, std::string_view value);
  // The original checks existence against its index, and writes nothing otherwise.
  std::uint64_t remove(std::uint64_t key_hash);

 private:
  struct Range {
    std::uint64_t start;
    std::uint64_t end;
  };
  std::optional<Range> range_at(std::uint64_t metadata_offset) const;
  void build_index();

  std::vector<std::byte> file_;
  std::uint64_t recovered_length_ = 0;
  std::unordered_map<std::uint64_t, std::uint64_t> index_;
};

// The original's recover_valid_chain on `file` (§2.2): the length it keeps.
std::uint64_t original_recovered_length(std::span<const std::byte> file);

}  // namespace srd_test

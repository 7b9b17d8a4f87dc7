// LiveBits: which entries are live, by position, so iteration can scan instead of
// asking the index about every record.
//
// One bit per 16 bytes of file: the bit of tail t is t / 16. Two entries' tails are
// at least 21 bytes apart, so no two entries share a bit. A bit is set while the entry
// ending there is its key's newest, non-deleted version. Beside each bit, 4 more bits
// hold t % 16, so a scan gets back exact tails (5 bits per 16 bytes: about 4% of the
// file's size). Scanning the bits from high
// to low visits the live entries newest first, the iteration order, reading memory in
// order; slices of the bits split cleanly across threads.
//
// Growth: the bits and the offsets each lie in a reservation of address space far
// larger than they need, made usable page by page. A larger LiveBits is a second view
// of the same pages that covers more of them, so growing costs no copy and no page
// touched, whatever the file's size (a copy cost the writer about 30 ms at 256 MiB of
// file, in one write). The writer publishes the larger view and retires this one (see
// Generation); both see every set and clear. Only a LiveBits that outgrows its
// reservation, or one mapped from a snapshot, is copied into a new one.
//
// Thread-safety: one writer (set, clear, grown) and any number of readers (test,
// scans), all on atomic words.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace simd_r_drive::engine {

class LiveBits {
 public:
  // Covers tails below `tail_capacity`.
  explicit LiveBits(std::uint64_t tail_capacity);
  // Whether bits covering a store of `tail` bytes with `live` live entries are worth
  // keeping: they cost 5 bits per 16 bytes of file, allowed up to 64 bytes per live
  // entry (entries averaging about 1.6 KiB or less).
  static bool worth_keeping(std::uint64_t tail, std::uint64_t live) noexcept {
    return tail / 128 * 5 <= 64 * live + 65536;
  }
  // For index snapshots: the raw layout is the bit words, then the offsets (32 bytes
  // per word); `words` is its size in words.
  std::uint64_t words() const noexcept { return words_; }
  std::span<const std::byte> raw_bits() const noexcept {
    return {reinterpret_cast<const std::byte*>(words_ptr_), words_ * sizeof(std::uint64_t)};
  }
  std::span<const std::byte> raw_offsets() const noexcept {
    return {reinterpret_cast<const std::byte*>(nibbles_ptr_), words_ * kOffsetBytesPerWord};
  }
  // The size of that layout for `words` words.
  static constexpr std::uint64_t raw_bytes(std::uint64_t words) noexcept {
    return words * (sizeof(std::uint64_t) + kOffsetBytesPerWord);
  }
  // The raw layout of `words` words saved at `offset` (a multiple of the page size)
  // of the file `fd`, mapped private: reads come from the page cache with no copy,
  // and the writer's first set or clear of a page copies that page only. nullptr if
  // the mapping fails.
  static std::unique_ptr<LiveBits> mapped_from(int fd, std::uint64_t offset, std::uint64_t words);
  ~LiveBits();
  LiveBits(const LiveBits&) = delete;
  LiveBits& operator=(const LiveBits&) = delete;

  std::uint64_t tail_capacity() const noexcept { return words_ * 64 * kGranule; }
  bool covers(std::uint64_t tail) const noexcept { return tail < tail_capacity(); }

  void set(std::uint64_t tail) noexcept {
    // The offset is written first; the bit's release store publishes it.
    std::atomic<std::uint8_t>& pair = nibbles_ptr_[tail / kGranule / 2];
    const unsigned shift = (tail / kGranule % 2) * 4;
    const std::uint8_t old = pair.load(std::memory_order_relaxed);
    pair.store(static_cast<std::uint8_t>((old & ~(0xFu << shift)) | ((tail % kGranule) << shift)),
               std::memory_order_relaxed);
    word(tail).fetch_or(bit(tail), std::memory_order_release);
  }
  void clear(std::uint64_t tail) noexcept {
    word(tail).fetch_and(~bit(tail), std::memory_order_release);
  }
  // Builds the bits from a list of live tails before this object is published: no
  // other thread can see it yet, so plain stores do (no atomic read-modify-write),
  // and the scattered words are prefetched a few tails ahead.
  void build_from(const std::uint64_t* tails, std::size_t count) noexcept;

  // Whether the entry ending exactly at `tail` is live.
  bool test(std::uint64_t tail) const noexcept {
    return (word(tail).load(std::memory_order_acquire) & bit(tail)) != 0 && exact_tail(tail / kGranule) == tail;
  }

  // The largest live tail that is <= `at_most`, or 0 if there is none.
  std::uint64_t previous(std::uint64_t at_most) const noexcept {
    if (at_most == 0) return 0;
    if (!covers(at_most)) at_most = tail_capacity() - 1;
    const std::uint64_t index = at_most / kGranule;
    std::uint64_t w = index / 64;
    std::uint64_t bits = words_ptr_[w].load(std::memory_order_acquire) & (~0ull >> (63 - index % 64));
    for (;;) {
      while (bits != 0) {
        const std::uint64_t top = 63 - static_cast<std::uint64_t>(std::countl_zero(bits));
        const std::uint64_t tail = exact_tail(w * 64 + top);
        // at_most's own granule may hold a tail just above it: skip that one.
        if (tail <= at_most) return tail;
        bits &= ~(1ull << top);
      }
      if (w == 0) return 0;
      bits = words_ptr_[--w].load(std::memory_order_acquire);
    }
  }

  // How many live entries have tails below `boundary`, a multiple of the 1,024
  // tails one word covers (a popcount of the words below it).
  std::size_t count_below(std::uint64_t boundary) const noexcept {
    const std::uint64_t end = std::min<std::uint64_t>(boundary / (64 * kGranule), words_);
    std::size_t count = 0;
    for (std::uint64_t w = 0; w < end; ++w) {
      count += static_cast<std::size_t>(std::popcount(words_ptr_[w].load(std::memory_order_acquire)));
    }
    return count;
  }

  // A LiveBits covering at least `tail_capacity`, with every bit of this one: a
  // larger view of the same pages when the reservation holds it, else a copy. The
  // writer grows with this. Throws std::bad_alloc if no memory can be had.
  std::unique_ptr<LiveBits> grown(std::uint64_t tail_capacity) const;

  static constexpr std::uint64_t kGranule = 16;
  static constexpr std::uint64_t kOffsetBytesPerWord = 32;  // 64 offsets of 4 bits

 private:
  class Pages;  // the memory the views share (live_bits.cc)
  LiveBits(std::shared_ptr<Pages> pages, std::uint64_t words);
  std::uint64_t exact_tail(std::uint64_t granule) const noexcept {
    const std::uint8_t pair = nibbles_ptr_[granule / 2].load(std::memory_order_relaxed);
    return granule * kGranule + ((pair >> ((granule % 2) * 4)) & 0xFu);
  }
  std::atomic<std::uint64_t>& word(std::uint64_t tail) const noexcept { return words_ptr_[tail / kGranule / 64]; }
  static std::uint64_t bit(std::uint64_t tail) noexcept { return 1ull << (tail / kGranule % 64); }

  std::shared_ptr<Pages> pages_;
  std::atomic<std::uint64_t>* words_ptr_ = nullptr;
  std::atomic<std::uint8_t>* nibbles_ptr_ = nullptr;  // words_ * 32 bytes
  std::uint64_t words_ = 0;
};

}  // namespace simd_r_drive::engine

#include "engine/live_bits.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <mutex>
#include <new>

#include "io/mapping.h"

namespace simd_r_drive::engine {

namespace {

// Sizes in words are multiples of this, so the usable part of the bits (8 bytes a
// word) and of the offsets (32 bytes a word) both end on a page boundary.
std::uint64_t words_per_page() noexcept { return io::page_size() / sizeof(std::uint64_t); }

std::uint64_t whole_pages_of_words(std::uint64_t words) noexcept {
  const std::uint64_t step = words_per_page();
  return (words + step - 1) / step * step;
}

std::uint64_t words_covering(std::uint64_t tail_capacity) noexcept {
  return whole_pages_of_words((tail_capacity / LiveBits::kGranule + 63) / 64 + 1);
}

// A new reservation holds 64 times what it must cover, and at least the words of a
// 16 GiB file (640 MiB of address space, no memory until used): a store outgrows it
// only after its file has grown 64-fold, and then the bits are copied once.
constexpr std::uint64_t kReserveFactor = 64;
constexpr std::uint64_t kMinReservedWords = std::uint64_t{1} << 24;

}  // namespace

// The memory of the bits and the offsets, shared by a LiveBits and the larger views
// grown from it. Either a reservation of address space (inaccessible pages, made
// read-write as views need them; pages never made usable cost no memory and count
// against no overcommit limit) or a fixed private mapping of a saved snapshot.
// Thread-safety: make_usable takes a lock; the words themselves are atomics.
class LiveBits::Pages {
 public:
  static std::shared_ptr<Pages> reserve(std::uint64_t words) {
    const std::uint64_t reserved = whole_pages_of_words(std::max(words * kReserveFactor, kMinReservedWords));
    const std::size_t bytes = raw_bytes(reserved);
    void* base = ::mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    auto pages = std::shared_ptr<Pages>(new Pages(static_cast<std::byte*>(base), bytes, reserved, 0));
    if (!pages->make_usable(words)) throw std::bad_alloc();
    return pages;
  }

  static std::shared_ptr<Pages> mapped(int fd, std::uint64_t offset, std::uint64_t words) {
    const std::size_t bytes = raw_bytes(words);
    void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, static_cast<off_t>(offset));
    if (base == MAP_FAILED) return nullptr;
    return std::shared_ptr<Pages>(new Pages(static_cast<std::byte*>(base), bytes, 0, words));
  }

  ~Pages() { ::munmap(base_, bytes_); }
  Pages(const Pages&) = delete;
  Pages& operator=(const Pages&) = delete;

  // The bits, then (in a reservation, after all the reserved words; in a mapping,
  // right after the words) the offsets.
  std::atomic<std::uint64_t>* words() const noexcept { return reinterpret_cast<std::atomic<std::uint64_t>*>(base_); }
  std::atomic<std::uint8_t>* offsets() const noexcept {
    const std::uint64_t words_before = reserved_words_ != 0 ? reserved_words_ : usable_words_;
    return reinterpret_cast<std::atomic<std::uint8_t>*>(base_ + words_before * sizeof(std::uint64_t));
  }

  // Makes the first `words` words usable (zeroed, as anonymous pages arrive), if the
  // reservation holds them; false if it does not, or if the pages cannot be had.
  bool make_usable(std::uint64_t words) {
    std::lock_guard lock(mutex_);
    if (words <= usable_words_) return true;
    if (words > reserved_words_) return false;
    words = whole_pages_of_words(words);
    std::byte* const offsets_base = base_ + reserved_words_ * sizeof(std::uint64_t);
    if (!protect(base_, usable_words_ * sizeof(std::uint64_t), words * sizeof(std::uint64_t)) ||
        !protect(offsets_base, usable_words_ * kOffsetBytesPerWord, words * kOffsetBytesPerWord)) {
      return false;
    }
    usable_words_ = words;
    return true;
  }

 private:
  Pages(std::byte* base, std::size_t bytes, std::uint64_t reserved_words, std::uint64_t usable_words)
      : base_(base), bytes_(bytes), reserved_words_(reserved_words), usable_words_(usable_words) {}

  // Makes [from, to) of `area` read-write; the rest stays as it was. A failure
  // (ENOMEM under strict overcommit) changes nothing the views use.
  static bool protect(std::byte* area, std::size_t from, std::size_t to) noexcept {
    return to <= from || ::mprotect(area + from, to - from, PROT_READ | PROT_WRITE) == 0;
  }

  std::byte* const base_;
  const std::size_t bytes_;
  const std::uint64_t reserved_words_;  // 0: a mapping, which never grows
  std::uint64_t usable_words_;
  std::mutex mutex_;
};

LiveBits::LiveBits(std::uint64_t tail_capacity)
    : LiveBits(Pages::reserve(words_covering(tail_capacity)), words_covering(tail_capacity)) {}

LiveBits::LiveBits(std::shared_ptr<Pages> pages, std::uint64_t words)
    : pages_(std::move(pages)), words_ptr_(pages_->words()), nibbles_ptr_(pages_->offsets()), words_(words) {}

LiveBits::~LiveBits() = default;

std::unique_ptr<LiveBits> LiveBits::mapped_from(int fd, std::uint64_t offset, std::uint64_t words) {
  std::shared_ptr<Pages> pages = Pages::mapped(fd, offset, words);
  if (!pages) return nullptr;
  return std::unique_ptr<LiveBits>(new LiveBits(std::move(pages), words));
}

void LiveBits::build_from(const std::uint64_t* tails, std::size_t count) noexcept {
  constexpr std::size_t kLookahead = 16;
  for (std::size_t i = 0; i < count; ++i) {
    if (i + kLookahead < count) {
      __builtin_prefetch(&word(tails[i + kLookahead]), 1);
      __builtin_prefetch(&nibbles_ptr_[tails[i + kLookahead] / kGranule / 2], 1);
    }
    const std::uint64_t tail = tails[i];
    std::atomic<std::uint8_t>& pair = nibbles_ptr_[tail / kGranule / 2];
    const unsigned shift = (tail / kGranule % 2) * 4;
    pair.store(static_cast<std::uint8_t>((pair.load(std::memory_order_relaxed) & ~(0xFu << shift)) |
                                         ((tail % kGranule) << shift)),
               std::memory_order_relaxed);
    std::atomic<std::uint64_t>& w = word(tail);
    w.store(w.load(std::memory_order_relaxed) | bit(tail), std::memory_order_relaxed);
  }
}

std::unique_ptr<LiveBits> LiveBits::grown(std::uint64_t tail_capacity) const {
  const std::uint64_t words = std::max(words_covering(tail_capacity), words_);
  if (pages_->make_usable(words)) return std::unique_ptr<LiveBits>(new LiveBits(pages_, words));
  auto bigger = std::make_unique<LiveBits>(tail_capacity);
  // Only the non-zero words are copied, and only the offsets of their set bits: pages
  // of either copy that hold no live entry are never touched. In a store of large
  // values most pages of the offsets are such pages, and reading them all (4/5 of the
  // bits' size) made each copy cost in proportion to the file, not to its entries.
  for (std::uint64_t w = 0; w < words_; ++w) {
    std::uint64_t bits = words_ptr_[w].load(std::memory_order_relaxed);
    if (bits == 0) continue;
    bigger->words_ptr_[w].store(bits, std::memory_order_relaxed);
    while (bits != 0) {
      // A byte holds the offsets of two neighbouring granules; copying it whole for
      // either one is exact, since an offset is only read for a set bit.
      const std::uint64_t pair = (w * 64 + static_cast<std::uint64_t>(std::countr_zero(bits))) / 2;
      bigger->nibbles_ptr_[pair].store(nibbles_ptr_[pair].load(std::memory_order_relaxed), std::memory_order_relaxed);
      bits &= bits - 1;
    }
  }
  return bigger;
}

}  // namespace simd_r_drive::engine

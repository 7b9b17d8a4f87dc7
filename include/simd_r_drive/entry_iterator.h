// Iteration over the live entries of a store: newest first, one entry per live key.
//
//   for (const simd_r_drive::EntryHandle& entry : store.iter_entries()) { ... }
//
// What a caller may keep: the reference `*it` names one handle that the iterator
// re-points at each entry, so it is valid until the next ++ and then shows the next
// entry. Copy the handle (EntryHandle kept = *it) to keep an entry: the copy is
// independent of the iterator and keeps its bytes alive like any handle. (Re-pointing
// one handle is what makes iteration cost no reference counting per entry.)
//
// The range covers the entries that existed when iter_entries() was called. Writes
// made while iterating do not disturb it: an entry overwritten or deleted after the
// range was created may be skipped, and new entries are not visited. The range keeps
// the mapping it reads from alive, so it stays valid across compact().
//
// Thread-safety: a range and its iterators belong to one thread at a time. Any
// number of threads may iterate the same store concurrently, each with its own range.
#pragma once

#include <cstddef>
#include <iterator>
#include <memory>

#include "simd_r_drive/export.h"
#include "simd_r_drive/entry_handle.h"

namespace simd_r_drive {

namespace detail {
class IterationState;  // defined in the engine
}

class SRD_API EntryIterator {
 public:
  using value_type = EntryHandle;
  using difference_type = std::ptrdiff_t;
  using reference = const EntryHandle&;
  using iterator_concept = std::input_iterator_tag;

  EntryIterator() = default;
  explicit EntryIterator(std::shared_ptr<detail::IterationState> state) noexcept
      : state_(std::move(state)) {}

  const EntryHandle& operator*() const;
  const EntryHandle* operator->() const { return &**this; }
  EntryIterator& operator++();
  void operator++(int) { ++*this; }
  friend bool operator==(const EntryIterator& it, std::default_sentinel_t) noexcept {
    return it.at_end();
  }

 private:
  bool at_end() const noexcept;
  std::shared_ptr<detail::IterationState> state_;
};

class SRD_API EntryRange {
 public:
  explicit EntryRange(std::shared_ptr<detail::IterationState> state) noexcept
      : state_(std::move(state)) {}
  // A range is single-pass: begin() may be called once.
  EntryIterator begin();
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  std::shared_ptr<detail::IterationState> state_;
};

}  // namespace simd_r_drive

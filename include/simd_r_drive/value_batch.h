// ValueBatch: the values of one batch read, as views into the store's mapping.
//
// DataStore::batch_read gives an EntryHandle per key, and each handle pins the
// mapping on its own (a reference-count update per key, made and undone). A
// ValueBatch pins the mapping once for the whole batch and holds only a view per key,
// which is what a caller that copies the values out (a network reply, a Python list
// of bytes) needs. The views stay valid for as long as the batch, or a copy of it,
// exists: after later writes, after the mapping grows, after compact(), and after
// the DataStore itself is destroyed.
//
// Thread-safety: a batch is immutable; any number of threads may read the same batch,
// or copies of it, concurrently.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "simd_r_drive/byte_view.h"
#include "simd_r_drive/export.h"

namespace simd_r_drive {

class DataStore;

class SRD_API ValueBatch {
 public:
  ValueBatch() = default;

  // One result per key asked for, in the order asked.
  std::size_t size() const noexcept { return values_.size(); }
  bool empty() const noexcept { return values_.empty(); }
  // Whether key `i` had a live value (a stored value is never empty, so an empty view
  // stands for "absent").
  bool contains(std::size_t i) const noexcept { return values_[i].size() != 0; }
  // The value of key `i`, or nullopt if it was absent. `i` must be below size().
  std::optional<ByteView> operator[](std::size_t i) const noexcept {
    if (!contains(i)) return std::nullopt;
    return values_[i];
  }
  // Every result, an empty view for an absent key.
  std::span<const ByteView> views() const noexcept { return values_; }
  // How many keys had a live value.
  std::size_t found() const noexcept { return found_; }

 private:
  friend class DataStore;
  ValueBatch(std::shared_ptr<const void> pin, std::vector<ByteView> values, std::size_t found) noexcept
      : pin_(std::move(pin)), values_(std::move(values)), found_(found) {}

  std::shared_ptr<const void> pin_;
  std::vector<ByteView> values_;
  std::size_t found_ = 0;
};

}  // namespace simd_r_drive

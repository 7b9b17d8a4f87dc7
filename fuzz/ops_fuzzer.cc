// libFuzzer target: arbitrary sequences of operations on a store, checked against a
// std::map model.
//
// The input is decoded (FuzzedDataProvider) into up to kMaxOperations operations:
// write, write_with_key_hash, batch_write (by key and by hash, with tombstones),
// write_stream from a function, an istream and another entry (with sources that
// fail part way), remove, batch_remove, rename, copy and transfer to a second store,
// compact, close and reopen (with every durability mode and snapshot setting), a
// read-only follower with refresh(), reads that keep their handles, and sync().
// Invalid calls (empty payloads, the lone byte 0x00, an all-zero stream, renaming to
// itself, a missing key) must throw the documented ErrorCode and change nothing.
//
// After every operation the store's length, tail and key set must match the model,
// and every handle kept so far must still hold its bytes; after compactions, reopens
// and at the end, the whole store is compared (fuzz_support.h: values, iteration,
// par_iter_entries, verify()).
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <sstream>
#include <streambuf>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_support.h"
#include "simd_r_drive/simd_r_drive.h"

namespace {

using simd_r_drive::ByteView;
using simd_r_drive::DataStore;
using simd_r_drive::Durability;
using simd_r_drive::EntryHandle;
using simd_r_drive::Error;
using simd_r_drive::ErrorCode;
using simd_r_drive::HashedPayload;
using simd_r_drive::OpenOptions;
using srd_fuzz::Bytes;
using srd_fuzz::hex;
using srd_fuzz::Model;

constexpr std::size_t kMaxOperations = 64;
// Payload bytes one input may write, so that each run stays fast.
constexpr std::size_t kByteBudget = 2u << 20;
constexpr std::size_t kMaxHandles = 16;
constexpr std::size_t kMaxPattern = 600000;

// Keys by name (the empty key, a NUL, binary bytes and a long one among them)...
const std::array<std::string_view, 12> kKeys = {
    "",     "a",    "b",   "key1", "key2", "key3", std::string_view("\0", 1), "\xff\xfe\x01",
    "k/1",  "k/2",  "k/3", "a key long enough to need more than one block of the hash, to be sure of it: 0123456789abcdef"};
// ...and raw hashes that only the *_with_key_hash calls use: structured ones that
// must not pile up in the index, and the extremes.
constexpr std::array<std::uint64_t, 4> kRawHashes = {0, 1, 2, ~std::uint64_t{0}};

struct SourceFailure {};  // thrown by stream sources that fail on purpose

bool valid_payload(const Bytes& value) { return !value.empty() && !(value.size() == 1 && value[0] == std::byte{0}); }
bool valid_stream(const Bytes& value) {
  return std::any_of(value.begin(), value.end(), [](std::byte b) { return b != std::byte{0}; });
}

// An istream source that hands out `value` in chunks of `chunk` bytes and fails
// (its underflow throws, which the istream turns into badbit) at byte `fail_at`.
class ChunkedBuffer : public std::streambuf {
 public:
  ChunkedBuffer(const Bytes& value, std::size_t chunk, std::size_t fail_at)
      : value_(value), chunk_(chunk), fail_at_(fail_at) {}

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    if (position_ >= fail_at_) throw SourceFailure{};
    if (position_ >= value_.size()) return traits_type::eof();
    const std::size_t n = std::min({chunk_, value_.size() - position_, fail_at_ - position_});
    char* begin = const_cast<char*>(reinterpret_cast<const char*>(value_.data() + position_));
    setg(begin, begin, begin + n);
    position_ += n;
    return traits_type::to_int_type(*begin);
  }

 private:
  const Bytes& value_;
  std::size_t chunk_;
  std::size_t fail_at_;
  std::size_t position_ = 0;
};

template <class F>
void expect_error(ErrorCode code, F&& call, const std::string& what) {
  try {
    call();
  } catch (const Error& error) {
    SRD_CHECK(error.code() == code, what + ": threw " + std::string(simd_r_drive::to_string(error.code())) + ": " + error.what());
    return;
  }
  srd_fuzz::fail(__FILE__, __LINE__, what + ": did not throw " + std::string(simd_r_drive::to_string(code)));
}

class Harness {
 public:
  explicit Harness(FuzzedDataProvider& in) : in_(in) {
    for (std::string_view key : kKeys) hashes_.push_back(DataStore::hash_key(key));
    for (std::uint64_t hash : kRawHashes) hashes_.push_back(hash);
    a_.emplace(DataStore::open(path_a_, options_a_));
    b_.emplace(DataStore::open(path_b_));
  }

  void run() {
    for (std::size_t step = 0; step < kMaxOperations && in_.remaining_bytes() > 0; ++step) {
      operation();
      check_step();
    }
    srd_fuzz::check_equals(*a_, model_a_, hashes_, "at the end");
    srd_fuzz::check_equals(*b_, model_b_, hashes_, "copy target at the end");
    if (follower_) {
      follower_->refresh();
      srd_fuzz::check_equals(*follower_, model_a_, hashes_, "follower at the end");
    }
    // Closing and reopening loses nothing.
    reopen();
    a_.reset();
    b_.reset();
    b_.emplace(DataStore::open_existing(path_b_));
    srd_fuzz::check_equals(*b_, model_b_, hashes_, "copy target reopened");
    check_handles();
  }

 private:
  // ---- inputs ---------------------------------------------------------------------

  std::size_t key_index() { return in_.ConsumeIntegralInRange<std::size_t>(0, kKeys.size() - 1); }
  // An index into hashes_: a key's hash or a raw hash.
  std::size_t hash_index() { return in_.ConsumeIntegralInRange<std::size_t>(0, hashes_.size() - 1); }

  // A slice of a fixed pseudo-random buffer: big values without a loop per byte.
  Bytes pattern(std::size_t size) {
    static const Bytes source = [] {
      Bytes bytes(kMaxPattern + 4096);
      std::uint64_t x = 0x9e3779b97f4a7c15ull;
      for (std::byte& b : bytes) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b = static_cast<std::byte>(x >> 56);
      }
      return bytes;
    }();
    const std::size_t start = in_.ConsumeIntegralInRange<std::size_t>(0, 4095);
    size = std::min(size, kMaxPattern);
    return Bytes(source.begin() + static_cast<std::ptrdiff_t>(start),
                 source.begin() + static_cast<std::ptrdiff_t>(start + size));
  }

  Bytes value() {
    Bytes out;
    switch (in_.ConsumeIntegralInRange(0, 9)) {
      case 0: break;                                       // empty: invalid
      case 1: out.push_back(std::byte{0}); break;           // the tombstone byte: invalid
      case 2: out.push_back(static_cast<std::byte>(in_.ConsumeIntegral<std::uint8_t>())); break;
      case 3: out.assign(in_.ConsumeIntegralInRange<std::size_t>(2, 100), std::byte{0}); break;  // all zero
      case 7: out = pattern(in_.ConsumeIntegralInRange<std::size_t>(1, 140000)); break;  // crosses stream chunks
      case 8:
        // Batches of 256 KiB and more take the pwritev path in the modes that sync each
        // write, the mapping in the others (the harness reopens in every mode).
        out = pattern(in_.ConsumeIntegralInRange<std::size_t>(200000, 600000));
        break;
      default: out = in_.ConsumeBytes<std::byte>(in_.ConsumeIntegralInRange<std::size_t>(1, 200)); break;
    }
    if (out.size() > budget_) out.resize(std::min<std::size_t>(budget_, 64));
    budget_ -= out.size();
    return out;
  }

  // ---- operations -----------------------------------------------------------------

  void operation() {
    switch (in_.ConsumeIntegralInRange(0, 21)) {
      case 0: case 1: write(); break;
      case 2: write_with_key_hash(); break;
      case 3: batch_write(); break;
      case 4: batch_write_with_key_hashes(); break;
      case 5: write_stream_from_function(); break;
      case 6: write_stream_from_istream(); break;
      case 7: write_stream_from_entry(); break;
      case 8: remove(); break;
      case 9: batch_remove(); break;
      case 10: rename(); break;
      case 11: copy_or_transfer(); break;
      case 12: compact(); break;
      case 13: reopen(); break;
      case 14: case 15: read_and_keep(); break;
      case 16: batch_read(); break;
      case 17: follow(); break;
      case 18: a_->sync(); break;
      case 19: srd_fuzz::check_equals(*a_, model_a_, hashes_, "on request"); break;
      case 20: read_last_entry(); break;
      default: write(); break;
    }
  }

  void wrote(std::uint64_t tail, const char* what) {
    SRD_CHECK(tail == a_->file_size(), std::string(what) + " returned " + std::to_string(tail) + ", file_size " +
                                           std::to_string(a_->file_size()));
    SRD_CHECK(tail >= tail_, std::string(what) + " shrank the store");
    tail_ = tail;
  }

  void write() {
    const std::size_t k = key_index();
    const Bytes v = value();
    if (!valid_payload(v)) {
      expect_error(ErrorCode::kInvalidArgument, [&] { a_->write(kKeys[k], v); }, "write of an invalid payload");
      return;
    }
    wrote(a_->write(kKeys[k], v), "write");
    model_a_[hashes_[k]] = v;
  }

  void write_with_key_hash() {
    const std::uint64_t hash = hashes_[hash_index()];
    const Bytes v = value();
    if (!valid_payload(v)) {
      expect_error(ErrorCode::kInvalidArgument, [&] { a_->write_with_key_hash(hash, v); }, "write_with_key_hash");
      return;
    }
    wrote(a_->write_with_key_hash(hash, v), "write_with_key_hash");
    model_a_[hash] = v;
  }

  void batch_write() {
    std::vector<std::pair<std::string_view, Bytes>> items(in_.ConsumeIntegralInRange(0, 8));
    bool valid = true;
    for (auto& [key, v] : items) {
      key = kKeys[key_index()];
      v = value();
      valid = valid && valid_payload(v);
    }
    if (!valid) {
      expect_error(ErrorCode::kInvalidArgument, [&] { a_->batch_write(items); }, "batch_write with an invalid item");
      return;
    }
    wrote(a_->batch_write(items), "batch_write");
    for (const auto& [key, v] : items) model_a_[DataStore::hash_key(key)] = v;  // the later item wins
  }

  void batch_write_with_key_hashes() {
    const bool allow_null_bytes = in_.ConsumeBool();
    std::vector<Bytes> values(in_.ConsumeIntegralInRange(0, 8));
    std::vector<HashedPayload> items;
    bool valid = true;
    for (Bytes& v : values) {
      const std::uint64_t hash = hashes_[hash_index()];
      v = value();
      const bool null_byte = v.size() == 1 && v[0] == std::byte{0};
      valid = valid && !v.empty() && (allow_null_bytes || !null_byte);
      items.push_back({hash, v});
    }
    if (!valid) {
      expect_error(ErrorCode::kInvalidArgument, [&] { a_->batch_write_with_key_hashes(items, allow_null_bytes); },
                   "batch_write_with_key_hashes with an invalid item");
      return;
    }
    wrote(a_->batch_write_with_key_hashes(items, allow_null_bytes), "batch_write_with_key_hashes");
    for (std::size_t i = 0; i < items.size(); ++i) {
      // With allow_null_bytes, the lone 0x00 is a delete of that hash.
      if (values[i].size() == 1 && values[i][0] == std::byte{0}) {
        model_a_.erase(items[i].key_hash);
      } else {
        model_a_[items[i].key_hash] = values[i];
      }
    }
  }

  // What a stream write of `v` must do, given whether its source failed.
  void after_stream(std::size_t k, const Bytes& v, bool source_failed, const std::optional<std::uint64_t>& tail,
                    const char* what) {
    if (source_failed) {
      SRD_CHECK(!tail, std::string(what) + ": the source failed, yet the write succeeded");
      SRD_CHECK(a_->file_size() == tail_, std::string(what) + ": a failed stream left bytes behind");
      return;
    }
    SRD_CHECK(tail.has_value() == valid_stream(v), std::string(what) + (tail ? " accepted" : " refused") + " a value of " +
                                                       std::to_string(v.size()) + " bytes");
    if (tail) {
      wrote(*tail, what);
      model_a_[hashes_[k]] = v;
    }
  }

  void write_stream_from_function() {
    const std::size_t k = key_index();
    const Bytes v = value();
    const auto chunk = in_.ConsumeIntegralInRange<std::size_t>(1, 70000);
    const std::size_t fail_at_call = in_.ConsumeBool() ? in_.ConsumeIntegralInRange<std::size_t>(0, 4) : SIZE_MAX;
    std::size_t position = 0;
    std::size_t calls = 0;
    bool failed = false;
    const simd_r_drive::StreamReader source = [&](std::span<std::byte> buffer) -> std::size_t {
      if (calls++ == fail_at_call) {
        failed = true;
        throw SourceFailure{};
      }
      const std::size_t n = std::min({buffer.size(), chunk, v.size() - position});
      if (n != 0) std::memcpy(buffer.data(), v.data() + position, n);
      position += n;
      return n;
    };
    std::optional<std::uint64_t> tail;
    try {
      tail = a_->write_stream(kKeys[k], source);
    } catch (const SourceFailure&) {
      SRD_CHECK(failed, "SourceFailure from nowhere");
    } catch (const Error& error) {
      SRD_CHECK(!failed && error.code() == ErrorCode::kInvalidArgument, error.what());
    }
    after_stream(k, v, failed, tail, "write_stream(function)");
  }

  void write_stream_from_istream() {
    const std::size_t k = key_index();
    const Bytes v = value();
    const auto chunk = in_.ConsumeIntegralInRange<std::size_t>(1, 70000);
    const std::size_t fail_at = in_.ConsumeBool() ? in_.ConsumeIntegralInRange<std::size_t>(0, v.size()) : SIZE_MAX;
    ChunkedBuffer buffer(v, chunk, fail_at);
    std::istream source(&buffer);
    // The istream swallows the source's exception and sets badbit, which the store
    // reports as kIo. Failing exactly at the end counts: it is a read error too.
    const bool fails = fail_at <= v.size();
    std::optional<std::uint64_t> tail;
    try {
      tail = a_->write_stream(kKeys[k], source);
    } catch (const Error& error) {
      SRD_CHECK(error.code() == (fails ? ErrorCode::kIo : ErrorCode::kInvalidArgument), error.what());
    }
    after_stream(k, v, fails, tail, "write_stream(istream)");
  }

  void write_stream_from_entry() {
    const std::size_t k = key_index();
    // From this store (the source lies in the very mapping being appended to) or
    // from the other one.
    const bool from_other = in_.ConsumeBool();
    const DataStore& from = from_other ? *b_ : *a_;
    const Model& model = from_other ? model_b_ : model_a_;
    const std::size_t source_key = key_index();
    auto handle = from.read(kKeys[source_key]);
    SRD_CHECK(handle.has_value() == model.contains(hashes_[source_key]), "read " + hex(hashes_[source_key]));
    if (!handle) return;
    const Bytes v = model.at(hashes_[source_key]);
    simd_r_drive::EntryStream stream(*handle);
    std::optional<std::uint64_t> tail;
    try {
      tail = a_->write_stream(kKeys[k], stream);
    } catch (const Error& error) {
      SRD_CHECK(error.code() == ErrorCode::kInvalidArgument, error.what());
    }
    after_stream(k, v, false, tail, "write_stream(EntryStream)");
  }

  void remove() {
    const std::size_t k = key_index();
    wrote(a_->remove(kKeys[k]), "remove");
    model_a_.erase(hashes_[k]);
  }

  void batch_remove() {
    std::vector<std::uint64_t> hashes(in_.ConsumeIntegralInRange(0, 6));
    for (std::uint64_t& hash : hashes) hash = hashes_[hash_index()];
    wrote(a_->batch_remove_key_hashes(hashes), "batch_remove_key_hashes");
    for (std::uint64_t hash : hashes) model_a_.erase(hash);
  }

  void rename() {
    const std::size_t from = key_index();
    const std::size_t to = key_index();
    if (from == to) {
      expect_error(ErrorCode::kInvalidArgument, [&] { a_->rename(kKeys[from], kKeys[to]); }, "rename to itself");
      return;
    }
    if (!model_a_.contains(hashes_[from])) {
      expect_error(ErrorCode::kNotFound, [&] { a_->rename(kKeys[from], kKeys[to]); }, "rename of a missing key");
      return;
    }
    wrote(a_->rename(kKeys[from], kKeys[to]), "rename");
    model_a_[hashes_[to]] = model_a_[hashes_[from]];
    model_a_.erase(hashes_[from]);
  }

  void copy_or_transfer() {
    const std::size_t k = key_index();
    const bool transfer = in_.ConsumeBool();
    if (!model_a_.contains(hashes_[k])) {
      expect_error(ErrorCode::kNotFound, [&] { transfer ? a_->transfer(kKeys[k], *b_) : a_->copy(kKeys[k], *b_); },
                   "copy of a missing key");
      return;
    }
    const std::uint64_t b_tail = b_->file_size();
    if (transfer) {
      wrote(a_->transfer(kKeys[k], *b_), "transfer");
    } else {
      SRD_CHECK(a_->copy(kKeys[k], *b_) == b_->file_size(), "copy returns the target's tail");
    }
    SRD_CHECK(b_->file_size() > b_tail, "copy wrote nothing");
    model_b_[hashes_[k]] = model_a_[hashes_[k]];
    if (transfer) model_a_.erase(hashes_[k]);
    // A store never copies to itself, under any name.
    expect_error(ErrorCode::kInvalidArgument, [&] { a_->copy(kKeys[k], *a_); }, "copy to the same store");
  }

  void compact() {
    const std::uint64_t before = a_->file_size();
    const std::uint64_t savings = a_->estimate_compaction_savings();
    a_->compact();
    SRD_CHECK(a_->file_size() == before - savings,
              "compacted to " + std::to_string(a_->file_size()) + ", estimated " + std::to_string(before - savings));
    tail_ = a_->file_size();
    srd_fuzz::check_equals(*a_, model_a_, hashes_, "after compact");
    // Compacting a compacted store saves nothing.
    SRD_CHECK(a_->estimate_compaction_savings() == 0, "savings after compact");
  }

  void reopen() {
    static constexpr std::array<Durability, 4> kModes = {Durability::kFlush, Durability::kSyncEachWrite,
                                                         Durability::kGroupCommit, Durability::kSyncPeriodically};
    static constexpr std::array<std::size_t, 3> kSnapshotMinKeys = {0, 65536, SIZE_MAX};
    OpenOptions options;
    options.durability = kModes[in_.ConsumeIntegralInRange<std::size_t>(0, kModes.size() - 1)];
    options.sync_interval = std::chrono::milliseconds(1);
    options.index_snapshot_min_keys = kSnapshotMinKeys[in_.ConsumeIntegralInRange<std::size_t>(0, 2)];
    a_.reset();
    // A second writer is refused while the first is open.
    a_.emplace(DataStore::open_existing(path_a_, options));
    expect_error(ErrorCode::kLocked, [&] { DataStore::open(path_a_); }, "a second writer");
    SRD_CHECK(a_->file_size() == tail_, "reopened at " + std::to_string(a_->file_size()) + ", closed at " + std::to_string(tail_));
    srd_fuzz::check_equals(*a_, model_a_, hashes_, "after reopen");
  }

  void read_and_keep() {
    const std::uint64_t hash = hashes_[hash_index()];
    auto handle = a_->read_with_key_hash(hash);
    const auto want = model_a_.find(hash);
    SRD_CHECK(handle.has_value() == (want != model_a_.end()), "read " + hex(hash));
    if (!handle) return;
    SRD_CHECK(srd_fuzz::same(handle->as_slice(), want->second), "read " + hex(hash) + " bytes");
    SRD_CHECK(handle->start_offset() % simd_r_drive::kPayloadAlignment == 0, "payload not aligned");
    SRD_CHECK(handle->is_valid_checksum(), "read " + hex(hash) + " checksum");
    if (handles_.size() == kMaxHandles) handles_.erase(handles_.begin());
    handles_.emplace_back(*handle, want->second);
  }

  void batch_read() {
    std::vector<std::uint64_t> hashes(in_.ConsumeIntegralInRange(0, 8));
    for (std::uint64_t& hash : hashes) hash = hashes_[hash_index()];
    const auto results = a_->batch_read_hashed_keys(hashes);
    SRD_CHECK(results.size() == hashes.size(), "batch_read size");
    for (std::size_t i = 0; i < hashes.size(); ++i) {
      const auto want = model_a_.find(hashes[i]);
      SRD_CHECK(results[i].has_value() == (want != model_a_.end()), "batch_read " + hex(hashes[i]));
      if (results[i]) SRD_CHECK(srd_fuzz::same(results[i]->as_slice(), want->second), "batch_read " + hex(hashes[i]) + " bytes");
    }
  }

  void read_last_entry() {
    const auto last = a_->read_last_entry();
    SRD_CHECK(last.has_value() == (tail_ != 0), "read_last_entry");
    if (last) SRD_CHECK(last->end_offset() + simd_r_drive::kMetadataSize == tail_ && last->is_valid_checksum(), "last entry");
  }

  // A read-only follower: opened, or refreshed; it must then hold what the writer holds.
  void follow() {
    if (!follower_ || in_.ConsumeBool()) {
      follower_.reset();
      OpenOptions options;
      options.read_only = true;
      follower_.emplace(DataStore::open_existing(path_a_, options));
      SRD_CHECK(follower_->is_read_only(), "read_only");
      expect_error(ErrorCode::kInvalidArgument, [&] { follower_->write("x", "y"); }, "a write to a reader");
    } else {
      const std::uint64_t tail = follower_->refresh();
      SRD_CHECK(tail == tail_, "refresh returned " + std::to_string(tail) + ", the writer is at " + std::to_string(tail_));
    }
    follower_model_ = model_a_;
    srd_fuzz::check_equals(*follower_, follower_model_, hashes_, "follower");
  }

  // ---- checks -------------------------------------------------------------------

  void check_handles() const {
    for (const auto& [handle, bytes] : handles_) SRD_CHECK(srd_fuzz::same(handle.as_slice(), bytes), "a kept handle changed");
  }

  void check_step() {
    SRD_CHECK(a_->len() == model_a_.size(), "len " + std::to_string(a_->len()) + ", model " + std::to_string(model_a_.size()));
    SRD_CHECK(a_->file_size() == tail_, "file_size " + std::to_string(a_->file_size()) + ", expected " + std::to_string(tail_));
    for (std::uint64_t hash : hashes_) {
      SRD_CHECK(a_->exists_with_key_hash(hash) == model_a_.contains(hash), "exists " + hex(hash));
    }
    SRD_CHECK(b_->len() == model_b_.size(), "copy target len");
    // A follower sees nothing new until it refreshes.
    if (follower_) SRD_CHECK(follower_->len() == follower_model_.size(), "follower len before refresh");
    check_handles();
  }

  FuzzedDataProvider& in_;
  std::filesystem::path path_a_ = srd_fuzz::Scratch::file("a.bin");
  std::filesystem::path path_b_ = srd_fuzz::Scratch::file("b.bin");
  OpenOptions options_a_;
  std::optional<DataStore> a_;
  std::optional<DataStore> b_;
  std::optional<DataStore> follower_;
  Model model_a_;
  Model model_b_;
  Model follower_model_;
  std::uint64_t tail_ = 0;
  std::vector<std::uint64_t> hashes_;
  std::vector<std::pair<EntryHandle, Bytes>> handles_;
  std::size_t budget_ = kByteBudget;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  srd_fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  srd_fuzz::Scratch::clear();
  FuzzedDataProvider in(data, size);
  {
    Harness harness(in);
    harness.run();
  }
  srd_fuzz::Scratch::clear();
  return 0;
}

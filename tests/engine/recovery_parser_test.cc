// Malformed input for the recovery parser (engine::find_valid_tail), in the spirit of
// leveldb's log_test: byte images built by hand, entry by entry, with one defect each.
// Every image is handed over in an exactly-sized heap buffer, so under ASan any read
// outside [0, file_len) fails the test. Each case asserts the exact valid tail and,
// where it matters, the chain.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/recovery.h"
#include "format/checksum.h"
#include "format/entry_layout.h"
#include "simd_r_drive/byte_view.h"
#include "simd_r_drive/entry_metadata.h"
#include "test_support.h"

namespace {

using simd_r_drive::ByteView;
using simd_r_drive::engine::find_valid_tail;
using simd_r_drive::engine::RecoveryResult;
using simd_r_drive::format::kTombstoneChecksum;
using simd_r_drive::format::prepad;
using srd_test::pattern_bytes;

using Bytes = std::vector<std::byte>;
using Tails = std::vector<std::uint64_t>;
constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

std::uint32_t crc(ByteView bytes) { return simd_r_drive::format::crc32_extend(0, bytes.data(), bytes.size()); }

Bytes text(std::string_view s) { return srd_test::bytes_of(s); }

Bytes u64_le(std::uint64_t v) {
  Bytes out(8);
  simd_r_drive::format::store_u64_le(out.data(), v);
  return out;
}

Bytes concat(const Bytes& a, const Bytes& b) {
  Bytes out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

Bytes repeated(const Bytes& unit, std::size_t len) {
  Bytes out(len);
  for (std::size_t i = 0; i < len; ++i) out[i] = unit[i % unit.size()];
  return out;
}

// A file image, appended to the way the writer appends, or byte by byte.
class Image {
 public:
  std::uint64_t size() const { return bytes_.size(); }
  const Bytes& bytes() const { return bytes_; }
  Bytes& bytes() { return bytes_; }

  // pre-pad, payload, record with prev = the tail before: a well-formed entry.
  std::uint64_t entry(std::uint64_t key_hash, ByteView payload) {
    const std::uint64_t prev = size();
    zeros(prepad(prev));
    raw(payload);
    return record(key_hash, prev, crc(payload));
  }
  // A delete marker: 0x00, no pre-pad, record with the tombstone checksum.
  std::uint64_t tombstone(std::uint64_t key_hash) {
    const std::uint64_t prev = size();
    bytes_.push_back(std::byte{0});
    return record(key_hash, prev, kTombstoneChecksum);
  }
  // A tombstone written with a pre-pad (writers never do; readers accept it).
  std::uint64_t prepadded_tombstone(std::uint64_t key_hash) {
    const std::uint64_t prev = size();
    zeros(prepad(prev));
    bytes_.push_back(std::byte{0});
    return record(key_hash, prev, kTombstoneChecksum);
  }
  // A bare 20-byte record; returns its tail.
  std::uint64_t record(std::uint64_t key_hash, std::uint64_t prev, std::uint32_t checksum) {
    const std::size_t at = bytes_.size();
    bytes_.resize(at + simd_r_drive::kMetadataSize);
    simd_r_drive::format::encode_metadata(bytes_.data() + at, {key_hash, prev, checksum});
    return size();
  }
  void raw(ByteView data) { bytes_.insert(bytes_.end(), data.span().begin(), data.span().end()); }
  void zeros(std::size_t n) { bytes_.resize(bytes_.size() + n, std::byte{0}); }
  void zeros_to(std::uint64_t offset) {
    if (offset > size()) zeros(offset - size());
  }
  // The CRC of [from, size()): for records whose checksum must match what a reader
  // derives, whatever the defect elsewhere.
  std::uint32_t crc_from(std::uint64_t from) const { return crc(ByteView(bytes_.data() + from, size() - from)); }

 private:
  Bytes bytes_;
};

// find_valid_tail over an exactly-sized heap copy of the first `len` bytes.
RecoveryResult recover(const Bytes& bytes, std::uint64_t len) {
  std::unique_ptr<std::byte[]> copy(new std::byte[len]);
  if (len != 0) std::memcpy(copy.get(), bytes.data(), len);
  return find_valid_tail(copy.get(), len);
}
RecoveryResult recover(const Image& image) { return recover(image.bytes(), image.size()); }

std::uint64_t work(const RecoveryResult& r) {
  return r.stats.candidates_examined + r.stats.chain_steps + r.stats.checksum_bytes;
}

std::string stats_of(const RecoveryResult& r) {
  return "candidates " + std::to_string(r.stats.candidates_examined) + ", chain steps " +
         std::to_string(r.stats.chain_steps) + ", checksum bytes " + std::to_string(r.stats.checksum_bytes);
}

// Recovers `image` and checks the tail, the chain and the work bound.
void expect_recovers(const Image& image, std::uint64_t want_tail, const Tails& want_chain) {
  const RecoveryResult r = recover(image);
  EXPECT_EQ(r.valid_tail, want_tail);
  EXPECT_EQ(r.chain_tails, want_chain);
  EXPECT_LE(work(r), 8 * image.size() + 4096) << stats_of(r);
}

// For every cut of `image`, the tail must be the largest of `legit` (ascending tails
// of a chain from 0) not above the cut, and the chain the legit tails below it.
void expect_every_cut(const Image& image, const Tails& legit) {
  int failures = 0;
  for (std::uint64_t cut = 0; cut <= image.size() && failures < 8; ++cut) {
    Tails want_chain;
    for (auto it = legit.rbegin(); it != legit.rend(); ++it) {
      if (*it <= cut) want_chain.push_back(*it);
    }
    const std::uint64_t want = want_chain.empty() ? 0 : want_chain.front();
    const RecoveryResult r = recover(image.bytes(), cut);
    if (r.valid_tail != want || r.chain_tails != want_chain || work(r) > 8 * cut + 4096) {
      ++failures;
      ADD_FAILURE() << "cut at " << cut << ": valid_tail " << r.valid_tail << " (want " << want << "), "
                    << r.chain_tails.size() << " chain tails (want " << want_chain.size() << "), work " << work(r)
                    << " (bound " << 8 * cut + 4096 << "; " << stats_of(r) << ")";
    }
  }
}

// ---- sizes and single entries ----------------------------------------------------

TEST(RecoveryParser, EmptyAndTinyBuffers) {
  EXPECT_EQ(find_valid_tail(nullptr, 0).valid_tail, 0u);
  EXPECT_TRUE(find_valid_tail(nullptr, 0).chain_tails.empty());
  for (std::uint64_t len = 1; len <= 20; ++len) {
    SCOPED_TRACE(len);
    EXPECT_EQ(recover(Bytes(len, std::byte{0xFF}), len).valid_tail, 0u);
    EXPECT_EQ(recover(Bytes(len, std::byte{0}), len).valid_tail, 0u);
  }
  // The smallest entry: one byte and its record.
  Image image;
  EXPECT_EQ(image.entry(7, text("a")), 21u);
  expect_recovers(image, 21, {21});
  expect_every_cut(image, {21});
}

TEST(RecoveryParser, CleanStoreOfManyShapes) {
  Image image;
  Tails tails;
  tails.push_back(image.entry(1, text("a")));
  tails.push_back(image.entry(2, pattern_bytes(63)));
  tails.push_back(image.tombstone(1));
  tails.push_back(image.entry(3, pattern_bytes(64)));
  tails.push_back(image.entry(4, pattern_bytes(65)));
  tails.push_back(image.tombstone(2));
  tails.push_back(image.tombstone(3));
  tails.push_back(image.entry(5, pattern_bytes(200)));
  const RecoveryResult r = recover(image);
  EXPECT_EQ(r.valid_tail, image.size());
  EXPECT_EQ(r.chain_tails, Tails(tails.rbegin(), tails.rend()));
  EXPECT_EQ(r.stats.candidates_examined, 1u);
  expect_every_cut(image, tails);
}

// ---- back-links that cannot be -----------------------------------------------------

// The last record's prev points at or past itself.
TEST(RecoveryParser, PrevOffsetForwardOrSelf) {
  for (std::uint64_t prev : {65ull, 66ull, 67ull, 85ull, 86ull, 87ull, 1000ull, 1ull << 40}) {
    SCOPED_TRACE("prev " + std::to_string(prev));
    Image image;
    image.entry(1, text("a"));  // tail 21
    image.zeros_to(64);
    image.raw(text("bb"));  // 64..66, record at 66, tail 86
    image.record(2, prev, crc(text("bb")));
    ASSERT_EQ(image.size(), 86u);
    expect_recovers(image, 21, {21});
  }
}

// A middle record that points at itself, with a well-formed entry after it.
TEST(RecoveryParser, MiddleRecordPointsAtItself) {
  Image image;
  image.entry(1, text("a"));  // 21
  image.raw(text("junk"));     // 21..25
  const std::uint64_t self = image.record(9, 45, 0);
  ASSERT_EQ(self, 45u);
  image.entry(3, text("payload after a self loop"));  // prev = 45
  expect_recovers(image, 21, {21});
  expect_every_cut(image, {21});
}

// prev values near 2^64: prev + pre-pad overflows; nothing may be read out of bounds.
TEST(RecoveryParser, PrevOffsetNearMax) {
  const std::uint64_t huge[] = {kMax, kMax - 1, kMax - 19, kMax - 20, kMax - 63, kMax - 64, 1ull << 63, 1ull << 48};
  for (std::uint64_t prev : huge) {
    SCOPED_TRACE("prev " + std::to_string(prev));
    {  // as the last record
      Image image;
      image.entry(1, text("a"));
      image.zeros_to(64);
      image.raw(text("bb"));
      image.record(2, prev, crc(text("bb")));
      expect_recovers(image, 21, {21});
    }
    {  // as a middle record, reached from a well-formed last entry
      Image image;
      image.entry(1, text("a"));
      image.raw(text("x"));
      const std::uint64_t middle = image.record(2, prev, crc(text("x")));
      image.entry(3, text("last"));
      ASSERT_GT(image.size(), middle);
      expect_recovers(image, 21, {21});
    }
    {  // as the only record, in a file of exactly 21 and of 20 bytes
      Image image;
      image.raw(text("z"));
      image.record(4, prev, crc(text("z")));
      expect_recovers(image, 0, {});
      Bytes short_one(image.bytes().begin() + 1, image.bytes().end());
      EXPECT_EQ(recover(short_one, short_one.size()).valid_tail, 0u);
    }
  }
}

// A non-zero back-link below the smallest possible tail (21) cannot be an entry's.
TEST(RecoveryParser, PrevOffsetBelowMinimumTail) {
  for (std::uint64_t prev : {1ull, 5ull, 19ull, 20ull}) {
    SCOPED_TRACE("prev " + std::to_string(prev));
    Image image;
    image.entry(1, text("a"));
    image.zeros_to(64);
    image.raw(text("cc"));
    // prev + pre-pad is 64 for these: the checksum is the one a reader would derive.
    image.record(2, prev, crc(text("cc")));
    expect_recovers(image, 21, {21});
  }
}

// A back-link into the middle of an older payload (not an entry boundary), with the
// checksum of the payload range a reader would derive from it.
TEST(RecoveryParser, PrevOffsetIntoAPayload) {
  Image image;
  const std::uint64_t t1 = image.entry(1, pattern_bytes(100));  // 0..100, tail 120
  image.zeros_to(128);
  image.raw(text("dangling"));
  // prev 60 derives the payload [64, metadata offset): make its checksum match.
  image.record(2, 60, image.crc_from(64));
  expect_recovers(image, t1, {t1});
}

// ---- empty payloads and misplaced payloads ----------------------------------------

TEST(RecoveryParser, EmptyPayloadClaims) {
  {  // the record sits exactly where the payload would start: zero bytes of payload
    Image image;
    image.entry(1, text("a"));
    image.zeros_to(64);
    image.record(2, 21, crc(ByteView{}));
    expect_recovers(image, 21, {21});
  }
  {  // a lone record at offset 0
    Image image;
    image.record(1, 0, 0);
    expect_recovers(image, 0, {});
    image.raw(text("trailing"));
    expect_recovers(image, 0, {});
  }
  {  // a record whose prev equals its own offset
    Image image;
    image.entry(1, text("a"));
    image.record(2, 21, crc(ByteView{}));
    expect_recovers(image, 21, {21});
  }
}

// A one-byte non-zero payload written without its pre-pad: not where a reader looks.
TEST(RecoveryParser, UnpaddedPayloadIsNotAnEntry) {
  Image image;
  image.entry(1, text("a"));  // 21
  image.raw(text("Z"));        // 21, no pre-pad
  image.record(2, 21, crc(text("Z")));
  expect_recovers(image, 21, {21});
}

// ---- checksums ---------------------------------------------------------------------

TEST(RecoveryParser, WrongChecksumOnLastEntryDropsIt) {
  auto base = [](Tails& tails) {
    Image image;
    tails.push_back(image.entry(1, text("one")));
    tails.push_back(image.entry(2, pattern_bytes(70)));
    tails.push_back(image.entry(3, text("three")));
    return image;
  };
  {
    Tails tails;
    Image image = base(tails);
    image.zeros_to(image.size() + prepad(image.size()));
    image.raw(text("four"));
    image.record(4, tails.back(), crc(text("four")) ^ 1u);
    expect_recovers(image, tails.back(), Tails(tails.rbegin(), tails.rend()));
  }
  {  // a flipped payload byte
    Tails tails;
    Image image = base(tails);
    image.entry(4, pattern_bytes(150));
    image.bytes()[image.size() - 21] ^= std::byte{0x40};
    expect_recovers(image, tails.back(), Tails(tails.rbegin(), tails.rend()));
  }
  {  // a tombstone with the wrong checksum
    Tails tails;
    Image image = base(tails);
    image.bytes().push_back(std::byte{0});
    image.record(1, tails.back(), kTombstoneChecksum ^ 0x80000000u);
    expect_recovers(image, tails.back(), Tails(tails.rbegin(), tails.rend()));
  }
  {  // a one-byte payload 0x00 is a tombstone only with the tombstone checksum
    Tails tails;
    Image image = base(tails);
    image.bytes().push_back(std::byte{0});
    image.record(1, tails.back(), 0);
    expect_recovers(image, tails.back(), Tails(tails.rbegin(), tails.rend()));
  }
}

// Bit rot in a middle entry is verify()'s business, not recovery's: the file stays whole.
TEST(RecoveryParser, WrongChecksumInMiddleKeepsFile) {
  Image image;
  Tails tails;
  tails.push_back(image.entry(1, text("first entry")));
  tails.push_back(image.entry(2, pattern_bytes(90)));
  tails.push_back(image.entry(3, pattern_bytes(33)));
  tails.push_back(image.entry(4, text("last, intact")));
  image.bytes()[1] ^= std::byte{1};    // payload of entry 1
  image.bytes()[70] ^= std::byte{2};   // payload of entry 2 (64..154)
  const std::uint64_t crc3 = tails[2] - 4;
  image.bytes()[crc3] ^= std::byte{4};  // stored checksum of entry 3
  expect_recovers(image, image.size(), Tails(tails.rbegin(), tails.rend()));
}

// A broken back-link in the middle cannot be walked over: recovery falls back to the
// last tail below the break.
TEST(RecoveryParser, BrokenLinkInMiddleFallsBackBelowIt) {
  Image image;
  Tails tails;
  tails.push_back(image.entry(1, text("first entry")));
  tails.push_back(image.entry(2, pattern_bytes(90)));
  tails.push_back(image.entry(3, pattern_bytes(33)));
  tails.push_back(image.entry(4, text("last")));
  // Entry 2's prev field (at its record + 8) now points past itself.
  simd_r_drive::format::store_u64_le(image.bytes().data() + tails[1] - 20 + 8, kMax - 5);
  expect_recovers(image, tails[0], {tails[0]});
}

// ---- tombstones ----------------------------------------------------------------------

TEST(RecoveryParser, TombstoneAsFirstEntry) {
  Image image;
  EXPECT_EQ(image.tombstone(0x1234), 21u);
  ASSERT_EQ(image.bytes()[0], std::byte{0});
  expect_recovers(image, 21, {21});
  const std::uint64_t t2 = image.entry(5, text("after a first tombstone"));
  expect_recovers(image, t2, {t2, 21});
  expect_every_cut(image, {21, t2});

  Image wrong;
  wrong.bytes().push_back(std::byte{0});
  wrong.record(0x1234, 0, kTombstoneChecksum ^ 1u);
  expect_recovers(wrong, 0, {});
}

TEST(RecoveryParser, UnpaddedTombstoneAfterEntry) {
  Image image;
  const std::uint64_t t1 = image.entry(1, text("a"));
  const std::uint64_t t2 = image.tombstone(1);
  ASSERT_EQ(t2, 42u);
  expect_recovers(image, t2, {t2, t1});
  const std::uint64_t t3 = image.entry(2, text("b"));
  expect_every_cut(image, {t1, t2, t3});
}

TEST(RecoveryParser, PrePaddedTombstone) {
  Image image;
  const std::uint64_t t1 = image.entry(1, text("a"));
  const std::uint64_t t2 = image.prepadded_tombstone(1);
  ASSERT_EQ(t2, 85u);  // zeros 21..64, 0x00 at 64, record 65..85
  expect_recovers(image, t2, {t2, t1});
  const std::uint64_t t3 = image.entry(2, text("after"));
  expect_recovers(image, t3, {t3, t2, t1});
  expect_every_cut(image, {t1, t2, t3});

  Image wrong;
  wrong.entry(1, text("a"));
  wrong.zeros_to(64);
  wrong.bytes().push_back(std::byte{0});
  wrong.record(1, 21, kTombstoneChecksum ^ 0x100u);
  expect_recovers(wrong, 21, {21});
}

// ---- payloads that look like the format -------------------------------------------

Image inner_store(Tails& tails) {
  Image inner;
  tails.push_back(inner.entry(0x51, text("inner-one")));  // 29
  tails.push_back(inner.entry(0x52, pattern_bytes(100)));
  tails.push_back(inner.tombstone(0x51));
  tails.push_back(inner.entry(0x53, text("inner-three")));
  tails.push_back(inner.prepadded_tombstone(0x53));
  tails.push_back(inner.entry(0x54, pattern_bytes(70)));
  return inner;
}

// A whole store as the first entry's payload. Its bytes start at offset 0, so each
// inner tail T makes [0, T) a genuine store: those are legitimate recovery points,
// exactly as if the inner store had been written directly.
TEST(RecoveryParser, NestedStoreAsFirstPayload) {
  Tails inner_tails;
  const Image inner = inner_store(inner_tails);
  Image image;
  Tails outer;
  outer.push_back(image.entry(0xA1, inner.bytes()));
  outer.push_back(image.entry(0xA2, text("after the nested store")));
  outer.push_back(image.tombstone(0xA1));
  outer.push_back(image.entry(0xA3, pattern_bytes(300)));
  expect_recovers(image, image.size(), Tails(outer.rbegin(), outer.rend()));

  // Legitimate points: the outer tails, and the inner tails (all below the first outer one).
  Tails legit = inner_tails;
  legit.insert(legit.end(), outer.begin(), outer.end());
  ASSERT_TRUE(std::is_sorted(legit.begin(), legit.end()));
  // Below the first outer tail, the chain is the inner one.
  int failures = 0;
  for (std::uint64_t cut = 0; cut <= image.size() && failures < 8; ++cut) {
    std::uint64_t want = 0;
    for (std::uint64_t t : legit) {
      if (t <= cut) want = t;
    }
    Tails want_chain;
    const Tails& chain_source = want >= outer.front() ? outer : inner_tails;
    for (auto it = chain_source.rbegin(); it != chain_source.rend(); ++it) {
      if (*it <= want) want_chain.push_back(*it);
    }
    const RecoveryResult r = recover(image.bytes(), cut);
    if (r.valid_tail != want || r.chain_tails != want_chain) {
      ++failures;
      ADD_FAILURE() << "cut at " << cut << ": valid_tail " << r.valid_tail << " (want " << want << ")";
    }
  }
}

// The same store nested as the payload of a later entry: none of its records is where
// its back-links say, so no inner tail is ever a recovery point. The outer first entry
// is a byte copy of the inner first entry, so inner back-links to it are well formed:
// only the checksum can reject them.
TEST(RecoveryParser, NestedStoreAfterFirstEntry) {
  Tails inner_tails;
  const Image inner = inner_store(inner_tails);
  Image image;
  Tails outer;
  outer.push_back(image.entry(0x51, text("inner-one")));  // same bytes as the inner first entry
  ASSERT_EQ(outer.front(), inner_tails.front());
  outer.push_back(image.entry(0xA1, inner.bytes()));      // payload at 64
  outer.push_back(image.entry(0xA2, text("after")));
  outer.push_back(image.entry(0xA3, inner.bytes()));      // and once more, unaligned tail before it
  outer.push_back(image.tombstone(0xA2));
  expect_recovers(image, image.size(), Tails(outer.rbegin(), outer.rend()));
  expect_every_cut(image, outer);
}

TEST(RecoveryParser, AllZeroPayloads) {
  Image image;
  Tails tails;
  tails.push_back(image.entry(0, Bytes(100)));  // key hash 0, payload of zeros
  tails.push_back(image.entry(5, Bytes(2)));
  tails.push_back(image.entry(0, Bytes(64)));
  tails.push_back(image.entry(6, Bytes(1000)));
  tails.push_back(image.entry(7, text("end")));
  expect_recovers(image, image.size(), Tails(tails.rbegin(), tails.rend()));
  expect_every_cut(image, tails);
  // Followed by a zero-filled region (preallocation left by a crash).
  Image padded = image;
  padded.zeros(5000);
  expect_recovers(padded, image.size(), Tails(tails.rbegin(), tails.rend()));
}

// An entry whose record ends in zero bytes (its checksum's high bytes are 0),
// followed by zeros: the zero-tail skip must not cut into the record.
TEST(RecoveryParser, RecordEndingInZeroBytesBeforeZeroTail) {
  Bytes payload;
  for (std::uint64_t i = 0;; ++i) {
    payload = u64_le(i);
    if ((crc(payload) & 0xFFFF0000u) == 0) break;
    ASSERT_LT(i, 10'000'000u);
  }
  Image image;
  const std::uint64_t t1 = image.entry(1, text("first"));
  const std::uint64_t t2 = image.entry(0, payload);
  ASSERT_EQ(image.bytes()[t2 - 1], std::byte{0});
  ASSERT_EQ(image.bytes()[t2 - 2], std::byte{0});
  expect_recovers(image, t2, {t2, t1});
  for (std::size_t zeros : {1u, 2u, 3u, 19u, 20u, 21u, 64u, 4096u}) {
    SCOPED_TRACE(zeros);
    Image padded = image;
    padded.zeros(zeros);
    expect_recovers(padded, t2, {t2, t1});
  }
  expect_every_cut(image, {t1, t2});
}

// Payloads made of a u64 equal to an earlier tail (or 0, the start): every 8 bytes a
// candidate whose back-link is a real tail. Only the checksum tells them apart.
TEST(RecoveryParser, PayloadsRepeatingTailValues) {
  Image image;
  Tails tails;
  tails.push_back(image.entry(1, text("first")));
  tails.push_back(image.entry(2, repeated(u64_le(tails[0]), 512)));
  tails.push_back(image.entry(3, repeated(u64_le(0), 256)));
  tails.push_back(image.entry(4, repeated(u64_le(tails[1]), 524)));
  Bytes record_like(20);
  simd_r_drive::format::encode_metadata(record_like.data(), {9, tails[2], 0x12345678u});
  tails.push_back(image.entry(5, repeated(record_like, 400)));
  tails.push_back(image.entry(6, repeated(concat(u64_le(0), u64_le(tails[3])), 333)));
  expect_recovers(image, image.size(), Tails(tails.rbegin(), tails.rend()));
  expect_every_cut(image, tails);
}

// Back-links forming a cycle through garbage records: every walk must end, and the
// good prefix survives.
TEST(RecoveryParser, LoopingCandidateChain) {
  Image image;
  const std::uint64_t t1 = image.entry(1, text("a"));  // 21
  // A at tail 45 points forward to B (86); B at 86 points back to A: a cycle.
  image.raw(text("AAAA"));
  const std::uint64_t a = image.record(0xA, 86, crc(text("AAAA")));
  ASSERT_EQ(a, 45u);
  image.zeros_to(64);
  image.raw(text("BB"));
  const std::uint64_t b = image.record(0xB, a, crc(text("BB")));
  ASSERT_EQ(b, 86u);
  // Several well-formed entries that lead into the cycle.
  image.entry(0xC, text("into the loop"));
  for (int i = 0; i < 5; ++i) {
    const std::uint64_t prev = b;
    image.zeros_to(image.size() + prepad(image.size()));
    const Bytes payload = pattern_bytes(10 + i);
    // prev points at B whatever the real previous tail is; checksum of the derived range.
    image.raw(payload);
    image.record(0xD0 + i, prev, 0);
    const std::uint64_t metadata_offset = image.size() - 20;
    const std::uint64_t start = prev + prepad(prev);
    simd_r_drive::format::store_u32_le(
        image.bytes().data() + metadata_offset + 16,
        crc(ByteView(image.bytes().data() + start, metadata_offset - start)));
  }
  expect_recovers(image, t1, {t1});
  expect_every_cut(image, {t1});
}

// Many candidates sharing one long broken chain: memoised walks keep the work linear.
TEST(RecoveryParser, ManyCandidatesOnOneBrokenChain) {
  Image image;
  Tails good;
  good.push_back(image.entry(1, text("root")));
  std::uint64_t broken_at = 0;
  for (int i = 0; i < 400; ++i) {
    const std::uint64_t t = image.entry(100 + i, pattern_bytes(5 + i % 50));
    if (i == 3) {  // break entry 4's record: prev points forward
      broken_at = t;
      simd_r_drive::format::store_u64_le(image.bytes().data() + t - 12, t);
    }
    if (i < 3) good.push_back(t);
  }
  ASSERT_NE(broken_at, 0u);
  // Now 256 KiB of records, each pointing at the newest entry (a chain of 396 links
  // that ends in the break).
  const std::uint64_t newest = image.size();
  Bytes record_like(20);
  simd_r_drive::format::encode_metadata(record_like.data(), {0x77, newest, 0});
  image.raw(repeated(record_like, 256u << 10));
  const RecoveryResult r = recover(image);
  EXPECT_EQ(r.valid_tail, good.back());
  EXPECT_EQ(r.chain_tails, Tails(good.rbegin(), good.rend()));
  EXPECT_LE(work(r), 8 * image.size() + 4096) << stats_of(r);
}

}  // namespace

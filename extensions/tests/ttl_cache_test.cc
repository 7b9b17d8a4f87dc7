// The TTL cache (ttl_cache.h): every case of the original's storage_cache_tests on an
// injected clock (no sleeps), and what it adds: reads that expire every time,
// ttl_remaining, the registry, purge_expired and compaction dropping expired values,
// and purge never touching a value that only looks like a TTL value.
#include <gtest/gtest.h>

#include <simd_r_drive/extensions/extensions.h>
#include <simd_r_drive/simd_r_drive.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

namespace {

namespace ext = simd_r_drive::extensions;
using simd_r_drive::ByteView;
using simd_r_drive::DataStore;
using simd_r_drive::NamespaceHasher;
using srd_test::code_of;
using srd_test::from_hex;
using srd_test::to_hex;
using State = ext::TtlRemaining::State;

struct TestData {
  std::uint32_t id;
  std::uint32_t score;
  friend bool operator==(const TestData&, const TestData&) = default;
};

std::vector<std::byte> le64(std::uint64_t value) {
  std::vector<std::byte> bytes(8);
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::byte>(value >> (8 * i));
  return bytes;
}

std::vector<std::byte> concat(std::vector<std::byte> a, ByteView b) {
  a.insert(a.end(), b.data(), b.data() + b.size());
  return a;
}

// The documented construction, written out here rather than taken from the library:
// the TTL key under F7 "ttl" FD, the registry key under F7 "ttl-reg" FD over the TTL
// entry's key hash.
std::array<std::byte, 16> documented_ttl_key(std::string_view key) {
  return NamespaceHasher(ByteView(from_hex("f774746cfd"))).namespace_key(key);
}
std::uint64_t documented_registry_hash(std::string_view key) {
  const std::uint64_t ttl_hash = DataStore::hash_key(documented_ttl_key(key));
  return DataStore::hash_key(NamespaceHasher(ByteView(from_hex("f774746c2d726567fd"))).namespace_key(le64(ttl_hash)));
}

class TtlTest : public ::testing::Test {
 protected:
  ext::TtlCache cache(std::uint64_t* clock) { return ext::TtlCache(store_, [clock] { return *clock; }); }

  std::uint64_t now_ = 1'700'000'000;
  srd_test::TempDir dir_;
  DataStore store_ = DataStore::open(dir_.file("ttl.bin"));
  ext::TtlCache cache_ = cache(&now_);
};

// ---- the original's cases (storage_cache_tests.rs), on the injected clock ----

TEST_F(TtlTest, WriteAndReadWithValidTtl) {
  cache_.write("valid_ttl_key", TestData{100, 5}, 5);
  EXPECT_EQ(cache_.read<TestData>("valid_ttl_key"), std::optional<TestData>({100, 5}));
}

TEST_F(TtlTest, TtlExpiration) {
  cache_.write("expired_ttl_key", TestData{200, 1}, 2);
  now_ += 3;
  EXPECT_EQ(cache_.read<TestData>("expired_ttl_key"), std::nullopt);
}

TEST_F(TtlTest, TtlDoesNotAffectOtherKeys) {
  cache_.write("persistent_key", TestData{1, 1}, 10);
  cache_.write("expiring_key", TestData{2, 2}, 2);
  now_ += 3;
  EXPECT_EQ(cache_.read<TestData>("persistent_key"), std::optional<TestData>({1, 1}));
  EXPECT_EQ(cache_.read<TestData>("expiring_key"), std::nullopt);
}

// The original answers NotFound; here a missing key reads as absent, like an expired one.
TEST_F(TtlTest, ReadingAKeyNeverWrittenIsAbsent) {
  EXPECT_EQ(cache_.read<TestData>("missing_key"), std::nullopt);
  EXPECT_EQ(cache_.ttl_remaining("missing_key"), ext::TtlRemaining{});
}

TEST_F(TtlTest, MultipleWritesAndExpirations) {
  cache_.write("short_ttl", TestData{10, 0}, 1);
  cache_.write("long_ttl", TestData{20, 0}, 5);
  now_ += 2;
  EXPECT_EQ(cache_.read<TestData>("short_ttl"), std::nullopt);
  EXPECT_EQ(cache_.read<TestData>("long_ttl"), std::optional<TestData>({20, 0}));
}

// The original: an error (the plain key is not under the TTL namespace, so NotFound).
// Here: absent, as for any key with no TTL value.
TEST_F(TtlTest, APlainValueIsNotATtlValue) {
  store_.write("regular_write_key", ext::encode(TestData{300, 0}));
  EXPECT_EQ(cache_.read<TestData>("regular_write_key"), std::nullopt);
  EXPECT_EQ(cache_.ttl_remaining("regular_write_key").state, State::kAbsent);
}

TEST_F(TtlTest, WriteAndReadOptionWithTtl) {
  using Opt = std::optional<TestData>;
  cache_.write("ttl_some_key", Opt(TestData{101, 7}), 2);
  cache_.write("ttl_none_key", Opt(), 2);
  EXPECT_EQ(cache_.read<Opt>("ttl_some_key"), std::optional<Opt>(Opt(TestData{101, 7})));
  EXPECT_EQ(cache_.read<Opt>("ttl_none_key"), std::optional<Opt>(Opt()));
  now_ += 3;
  // Expired, and so on every read (the original's second read fails with NotFound).
  for (int read = 0; read < 3; ++read) {
    EXPECT_EQ(cache_.read<Opt>("ttl_some_key"), std::nullopt);
    EXPECT_EQ(cache_.read<Opt>("ttl_none_key"), std::nullopt);
  }
  cache_.write("ttl_some_key", Opt(TestData{202, 8}), 5);
  EXPECT_EQ(cache_.read<Opt>("ttl_some_key"), std::optional<Opt>(Opt(TestData{202, 8})));
}

TEST_F(TtlTest, TtlPrefixIsApplied) {
  cache_.write("test_key", TestData{123, 4}, 60);
  const auto raw = store_.read(documented_ttl_key("test_key"));
  ASSERT_TRUE(raw.has_value());
  EXPECT_FALSE(store_.read("test_key").has_value()) << "the plain key must not exist";
  // The original's layout: 8-byte LE expiry, then the value.
  EXPECT_EQ(to_hex(raw->as_slice()), to_hex(concat(le64(now_ + 60), ext::encode(TestData{123, 4}))));
  EXPECT_EQ(cache_.read<TestData>("test_key"), std::optional<TestData>({123, 4}));
}

TEST_F(TtlTest, TtlPrefixingDoesNotAffectRegularStorage) {
  store_.write("test_key", ext::encode(TestData{999, 9}));
  EXPECT_FALSE(store_.read(documented_ttl_key("test_key")).has_value());
  EXPECT_EQ(ext::decode<TestData>(store_.read("test_key")->as_slice()), (TestData{999, 9}));
}

// ---- expiry ----

TEST_F(TtlTest, ExpiredValuesReadAsAbsentEveryTimeAndReadsNeverWrite) {
  cache_.write("k", ByteView("v"), 10);
  now_ += 10;  // now == expiry: expired, as in the original (now >= expiry)
  const std::uint64_t tail = store_.file_size();
  for (int read = 0; read < 3; ++read) {
    EXPECT_FALSE(cache_.read("k").has_value());
    EXPECT_EQ(cache_.ttl_remaining("k").state, State::kAbsent);
  }
  EXPECT_EQ(store_.file_size(), tail) << "a read wrote to the store";
  EXPECT_TRUE(store_.exists(documented_ttl_key("k"))) << "the expired entry stays until purged";
}

TEST_F(TtlTest, ResolutionIsOneSecondAndZeroIsExpiredAtOnce) {
  cache_.write("zero", ByteView("v"), 0);
  EXPECT_FALSE(cache_.read("zero").has_value());
  cache_.write("one", ByteView("v"), 1);
  EXPECT_TRUE(cache_.read("one").has_value());
  EXPECT_EQ(cache_.ttl_remaining("one"), (ext::TtlRemaining{State::kExpiresIn, 1}));
  now_ += 1;
  EXPECT_FALSE(cache_.read("one").has_value());
}

TEST_F(TtlTest, TtlRemainingCountsDownLikeRedisTtl) {
  cache_.write("k", ByteView("v"), 100);
  EXPECT_EQ(cache_.ttl_remaining("k"), (ext::TtlRemaining{State::kExpiresIn, 100}));
  now_ += 40;
  EXPECT_EQ(cache_.ttl_remaining("k"), (ext::TtlRemaining{State::kExpiresIn, 60}));
  now_ += 60;
  EXPECT_EQ(cache_.ttl_remaining("k"), (ext::TtlRemaining{State::kAbsent, 0}));
}

TEST_F(TtlTest, AHugeTtlSaturatesToNoExpiry) {
  cache_.write("forever", ByteView("v"), ext::kNeverExpires);
  cache_.write("almost", ByteView("v"), ext::kNeverExpires - now_ - 1);
  std::uint64_t late = ext::kNeverExpires - 5;
  ext::TtlCache late_cache = cache(&late);
  late_cache.write("saturated", ByteView("v"), 1000);  // now + 1000 overflows: saturates
  EXPECT_EQ(to_hex(store_.read(documented_ttl_key("saturated"))->as_slice()).substr(0, 16), "ffffffffffffffff");
  EXPECT_EQ(to_hex(store_.read(documented_ttl_key("forever"))->as_slice()).substr(0, 16), "ffffffffffffffff");
  for (const char* key : {"forever", "saturated"}) {
    SCOPED_TRACE(key);
    EXPECT_EQ(cache_.ttl_remaining(key).state, State::kNoExpiry);
    EXPECT_EQ(late_cache.ttl_remaining(key).state, State::kNoExpiry);
    std::uint64_t end_of_time = ext::kNeverExpires;
    EXPECT_TRUE(cache(&end_of_time).read(key).has_value()) << "no expiry means never, even at the clock's end";
  }
  EXPECT_EQ(cache_.ttl_remaining("almost"), (ext::TtlRemaining{State::kExpiresIn, ext::kNeverExpires - now_ - 1}));
}

TEST_F(TtlTest, AValueTooShortForTheHeaderIsAnError) {
  store_.write(documented_ttl_key("short"), ByteView("1234567"));  // 7 bytes
  EXPECT_EQ(code_of([&] { (void)cache_.read("short"); }), srd_test::kInvalidArgument);
  EXPECT_EQ(code_of([&] { (void)cache_.ttl_remaining("short"); }), srd_test::kInvalidArgument);
  EXPECT_NE(srd_test::message_of([&] { (void)cache_.read("short"); }).find("8-byte expiry header"), std::string::npos);
}

// A TTL value as the original writes it (no registry entry) reads back here.
TEST_F(TtlTest, ValuesTheOriginalWroteAreRead) {
  store_.write(documented_ttl_key("orig"), concat(le64(now_ + 30), ByteView("payload")));
  const auto value = cache_.read("orig");
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(value->as_string_view(), "payload");
  EXPECT_EQ(value->offset(), 8u);
  EXPECT_EQ(cache_.ttl_remaining("orig"), (ext::TtlRemaining{State::kExpiresIn, 30}));
}

TEST_F(TtlTest, TypedAndEmptyValues) {
  cache_.write("n", std::uint64_t{0x0102030405060708}, 5);
  EXPECT_EQ(cache_.read<std::uint64_t>("n"), std::optional<std::uint64_t>(0x0102030405060708));
  EXPECT_EQ(code_of([&] { (void)cache_.read<std::uint32_t>("n"); }), srd_test::kInvalidArgument);
  // An empty value is a TTL entry of just the header (which DataStore::write accepts).
  cache_.write("empty", ByteView(), 5);
  ASSERT_TRUE(cache_.read("empty").has_value());
  EXPECT_TRUE(cache_.read("empty")->empty());
  cache_.write("empty-some", std::optional<std::string>(""), 5);
  EXPECT_EQ(cache_.read<std::optional<std::string>>("empty-some"),
            std::optional<std::optional<std::string>>(std::string()));
  // At time 0, a TTL of 0 and no value: the payload is eight 00 bytes, which the store
  // accepts (it refuses only empty payloads and the single 00 byte).
  std::uint64_t epoch = 0;
  cache(&epoch).write("zeros", ByteView(), 0);
  EXPECT_EQ(to_hex(store_.read(documented_ttl_key("zeros"))->as_slice()), "0000000000000000");
}

TEST_F(TtlTest, ACacheNeedsAClock) {
  EXPECT_EQ(code_of([&] { ext::TtlCache(store_, ext::Clock()); }), srd_test::kInvalidArgument);
}

// ---- the registry ----

TEST_F(TtlTest, EachWriteRegistersItsValueInTheSameAppend) {
  const std::uint64_t before = store_.stats().entries;
  cache_.write("k", ByteView("value"), 30);
  EXPECT_EQ(store_.stats().entries, before + 2);
  const auto registration = store_.read_with_key_hash(documented_registry_hash("k"));
  ASSERT_TRUE(registration.has_value());
  const auto value = store_.read(documented_ttl_key("k"));
  ASSERT_TRUE(value.has_value());
  // TTL key hash (8, LE) ‖ expiry (8, LE) ‖ CRC-32 of the TTL payload (4, LE).
  std::vector<std::byte> expected = le64(DataStore::hash_key(documented_ttl_key("k")));
  expected = concat(expected, le64(now_ + 30));
  const std::uint32_t crc = simd_r_drive::compute_checksum(value->as_slice());
  for (int i = 0; i < 4; ++i) expected.push_back(static_cast<std::byte>(crc >> (8 * i)));
  EXPECT_EQ(to_hex(registration->as_slice()), to_hex(expected));
  // Both in one batch: the registration's record follows the value's directly.
  EXPECT_EQ(registration->metadata().prev_offset, value->end_offset() + simd_r_drive::kMetadataSize);
}

TEST_F(TtlTest, ARegistryEntryIsToldApartFromEveryOtherEntry) {
  cache_.write("k", ByteView("value"), 30);
  const auto registration = store_.read_with_key_hash(documented_registry_hash("k"));
  ASSERT_TRUE(registration.has_value());
  const auto parsed = ext::ttl_registration_in(*registration);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->value_hash, DataStore::hash_key(documented_ttl_key("k")));
  EXPECT_EQ(parsed->expiry, now_ + 30);
  EXPECT_EQ(parsed->checksum, store_.read(documented_ttl_key("k"))->checksum());
  // Not registry entries: the TTL value, and the same 20 bytes under another key.
  EXPECT_FALSE(ext::ttl_registration_in(*store_.read(documented_ttl_key("k"))).has_value());
  store_.write("copy", registration->as_slice());
  EXPECT_FALSE(ext::ttl_registration_in(*store_.read("copy")).has_value());
}

// docs/extensions.md works this example through by hand (hashes from the xxHash
// reference tool, the CRC from zlib): the bytes here are those.
TEST_F(TtlTest, TheDocumentedWorkedExample) {
  now_ = 1'700'000'000;
  cache_.write("my_key", ByteView("v"), 60);
  const auto value = store_.read_with_key_hash(0x25bf8cbf5dc32de8ull);
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(to_hex(value->as_slice()), "3cf1536500000000" "76");
  const auto registration = store_.read_with_key_hash(0xc0105e7830e21c4eull);
  ASSERT_TRUE(registration.has_value());
  EXPECT_EQ(to_hex(registration->as_slice()), "e82dc35dbf8cbf25" "3cf1536500000000" "768aafee");
  EXPECT_EQ(documented_registry_hash("my_key"), 0xc0105e7830e21c4eull);
}

// ---- purge and compaction ----

TEST_F(TtlTest, PurgeRemovesExpiredValuesInOneBatchAndKeepsLiveOnes) {
  cache_.write("expired-1", ByteView("a"), 5);
  cache_.write("expired-2", ByteView("b"), 10);
  cache_.write("live", ByteView("c"), 100);
  cache_.write("forever", ByteView("d"), ext::kNeverExpires);
  store_.write("plain", "e");
  now_ += 10;
  const std::uint64_t tail = store_.file_size();
  EXPECT_EQ(cache_.purge_expired(), 2u);
  // One append of four tombstones (two values, two registrations), 21 bytes each.
  EXPECT_EQ(store_.file_size(), tail + 4 * 21);
  for (const char* key : {"expired-1", "expired-2"}) {
    EXPECT_FALSE(store_.exists(documented_ttl_key(key))) << key;
    EXPECT_FALSE(store_.exists_with_key_hash(documented_registry_hash(key))) << key;
  }
  EXPECT_EQ(cache_.read("live")->as_string_view(), "c");
  EXPECT_EQ(cache_.read("forever")->as_string_view(), "d");
  EXPECT_TRUE(store_.exists_with_key_hash(documented_registry_hash("live")));
  EXPECT_EQ(store_.read("plain")->as_string_view(), "e");
  // Nothing more to do: no write at all.
  const std::uint64_t after = store_.file_size();
  EXPECT_EQ(cache_.purge_expired(), 0u);
  EXPECT_EQ(store_.file_size(), after);
  // Later, the live one expires too; the one with no expiry never does.
  now_ += 1000;
  EXPECT_EQ(cache_.purge_expired(), 1u);
  EXPECT_EQ(cache_.read("forever")->as_string_view(), "d");
  EXPECT_EQ(store_.len(), 3u);  // "forever", its registration, "plain"
}

// The hard case: the store keeps only hashes, so a value that merely looks like a TTL
// value (or like a registration) must never be taken for one.
TEST_F(TtlTest, PurgeNeverRemovesAValueThatOnlyLooksLikeATtlValue) {
  cache_.write("real", ByteView("x"), 1);
  const auto real_registration = store_.read_with_key_hash(documented_registry_hash("real"));
  ASSERT_TRUE(real_registration.has_value());
  // A plain value whose first 8 bytes are an expiry long past.
  store_.write("lookalike", concat(le64(5), ByteView("not a ttl value")));
  // A plain value with the very bytes of a registration, under another key.
  store_.write("registration-lookalike", real_registration->as_slice());
  // A value under the TTL key itself, written directly (as the original would), with
  // a header long past: read_with_ttl treats it as expired, purge does not know it.
  store_.write(documented_ttl_key("unregistered"), concat(le64(5), ByteView("y")));
  // A plain value that is exactly 20 bytes, as registrations are.
  store_.write("twenty", ByteView("01234567890123456789"));

  now_ = ext::kNeverExpires - 1;
  EXPECT_EQ(cache_.purge_expired(), 1u);  // "real" only
  EXPECT_FALSE(store_.exists(documented_ttl_key("real")));
  EXPECT_TRUE(store_.exists("lookalike"));
  EXPECT_TRUE(store_.exists("registration-lookalike"));
  EXPECT_TRUE(store_.exists(documented_ttl_key("unregistered")));
  EXPECT_TRUE(store_.exists("twenty"));
  EXPECT_FALSE(cache_.read("unregistered").has_value());
  EXPECT_EQ(cache_.compact_dropping_expired(), 0u);
  EXPECT_TRUE(store_.exists("lookalike"));
  EXPECT_TRUE(store_.exists("registration-lookalike"));
  EXPECT_TRUE(store_.exists(documented_ttl_key("unregistered")));
}

// A TTL key rewritten by other means (the original's write_with_ttl, a direct write)
// no longer matches its registration: purge drops the registration and leaves the
// value, whatever its header says.
TEST_F(TtlTest, PurgeDropsStaleRegistrationsButNeverTheValue) {
  cache_.write("rewritten", ByteView("mine"), 1);
  store_.write(documented_ttl_key("rewritten"), concat(le64(1), ByteView("theirs")));
  // The same expiry header, another value: only the registered checksum tells them apart.
  cache_.write("same-header", ByteView("mine"), 1);
  store_.write(documented_ttl_key("same-header"), concat(le64(now_ + 1), ByteView("theirs")));
  cache_.write("removed", ByteView("gone"), 1000);
  store_.remove(documented_ttl_key("removed"));  // the registration is left alone
  now_ += 10;
  EXPECT_EQ(cache_.purge_expired(), 0u);
  EXPECT_EQ(store_.read(documented_ttl_key("rewritten"))->as_slice().size(), 8u + 6u);
  EXPECT_EQ(store_.read(documented_ttl_key("same-header"))->as_slice().size(), 8u + 6u);
  for (const char* key : {"rewritten", "same-header", "removed"}) {
    EXPECT_FALSE(store_.exists_with_key_hash(documented_registry_hash(key))) << key;
  }
  EXPECT_EQ(store_.len(), 2u);
}

TEST_F(TtlTest, RewritingAKeyRenewsItsRegistration) {
  cache_.write("k", ByteView("old"), 5);
  now_ += 3;
  cache_.write("k", ByteView("new"), 5);  // expires at the old time + 3
  now_ += 3;                              // past the first expiry, not the second
  EXPECT_EQ(cache_.purge_expired(), 0u);
  EXPECT_EQ(cache_.read("k")->as_string_view(), "new");
  now_ += 2;
  EXPECT_EQ(cache_.purge_expired(), 1u);
  EXPECT_EQ(store_.len(), 0u);
}

TEST_F(TtlTest, CompactionDropsExpiredValuesAndKeepsLiveOnes) {
  for (int i = 0; i < 50; ++i) cache_.write("short/" + std::to_string(i), ByteView("s"), 10);
  for (int i = 0; i < 20; ++i) cache_.write("long/" + std::to_string(i), ByteView("l"), 1000);
  store_.write("plain", "p");
  now_ += 10;
  EXPECT_EQ(cache_.compact_dropping_expired(), 50u);
  const simd_r_drive::StoreStats stats = store_.stats();
  EXPECT_EQ(stats.live_keys, 20u * 2 + 1);  // live values, their registrations, "plain"
  EXPECT_EQ(stats.tombstones, 0u);
  EXPECT_EQ(stats.entries, stats.live_keys) << "the compacted file holds live entries only";
  EXPECT_TRUE(store_.verify().ok());
  for (const simd_r_drive::RecordInfo& record : store_.iter_records()) {
    for (int i = 0; i < 50; ++i) {
      ASSERT_NE(record.metadata().key_hash, DataStore::hash_key(documented_ttl_key("short/" + std::to_string(i))));
    }
  }
  for (int i = 0; i < 20; ++i) EXPECT_EQ(cache_.read("long/" + std::to_string(i))->as_string_view(), "l");
  EXPECT_EQ(store_.read("plain")->as_string_view(), "p");
}

TEST_F(TtlTest, RemoveTakesTheValueAndItsRegistration) {
  cache_.write("live", ByteView("v"), 100);
  cache_.write("expired", ByteView("v"), 1);
  now_ += 5;
  EXPECT_TRUE(cache_.remove("live"));
  EXPECT_FALSE(cache_.remove("expired"));  // gone from the reader's view already
  EXPECT_FALSE(cache_.remove("never-written"));
  EXPECT_EQ(store_.len(), 0u);
  const std::uint64_t tail = store_.file_size();
  EXPECT_FALSE(cache_.remove("live"));
  EXPECT_EQ(store_.file_size(), tail) << "removing what is not there writes nothing";
}

TEST_F(TtlTest, WritesPurgeAndRemoveNeedAWritableStoreReadsDoNot) {
  cache_.write("k", ByteView("v"), 100);
  simd_r_drive::OpenOptions options;
  options.read_only = true;
  DataStore reader = DataStore::open(store_.path(), options);
  ext::TtlCache reading = ext::TtlCache(reader, [this] { return now_; });
  EXPECT_EQ(reading.read("k")->as_string_view(), "v");
  EXPECT_EQ(reading.ttl_remaining("k").state, State::kExpiresIn);
  EXPECT_EQ(code_of([&] { reading.purge_expired(); }), srd_test::kInvalidArgument);
  EXPECT_EQ(code_of([&] { reading.remove("k"); }), srd_test::kInvalidArgument);
  EXPECT_EQ(code_of([&] { reading.write("k", ByteView("w"), 1); }), srd_test::kInvalidArgument);
}

// A purge decides and removes under the lock that TTL writes take, so a value written
// while it runs is never removed by it. A writer renews, once each, keys that the
// purges running meanwhile find expired; every key must read back renewed at the end.
// (Without the lock, renewals that land between a purge's judgement and its removal
// are lost.)
TEST_F(TtlTest, PurgeNeverRemovesAValueWrittenWhileItRuns) {
  constexpr int kKeys = 3000;
  // A few rounds: each is a fresh chance for a renewal to land inside a purge.
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    const std::string prefix = "round" + std::to_string(round) + "/";
    std::uint64_t past = now_ - 100;
    ext::TtlCache old_writer = cache(&past);
    for (int i = 0; i < kKeys; ++i) old_writer.write(prefix + std::to_string(i), ByteView("old"), 1);

    std::atomic<bool> start{false};
    std::atomic<bool> done{false};
    std::thread writer([&] {
      ext::TtlCache renewing(store_, [this] { return now_; });
      while (!start.load()) std::this_thread::yield();
      for (int i = kKeys - 1; i >= 0; --i) renewing.write(prefix + std::to_string(i), ByteView("new"), 1000);
      done = true;
    });
    std::size_t purged = 0;
    start = true;
    do {
      purged += cache_.purge_expired();
    } while (!done.load());
    writer.join();
    purged += cache_.purge_expired();
    EXPECT_LE(purged, static_cast<std::size_t>(kKeys));
    int lost = 0;
    for (int i = 0; i < kKeys; ++i) {
      const auto value = cache_.read(prefix + std::to_string(i));
      if (!value || value->as_string_view() != "new") ++lost;
    }
    EXPECT_EQ(lost, 0) << "renewed values were removed by a purge";
  }
}

// ---- the original's names, on the system clock ----

TEST_F(TtlTest, FreeFunctionsUseTheSystemClock) {
  const std::uint64_t before = ext::system_clock_seconds();
  ext::write_with_ttl(store_, "hour", ByteView("h"), 3600);
  ext::write_with_ttl(store_, "gone", ByteView("g"), 0);
  ext::write_with_ttl(store_, "typed", std::uint32_t{7}, 3600);
  const std::uint64_t after = ext::system_clock_seconds();
  EXPECT_GE(before, 1'600'000'000u) << "the system clock reads UNIX seconds";
  EXPECT_EQ(ext::read_with_ttl(store_, "hour")->as_string_view(), "h");
  EXPECT_EQ(ext::read_with_ttl<std::uint32_t>(store_, "typed"), std::optional<std::uint32_t>(7));
  EXPECT_FALSE(ext::read_with_ttl(store_, "gone").has_value());
  const ext::TtlRemaining left = ext::ttl_remaining(store_, "hour");
  EXPECT_EQ(left.state, State::kExpiresIn);
  // The expiry was taken between `before` and `after`; the clock has not gone back.
  EXPECT_LE(left.seconds, 3600 + (after - before));
  EXPECT_GE(left.seconds + (ext::system_clock_seconds() - before), 3600u);
  EXPECT_EQ(ext::purge_expired(store_), 1u);
  EXPECT_EQ(ext::compact_dropping_expired(store_), 0u);
  EXPECT_TRUE(ext::remove_with_ttl(store_, "hour"));
  EXPECT_EQ(store_.len(), 2u);  // "typed" and its registration
}

}  // namespace

// ttl_entries: a caller that appends the two entries in a batch of its own (the Redis
// front door adds the removal of the plain key) writes what write() writes: the keys
// are the documented ones, read() sees the value, purge_expired() removes it.
namespace {
class TtlEntriesTest : public TtlTest {};
}  // namespace

TEST_F(TtlEntriesTest, EntriesInACallersBatchAreTheOnesWriteAppends) {
  const ext::TtlEntries entries = ext::ttl_entries("k", "value", now_ + 10);
  EXPECT_EQ(entries.value_hash, DataStore::hash_key(documented_ttl_key("k")));
  EXPECT_EQ(entries.registry_hash, documented_registry_hash("k"));
  EXPECT_EQ(entries.value_hash, ext::ttl_value_hash("k"));
  EXPECT_EQ(entries.registry_hash, ext::ttl_registry_hash("k"));
  store_.write("k", "plain");
  const simd_r_drive::HashedPayload items[] = {{entries.value_hash, ByteView(entries.value)},
                                               {entries.registry_hash, ByteView(entries.registration)},
                                               {DataStore::hash_key("k"), ByteView(std::string_view("\0", 1))}};
  store_.batch_write_with_key_hashes(items, true);
  EXPECT_FALSE(store_.exists("k"));
  ASSERT_TRUE(cache_.read("k").has_value());
  EXPECT_EQ(to_hex(cache_.read("k")->view()), to_hex(ByteView("value")));
  EXPECT_EQ(cache_.ttl_remaining("k"), (ext::TtlRemaining{State::kExpiresIn, 10}));
  now_ += 10;
  EXPECT_EQ(cache_.purge_expired(), 1u);
  EXPECT_FALSE(store_.exists_with_key_hash(entries.value_hash));
  EXPECT_FALSE(store_.exists_with_key_hash(entries.registry_hash));
}

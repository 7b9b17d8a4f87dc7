// rename, copy and transfer: catalogue 9.14, plus the decided errors (missing keys,
// same store, same file under another path spelling) and return values (rename:
// tail after its tombstone; transfer: the source's tail; copy: the target's tail).
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simd_r_drive/simd_r_drive.h>

#include "test_support.h"

namespace {

using srd_test::code_of;
using srd_test::message_of;
using srd_test::kInvalidArgument;
using srd_test::kNotFound;

using simd_r_drive::ByteView;
using simd_r_drive::compute_checksum;
using simd_r_drive::compute_hash;
using simd_r_drive::DataStore;
using simd_r_drive::EntryHandle;
using simd_r_drive::Error;
using simd_r_drive::ErrorCode;


std::vector<std::byte> bytes_of(const EntryHandle& handle) {
  auto view = handle.as_slice();
  return {view.begin(), view.end()};
}

class StorageOps : public ::testing::Test {
 protected:
  std::filesystem::path source_path() const { return dir_.file("source.bin"); }
  std::filesystem::path target_path() const { return dir_.file("target.bin"); }

  srd_test::TempDir dir_;
};

// ---- catalogue 9.14 ----

TEST_F(StorageOps, CopyEntryBetweenStorages) {
  DataStore source = DataStore::open(source_path());
  DataStore target = DataStore::open(target_path());
  const auto payload = srd_test::pattern_bytes(1000);
  source.write("copied", payload);
  target.write("already_there", "target data");
  const std::uint64_t source_tail = source.file_size();

  const std::uint64_t result = source.copy("copied", target);
  EXPECT_EQ(result, target.file_size());  // copy returns the TARGET tail
  EXPECT_EQ(source.file_size(), source_tail);

  auto original = source.read("copied");
  auto copy = target.read("copied");
  ASSERT_TRUE(original.has_value());
  ASSERT_TRUE(copy.has_value());
  EXPECT_EQ(bytes_of(*original), payload);
  EXPECT_EQ(bytes_of(*copy), payload);
  EXPECT_EQ(copy->key_hash(), original->key_hash());
  EXPECT_EQ(copy->checksum(), original->checksum());
  EXPECT_EQ(copy->raw_checksum(), original->raw_checksum());
  EXPECT_TRUE(copy->is_valid_checksum());
  EXPECT_EQ(source.len(), 1u);
  EXPECT_EQ(target.len(), 2u);
  EXPECT_EQ(target.read("already_there")->as_string_view(), "target data");
}

TEST_F(StorageOps, CopyToSelfFails) {
  DataStore store = DataStore::open(source_path());
  store.write("key", "value");
  const std::uint64_t tail = store.file_size();
  EXPECT_EQ(code_of([&] { store.copy("key", store); }), kInvalidArgument);
  const std::string message = message_of([&] { store.copy("key", store); });
  EXPECT_NE(message.find("Cannot copy entry to the same storage"), std::string::npos) << message;
  EXPECT_EQ(store.file_size(), tail);
  EXPECT_EQ(store.len(), 1u);
  EXPECT_EQ(store.read("key")->as_string_view(), "value");
}

TEST_F(StorageOps, TransferEntryBetweenStorages) {
  DataStore source = DataStore::open(source_path());
  DataStore target = DataStore::open(target_path());
  const auto payload = srd_test::pattern_bytes(3000);
  source.write("moving", payload);
  source.write("staying", "not moved");

  const std::uint64_t result = source.transfer("moving", target);
  EXPECT_EQ(result, source.file_size());  // transfer returns the SOURCE tail
  EXPECT_FALSE(source.exists("moving"));
  EXPECT_EQ(source.len(), 1u);
  auto last = source.read_last_entry();
  ASSERT_TRUE(last.has_value());
  EXPECT_TRUE(last->is_tombstone());
  EXPECT_EQ(last->key_hash(), compute_hash("moving"));

  auto moved = target.read("moving");
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(bytes_of(*moved), payload);
  EXPECT_EQ(moved->key_hash(), compute_hash("moving"));
  EXPECT_EQ(moved->checksum(), compute_checksum(payload));
  EXPECT_TRUE(moved->is_valid_checksum());
  EXPECT_EQ(target.len(), 1u);
}

TEST_F(StorageOps, UpdateAndDeleteEntry) {
  DataStore store = DataStore::open(source_path());
  store.write("updated", "version one");
  store.write("deleted", "doomed one");
  store.write("updated", "version two");
  store.write("deleted", "doomed two");
  EXPECT_EQ(store.read("updated")->as_string_view(), "version two");
  EXPECT_EQ(store.read("deleted")->as_string_view(), "doomed two");
  EXPECT_EQ(store.len(), 2u);
  store.remove("deleted");
  EXPECT_EQ(store.len(), 1u);
  std::vector<std::string> seen;
  for (const EntryHandle& entry : store.iter_entries()) seen.emplace_back(entry.as_string_view());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "version two");
}

TEST_F(StorageOps, Rename) {
  DataStore store = DataStore::open(source_path());
  const auto payload = srd_test::pattern_bytes(500);
  store.write("old_name", payload);
  store.write("other", "unrelated");
  const std::uint64_t result = store.rename("old_name", "new_name");
  EXPECT_EQ(result, store.file_size());
  EXPECT_FALSE(store.exists("old_name"));
  auto renamed = store.read("new_name");
  ASSERT_TRUE(renamed.has_value());
  EXPECT_EQ(bytes_of(*renamed), payload);
  EXPECT_EQ(renamed->key_hash(), compute_hash("new_name"));
  EXPECT_EQ(renamed->checksum(), compute_checksum(payload));
  EXPECT_TRUE(renamed->is_valid_checksum());
  EXPECT_EQ(store.len(), 2u);
  // The returned tail is the one after the old key's tombstone.
  auto last = store.read_last_entry();
  ASSERT_TRUE(last.has_value());
  EXPECT_TRUE(last->is_tombstone());
  EXPECT_EQ(last->key_hash(), compute_hash("old_name"));
  EXPECT_EQ(last->end_offset() + simd_r_drive::kMetadataSize, result);
}

TEST_F(StorageOps, RenameEntryToSelfFails) {
  DataStore store = DataStore::open(source_path());
  store.write("same", "value");
  const std::uint64_t tail = store.file_size();
  EXPECT_EQ(code_of([&] { store.rename("same", "same"); }), kInvalidArgument);
  EXPECT_EQ(message_of([&] { store.rename("same", "same"); }), "Cannot rename a key to itself");
  EXPECT_EQ(store.file_size(), tail);
  EXPECT_EQ(store.read("same")->as_string_view(), "value");
  EXPECT_EQ(store.len(), 1u);
}

TEST_F(StorageOps, NestedStorageExtraction) {
  const auto inner_path = dir_.file("inner.bin");
  const auto extracted_path = dir_.file("extracted.bin");
  {
    DataStore inner = DataStore::open(inner_path);
    inner.write("inner_key", "inner value");
    inner.write("inner_big", srd_test::pattern_bytes(10'000));
  }
  const std::vector<std::byte> inner_file = srd_test::read_file(inner_path);
  ASSERT_FALSE(inner_file.empty());
  {
    DataStore outer = DataStore::open(source_path());
    outer.write("outer_key", "outer value");
    outer.write("nested_store", inner_file);
  }
  DataStore outer = DataStore::open(source_path());
  auto nested = outer.read("nested_store");
  ASSERT_TRUE(nested.has_value());
  EXPECT_EQ(bytes_of(*nested), inner_file);
  srd_test::write_file(extracted_path, nested->as_slice());
  DataStore extracted = DataStore::open(extracted_path);
  EXPECT_EQ(extracted.len(), 2u);
  EXPECT_EQ(extracted.read("inner_key")->as_string_view(), "inner value");
  EXPECT_EQ(bytes_of(*extracted.read("inner_big")), srd_test::pattern_bytes(10'000));
  EXPECT_FALSE(extracted.exists("outer_key"));
}

// ---- decided errors ----

TEST_F(StorageOps, RenameOfMissingKeyFails) {
  DataStore store = DataStore::open(source_path());
  store.write("present", "value");
  const std::uint64_t tail = store.file_size();
  EXPECT_EQ(code_of([&] { store.rename("absent", "new_name"); }), kNotFound);
  EXPECT_EQ(message_of([&] { store.rename("absent", "new_name"); }), "Old key not found");
  EXPECT_EQ(store.file_size(), tail);
  EXPECT_FALSE(store.exists("new_name"));
  EXPECT_EQ(store.len(), 1u);
  store.remove("present");
  const std::uint64_t after_delete = store.file_size();
  EXPECT_EQ(code_of([&] { store.rename("present", "new_name"); }), kNotFound);
  EXPECT_EQ(store.file_size(), after_delete);
}

TEST_F(StorageOps, CopyAndTransferOfMissingKeyFail) {
  DataStore source = DataStore::open(source_path());
  DataStore target = DataStore::open(target_path());
  source.write("present", "value");
  const std::uint64_t source_tail = source.file_size();
  EXPECT_EQ(code_of([&] { source.copy("absent", target); }), kNotFound);
  EXPECT_NE(message_of([&] { source.copy("absent", target); }).find("Key not found"), std::string::npos);
  EXPECT_EQ(code_of([&] { source.transfer("absent", target); }), kNotFound);
  EXPECT_EQ(source.file_size(), source_tail);
  EXPECT_EQ(target.file_size(), 0u);
  EXPECT_TRUE(target.is_empty());
  EXPECT_EQ(source.len(), 1u);
}

TEST_F(StorageOps, TransferToSelfFails) {
  DataStore store = DataStore::open(source_path());
  store.write("key", "value");
  const std::uint64_t tail = store.file_size();
  EXPECT_EQ(code_of([&] { store.transfer("key", store); }), kInvalidArgument);
  EXPECT_EQ(store.file_size(), tail);
  EXPECT_EQ(store.read("key")->as_string_view(), "value");
}

// The same file opened twice under different spellings. The engine may refuse the
// second open (a writer lock); if it allows it, copy must still see that the two
// stores are the same file (identity, not path text; the original compared text).
void expect_same_file_refused(const std::filesystem::path& canonical_path,
                              const std::filesystem::path& other_spelling) {
  ASSERT_NE(canonical_path.string(), other_spelling.string());
  {
    DataStore store = DataStore::open(canonical_path);
    store.write("key", "value");
  }
  DataStore store = DataStore::open(canonical_path);
  const std::uint64_t tail = store.file_size();
  std::optional<DataStore> alias;
  try {
    alias.emplace(DataStore::open(other_spelling));
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kLocked) << "second open refused with: " << e.what();
    return;
  }
  EXPECT_EQ(alias->file_size(), tail);
  EXPECT_EQ(code_of([&] { store.copy("key", *alias); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { alias->copy("key", store); }), kInvalidArgument);
  EXPECT_EQ(code_of([&] { store.transfer("key", *alias); }), kInvalidArgument);
  EXPECT_EQ(store.file_size(), tail);
  EXPECT_EQ(alias->file_size(), tail);
  EXPECT_TRUE(store.exists("key"));
  alias.reset();
  EXPECT_EQ(std::filesystem::file_size(canonical_path), tail);
  EXPECT_EQ(store.read("key")->as_string_view(), "value");
}

TEST_F(StorageOps, CopyToSameFileUnderDotDotSpellingFails) {
  const auto path = source_path();
  const auto dotdot = dir_.path() / ".." / dir_.path().filename() / "source.bin";
  expect_same_file_refused(path, dotdot);
}

TEST_F(StorageOps, CopyToSameFileThroughSymlinkFails) {
  const auto path = source_path();
  const auto link = dir_.file("link.bin");
  { DataStore create = DataStore::open(path); }
  std::filesystem::create_symlink(path, link);
  expect_same_file_refused(path, link);
}

// ---- return values and persistence ----

TEST_F(StorageOps, RenameOntoAnExistingKeyReplacesIt) {
  DataStore store = DataStore::open(source_path());
  store.write("from", "moving value");
  store.write("to", "old value of the target key");
  store.rename("from", "to");
  EXPECT_EQ(store.read("to")->as_string_view(), "moving value");
  EXPECT_FALSE(store.exists("from"));
  EXPECT_EQ(store.len(), 1u);
}

TEST_F(StorageOps, RenameCopyAndTransferSurviveReopen) {
  const auto big = srd_test::pattern_bytes(200'000);  // more than one stream chunk
  const std::string binary_value("\0\x01\0\x02", 4);
  {
    DataStore source = DataStore::open(source_path());
    DataStore target = DataStore::open(target_path());
    source.write("big", big);
    source.write("binary", binary_value);
    source.write("to_rename", "renamed value");
    const std::uint64_t copied = source.copy("big", target);
    EXPECT_EQ(copied, target.file_size());
    const std::uint64_t transferred = source.transfer("binary", target);
    EXPECT_EQ(transferred, source.file_size());
    const std::uint64_t renamed = source.rename("to_rename", "renamed");
    EXPECT_EQ(renamed, source.file_size());
  }
  DataStore source = DataStore::open(source_path());
  DataStore target = DataStore::open(target_path());
  EXPECT_EQ(source.len(), 2u);  // big, renamed
  EXPECT_EQ(bytes_of(*source.read("big")), big);
  EXPECT_FALSE(source.exists("binary"));
  EXPECT_FALSE(source.exists("to_rename"));
  EXPECT_EQ(source.read("renamed")->as_string_view(), "renamed value");
  EXPECT_EQ(target.len(), 2u);  // big, binary
  EXPECT_EQ(bytes_of(*target.read("big")), big);
  EXPECT_EQ(target.read("binary")->as_string_view(), binary_value);
  EXPECT_TRUE(target.read("big")->is_valid_checksum());
}

TEST_F(StorageOps, CopyKeepsTheKeyHashOfAPrehashedEntry) {
  DataStore source = DataStore::open(source_path());
  DataStore target = DataStore::open(target_path());
  // copy takes the key, and the target stores the same hash.
  source.write(ByteView(""), "empty-key value");
  source.copy(ByteView(""), target);
  auto copied = target.read_with_key_hash(0x2d06800538d394c2ULL);
  ASSERT_TRUE(copied.has_value());
  EXPECT_EQ(copied->as_string_view(), "empty-key value");
}

}  // namespace

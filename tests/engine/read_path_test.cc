// Unit tests of the reader's view of records (read_path.h).
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "engine/read_path.h"
#include "format/entry_layout.h"

namespace simd_r_drive::engine {
namespace {

// A reader that loaded the mapping before the writer moved to a larger one, then
// met a slot naming a record past the old mapping's end: it reads that record
// through the newest mapping instead of calling it unreadable (which would make a
// present key look absent).
TEST(PublishedRecordKeys, MovesToTheNewestMappingForARecordPastItsOwn) {
  std::vector<std::byte> file(8192);
  constexpr std::uint64_t kNearTail = 1000;
  constexpr std::uint64_t kFarTail = 6000;
  format::encode_metadata(file.data() + kNearTail - kMetadataSize, {0x1111, 0, 0});
  format::encode_metadata(file.data() + kFarTail - kMetadataSize, {0x2222, 0, 0});

  Generation generation;
  generation.publish_mapping(std::make_shared<io::Mapping>(file.data(), 4096, nullptr));
  const PublishedRecordKeys keys(generation);
  EXPECT_EQ(keys(kNearTail), std::optional<std::uint64_t>(0x1111));
  EXPECT_EQ(keys(kFarTail), std::nullopt);  // no mapping covers it yet
  EXPECT_EQ(keys.mapping().capacity(), 4096u);

  generation.publish_mapping(std::make_shared<io::Mapping>(file.data(), file.size(), nullptr));
  EXPECT_EQ(keys(kFarTail), std::optional<std::uint64_t>(0x2222));
  EXPECT_EQ(keys.mapping().capacity(), file.size());  // what the caller decodes from next
  EXPECT_EQ(keys(kNearTail), std::optional<std::uint64_t>(0x1111));
}

TEST(RecordKeys, RefusesTailsOutsideTheFile) {
  std::vector<std::byte> file(256);
  format::encode_metadata(file.data() + 100 - kMetadataSize, {0x77, 0, 0});
  const RecordKeys keys(file.data(), file.size());
  EXPECT_EQ(keys(100), std::optional<std::uint64_t>(0x77));
  EXPECT_EQ(keys(0), std::nullopt);
  EXPECT_EQ(keys(format::kMinEntryTail - 1), std::nullopt);
  EXPECT_EQ(keys(257), std::nullopt);
}

}  // namespace
}  // namespace simd_r_drive::engine

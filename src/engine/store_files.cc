#include "simd_r_drive/store_files.h"

namespace simd_r_drive {

StoreFiles StoreFiles::of(const std::filesystem::path& store) {
  return {store, store.string() + ".lock", store.string() + ".index"};
}

std::string StoreFiles::compaction_temporary_prefix() const { return store.filename().string() + ".compact-"; }

std::string StoreFiles::index_snapshot_temporary_prefix() const {
  return store.filename().string() + ".index.tmp-";
}

bool StoreFiles::owns(const std::filesystem::path& path) const {
  if (path.parent_path().lexically_normal() != store.parent_path().lexically_normal()) return false;
  const std::string name = path.filename().string();
  if (name == store.filename().string() || name == lock.filename().string() ||
      name == index_snapshot.filename().string()) {
    return true;
  }
  return temporary_named(name) != Temporary::kNone;
}

StoreFiles::Temporary StoreFiles::temporary_named(std::string_view file_name) const {
  constexpr std::string_view kCompactionSuffix = ".tmp";
  const std::string compaction = compaction_temporary_prefix();
  if (file_name.size() > compaction.size() + kCompactionSuffix.size() && file_name.starts_with(compaction) &&
      file_name.ends_with(kCompactionSuffix)) {
    return Temporary::kCompaction;
  }
  const std::string snapshot = index_snapshot_temporary_prefix();
  if (file_name.size() > snapshot.size() && file_name.starts_with(snapshot)) return Temporary::kIndexSnapshot;
  return Temporary::kNone;
}

}  // namespace simd_r_drive

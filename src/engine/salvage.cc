#include "engine/salvage.h"

#include <string>
#include <vector>

#include "engine/foreign_entries.h"
#include "engine/lock_file.h"
#include "engine/logger.h"
#include "engine/recovery.h"
#include "io/file_handle.h"
#include "io/mapping.h"
#include "simd_r_drive/error.h"

namespace simd_r_drive::engine {

SalvageReport salvage(const std::filesystem::path& source_path, const std::filesystem::path& target_path) {
  const std::filesystem::path source = io::resolve_store_path(source_path);
  if (std::optional<LockFile> lock = LockFile::observe(source); lock && lock->snapshot().writer_active) {
    throw Error(ErrorCode::kLocked, "'" + source.string() + "' is open for writing in another process; salvage "
                                    "reads a store nobody writes.");
  }
  io::FileHandle in(source, io::FileHandle::Mode::kReadOnly);
  const std::uint64_t size = in.size();
  const io::Mapping mapping(in.fd(), size, false);
  // Every complete entry is kept: also those above a zero-filled record (a page a
  // power loss did not write, or another writer's appends after an older version's
  // reserved space), which open would drop or refuse.
  SwallowingPolicy policy;
  policy.keep_everything = true;
  const StoreRecovery found = recover_store(mapping.data(), size, policy);
  const MovedEntries moved = lay_out_moved_entries(mapping.data(), found.foreign_tails, found.own.valid_tail);

  io::FileHandle out(target_path, io::FileHandle::Mode::kCreateExclusive);
  if (out.identity() == in.identity()) {
    throw Error(ErrorCode::kInvalidArgument, "salvage needs a new target file, not the source itself");
  }
  std::vector<std::span<const std::byte>> pieces;
  pieces.reserve(moved.pieces.size() + 1);
  pieces.emplace_back(mapping.data(), found.own.valid_tail);
  pieces.insert(pieces.end(), moved.pieces.begin(), moved.pieces.end());
  try {
    out.pwrite_all(0, pieces);
    out.sync_data();
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(target_path, ignored);
    throw;
  }
  SalvageReport report;
  report.source_size = size;
  report.kept_bytes = found.own.valid_tail;
  report.kept_entries = found.own.chain_tails.size();
  report.moved_entries = found.foreign_tails.size();
  report.swallowing_records = found.swallowers;
  report.target_size = moved.end;
  log_info("Salvaged '" + source.string() + "' (" + std::to_string(size) + " bytes) to '" + target_path.string() +
           "': kept " + std::to_string(report.kept_entries) + " entries at offsets 0.." +
           std::to_string(report.kept_bytes) + ", moved " + std::to_string(report.moved_entries) +
           " entries found after " + std::to_string(report.swallowing_records.size()) +
           " swallowing record(s); " + std::to_string(report.target_size) + " bytes written.");
  return report;
}

}  // namespace simd_r_drive::engine

#include "engine/follower.h"

#include <sys/stat.h>

#include <algorithm>
#include <string>

#include "engine/index_upkeep.h"
#include "engine/open_policy.h"
#include "engine/recovery.h"
#include "simd_r_drive/error.h"

namespace simd_r_drive::engine {

Follower::Follower(const std::filesystem::path& path, const OpenOptions& options, Publication& publication)
    : path_(path), options_(options), publication_(publication) {
  file_ = io::FileHandle(path, io::FileHandle::Mode::kReadOnly);
  identity_ = file_.identity();
  lock_ = LockFile::observe(path);
  std::lock_guard lock(publication_.change_mutex());
  const std::uint64_t file_len = file_.size();
  check_foreign_appends(file_, file_len, identity_);
  // A follower never writes: no lock-file state, no repair.
  const OpenRequest request{.path = path_, .options = options_, .identity = identity_, .previous = std::nullopt,
                            .huge_folios = false, .before_repair = nullptr};
  OpenedStore opened = open_store(file_, candidate_tail(file_len, identity_), request, publication_);
  loaded_from_snapshot_ = opened.from_snapshot;
  publication_.install(std::move(opened.generation));
}

bool Follower::writer_active() const {
  std::optional<LockFile> lock = LockFile::observe(path_);
  return lock && lock->snapshot().writer_active;
}

std::uint64_t Follower::candidate_tail(std::uint64_t file_len, const io::FileIdentity& identity) const {
  if (!lock_) return file_len;
  const LockFile::State state = lock_->snapshot();
  // A writer that is active, or that crashed (not clean), published the end of its
  // last complete write; the file may extend past it with preallocated zeros or a
  // torn write. After a clean close the file ends at the tail, and anything a later
  // foreign writer appended is only found through the file's length.
  if (state.identity == identity && (state.writer_active || !state.clean)) return std::min(state.tail, file_len);
  return file_len;
}

void Follower::check_foreign_appends(io::FileHandle& file, std::uint64_t file_len,
                                     const io::FileIdentity& identity) const {
  if (!lock_) return;
  const LockFile::State state = lock_->snapshot();
  // Only a crashed writer's file, read up to the tail it published, can hide
  // entries another writer appended after it.
  if (state.identity != identity || state.writer_active || state.clean || file_len <= state.tail) return;
  refuse_foreign_appends(file, file_len, path_, state.tail);
}

std::uint64_t Follower::refresh() {
  std::lock_guard lock(publication_.change_mutex());
  Generation& generation = publication_.current();
  const std::uint64_t current_tail = generation.tail.load(std::memory_order_relaxed);

  struct stat info {};
  if (::stat(path_.c_str(), &info) != 0) {
    throw Error(ErrorCode::kNotFound, "Storage file '" + path_.string() + "' no longer exists.");
  }
  if (!lock_) lock_ = LockFile::observe(path_);  // a writer may have come since
  const io::FileIdentity on_disk{static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino)};
  if (on_disk != identity_) {
    reopen();  // compacted (or replaced) by the writer
    return publication_.current().tail.load(std::memory_order_relaxed);
  }

  const std::uint64_t candidate = candidate_tail(file_.size(), identity_);
  if (candidate == current_tail) return current_tail;
  if (candidate < current_tail) {
    // Only a writer's recovery shortens a file in place; start over from what is there.
    reopen();
    return publication_.current().tail.load(std::memory_order_relaxed);
  }
  if (candidate > generation.mapping.load(std::memory_order_relaxed)->capacity()) {
    auto mapping = io::map_with_room(file_.fd(), candidate, options_.address_space_reservation, false);
    mapping->advise_written_range(candidate);
    generation.publish_mapping(std::move(mapping));
  }
  const std::byte* base = generation.mapping.load(std::memory_order_relaxed)->data();
  const auto newer = tails_above(base, candidate, current_tail);
  // Not a complete write yet (a foreign writer mid-append): the next refresh retries.
  if (!newer) return current_tail;
  index_appended(publication_, generation, *newer);
  generation.tail.store(candidate, std::memory_order_release);
  publication_.reclaim();
  return candidate;
}

void Follower::reopen() {
  io::FileHandle file(path_, io::FileHandle::Mode::kReadOnly);
  const io::FileIdentity identity = file.identity();
  const std::uint64_t file_len = file.size();
  check_foreign_appends(file, file_len, identity);
  // A follower never writes: no lock-file state, no repair.
  const OpenRequest request{.path = path_, .options = options_, .identity = identity, .previous = std::nullopt,
                            .huge_folios = false, .before_repair = nullptr};
  OpenedStore opened = open_store(file, candidate_tail(file_len, identity), request, publication_);
  // Only once the new file loaded: on failure the store keeps following the old one.
  file_ = std::move(file);
  identity_ = identity;
  publication_.install(std::move(opened.generation));
}

}  // namespace simd_r_drive::engine

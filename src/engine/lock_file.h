// "<store>.lock": the writer's OS lock, and the state it shares with readers in other
// processes.
//
// Opening a store for writing takes an exclusive open-file-description lock
// (fcntl F_OFD_SETLK) on this file. Such a lock belongs to one open() of the file, so a
// second writer is refused whether it is another process or another DataStore in the
// same process, and the kernel drops it when the writer dies, however it dies. The lock
// is on a file of its own, not on the store, because compaction replaces the store
// file by rename and a lock on the old inode would stop protecting anything.
//
// The first 64 bytes of the file (mapped shared) hold what followers need:
//   0  magic "SRDLOCK" + version byte 1
//   8  sequence: odd while the writer swaps in a new store file (a seqlock)
//  16  device, 24 inode: the store file these figures are about
//  32  tail: the end of the last complete write, published after its bytes
//  40  durable tail: the end of what the last fdatasync covered
//  48  clean: 1 after a clean close, 0 while a writer has the store open
//  56  the writer's process id (for error messages)
//  64  the boot the writer ran in (a hash of /proc/sys/kernel/random/boot_id; 0 if
//      unknown): the same boot after a crash means the page cache, and with it this
//      page, survived, so the published tail is exact
// All fields are native-endian: the file is only meaningful on the machine that
// wrote it, and it is never part of the store's data.
//
// Thread-safety: the writer's methods belong to the store's write mutex; snapshot()
// may be called from any thread or process.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>

#include "io/file_handle.h"

namespace simd_r_drive::engine {

std::filesystem::path lock_path(const std::filesystem::path& store);

// This boot of the machine (a hash of the kernel's boot_id), or 0 if unknown.
std::uint64_t current_boot_id() noexcept;

class LockFile {
 public:
  // What a reader sees, consistent across the fields.
  struct State {
    bool writer_active = false;
    io::FileIdentity identity;
    std::uint64_t tail = 0;
    std::uint64_t durable_tail = 0;
    bool clean = false;
    std::uint64_t boot_id = 0;
  };

  // Writer: takes the lock or throws Error(kLocked). `previous` receives the state the
  // last writer left (nullopt if there was no valid lock file), so that open can tell
  // a crash from a clean close.
  static LockFile acquire(const std::filesystem::path& store, std::optional<State>* previous);
  // Reader: the lock file beside `store`, if there is a valid one.
  static std::optional<LockFile> observe(const std::filesystem::path& store);

  LockFile(LockFile&& other) noexcept;
  LockFile& operator=(LockFile&& other) noexcept;
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  ~LockFile();

  // Writer: a new store file (open, compaction) and its tail; marks the store open
  // (not clean) until mark_clean(true) on close.
  void publish_file(io::FileIdentity identity, std::uint64_t tail) noexcept;
  void publish_tail(std::uint64_t tail) noexcept { field(kTail).store(tail, std::memory_order_release); }
  void publish_durable_tail(std::uint64_t tail) noexcept { field(kDurableTail).store(tail, std::memory_order_release); }
  void mark_clean(bool clean) noexcept { field(kClean).store(clean ? 1 : 0, std::memory_order_release); }

  // Reader (or writer): the current state.
  State snapshot() const;

 private:
  enum Field : std::size_t { kMagic, kSequence, kDevice, kInode, kTail, kDurableTail, kClean, kPid, kBootId, kFieldCount };
  LockFile(io::FileHandle file, bool writable);
  std::atomic<std::uint64_t>& field(Field which) const noexcept { return words_[which]; }
  bool valid() const noexcept;

  io::FileHandle file_;
  std::atomic<std::uint64_t>* words_ = nullptr;  // the first 4 KiB of the file, mapped
};

}  // namespace simd_r_drive::engine

#include "engine/lock_file.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "simd_r_drive/error.h"
#include "simd_r_drive/hashing.h"
#include "simd_r_drive/store_files.h"

namespace simd_r_drive::engine {

namespace {

constexpr std::uint64_t kLockFileSize = 4096;
// "SRDLOCK" and the layout's version, 1.
constexpr std::uint64_t kMagicValue = 0x014B434F4C445253ull;

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "the lock file's fields are shared between processes as lock-free atomics");

}  // namespace

std::filesystem::path lock_path(const std::filesystem::path& store) { return StoreFiles::of(store).lock; }

std::uint64_t current_boot_id() noexcept {
  static const std::uint64_t boot = [] {
    std::FILE* file = std::fopen("/proc/sys/kernel/random/boot_id", "r");
    if (file == nullptr) return std::uint64_t{0};
    char text[64] = {};
    const std::size_t got = std::fread(text, 1, sizeof text - 1, file);
    std::fclose(file);
    if (got == 0) return std::uint64_t{0};
    const std::uint64_t hash = compute_hash(ByteView(std::string_view(text, got)));
    return hash == 0 ? std::uint64_t{1} : hash;
  }();
  return boot;
}

LockFile::LockFile(io::FileHandle file, bool writable) : file_(std::move(file)) {
  const int protection = writable ? (PROT_READ | PROT_WRITE) : PROT_READ;
  void* base = ::mmap(nullptr, kLockFileSize, protection, MAP_SHARED, file_.fd(), 0);
  if (base == MAP_FAILED) {
    throw Error(ErrorCode::kIo, "mmap of '" + file_.path().string() + "' failed: " + std::strerror(errno));
  }
  words_ = static_cast<std::atomic<std::uint64_t>*>(base);
}

LockFile::LockFile(LockFile&& other) noexcept : file_(std::move(other.file_)), words_(other.words_) {
  other.words_ = nullptr;
}

LockFile& LockFile::operator=(LockFile&& other) noexcept {
  if (this != &other) {
    if (words_ != nullptr) ::munmap(words_, kLockFileSize);
    file_ = std::move(other.file_);
    words_ = other.words_;
    other.words_ = nullptr;
  }
  return *this;
}

LockFile::~LockFile() {
  if (words_ != nullptr) ::munmap(words_, kLockFileSize);
  // Closing the descriptor releases the OFD lock.
}

bool LockFile::valid() const noexcept { return field(kMagic).load(std::memory_order_acquire) == kMagicValue; }

LockFile LockFile::acquire(const std::filesystem::path& store, std::optional<State>* previous) {
  const std::filesystem::path path = lock_path(store);
  io::FileHandle file(path, io::FileHandle::Mode::kOpenOrCreate);
  if (!file.try_lock_exclusive()) {
    std::string holder;
    std::uint64_t pid = 0;
    if (::pread(file.fd(), &pid, sizeof pid, static_cast<off_t>(kPid * sizeof(std::uint64_t))) ==
            static_cast<ssize_t>(sizeof pid) &&
        pid != 0) {
      holder = " (process " + std::to_string(pid) + ")";
    }
    throw Error(ErrorCode::kLocked, "'" + store.string() + "' is locked by another writer" + holder +
                                        ": only one DataStore may write a store at a time. Open it with "
                                        "OpenOptions::read_only to read while it is being written.");
  }
  if (file.size() < kLockFileSize) file.truncate(kLockFileSize);
  LockFile lock(std::move(file), true);
  if (previous != nullptr) {
    *previous = lock.valid() ? std::optional<State>(lock.snapshot()) : std::nullopt;
  }
  if (!lock.valid()) {
    for (std::size_t i = kSequence; i < kFieldCount; ++i) lock.words_[i].store(0, std::memory_order_relaxed);
    lock.field(kMagic).store(kMagicValue, std::memory_order_release);
  }
  lock.field(kPid).store(static_cast<std::uint64_t>(::getpid()), std::memory_order_relaxed);
  // The clean mark stays as the last writer left it until the store has opened
  // (publish_file): an open that fails must not make the next one see a crash.
  return lock;
}

std::optional<LockFile> LockFile::observe(const std::filesystem::path& store) {
  try {
    io::FileHandle file(lock_path(store), io::FileHandle::Mode::kReadOnly);
    if (file.size() < kLockFileSize) return std::nullopt;
    LockFile lock(std::move(file), false);
    if (!lock.valid()) return std::nullopt;
    return lock;
  } catch (const Error&) {
    return std::nullopt;  // no lock file (never opened for writing by this engine)
  }
}

void LockFile::publish_file(io::FileIdentity identity, std::uint64_t tail) noexcept {
  // Seqlock: readers retry while the sequence is odd or changed under them, so they
  // never pair the new file's identity with the old file's tail. Without fences
  // (which ThreadSanitizer does not model): each field is stored with release, so a
  // reader whose acquire load sees any of them also sees the odd sequence stored
  // before it, and retries.
  const std::uint64_t sequence = field(kSequence).load(std::memory_order_relaxed);
  field(kSequence).store(sequence + 1, std::memory_order_relaxed);
  field(kDevice).store(identity.device, std::memory_order_release);
  field(kInode).store(identity.inode, std::memory_order_release);
  field(kTail).store(tail, std::memory_order_release);
  field(kDurableTail).store(0, std::memory_order_release);
  field(kClean).store(0, std::memory_order_release);
  field(kBootId).store(current_boot_id(), std::memory_order_release);
  field(kSequence).store(sequence + 2, std::memory_order_release);
}

LockFile::State LockFile::snapshot() const {
  State state;
  for (;;) {
    const std::uint64_t before = field(kSequence).load(std::memory_order_acquire);
    if (before % 2 == 0) {
      // Acquire loads: the sequence is read again after every one of them.
      state.identity = {field(kDevice).load(std::memory_order_acquire), field(kInode).load(std::memory_order_acquire)};
      state.tail = field(kTail).load(std::memory_order_acquire);
      state.durable_tail = field(kDurableTail).load(std::memory_order_acquire);
      state.clean = field(kClean).load(std::memory_order_acquire) == 1;
      state.boot_id = field(kBootId).load(std::memory_order_acquire);
      if (field(kSequence).load(std::memory_order_relaxed) == before) break;
    }
    ::sched_yield();
  }
  state.writer_active = file_.locked_elsewhere();
  return state;
}

}  // namespace simd_r_drive::engine

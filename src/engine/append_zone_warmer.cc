#include "engine/append_zone_warmer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "engine/logger.h"
#include "io/mapping.h"

namespace simd_r_drive::engine {

AppendZoneWarmer::~AppendZoneWarmer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (!thread_.joinable()) return;
  // A forked child inherits the thread's handle but not the thread.
  if (::getpid() == owner_pid_) {
    thread_.join();
  } else {
    thread_.detach();
  }
}

void AppendZoneWarmer::request(std::shared_ptr<const io::Mapping> mapping, std::uint64_t from, std::uint64_t to) {
  std::unique_lock lock(mutex_);
  if (disabled_ || stopping_ || from >= to) return;
  if (thread_.joinable() && ::getpid() != owner_pid_) return;  // forked: no thread here
  mapping_ = std::move(mapping);
  from_ = from;
  to_ = to;
  start_thread_locked();
  lock.unlock();
  changed_.notify_all();
}

void AppendZoneWarmer::release(std::shared_ptr<const io::Mapping> replaced) {
  std::unique_lock lock(mutex_);
  const bool forked = thread_.joinable() && ::getpid() != owner_pid_;
  if (stopping_ || forked) {
    lock.unlock();
    replaced->release_resident_pages();
    return;
  }
  to_release_.push_back(std::move(replaced));
  start_thread_locked();
  lock.unlock();
  changed_.notify_all();
}

void AppendZoneWarmer::start_thread_locked() {
  if (thread_.joinable()) return;
  owner_pid_ = static_cast<int>(::getpid());
  thread_ = std::thread([this] { run(); });
}

bool AppendZoneWarmer::enabled() const {
  std::lock_guard lock(mutex_);
  return !disabled_;
}

bool AppendZoneWarmer::wait_until_idle(unsigned timeout_ms) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                           [&] { return !busy_ && to_release_.empty() && (disabled_ || from_ >= to_); });
}

void AppendZoneWarmer::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || from_ < to_ || !to_release_.empty(); });
    if (stopping_) return;
    // Warming first: the writer is about to store into those pages.
    if (from_ >= to_) {
      std::vector<std::shared_ptr<const io::Mapping>> replaced;
      replaced.swap(to_release_);
      busy_ = true;
      lock.unlock();
      for (const auto& mapping : replaced) mapping->release_resident_pages();
      replaced.clear();  // the last reference may unmap it: not under the lock
      lock.lock();
      busy_ = false;
      changed_.notify_all();
      continue;
    }
    // One 2 MiB step at a time, so that a newer request or a stop is taken soon.
    std::shared_ptr<const io::Mapping> mapping = mapping_;
    const std::uint64_t step = io::kHugePageSize;
    const std::uint64_t first = from_ / step * step;
    const std::uint64_t last = std::min({to_, first + step, mapping->capacity()});
    from_ = last > first ? last : to_;
    if (last <= first) continue;
    busy_ = true;
    lock.unlock();
    const int error = io::populate_for_writing(mapping->data() + first, last - first);
    lock.lock();
    busy_ = false;
    if (error != 0) {
      if (error == EINVAL || error == EPERM) {
        // The kernel does not know the advice: stop trying.
        disabled_ = true;
        from_ = to_;
        lock.unlock();
        log_warning(std::string("warming the append zone is off: madvise(MADV_POPULATE_WRITE) failed: ") +
                    std::strerror(error));
        lock.lock();
      } else if (mapping == mapping_) {
        // EFAULT (past the file's end after a truncation) or ENOMEM: the writer's own
        // stores fault the pages in, as without warming.
        from_ = to_;
      }
    }
    if (from_ >= to_) mapping_.reset();  // done: the mapping may go when the store lets it
    changed_.notify_all();
  }
}

}  // namespace simd_r_drive::engine

#include "server/session_registry.h"

#include <vector>

namespace simd_r_drive::net::server {

void SessionRegistry::add(std::uint64_t id, std::weak_ptr<StoppableSession> session) {
  std::lock_guard lock(mutex_);
  sessions_.emplace(id, std::move(session));
}

void SessionRegistry::remove(std::uint64_t id) {
  {
    std::lock_guard lock(mutex_);
    sessions_.erase(id);
  }
  changed_.notify_all();
}

template <class Visit>
void SessionRegistry::each(Visit visit) {
  std::vector<std::shared_ptr<StoppableSession>> live;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, weak] : sessions_) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  for (auto& session : live) visit(*session);
}

void SessionRegistry::begin_shutdown_all() {
  each([](StoppableSession& session) { session.begin_shutdown(); });
}

void SessionRegistry::force_close_all() {
  each([](StoppableSession& session) { session.force_close(); });
}

bool SessionRegistry::wait_until_empty(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, deadline, [&] { return sessions_.empty(); });
}

}  // namespace simd_r_drive::net::server

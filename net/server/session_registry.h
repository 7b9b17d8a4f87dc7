// The open sessions of one listener (the WebSocket server's, the RESP listener's), so
// that a stop can reach each of them: ask every one to finish, wait for them to go, then
// close what is left.
//
// Thread-safety: every member may be called from any thread; sessions add and remove
// themselves from their own handlers while a stop visits them from another thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace simd_r_drive::net::server {

// What a stop asks of a session. Both may be called from any thread.
class StoppableSession {
 public:
  virtual ~StoppableSession() = default;
  virtual void begin_shutdown() = 0;  // answer what was received, then close
  virtual void force_close() = 0;     // close now
};

class SessionRegistry {
 public:
  void add(std::uint64_t id, std::weak_ptr<StoppableSession> session);
  void remove(std::uint64_t id);
  void begin_shutdown_all();
  void force_close_all();
  // Whether every session was removed before `deadline`.
  bool wait_until_empty(std::chrono::steady_clock::time_point deadline);

 private:
  // Calls `visit` on each live session outside the lock: a session may remove itself
  // (and take the lock) from inside what `visit` starts.
  template <class Visit>
  void each(Visit visit);

  std::mutex mutex_;
  std::condition_variable changed_;
  std::unordered_map<std::uint64_t, std::weak_ptr<StoppableSession>> sessions_;
};

}  // namespace simd_r_drive::net::server

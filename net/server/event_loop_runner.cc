#include "server/event_loop_runner.h"

#include <sched.h>

#include <boost/asio/io_context.hpp>

namespace simd_r_drive::net::server {

unsigned usable_cpus() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  const int count = CPU_COUNT(&set);
  return count > 0 ? static_cast<unsigned>(count) : 1u;
}

std::chrono::microseconds polling_window(std::chrono::microseconds configured, unsigned loops,
                                         unsigned cpus) noexcept {
  if (configured <= std::chrono::microseconds::zero() || loops >= cpus) return std::chrono::microseconds::zero();
  return configured;
}

void run_event_loop(boost::asio::io_context& loop, std::chrono::microseconds window) {
  if (window <= std::chrono::microseconds::zero()) {
    loop.run();
    return;
  }
  using Clock = std::chrono::steady_clock;
  Clock::time_point last_work = Clock::now();
  while (!loop.stopped()) {
    // poll() runs what is ready, after asking epoll without waiting.
    if (loop.poll() != 0) {
      last_work = Clock::now();
      continue;
    }
    if (Clock::now() - last_work < window) continue;
    if (loop.run_one() != 0) last_work = Clock::now();
  }
}

}  // namespace simd_r_drive::net::server

// How a RESP event loop waits for work: blocked in epoll, or polling for a short
// window first.
//
// On loopback, and wherever a client and the server share a machine, each time the
// loop thread sleeps the next request has to wake it, and the client's CPU pays for
// that wake-up (with an inter-processor interrupt, which a virtual machine makes
// dear). A loop that keeps polling for a few tens of microseconds after its last
// handler catches the next request without being woken, which at one request in
// flight per connection lets a client on the same machine go faster
// (docs/performance.md, "Polling before sleeping"). It costs CPU while traffic
// trickles in, and nothing once the loop has been idle for the window.
//
// Thread-safety: run_event_loop is run by the loop's one thread; usable_cpus and
// polling_window may be called from any thread.
#pragma once

#include <chrono>

namespace boost::asio {
class io_context;
}

namespace simd_r_drive::net::server {

// The CPUs this process may run on (its affinity mask), at least 1.
unsigned usable_cpus() noexcept;

// The polling window `loops` event loops should use: `configured`, unless the loops
// would take every usable CPU, where polling would take time from the threads that
// need it (the workers, the store's background threads, a client on the same host).
std::chrono::microseconds polling_window(std::chrono::microseconds configured, unsigned loops,
                                         unsigned cpus) noexcept;

// Runs `loop` until it is stopped. With a window above zero, the loop polls for
// ready handlers (and sockets) until `window` has passed since it last ran one, and
// only then blocks.
void run_event_loop(boost::asio::io_context& loop, std::chrono::microseconds window);

}  // namespace simd_r_drive::net::server

#include "server/server_context.h"

#include <unistd.h>

#include <algorithm>
#include <string>

namespace simd_r_drive::net::server {

WorkerPool::WorkerPool(unsigned threads) {
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() { stop(); }

void WorkerPool::post(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

void WorkerPool::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void WorkerPool::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and nothing left to run
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

void log_line(bool enabled, std::string_view text) {
  if (!enabled) return;
  std::string line = "simd-r-drive-server: ";
  line.append(text);
  line.push_back('\n');
  // One write(2): lines from several threads never interleave.
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
}

ServerContext::ServerContext(DataStore& store_in, ServerOptions options_in)
    : store(store_in),
      options(std::move(options_in)),
      pool(options.worker_threads == 0 ? 2u : options.worker_threads),
      ttl(ttl_adapter()) {}

void ServerContext::refresh_if_due() {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  const std::int64_t interval = std::chrono::duration_cast<std::chrono::nanoseconds>(options.refresh_interval).count();
  if (now - last_refresh_ns.load(std::memory_order_relaxed) < interval) return;
  std::unique_lock lock(refresh_mutex, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another thread is refreshing: read what is there
  store.refresh();
  last_refresh_ns.store(now, std::memory_order_relaxed);
}

}  // namespace simd_r_drive::net::server

// Progress on stderr for long work, drawn only when stderr is a terminal.
//
// When stderr is a file or a pipe nothing is drawn at all (no carriage returns in
// logs). --quiet also turns it off. Nothing is drawn for the first 300 ms (the
// environment variable SRD_PROGRESS_DELAY_MS, meant for tests, sets another wait).
// The bar redraws at most ten times a second and erases itself when the work ends,
// so the notices after it start on a clean line.
//
// ProgressBar is for work that knows its size (bytes copied of a known total, or a
// running count when the total is unknown). ProgressSpinner is for a single library
// call that reports no progress (compact, verify): a thread redraws the elapsed time.
// Being drawn by a thread, the spinner could be interrupted by anything else written
// to stderr, so it holds back other stderr output until it ends.
//
// Thread-safety: a ProgressBar belongs to one thread. A ProgressSpinner owns its
// drawing thread; construct and destroy it on one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace srd_cli {

// Whether progress may be drawn: stderr is a terminal and --quiet is off.
bool progress_wanted() noexcept;

class ProgressBar {
 public:
  // `total` 0 means unknown: the bar shows the running count and rate only.
  // `enabled` false makes every call a no-op.
  ProgressBar(std::string label, std::uint64_t total, bool enabled = progress_wanted());
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar();

  void advance(std::uint64_t bytes) { set(done_ + bytes); }
  void set(std::uint64_t done);
  void set_label(std::string label);
  // Erases the bar; later calls draw nothing.
  void finish();

 private:
  void draw();

  std::string label_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

class ProgressSpinner {
 public:
  explicit ProgressSpinner(std::string label, bool enabled = progress_wanted());
  ProgressSpinner(const ProgressSpinner&) = delete;
  ProgressSpinner& operator=(const ProgressSpinner&) = delete;
  // Stops the thread, erases the line, and prints what was written to stderr meanwhile.
  ~ProgressSpinner();

 private:
  void run();

  std::string label_;
  // While the spinner runs, stderr (fd 2) is a pipe that the thread drains into
  // captured_, so that the library's log lines cannot land in the middle of the
  // spinner's line; they are printed, whole, once it is erased.
  int terminal_fd_ = -1;
  int capture_fd_ = -1;
  std::string captured_;  // written by the thread, read after join
  bool drawn_ = false;    // likewise
  std::thread thread_;
};

}  // namespace srd_cli

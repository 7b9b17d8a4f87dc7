// Where the tool's output goes: data and reports to stdout, everything else to stderr.
//
// stdout carries only what a command produces (a value, a report, a key list), so it
// can be piped. Notices ("Stored 'k'"), warnings and errors go to stderr, one line
// each, prefixed with the program name; --quiet silences notices, never errors.
//
// Thread-safety: the functions may be called from any thread; a line is written with
// one write(2), so lines from different threads do not interleave.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace srd_cli {

inline constexpr std::string_view kProgramName = "simd-r-drive";

// Set once by main from --quiet.
void set_quiet(bool quiet) noexcept;
bool quiet() noexcept;

// "simd-r-drive: <text>" on stderr, unless --quiet.
void notice(std::string_view text);
// "simd-r-drive: warning: <text>" on stderr, even with --quiet.
void warning(std::string_view text);
// "simd-r-drive: error: <text>" on stderr. Newlines in `text` become spaces, so an
// error is always exactly one line.
void error_line(std::string_view text);

// Writes all of [data, data + size) to `fd`, retrying short writes and EINTR. Throws
// CliError(kError) naming `what` on failure.
void write_all(int fd, const void* data, std::size_t size, std::string_view what);
// Text to stdout (after flushing nothing: stdout is written only through here).
void print(std::string_view text);

bool is_terminal(int fd) noexcept;

// Set by the progress display while its line is on the terminal: a message then
// erases that line first, so it does not start in the middle of the bar (the bar is
// redrawn below it on its next update).
void set_progress_line_active(bool active) noexcept;

}  // namespace srd_cli

// The boxed text reports of info and metadata, in the original's layout: a blank
// line, a title centred in 50 '=' characters, "LABEL:" padded to 25 columns, and a
// closing rule. Scripts should use --json instead of parsing these.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace srd_cli {

inline constexpr std::size_t kReportWidth = 50;

inline std::string report_title(std::string_view title) {
  const std::size_t used = title.size() + 2;
  const std::size_t left = used < kReportWidth ? (kReportWidth - used) / 2 : 0;
  const std::size_t right = used < kReportWidth ? kReportWidth - used - left : 0;
  return "\n" + std::string(left, '=') + " " + std::string(title) + " " + std::string(right, '=') + "\n";
}

inline std::string report_line(std::string_view label, std::string_view value) {
  std::string line(label);
  if (line.size() < 25) line.resize(25, ' ');
  return line + " " + std::string(value) + "\n";
}

inline std::string report_rule(char c) { return std::string(kReportWidth, c) + "\n"; }

// "1 entry", "2 entries".
inline std::string counted(std::uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

}  // namespace srd_cli

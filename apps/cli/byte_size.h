// Byte counts in human form: parsing "64K" for --buffer-size, printing "1.50 MiB".
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace srd_cli {

// Digits, optionally followed by a unit: none (bytes), k/kb/kib, m/mb/mib, g/gb/gib,
// case-insensitive, powers of 1024 (as the original's parse_buffer_size). Spaces
// around the text are ignored. Returns nullopt for anything else, and on overflow.
std::optional<std::uint64_t> parse_byte_size(std::string_view text);

// "512 bytes", "1 byte", "1.50 KiB", "3.25 GiB" (base 1024, two decimals).
std::string format_bytes(std::uint64_t bytes);

}  // namespace srd_cli

#include "format/checksum.h"

#include <libdeflate.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>

namespace simd_r_drive::format {

namespace {

constexpr std::uint32_t kReflectedPolynomial = 0xEDB88320u;

// Polynomials over GF(2) modulo the CRC polynomial, in the CRC's reflected bit order:
// bit 31 holds the coefficient of x^0, bit 0 that of x^31.
constexpr std::uint32_t multiply_mod_p(std::uint32_t a, std::uint32_t b) noexcept {
  std::uint32_t product = 0;
  for (std::uint32_t bit = 1u << 31; bit != 0; bit >>= 1) {
    if (a & bit) product ^= b;
    b = (b & 1u) ? (b >> 1) ^ kReflectedPolynomial : b >> 1;  // b *= x
  }
  return product;
}

// x^(2^k) mod P for k = 0..63, so x^n is a product of at most 64 table entries.
struct PowerTable {
  std::array<std::uint32_t, 64> x_to_2_to_k{};
  constexpr PowerTable() {
    x_to_2_to_k[0] = 1u << 30;  // x^1
    for (std::size_t k = 1; k < x_to_2_to_k.size(); ++k) {
      x_to_2_to_k[k] = multiply_mod_p(x_to_2_to_k[k - 1], x_to_2_to_k[k - 1]);
    }
  }
};

constexpr PowerTable kPowers;

// x^-1 mod P. P's x^0 coefficient is 1, so x * (x^-1) = 1 has the solution
// (P - 1) / x: in the reflected order, the polynomial without its x^0 bit, shifted
// one place towards x^0, plus the x^31 bit that the division brings down.
constexpr std::uint32_t kInverseOfX = ((kReflectedPolynomial ^ (1u << 31)) << 1) | 1u;
static_assert(multiply_mod_p(kInverseOfX, 1u << 30) == 1u << 31, "x * x^-1 must be 1");

// x^-(2^k) mod P for k = 0..63.
struct InversePowerTable {
  std::array<std::uint32_t, 64> x_to_minus_2_to_k{};
  constexpr InversePowerTable() {
    x_to_minus_2_to_k[0] = kInverseOfX;
    for (std::size_t k = 1; k < x_to_minus_2_to_k.size(); ++k) {
      x_to_minus_2_to_k[k] = multiply_mod_p(x_to_minus_2_to_k[k - 1], x_to_minus_2_to_k[k - 1]);
    }
  }
};

constexpr InversePowerTable kInversePowers;

}  // namespace

// Multiplication by x^-(512 * 2^k) (dropping 64 * 2^k zero bytes), one 256-entry table
// per byte of the multiplicand: the product is linear in it, so four lookups replace a
// 32-step multiplication. Built at compile time: no start-up cost, no guard per use.
struct ZeroRunCrc::DropTables {
  std::uint32_t table[kTabledSteps][4][256];
  constexpr DropTables() : table{} {
    for (std::size_t k = 0; k < kTabledSteps; ++k) {
      const std::uint32_t factor = kInversePowers.x_to_minus_2_to_k[9 + k];  // 512 * 2^k = 2^(9 + k)
      for (std::uint32_t byte = 0; byte < 4; ++byte) {
        for (std::uint32_t value = 0; value < 256; ++value) {
          table[k][byte][value] = multiply_mod_p(factor, value << (8 * byte));
        }
      }
    }
  }
};

namespace {

constexpr ZeroRunCrc::DropTables kDropTables;

}  // namespace

// The tables the inline ZeroRunCrc::drop_front reads (an array of the library, so
// each use is a direct load, not a call).
const std::uint32_t (&ZeroRunCrc::kDropTable)[ZeroRunCrc::kTabledSteps][4][256] = kDropTables.table;

std::uint32_t crc32_extend(std::uint32_t crc, const std::byte* data, std::size_t size) noexcept {
  // libdeflate uses the zlib convention (pre- and post-inversion inside the call), so
  // chaining calls continues the same CRC.
  return static_cast<std::uint32_t>(libdeflate_crc32(crc, data, size));
}

std::uint32_t crc32_shift(std::uint32_t crc, std::uint64_t length) noexcept {
  // Appending n bytes multiplies the register by x^(8n); the pre/post inversions
  // cancel out in the identity documented in the header. 8n = n << 3, so bit i of n
  // selects x^(2^(i+3)).
  std::uint32_t factor = 1u << 31;  // x^0
  for (std::size_t i = 0; length != 0 && i + 3 < kPowers.x_to_2_to_k.size(); ++i, length >>= 1) {
    if (length & 1u) factor = multiply_mod_p(kPowers.x_to_2_to_k[i + 3], factor);
  }
  return multiply_mod_p(factor, crc);
}

std::uint32_t crc32_of_zeros(std::uint64_t length) noexcept {
  // The register starts at all ones and each zero byte multiplies it by x^8.
  return ~crc32_shift(0xFFFFFFFFu, length);
}

void ZeroRunCrc::reset(std::uint64_t length) noexcept {
  length_ = length;
  state_ = ~crc32_of_zeros(length);
}

void ZeroRunCrc::drop_front_slowly(std::uint64_t bytes) noexcept {
  bytes = bytes < length_ ? bytes : length_;
  length_ -= bytes;
  // Zeros in front of the register's start change nothing but the register's power
  // of x: the shorter run's register is the longer one's times x^-(8 * bytes).
  const std::uint64_t bits = bytes * 8;  // below 2^64 for any file
  std::uint32_t factor = 1u << 31;       // x^0
  for (std::size_t i = 0; i < kInversePowers.x_to_minus_2_to_k.size(); ++i) {
    if ((bits >> i) & 1u) factor = multiply_mod_p(kInversePowers.x_to_minus_2_to_k[i], factor);
  }
  state_ = multiply_mod_p(factor, state_);
}

std::uint32_t crc32_of_mapped(const std::byte* data, std::size_t size) noexcept {
  constexpr std::size_t kPiece = 8u << 20;
  constexpr std::size_t kWorthIt = 64u << 20;  // below this, keeping the pages is cheaper
  if (size < kWorthIt) return crc32_extend(0, data, size);
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  std::uint32_t crc = 0;
  for (std::size_t done = 0; done < size;) {
    const std::size_t piece = std::min(kPiece, size - done);
    crc = crc32_extend(crc, data + done, piece);
    // Only whole pages inside the range: the neighbours may be in use.
    const auto first = (reinterpret_cast<std::uintptr_t>(data + done) + page - 1) / page * page;
    const auto last = reinterpret_cast<std::uintptr_t>(data + done + piece) / page * page;
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
    done += piece;
  }
  return crc;
}

}  // namespace simd_r_drive::format

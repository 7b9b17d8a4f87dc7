// The one place the server reaches the TTL functions of the extensions library
// (write_with_ttl, read_with_ttl, ttl_remaining; docs/protocol.md). The dispatcher
// sees only this adapter, so a server core built without the extensions library
// would return nullptr here: it then answers the three methods with method_not_found
// and leaves them out of hello's "methods".
//
// Thread-safety: the adapter is immutable; its functions are called from worker
// threads (write_with_ttl) and I/O threads (the reads), as DataStore's own methods.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>

#include <simd_r_drive/data_store.h>

namespace simd_r_drive::net::server {

struct TtlValue {
  std::span<const std::byte> bytes;    // the value, without the TTL header
  std::shared_ptr<const void> keep;    // keeps `bytes` alive (e.g. an EntryHandle)
};

struct TtlState {
  enum class Kind { kAbsent, kNoExpiry, kExpires } kind = Kind::kAbsent;
  std::uint64_t seconds = 0;
};

struct TtlAdapter {
  std::function<std::uint64_t(DataStore&, ByteView key, ByteView value, std::uint64_t ttl_secs)> write_with_ttl;
  std::function<std::optional<TtlValue>(const DataStore&, ByteView key)> read_with_ttl;
  std::function<TtlState(const DataStore&, ByteView key)> ttl_remaining;
};

// The TTL functions (never nullptr in this build, which links the extensions library).
const TtlAdapter* ttl_adapter() noexcept;

}  // namespace simd_r_drive::net::server

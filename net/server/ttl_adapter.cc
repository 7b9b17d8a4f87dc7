#include "server/ttl_adapter.h"

namespace simd_r_drive::net::server {

// The extensions library (write_with_ttl, read_with_ttl, ttl_remaining) is not part
// of the build yet; when it is, this returns an adapter over its functions.
const TtlAdapter* ttl_adapter() noexcept { return nullptr; }

}  // namespace simd_r_drive::net::server

#include "server/ttl_adapter.h"

#include <simd_r_drive/extensions/ttl_cache.h>

namespace simd_r_drive::net::server {

namespace {

TtlState to_state(const extensions::TtlRemaining& remaining) {
  using State = extensions::TtlRemaining::State;
  switch (remaining.state) {
    case State::kNoExpiry:
      return {TtlState::Kind::kNoExpiry, 0};
    case State::kExpiresIn:
      return {TtlState::Kind::kExpires, remaining.seconds};
    case State::kAbsent:
      break;
  }
  return {TtlState::Kind::kAbsent, 0};
}

const TtlAdapter kAdapter{
    [](DataStore& store, ByteView key, ByteView value, std::uint64_t ttl_secs) {
      return extensions::write_with_ttl(store, key, value, ttl_secs);
    },
    [](const DataStore& store, ByteView key) -> std::optional<TtlValue> {
      std::optional<extensions::EntryValue> value = extensions::read_with_ttl(store, key);
      if (!value) return std::nullopt;
      // The bytes stay in the store's mapping; the shared EntryValue pins it until the
      // response that points at them has been sent.
      auto kept = std::make_shared<const extensions::EntryValue>(std::move(*value));
      return TtlValue{kept->bytes(), kept};
    },
    [](const DataStore& store, ByteView key) { return to_state(extensions::ttl_remaining(store, key)); },
};

}  // namespace

const TtlAdapter* ttl_adapter() noexcept { return &kAdapter; }

}  // namespace simd_r_drive::net::server

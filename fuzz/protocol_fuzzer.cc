// libFuzzer target: the protocol codec's decoders on arbitrary bytes, as a hostile
// client (requests) or a hostile server (responses) would send them.
//
// The input is one WebSocket message. It must never crash, read out of bounds (ASan),
// or allocate beyond what the bytes can justify. Invariants checked with SRD_CHECK:
//  - split_values either fails or splits the message into values that tile it;
//  - every byte field of a decoded request views the input, and every batch holds at
//    most max_batch_items items;
//  - a decoded request re-encodes (its id, method and key) and decodes to the same;
//  - decode_response's result span lies within its value.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_check.h"
#include "protocol/codec.h"

namespace {

using namespace simd_r_drive::net;
using protocol::Bytes;

bool within(Bytes inner, Bytes outer) {
  if (inner.empty()) return true;
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

void check_request(const protocol::Request& request, Bytes value, const protocol::DecodeLimits& limits) {
  for (const auto* field : {&request.key, &request.value, &request.old_key, &request.new_key, &request.data,
                            &request.cursor, &request.token}) {
    if (*field) SRD_CHECK(within(**field, value));
  }
  SRD_CHECK(request.items.size() <= limits.max_batch_items);
  SRD_CHECK(request.hashed_items.size() <= limits.max_batch_items);
  SRD_CHECK(request.keys.size() <= limits.max_batch_items);
  SRD_CHECK(request.key_hashes.size() <= limits.max_batch_items);
  for (const auto& item : request.items) SRD_CHECK(within(item.key, value) && within(item.value, value));
  for (const auto& key : request.keys) SRD_CHECK(within(key, value));

  // Re-encode what identifies the request and decode it again.
  std::vector<std::byte> bytes;
  mp::Writer writer(bytes);
  protocol::begin_request(writer, request.id, request.method_name);
  if (request.key) {
    writer.map(1);
    writer.str("key");
    writer.bin(*request.key);
  } else {
    writer.nil();
  }
  protocol::Request again;
  const auto error = protocol::decode_request(Bytes(bytes.data(), bytes.size()), again, limits);
  if (error) {
    // Only a method that needs params other than `key` may now miss them.
    SRD_CHECK(error->code == protocol::code::kInvalidParams);
  } else {
    SRD_CHECK(again.id == request.id);
    SRD_CHECK(again.method == request.method);
    SRD_CHECK(again.method_name == request.method_name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Bytes message(reinterpret_cast<const std::byte*>(data), size);
  protocol::DecodeLimits limits;
  limits.max_batch_items = 64;
  std::vector<Bytes> values;
  if (protocol::split_values(message, values)) {
    std::size_t covered = 0;
    for (Bytes value : values) {
      SRD_CHECK(value.data() == message.data() + covered);
      SRD_CHECK(!value.empty());
      covered += value.size();
    }
    SRD_CHECK(covered == size);
  }
  protocol::Request request;
  for (Bytes value : values) {
    const auto error = protocol::decode_request(value, request, limits);
    if (!error) check_request(request, value, limits);
    else if (error->id) SRD_CHECK(!error->message.empty());
    protocol::Response response;
    if (protocol::decode_response(value, response)) SRD_CHECK(within(response.result, value));
  }
  // The raw input as a single value too (split_values may have refused it).
  const auto error = protocol::decode_request(message, request, limits);
  if (!error) check_request(request, message, limits);
  mp::Reader reader(message);
  while (!reader.at_end()) {
    const std::size_t before = reader.remaining();
    if (!reader.skip()) {
      SRD_CHECK(reader.remaining() == before);
      break;
    }
    SRD_CHECK(reader.remaining() < before);
  }
  return 0;
}

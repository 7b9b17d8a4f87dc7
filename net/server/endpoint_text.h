// "HOST:PORT" of a TCP endpoint for logs, an IPv6 address in brackets. Included only by
// the .cc files that already use Asio.
#pragma once

#include <string>

#include <boost/asio/ip/tcp.hpp>

namespace simd_r_drive::net::server {

inline std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  if (address.is_v6()) return "[" + address.to_string() + "]:" + std::to_string(endpoint.port());
  return address.to_string() + ":" + std::to_string(endpoint.port());
}

}  // namespace simd_r_drive::net::server

// A static Redis Cluster topology, as kvrocks has it (docs/redis.md, "Cluster"): no
// gossip; an operator (or a controller) gives every node the same versioned list of
// nodes and the slots each owns, with CLUSTERX SETNODES or --cluster-topology FILE.
// Nodes answer CLUSTER SLOTS, SHARDS, NODES, INFO from it and redirect keys of slots
// they do not own with MOVED.
//
// The text format, one node per line (kvrocks' SETNODES format, masters only):
//
//   <node id: 40 characters [0-9a-zA-Z]> <ip> <port> master - <slot or first-last>...
//
// A file may also hold "# comments" and one line "version <N>".
//
// Thread-safety: a Topology is immutable once parsed; ClusterState swaps whole
// topologies under its mutex and hands out shared pointers to them.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace simd_r_drive::net::server {

struct ClusterNode {
  std::string id;
  std::string host;
  std::uint16_t port = 0;
  std::vector<std::pair<std::uint16_t, std::uint16_t>> ranges;  // inclusive, in the order given
};

struct Topology {
  std::int64_t version = 0;
  std::vector<ClusterNode> nodes;
  // Which node owns each slot: an index into `nodes`, or -1.
  std::array<std::int16_t, 16384> owner{};
  std::size_t slots_assigned = 0;
};

// Parses the node lines of `text` (lines separated by '\n'; "# ..." and blank lines
// skipped; a "version N" line sets the version when `allow_version_line`). Empty
// optional and `error` set when the text is not a valid topology (a slot owned twice,
// a bad id, port or range).
std::optional<Topology> parse_topology(std::string_view text, bool allow_version_line, std::string& error);

class ClusterState {
 public:
  // Cluster mode on (INFO's cluster_enabled:1, CLUSTER commands, redirects).
  explicit ClusterState(bool enabled) : enabled_(enabled) {}
  bool enabled() const noexcept { return enabled_; }

  std::shared_ptr<const Topology> topology() const;
  std::string my_id() const;
  void set_my_id(std::string id);
  // Installs `topology` unless its version is older than the current one (or the
  // same version with other contents), unless `force`. Returns an error text or "".
  std::string install(Topology topology, bool force);

 private:
  const bool enabled_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Topology> topology_;
  std::string my_id_;
  std::string text_;  // of the installed topology, to compare an equal version with
};

}  // namespace simd_r_drive::net::server

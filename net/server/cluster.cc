#include "server/cluster.h"

#include <cctype>
#include <sstream>

#include "protocol/resp.h"

namespace simd_r_drive::net::server {
namespace {

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    const std::size_t begin = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > begin) out.push_back(line.substr(begin, i - begin));
  }
  return out;
}

bool valid_id(std::string_view id) {
  if (id.size() != 40) return false;
  for (char c : id) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0) return false;
  }
  return true;
}

bool parse_slot(std::string_view text, std::uint16_t& slot) {
  std::int64_t value = 0;
  if (!resp::parse_int64(text, value) || value < 0 || value >= resp::kSlots) return false;
  slot = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

std::optional<Topology> parse_topology(std::string_view text, bool allow_version_line, std::string& error) {
  Topology topology;
  topology.owner.fill(-1);
  std::size_t at = 0;
  while (at <= text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(at, end - at);
    at = end + 1;
    const auto w = words(line);
    if (w.empty() || w[0][0] == '#') continue;
    if (w[0] == "version") {
      if (!allow_version_line || w.size() != 2 || !resp::parse_int64(w[1], topology.version) || topology.version < 0) {
        error = "a bad version line";
        return std::nullopt;
      }
      continue;
    }
    if (w.size() < 5) {
      error = "a node line needs: <id> <ip> <port> master - [slots...]";
      return std::nullopt;
    }
    ClusterNode node;
    if (!valid_id(w[0])) {
      error = "a node id must be 40 characters [0-9a-zA-Z]";
      return std::nullopt;
    }
    node.id = std::string(w[0]);
    node.host = std::string(w[1]);
    std::int64_t port = 0;
    if (!resp::parse_int64(w[2], port) || port <= 0 || port > 65535) {
      error = "a bad port: " + std::string(w[2]);
      return std::nullopt;
    }
    node.port = static_cast<std::uint16_t>(port);
    if (w[3] != "master" || w[4] != "-") {
      error = "only masters are supported (role 'master', master id '-'): replicas are not part of this server";
      return std::nullopt;
    }
    for (const auto& other : topology.nodes) {
      if (other.id == node.id) {
        error = "a node id given twice";
        return std::nullopt;
      }
    }
    const auto index = static_cast<std::int16_t>(topology.nodes.size());
    for (std::size_t i = 5; i < w.size(); ++i) {
      const std::string_view range = w[i];
      std::uint16_t first = 0;
      std::uint16_t last = 0;
      const std::size_t dash = range.find('-');
      if (dash == std::string_view::npos) {
        if (!parse_slot(range, first)) {
          error = "a bad slot: " + std::string(range);
          return std::nullopt;
        }
        last = first;
      } else if (!parse_slot(range.substr(0, dash), first) || !parse_slot(range.substr(dash + 1), last) || last < first) {
        error = "a bad slot range: " + std::string(range);
        return std::nullopt;
      }
      for (unsigned slot = first; slot <= last; ++slot) {
        if (topology.owner[slot] != -1) {
          error = "slot " + std::to_string(slot) + " is given to two nodes";
          return std::nullopt;
        }
        topology.owner[slot] = index;
        ++topology.slots_assigned;
      }
      node.ranges.emplace_back(first, last);
    }
    topology.nodes.push_back(std::move(node));
    if (topology.nodes.size() > 1000) {
      error = "too many nodes";
      return std::nullopt;
    }
  }
  if (topology.nodes.empty()) {
    error = "no nodes";
    return std::nullopt;
  }
  return topology;
}

std::shared_ptr<const Topology> ClusterState::topology() const {
  std::lock_guard lock(mutex_);
  return topology_;
}

std::string ClusterState::my_id() const {
  std::lock_guard lock(mutex_);
  return my_id_;
}

void ClusterState::set_my_id(std::string id) {
  std::lock_guard lock(mutex_);
  my_id_ = std::move(id);
}

std::string ClusterState::install(Topology topology, bool force) {
  std::ostringstream canonical;
  for (const auto& node : topology.nodes) {
    canonical << node.id << ' ' << node.host << ' ' << node.port;
    for (const auto& [first, last] : node.ranges) canonical << ' ' << first << '-' << last;
    canonical << '\n';
  }
  std::lock_guard lock(mutex_);
  if (topology_ && !force) {
    if (topology.version < topology_->version) return "ERR Invalid cluster version: older than the current one";
    if (topology.version == topology_->version && canonical.str() != text_) {
      return "ERR Invalid cluster version: the same version with other contents";
    }
  }
  text_ = canonical.str();
  topology_ = std::make_shared<const Topology>(std::move(topology));
  return {};
}

}  // namespace simd_r_drive::net::server

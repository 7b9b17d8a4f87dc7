#include "figures.h"

namespace srd_bench {

std::string_view unit_name(Unit unit) {
  switch (unit) {
    case Unit::kMillionOpsPerSecond: return "M ops/s";
    case Unit::kThousandOpsPerSecond: return "k ops/s";
    case Unit::kMiBPerSecond: return "MiB/s";
    case Unit::kMilliseconds: return "ms";
    case Unit::kSeconds: return "s";
  }
  return "?";
}

bool higher_is_better(Unit unit) {
  return unit == Unit::kMillionOpsPerSecond || unit == Unit::kThousandOpsPerSecond || unit == Unit::kMiBPerSecond;
}

const std::vector<FigureSpec>& figure_specs() {
  using enum Unit;
  static const std::vector<FigureSpec> specs = {
      {"W1", "W1", "W1 put, one write() each (puts + close)", kMillionOpsPerSecond, 0.149, 2.0},
      {"W2", "W2", "W2 put, batches of 1000 (puts + close)", kMillionOpsPerSecond, 3.05, 6.0},
      {"W3", "W3", "W3 reopen the W2 store (open only)", kMilliseconds, 200, 10},
      {"W3 rebuild", "W3-rebuild", "W3 reopen, index rebuilt (no snapshot)", kMilliseconds, 200, 10},
      {"W4", "W4", "W4 sequential get", kMillionOpsPerSecond, 2.2, 5.0},
      {"W5", "W5", "W5 random get", kMillionOpsPerSecond, 1.51, 3.0},
      {"W6", "W6", "W6 multi-get, batches of 1000", kMillionOpsPerSecond, 2.97, 10.0},
      {"W7", "W7", "W7 iterate + sum, 1 thread", kMillionOpsPerSecond, 4.3, 45.0},
      {"W7 parallel", "W7", "W7 iterate + sum, parallel", kMillionOpsPerSecond, 11.2, 0},
      {"W8 write", "W8", "W8 write 1 MiB values", kMiBPerSecond, 564, 3000},
      {"W8 read", "W8", "W8 read back + sum bytes", kMiBPerSecond, 2843, 7500},
      {"W9", "W9", "W9 2 threads random get (total)", kMillionOpsPerSecond, 1.46, 5.0},
      {"W10 overwrite", "W10", "W10 overwrite even keys, batched", kMillionOpsPerSecond, 2.44, 0},
      {"W10 compact", "W10", "W10 compact()", kSeconds, 8.71, 0.08},
      // The durability rows (durability_workloads.h): the original cannot sync, and
      // no goal is set, so both columns read "-".
      {"D1", "D1", "D1 synced put, 1 thread (2,000)", kThousandOpsPerSecond, 0, 0},
      {"D1 group", "D1-group", "D1 in group commit mode, 1 thread", kThousandOpsPerSecond, 0, 0},
      {"D2", "D2", "D2 synced put_batch of 100, 1 thread", kThousandOpsPerSecond, 0, 0},
      {"D3", "D3", "D3 4 threads synced put, group commit (total)", kThousandOpsPerSecond, 0, 0},
      {"D3 each", "D3-each", "D3 4 threads, sync each write (total)", kThousandOpsPerSecond, 0, 0},
      {"D4", "D4", "D4 = W1 with a sync every 100 ms (puts + close)", kMillionOpsPerSecond, 0, 0},
  };
  return specs;
}

const FigureSpec* find_figure(std::string_view id) {
  for (const FigureSpec& spec : figure_specs()) {
    if (spec.id == id) return &spec;
  }
  return nullptr;
}

double Figure::value(Unit unit) const {
  switch (unit) {
    case Unit::kMillionOpsPerSecond: return amount / seconds / 1e6;
    case Unit::kThousandOpsPerSecond: return amount / seconds / 1e3;
    case Unit::kMiBPerSecond: return amount / seconds;
    case Unit::kMilliseconds: return seconds * 1e3;
    case Unit::kSeconds: return seconds;
  }
  return 0;
}

nlohmann::json to_json(const Figure& figure) {
  return {{"id", figure.id},
          {"seconds", figure.seconds},
          {"amount", figure.amount},
          {"verified", figure.verified},
          {"extra", figure.extra}};
}

Figure figure_from_json(const nlohmann::json& json) {
  Figure figure;
  figure.id = json.at("id").get<std::string>();
  figure.seconds = json.at("seconds").get<double>();
  figure.amount = json.at("amount").get<double>();
  figure.verified = json.at("verified").get<bool>();
  figure.extra = json.value("extra", nlohmann::json::object());
  return figure;
}

}  // namespace srd_bench

// info (alias stats): what the store holds and what compaction would free.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <simd_r_drive/data_store.h>

#include <memory>
#include <string>

#include "byte_size.h"
#include "commands/commands.h"
#include "console.h"
#include "report_format.h"
#include "store_access.h"

namespace srd_cli {

namespace {

struct InfoOptions {
  bool json = false;
};

std::string bytes_text(std::uint64_t bytes) {
  return bytes < 1024 ? format_bytes(bytes) : format_bytes(bytes) + " (" + std::to_string(bytes) + " bytes)";
}

ExitCode run_info(const InfoOptions& options, const GlobalOptions& global) {
  simd_r_drive::DataStore store = open_for_reading(global.storage);
  const simd_r_drive::StoreStats stats = store.stats();
  if (options.json) {
    nlohmann::ordered_json report;
    report["path"] = global.storage.string();
    report["file_size"] = stats.file_size;
    report["live_keys"] = stats.live_keys;
    report["entries"] = stats.entries;
    report["tombstones"] = stats.tombstones;
    report["stale_entries"] = stats.stale_entries;
    report["live_payload_bytes"] = stats.live_payload_bytes;
    report["reclaimable_bytes"] = stats.reclaimable_bytes;
    print(report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    return ExitCode::kOk;
  }
  std::string text = report_title("STORAGE INFO");
  text += report_line("STORAGE FILE:", "\"" + global.storage.string() + "\"");
  text += report_rule('-');
  text += report_line("TOTAL SIZE:", bytes_text(stats.file_size));
  text += report_line("ACTIVE ENTRIES:", std::to_string(stats.live_keys));
  text += report_line("LIVE PAYLOAD:", bytes_text(stats.live_payload_bytes));
  text += report_line("TOMBSTONES:", std::to_string(stats.tombstones));
  text += report_line("STALE ENTRIES:", std::to_string(stats.stale_entries));
  text += report_line("COMPACTION SAVINGS:", bytes_text(stats.reclaimable_bytes));
  text += report_rule('=');
  print(text);
  return ExitCode::kOk;
}

}  // namespace

Command add_info_command(CLI::App& app, const GlobalOptions& global) {
  auto options = std::make_shared<InfoOptions>();
  CLI::App* command = app.add_subcommand("info", "Size, live keys, tombstones, and what compact would free");
  command->alias("stats");
  command->add_flag("--json", options->json, "Print one JSON object instead of the table");
  command->footer(R"(ACTIVE ENTRIES counts live keys (deleted keys are not counted, also after a
reopen). STALE ENTRIES are older versions of keys written again, and the values
of deleted keys (inspect lists them as superseded and deleted).
`stats` is the same command.

JSON fields: path, file_size, live_keys, entries (records on the chain),
tombstones, stale_entries, live_payload_bytes, reclaimable_bytes.

Examples:
  simd-r-drive store.bin info
  simd-r-drive store.bin stats --json | jq .reclaimable_bytes)");
  return {command, [options, &global] { return run_info(*options, global); }};
}

}  // namespace srd_cli

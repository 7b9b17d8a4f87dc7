// info (alias stats): what the store holds and what compaction would free.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <simd_r_drive/data_store.h>

#include <memory>
#include <string>

#include "byte_size.h"
#include "chain_walker.h"
#include "commands/commands.h"
#include "console.h"
#include "report_format.h"

namespace srd_cli {

namespace {

struct InfoOptions {
  bool json = false;
};

std::string bytes_text(std::uint64_t bytes) {
  return bytes < 1024 ? format_bytes(bytes) : format_bytes(bytes) + " (" + std::to_string(bytes) + " bytes)";
}

ExitCode run_info(const InfoOptions& options, const GlobalOptions& global) {
  StoreView view(global.storage);
  simd_r_drive::DataStore& store = view.store();
  // Every record on the chain: live entries, older versions, and tombstones.
  std::uint64_t entries = 0;
  std::uint64_t tombstones = 0;
  for (std::uint64_t tail = view.tail(); tail != 0;) {
    const ChainRecord record = decode_record(view.bytes(), tail);
    ++entries;
    if (record.tombstone) ++tombstones;
    tail = record.metadata.prev_offset;
  }
  std::uint64_t live_payload = 0;
  for (const simd_r_drive::EntryHandle& entry : store.iter_entries()) live_payload += entry.size();
  const std::uint64_t live = store.len();
  // Older versions of keys written again, and the values of deleted keys.
  const std::uint64_t stale = entries >= tombstones + live ? entries - tombstones - live : 0;
  const std::uint64_t reclaimable = store.estimate_compaction_savings();

  if (options.json) {
    nlohmann::ordered_json report;
    report["path"] = global.storage.string();
    report["file_size"] = store.file_size();
    report["live_keys"] = live;
    report["entries"] = entries;
    report["tombstones"] = tombstones;
    report["stale_entries"] = stale;
    report["live_payload_bytes"] = live_payload;
    report["reclaimable_bytes"] = reclaimable;
    print(report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    return ExitCode::kOk;
  }
  std::string text = report_title("STORAGE INFO");
  text += report_line("STORAGE FILE:", "\"" + global.storage.string() + "\"");
  text += report_rule('-');
  text += report_line("TOTAL SIZE:", bytes_text(store.file_size()));
  text += report_line("ACTIVE ENTRIES:", std::to_string(live));
  text += report_line("LIVE PAYLOAD:", bytes_text(live_payload));
  text += report_line("TOMBSTONES:", std::to_string(tombstones));
  text += report_line("STALE ENTRIES:", std::to_string(stale));
  text += report_line("COMPACTION SAVINGS:", bytes_text(reclaimable));
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

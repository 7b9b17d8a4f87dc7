// verify: check every checksum and the chain; report damage with offsets. Read-only.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <simd_r_drive/data_store.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "byte_size.h"
#include "commands/commands.h"
#include "console.h"
#include "key_arguments.h"
#include "progress_bar.h"
#include "report_format.h"
#include "store_access.h"

namespace srd_cli {

namespace {

struct VerifyOptions {
  bool json = false;
};

std::string hex_u32(std::uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

ExitCode run_verify(const VerifyOptions& options, const GlobalOptions& global) {
  simd_r_drive::DataStore store = open_for_reading(global.storage);
  simd_r_drive::VerifyReport report;
  {
    // The library reports no progress from inside verify(); show that it is alive.
    ProgressSpinner spinner("verifying " + format_bytes(store.file_size()));
    report = store.verify();
  }
  const bool ok = report.ok();
  const std::size_t problems =
      report.corrupt_entries.size() + (report.chain_intact ? 0 : 1) + (report.trailing_bytes_damaged ? 1 : 0);

  if (options.json) {
    nlohmann::ordered_json out;
    out["path"] = global.storage.string();
    out["ok"] = ok;
    out["file_size"] = report.file_size;
    out["entries"] = report.entries;
    out["tombstones"] = report.tombstones;
    out["live_keys"] = report.live_keys;
    out["bytes_checked"] = report.bytes_checked;
    out["chain_intact"] = report.chain_intact;
    if (!report.chain_intact) out["chain_error"] = report.chain_error;
    out["corrupt_entries"] = nlohmann::ordered_json::array();
    for (const auto& corrupt : report.corrupt_entries) {
      nlohmann::ordered_json entry;
      entry["payload_offset"] = corrupt.payload_offset;
      entry["payload_size"] = corrupt.payload_size;
      entry["metadata_offset"] = corrupt.metadata_offset;
      entry["key_hash"] = hex_u64(corrupt.key_hash);
      entry["stored_checksum"] = corrupt.stored_checksum;
      entry["computed_checksum"] = corrupt.computed_checksum;
      out["corrupt_entries"].push_back(std::move(entry));
    }
    out["trailing_bytes"] = report.trailing_bytes;
    out["trailing_bytes_damaged"] = report.trailing_bytes_damaged;
    out["padding_record_offset"] = report.padding_record_offset;
    out["writer_active"] = report.writer_active;
    print(out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  } else {
    std::string text = report_line("STORE:", "\"" + global.storage.string() + "\"");
    text += report_line("ENTRIES:", counted(report.entries, "entry", "entries") + " on the chain (" +
                                        counted(report.tombstones, "tombstone", "tombstones") + "), " +
                                        counted(report.live_keys, "live key", "live keys"));
    text += report_line("CHECKED:", format_bytes(report.bytes_checked) + " of payload, " +
                                        format_bytes(report.file_size) + " of file");
    text += report_line("CHAIN:", report.chain_intact ? "intact" : "BROKEN: " + report.chain_error);
    for (const auto& corrupt : report.corrupt_entries) {
      text += report_line("CORRUPT ENTRY:", "payload at offset " + std::to_string(corrupt.payload_offset) + " (" +
                                                std::to_string(corrupt.payload_size) + " bytes), record at " +
                                                std::to_string(corrupt.metadata_offset) + ", key hash " +
                                                hex_u64(corrupt.key_hash) + ", stored checksum " +
                                                hex_u32(corrupt.stored_checksum) + ", computed " +
                                                hex_u32(corrupt.computed_checksum));
    }
    if (report.trailing_bytes != 0) {
      const std::string where = std::to_string(report.trailing_bytes) + " bytes at offsets " +
                                std::to_string(report.file_size) + ".." +
                                std::to_string(report.file_size + report.trailing_bytes);
      if (report.writer_active) {
        text += report_line("TRAILING BYTES:", where + ": a writer has the store open (its preallocated space or "
                                                       "a write in progress); not checked");
      } else if (report.trailing_bytes_damaged) {
        text += report_line("TRAILING BYTES:", where + " are not a complete entry (a torn write or garbage); "
                                                       "opening the store for writing cuts them off");
      } else if (report.padding_record_offset != 0) {
        text += report_line("TRAILING BYTES:", where + " are space a writer reserved and left behind when it "
                                                       "stopped without closing: zeros, ending with its padding "
                                                       "record; harmless, opening the store for writing removes them");
      } else {
        text += report_line("TRAILING BYTES:", where + " are zeros (space a writer preallocated); harmless");
      }
      if (report.padding_record_offset != 0) {
        text += report_line("PADDING RECORD:", "at offset " + std::to_string(report.padding_record_offset) +
                                                   ", naming the tail " +
                                                   std::to_string(report.padding_record_names_tail) +
                                                   " (what lets the Rust original find the entries)");
      }
    }
    text += report_line("RESULT:", ok ? "OK" : "DAMAGED (" + counted(problems, "problem", "problems") + ")");
    print(text);
  }
  if (ok) return ExitCode::kOk;
  throw CliError(ExitCode::kDamaged, "store " + quote_bytes(global.storage.string()) + " is damaged: " +
                                         counted(problems, "problem", "problems") + " (see the report above)");
}

}  // namespace

Command add_verify_command(CLI::App& app, const GlobalOptions& global) {
  auto options = std::make_shared<VerifyOptions>();
  CLI::App* command =
      app.add_subcommand("verify", "Check every entry's checksum and the chain; report damage with offsets");
  command->add_flag("--json", options->json, "Print one JSON object instead of the report");
  command->footer(R"(verify opens the store read-only and changes nothing, not even a torn tail. It
works while another process writes the store. It checks the whole chain, every
payload's CRC-32, and that nothing but zeros follows the last complete entry.

Exit status: 0 the store is sound, 4 it is damaged or is not a store, 1 other
errors (such as a missing file).

JSON fields: path, ok, file_size, entries, tombstones, live_keys, bytes_checked,
chain_intact, chain_error, corrupt_entries (payload_offset, payload_size,
metadata_offset, key_hash, stored_checksum, computed_checksum), trailing_bytes,
trailing_bytes_damaged, padding_record_offset (0: none), writer_active.

Examples:
  simd-r-drive store.bin verify
  simd-r-drive store.bin verify --json | jq '.corrupt_entries[].payload_offset')");
  return {command, [options, &global] { return run_verify(*options, global); }};
}

}  // namespace srd_cli

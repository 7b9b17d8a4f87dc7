// metadata: where a key's entry lies and what its 20-byte record says.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <simd_r_drive/data_store.h>

#include <cstdio>
#include <memory>
#include <string>

#include "commands/commands.h"
#include "console.h"
#include "key_arguments.h"
#include "report_format.h"
#include "store_access.h"

namespace srd_cli {

namespace {

struct MetadataOptions {
  std::string key;
  KeyOptions key_options;
  bool json = false;
};

std::string hex_u32(std::uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

ExitCode run_metadata(const MetadataOptions& options, const GlobalOptions& global) {
  const Key key = Key::parse(options.key, options.key_options);
  simd_r_drive::DataStore store = open_for_reading(global.storage);
  const auto entry = key.hash_only() ? store.read_with_key_hash(key.hash()) : store.read(key.bytes());
  if (!entry) {
    throw CliError(ExitCode::kKeyNotFound, "key " + key.shown() + " not found in " + quote_bytes(global.storage.string()));
  }
  const simd_r_drive::EntryMetadata& metadata = entry->metadata();
  const bool valid = entry->is_valid_checksum();

  if (options.json) {
    nlohmann::ordered_json report;
    if (!key.hash_only()) report["key"] = options.key;  // as given (hex with --key-hex)
    report["key_hash"] = hex_u64(entry->key_hash());
    report["payload_size"] = entry->size();
    report["total_size"] = entry->file_size();
    report["offset_start"] = entry->start_offset();
    report["offset_end"] = entry->end_offset();
    report["metadata_offset"] = entry->end_offset();
    report["prev_offset"] = metadata.prev_offset;
    report["checksum"] = entry->checksum();
    report["checksum_valid"] = valid;
    print(report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    return ExitCode::kOk;
  }
  const auto [address_begin, address_end] = entry->address_range();
  char addresses[64];
  std::snprintf(addresses, sizeof addresses, "0x%llx..0x%llx", static_cast<unsigned long long>(address_begin),
                static_cast<unsigned long long>(address_end));
  std::string text = report_title("METADATA SUMMARY");
  text += report_line("ENTRY FOR:", key.shown());
  text += report_rule('-');
  text += report_line("PAYLOAD SIZE:", std::to_string(entry->size()) + " bytes");
  text += report_line("TOTAL SIZE (W/ METADATA):", std::to_string(entry->file_size()) + " bytes");
  text += report_line("OFFSET RANGE:", std::to_string(entry->start_offset()) + ".." + std::to_string(entry->end_offset()));
  text += report_line("MEMORY ADDRESS:", addresses);
  text += report_line("KEY HASH:", std::to_string(entry->key_hash()) + " (" + hex_u64(entry->key_hash()) + ")");
  text += report_line("CHECKSUM:", std::to_string(entry->checksum()) + " (" + hex_u32(entry->checksum()) + ")");
  text += report_line("CHECKSUM VALIDITY:", valid ? "VALID" : "INVALID");
  text += report_rule('-');
  text += report_line("STORED METADATA:", "EntryMetadata { key_hash: " + std::to_string(metadata.key_hash) +
                                              ", prev_offset: " + std::to_string(metadata.prev_offset) +
                                              ", checksum: " + std::to_string(metadata.checksum) + " }");
  text += report_rule('=');
  print(text);
  return ExitCode::kOk;
}

}  // namespace

Command add_metadata_command(CLI::App& app, const GlobalOptions& global) {
  auto options = std::make_shared<MetadataOptions>();
  CLI::App* command = app.add_subcommand("metadata", "Show where a key's entry lies, its hash and its checksum");
  command->add_option("key", options->key, "The key (see --key-hex, --key-hash)")->required();
  add_key_options(*command, options->key_options, true);
  command->add_flag("--json", options->json, "Print one JSON object instead of the table");
  command->footer(R"(The checksum is recomputed from the payload (CHECKSUM VALIDITY). MEMORY ADDRESS
is where this process mapped the payload, as the original shows it.

JSON fields: key (as given), key_hash, payload_size, total_size, offset_start, offset_end,
metadata_offset, prev_offset, checksum, checksum_valid.

Examples:
  simd-r-drive store.bin metadata greeting
  simd-r-drive store.bin metadata --json greeting)");
  return {command, [options, &global] { return run_metadata(*options, global); }};
}

}  // namespace srd_cli

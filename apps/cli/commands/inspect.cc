// inspect (alias dump): every record in the file, with offsets, sizes, hashes, state.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <simd_r_drive/data_store.h>
#include <simd_r_drive/hashing.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands/commands.h"
#include "console.h"
#include "key_arguments.h"
#include "report_format.h"
#include "store_access.h"

namespace srd_cli {

namespace {

struct InspectOptions {
  bool json = false;
  bool checksums = false;
};

// Output is collected in pieces of about this size, so a large store streams out.
constexpr std::size_t kFlushSize = 1 << 16;

ExitCode run_inspect(const InspectOptions& options, const GlobalOptions& global) {
  simd_r_drive::DataStore store = open_for_reading(global.storage);

  std::string out;
  std::size_t entries = 0, live = 0, superseded = 0, deleted = 0, tombstones = 0, bad_checksums = 0;
  if (options.json) {
    nlohmann::ordered_json header;
    header["path"] = global.storage.string();
    header["file_size"] = store.file_size();
    std::string text = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text.pop_back();  // the closing brace: the entries follow
    out = text + ",\"entries\":[";
  } else {
    char line[160];
    std::snprintf(line, sizeof line, "%-14s %-12s %-14s %-18s %-10s %s\n", "OFFSET", "SIZE", "TAIL", "KEY HASH",
                  "CHECKSUM", options.checksums ? "STATE      CRC" : "STATE");
    out = line;
  }
  // Oldest first, as the bytes lie in the file.
  for (const simd_r_drive::RecordInfo& record : store.iter_records(simd_r_drive::RecordOrder::kOldestFirst)) {
    const std::string state(simd_r_drive::to_string(record.kind));
    live += record.kind == simd_r_drive::RecordKind::kLive;
    superseded += record.kind == simd_r_drive::RecordKind::kSuperseded;
    deleted += record.kind == simd_r_drive::RecordKind::kDeleted;
    tombstones += record.kind == simd_r_drive::RecordKind::kTombstone;
    bool crc_ok = true;
    if (options.checksums) {
      crc_ok = record.entry.is_valid_checksum();
      bad_checksums += !crc_ok;
    }
    if (options.json) {
      nlohmann::ordered_json entry;
      entry["offset"] = record.payload_offset();
      entry["size"] = record.payload_size();
      entry["metadata_offset"] = record.metadata_offset();
      entry["tail"] = record.tail;
      entry["prev_offset"] = record.metadata().prev_offset;
      entry["key_hash"] = hex_u64(record.metadata().key_hash);
      entry["checksum"] = record.metadata().checksum;
      if (options.checksums) entry["checksum_valid"] = crc_ok;
      entry["tombstone"] = record.kind == simd_r_drive::RecordKind::kTombstone;
      entry["state"] = state;
      if (entries != 0) out += ",";
      out += "\n" + entry.dump();
    } else {
      char line[200];
      std::snprintf(line, sizeof line, "%-14llu %-12llu %-14llu %-18s 0x%08x %-*s%s\n",
                    static_cast<unsigned long long>(record.payload_offset()),
                    static_cast<unsigned long long>(record.payload_size()),
                    static_cast<unsigned long long>(record.tail), hex_u64(record.metadata().key_hash).c_str(),
                    record.metadata().checksum, options.checksums ? 10 : 0, state.c_str(),
                    !options.checksums ? "" : crc_ok ? " ok" : " BAD");
      out += line;
    }
    ++entries;
    if (out.size() >= kFlushSize) {
      print(out);
      out.clear();
    }
  }
  if (options.json) {
    out += "\n]}\n";
  } else {
    out += counted(entries, "entry", "entries") + ": " + std::to_string(live) + " live, " +
           std::to_string(superseded) + " superseded, " + std::to_string(deleted) + " deleted, " +
           counted(tombstones, "tombstone", "tombstones");
    if (options.checksums) out += ", " + counted(bad_checksums, "bad checksum", "bad checksums");
    out += "\n";
  }
  print(out);
  return ExitCode::kOk;
}

}  // namespace

Command add_inspect_command(CLI::App& app, const GlobalOptions& global) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* command = app.add_subcommand("inspect", "List every entry in the file: offsets, sizes, key hashes, state");
  command->alias("dump");
  command->add_flag("--json", options->json, "Print one JSON object (the entries as an array)");
  command->add_flag("--checksums", options->checksums, "Also recompute each payload's CRC-32 (reads every payload)");
  command->footer(R"(One line per entry, oldest first: OFFSET is where the payload starts, SIZE its
length, TAIL where the entry's 20-byte record ends. STATE is live (the key's
current value), superseded (an older version), deleted (a version of a key that
is deleted now) or tombstone (a delete marker). Keys are not stored, only their
hashes; `read --key-hash` reads a live entry by its hash. `dump` is the same
command.

JSON: {"path", "file_size", "entries": [{"offset", "size", "metadata_offset",
"tail", "prev_offset", "key_hash", "checksum", "checksum_valid" (with
--checksums), "tombstone", "state"}]}.

Examples:
  simd-r-drive store.bin inspect
  simd-r-drive store.bin dump --json | jq '.entries[] | select(.state == "live")'
  simd-r-drive store.bin inspect --checksums | grep BAD)");
  return {command, [options, &global] { return run_inspect(*options, global); }};
}

}  // namespace srd_cli

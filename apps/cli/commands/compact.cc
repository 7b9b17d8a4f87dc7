// compact: rewrite the store with its live entries only.
#include <CLI/CLI.hpp>
#include <simd_r_drive/data_store.h>

#include <memory>
#include <string>

#include "byte_size.h"
#include "commands/commands.h"
#include "console.h"
#include "key_arguments.h"
#include "progress_bar.h"
#include "report_format.h"
#include "store_access.h"

namespace srd_cli {

namespace {

ExitCode run_compact(const GlobalOptions& global) {
  simd_r_drive::DataStore store = open_for_writing(global.storage, false);
  const std::uint64_t before = store.file_size();
  notice("Compacting " + quote_bytes(global.storage.string()) + " (" + format_bytes(before) + ", " +
         format_bytes(store.estimate_compaction_savings()) + " reclaimable)...");
  {
    // The library reports no progress from inside compact(); show that it is alive.
    ProgressSpinner spinner("compacting");
    store.compact();
  }
  const std::uint64_t after = store.file_size();
  notice("Compacted " + quote_bytes(global.storage.string()) + ": " + format_bytes(before) + " -> " +
         format_bytes(after) + " (" + format_bytes(before > after ? before - after : 0) + " freed, " +
         counted(store.len(), "live key", "live keys") + ")");
  return ExitCode::kOk;
}

}  // namespace

Command add_compact_command(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = app.add_subcommand("compact", "Rewrite the store with live entries only, freeing the rest");
  command->footer(R"(The live entries are written to a new file beside the store, which is synced and
then renamed over it: a crash leaves either the old store or the new one. Entries
keep their order. Needs free space for the live data.

Examples:
  simd-r-drive store.bin compact
  simd-r-drive store.bin info     # COMPACTION SAVINGS shows what compact would free)");
  return {command, [&global] { return run_compact(global); }};
}

}  // namespace srd_cli

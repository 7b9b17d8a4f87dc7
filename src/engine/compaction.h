// Compaction. Writer::compact() (writer.h) rewrites the store with its live entries;
// compaction_savings() says how many bytes that would free now, by laying the live
// entries out exactly as compact() would.
//
// Compaction copies the live entries, oldest first, into a new file beside the store,
// syncs it, renames it over the store and syncs the directory; then it swaps in a new
// generation (mapping + index + tail) built from what it wrote. Readers keep using the
// old generation until the swap and their handles keep the old mapping alive after it,
// so nothing needs reopening. Writers wait on the write mutex meanwhile.
//
// Thread-safety: compaction_savings() from any thread, concurrently with writers.
#pragma once

#include <cstdint>

#include "engine/publication.h"

namespace simd_r_drive::engine {

std::uint64_t compaction_savings(const Publication& publication);

}  // namespace simd_r_drive::engine

// Iteration over live entries: sequential (EntryRange) and parallel.
//
// Thread-safety: any thread; each range belongs to the thread that uses it.
#pragma once

#include <functional>

#include "engine/publication.h"
#include "simd_r_drive/entry_iterator.h"

namespace simd_r_drive::engine {

EntryRange iterate(const Publication& publication);
// Calls `visit` for every live entry from one thread per core; rethrows the first
// exception a call threw.
void parallel_iterate(const Publication& publication, const std::function<void(const EntryHandle&)>& visit);

}  // namespace simd_r_drive::engine

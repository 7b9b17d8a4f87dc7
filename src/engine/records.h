// The records API (simd_r_drive/records.h) and the counts behind DataStore::stats().
//
// Thread-safety: any thread, concurrently with writers; each range belongs to the
// thread that uses it.
#pragma once

#include "engine/publication.h"
#include "simd_r_drive/records.h"
#include "simd_r_drive/store_stats.h"

namespace simd_r_drive::engine {

RecordRange iterate_records(const Publication& publication, RecordOrder order);
// Everything but reclaimable_bytes, from one walk of the chain.
StoreStats count_records(const Publication& publication);

}  // namespace simd_r_drive::engine

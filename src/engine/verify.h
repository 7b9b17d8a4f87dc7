// verify(): a read-only check of a whole store: the chain, every entry's checksum,
// and the bytes past the tail.
//
// Thread-safety: any thread, concurrently with writers (it checks the generation it
// finds when it starts).
#pragma once

#include "engine/data_store_impl.h"
#include "simd_r_drive/verify_report.h"

namespace simd_r_drive::engine {

VerifyReport verify(const DataStore::Impl& store);

}  // namespace simd_r_drive::engine

// Index upkeep: keeping a generation's index table and LiveBits in step with the
// entries of its file, and building a generation from a list of entries.
//
// The table maps each key hash to the tail of its newest entry (key_index.h); LiveBits
// mark the tails of live entries by position, for fast iteration (live_bits.h). Both
// are read by readers while the changer updates them; a structure that must grow is
// replaced whole, the old one retired through the publication.
//
// Thread-safety: everything here runs under the publication's change mutex, except
// build_generation, which makes a generation nobody else sees yet.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "engine/publication.h"
#include "engine/store_state.h"
#include "io/mapping.h"

namespace simd_r_drive::engine {

// Records that the newest entry of `key_hash` ends at `tail` (or, for a tombstone,
// that the key is deleted), keeping the live count and LiveBits right.
void index_entry(const Publication& publication, Generation& generation, std::uint64_t key_hash,
                 std::uint64_t tail, bool tombstone);

// Indexes entries found appended to the generation's file (tails newest first, as
// tails_above returns them), oldest first so that the later of two writes wins.
void index_appended(const Publication& publication, Generation& generation,
                    std::span<const std::uint64_t> tails_newest_first);

// Builds the generation's LiveBits if it has none and they are worth keeping
// (LiveBits::worth_keeping): stores of large values keep iterating through the index.
void build_live_bits(Generation& generation);

// The same for the published generation, called from readers (iteration): decides
// without the change mutex when nothing is to be built, so that iterating a store of
// large values never waits behind a writer.
void ensure_live_bits(const Publication& publication);

// Marks a tombstone's tail in the pairs build_generation takes.
inline constexpr std::uint64_t kTombstoneMark = std::uint64_t{1} << 63;

// A generation over `mapping` whose file ends at `tail`, from (key hash, tail) pairs
// newest first; a tail | kTombstoneMark records a deleted key. `keys_distinct`: the
// caller knows no key appears twice (a compacted file), so no record is read to
// tell keys apart, and the records need not be written yet.
std::shared_ptr<Generation> build_generation(std::shared_ptr<io::Mapping> mapping, std::uint64_t tail,
                                             std::span<const std::pair<std::uint64_t, std::uint64_t>> newest_first,
                                             bool keys_distinct);

}  // namespace simd_r_drive::engine

// The whole public API of the extensions library (docs/extensions.md): namespaced keys,
// optional values, a TTL cache, directory import, and Arrow export of a value.
// Link simd_r_drive::extensions.
#pragma once

#include "simd_r_drive/extensions/arrow_c_data.h"
#include "simd_r_drive/extensions/codec.h"
#include "simd_r_drive/extensions/entry_value.h"
#include "simd_r_drive/extensions/file_import.h"
#include "simd_r_drive/extensions/namespaces.h"
#include "simd_r_drive/extensions/option.h"
#include "simd_r_drive/extensions/ttl_cache.h"
#include "simd_r_drive/extensions/value_stream.h"

// The whole public API of SIMD R Drive.
#pragma once

#include "simd_r_drive/byte_view.h"
#include "simd_r_drive/data_store.h"
#include "simd_r_drive/entry_handle.h"
#include "simd_r_drive/entry_iterator.h"
#include "simd_r_drive/entry_metadata.h"
#include "simd_r_drive/entry_stream.h"
#include "simd_r_drive/error.h"
#include "simd_r_drive/format.h"
#include "simd_r_drive/hashing.h"
#include "simd_r_drive/logging.h"
#include "simd_r_drive/options.h"
#include "simd_r_drive/records.h"
#include "simd_r_drive/salvage_report.h"
#include "simd_r_drive/store_files.h"
#include "simd_r_drive/store_stats.h"
#include "simd_r_drive/verify_report.h"

// A stored value as an Arrow array, through the Arrow C Data Interface, with no copy
// and no dependency on libarrow.
//
// The Arrow C Data Interface (https://arrow.apache.org/docs/format/CDataInterface.html)
// is two C structs that any Arrow implementation (pyarrow, arrow-rs, DuckDB, polars,
// nanoarrow) imports without copying the buffers they point at. The structs below are the
// specification's, byte for byte, under its include guard, so this header can sit beside
// any other copy of them (including libarrow's own abi.h) in one translation unit.
//
//   ArrowArray array;
//   ArrowSchema schema;
//   simd_r_drive::extensions::export_arrow_array(handle, "f", &array, &schema);
//   // hand both to a consumer; it calls array.release(&array) and
//   // schema.release(&schema) when done (or the producer's caller does, if the
//   // consumer never took them)
//
// What is exported:
//   format "" or "z"  a binary array of one element, the value: buffers are (validity:
//                     NULL, offsets: int32 {0, size}, data: the value in place). A value
//                     of 2 GiB or more needs int32 offsets it cannot have: "" picks "Z"
//                     (large binary, int64 offsets) for it, "z" refuses it.
//   format "Z"        the same with int64 offsets.
//   a primitive       the value viewed as size / width elements of that type, in place:
//                     buffers are (validity: NULL, data: the value). "c" int8, "C" uint8,
//                     "s" int16, "S" uint16, "i" int32, "I" uint32, "l" int64,
//                     "L" uint64, "e" float16, "f" float32, "g" float64, and "w:N"
//                     (fixed-size binary of N bytes). The size must be a multiple of the
//                     width and the address aligned for it (live values start on 64-byte
//                     boundaries, so alignment holds for every value the store returns).
// Anything else throws Error(kInvalidArgument) and leaves both structs untouched.
//
// Lifetime: the array's private_data holds a copy of the EntryHandle, which pins the
// store's mapping, so the data buffer stays valid until the array is released, also
// after the store is closed and destroyed. release() may be called from any thread; it
// frees what the export allocated, releases the pin and sets release to NULL, as the
// specification requires. The structs may be moved bitwise (nothing points into them).
// Every array and schema has no children and no dictionary; the array has no nulls.
//
// Thread-safety: exporting is safe from any thread; one exported struct belongs to one
// consumer at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <string_view>

#include <simd_r_drive/entry_handle.h>
#include <simd_r_drive/error.h>

// ---- The Arrow C Data Interface, exactly as the specification defines it ------------
#ifdef __cplusplus
extern "C" {
#endif

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  // Array type description
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;

  // Release callback
  void (*release)(struct ArrowSchema*);
  // Opaque producer-specific data
  void* private_data;
};

struct ArrowArray {
  // Array data description
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;

  // Release callback
  void (*release)(struct ArrowArray*);
  // Opaque producer-specific data
  void* private_data;
};

#endif  // ARROW_C_DATA_INTERFACE

#ifdef __cplusplus
}
#endif
// -------------------------------------------------------------------------------------

namespace simd_r_drive::extensions {

namespace arrow_detail {

// What an exported array owns: the handle (the pin on the mapping), the buffer
// pointer list and, for binary arrays, the offsets.
struct ArrayPrivate {
  EntryHandle handle;
  const void* buffers[3] = {nullptr, nullptr, nullptr};
  alignas(8) std::int64_t offsets[2] = {0, 0};  // int32 offsets use the first 8 bytes
};

// What an exported schema owns: its format string.
struct SchemaPrivate {
  std::string format;
};

inline void release_array(ArrowArray* array) noexcept {
  if (array == nullptr || array->release == nullptr) return;
  delete static_cast<ArrayPrivate*>(array->private_data);
  array->private_data = nullptr;
  array->release = nullptr;
}

inline void release_schema(ArrowSchema* schema) noexcept {
  if (schema == nullptr || schema->release == nullptr) return;
  delete static_cast<SchemaPrivate*>(schema->private_data);
  schema->private_data = nullptr;
  schema->release = nullptr;
}

// The width in bytes of a primitive format, or 0 if `format` is not one this header
// exports as a primitive array.
inline std::size_t primitive_width(std::string_view format) noexcept {
  if (format.size() == 1) {
    switch (format[0]) {
      case 'c': case 'C': return 1;
      case 's': case 'S': case 'e': return 2;
      case 'i': case 'I': case 'f': return 4;
      case 'l': case 'L': case 'g': return 8;
      default: return 0;
    }
  }
  if (format.size() > 2 && format.substr(0, 2) == "w:") {
    std::size_t width = 0;
    for (char c : format.substr(2)) {
      if (c < '0' || c > '9' || width > (std::numeric_limits<std::int32_t>::max() - 9) / 10) return 0;
      width = width * 10 + static_cast<std::size_t>(c - '0');
    }
    return width;
  }
  return 0;
}

// Alignment a consumer may assume for elements of a primitive format: the element's
// own for numbers, none for fixed-size binary.
inline std::size_t primitive_alignment(std::string_view format) noexcept {
  return format.size() == 1 ? primitive_width(format) : 1;
}

[[noreturn]] inline void refuse(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, message);
}

}  // namespace arrow_detail

// The format export_arrow_array uses for `format` and a value of `size` bytes: "" becomes
// "z", or "Z" at 2 GiB and above; anything else is returned as given.
inline std::string_view resolve_arrow_format(std::string_view format, std::size_t size) noexcept {
  if (!format.empty()) return format;
  return size > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()) ? "Z" : "z";
}

// Fills `array` and `schema` (see the top of this file). Both must be writable; what
// they held before is overwritten, not released. Throws Error(kInvalidArgument) for a
// format it does not export, a size that is not a multiple of the element width, a
// misaligned value, or a value too large for "z"; the structs are then untouched.
inline void export_arrow_array(const EntryHandle& handle, std::string_view format, ArrowArray* array,
                               ArrowSchema* schema) {
  if (array == nullptr || schema == nullptr) arrow_detail::refuse("export_arrow_array needs an array and a schema");
  const std::string_view resolved = resolve_arrow_format(format, handle.size());
  const bool binary = resolved == "z" || resolved == "Z";
  std::size_t width = 0;
  if (binary) {
    if (resolved == "z" && handle.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
      arrow_detail::refuse("a value of " + std::to_string(handle.size()) +
                           " bytes does not fit a binary array with 32-bit offsets (\"z\"): use \"Z\"");
    }
  } else {
    width = arrow_detail::primitive_width(resolved);
    if (width == 0) {
      arrow_detail::refuse("Arrow format \"" + std::string(resolved) +
                           "\" is not exported: use \"z\" or \"Z\" (binary), c C s S i I l L e f g, or w:N");
    }
    if (handle.size() % width != 0) {
      arrow_detail::refuse("a value of " + std::to_string(handle.size()) + " bytes is not a whole number of " +
                           std::to_string(width) + "-byte elements (format \"" + std::string(resolved) + "\")");
    }
    const std::size_t alignment = arrow_detail::primitive_alignment(resolved);
    if (reinterpret_cast<std::uintptr_t>(handle.data()) % alignment != 0) {
      arrow_detail::refuse("the value is not aligned to " + std::to_string(alignment) + " bytes for format \"" +
                           std::string(resolved) + "\"");
    }
  }

  auto* array_private = new arrow_detail::ArrayPrivate{handle};
  arrow_detail::SchemaPrivate* schema_private = nullptr;
  try {
    schema_private = new arrow_detail::SchemaPrivate{std::string(resolved)};
  } catch (...) {
    delete array_private;
    throw;
  }

  const auto size = static_cast<std::int64_t>(handle.size());
  std::int64_t length = 0;
  std::int64_t n_buffers = 0;
  if (resolved == "z") {
    const std::int32_t offsets[2] = {0, static_cast<std::int32_t>(size)};
    std::memcpy(array_private->offsets, offsets, sizeof offsets);
    array_private->buffers[1] = array_private->offsets;
    array_private->buffers[2] = handle.data();
    length = 1;
    n_buffers = 3;
  } else if (resolved == "Z") {
    array_private->offsets[0] = 0;
    array_private->offsets[1] = size;
    array_private->buffers[1] = array_private->offsets;
    array_private->buffers[2] = handle.data();
    length = 1;
    n_buffers = 3;
  } else {
    array_private->buffers[1] = handle.data();
    length = size / static_cast<std::int64_t>(width);
    n_buffers = 2;
  }

  *schema = ArrowSchema{};
  schema->format = schema_private->format.c_str();
  schema->name = "";
  schema->metadata = nullptr;
  schema->flags = 0;  // no nulls: not nullable
  schema->n_children = 0;
  schema->children = nullptr;
  schema->dictionary = nullptr;
  schema->release = &arrow_detail::release_schema;
  schema->private_data = schema_private;

  *array = ArrowArray{};
  array->length = length;
  array->null_count = 0;
  array->offset = 0;
  array->n_buffers = n_buffers;
  array->n_children = 0;
  array->buffers = array_private->buffers;
  array->children = nullptr;
  array->dictionary = nullptr;
  array->release = &arrow_detail::release_array;
  array->private_data = array_private;
}

}  // namespace simd_r_drive::extensions

// simd_r_drive.EntryHandle: one stored value, in place in the store's mapping.
//
// The handle exports its bytes with the buffer protocol itself (bf_getbuffer on its
// own type): a memoryview, a numpy array or anything else that takes the buffer holds
// a reference to the handle object (Py_buffer.obj), the handle holds the C++
// EntryHandle, and that pins the mapping. So a view can never outlive its bytes, also
// after the store is closed, deleted and its file removed. (py-lmdb's buffers are
// memoryviews with no owner, which dangle once their transaction ends.) The export is
// read-only: a request for a writable buffer raises BufferError.
#include <cstring>
#include <string>

#include <simd_r_drive/entry_handle.h>
#include <simd_r_drive/extensions/arrow_c_data.h>
#include <simd_r_drive/hashing.h>

#include "common.h"

namespace srd_python {

namespace {

using simd_r_drive::EntryHandle;

PyTypeObject* g_handle_type = nullptr;

extern "C" int entry_getbuffer(PyObject* self, Py_buffer* view, int flags) {
  if (view == nullptr) {
    PyErr_SetString(PyExc_BufferError, "EntryHandle: no Py_buffer to fill");
    return -1;
  }
  const EntryHandle* handle = nullptr;
  try {
    handle = &py::cast<const EntryHandle&>(py::handle(self));
  } catch (const std::exception& error) {
    view->obj = nullptr;
    PyErr_SetString(PyExc_BufferError, error.what());
    return -1;
  }
  // PyBuffer_FillInfo answers every flag combination for a flat byte buffer (and
  // refuses PyBUF_WRITABLE on a read-only one), and takes the reference to `self`.
  return PyBuffer_FillInfo(view, self, const_cast<std::byte*>(handle->data()),
                           static_cast<Py_ssize_t>(handle->size()), /*readonly=*/1, flags);
}

extern "C" void arrow_schema_capsule_destructor(PyObject* capsule) {
  auto* schema = static_cast<ArrowSchema*>(PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule)));
  if (schema == nullptr) {
    PyErr_Clear();
    return;
  }
  if (schema->release != nullptr) schema->release(schema);  // not moved out by a consumer
  delete schema;
}

extern "C" void arrow_array_capsule_destructor(PyObject* capsule) {
  auto* array = static_cast<ArrowArray*>(PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule)));
  if (array == nullptr) {
    PyErr_Clear();
    return;
  }
  if (array->release != nullptr) array->release(array);
  delete array;
}

// The (schema, array) capsule pair of the PyCapsule interface, for `format`.
py::tuple arrow_capsules(const EntryHandle& handle, const std::string& format) {
  auto schema = std::make_unique<ArrowSchema>();
  auto array = std::make_unique<ArrowArray>();
  simd_r_drive::extensions::export_arrow_array(handle, format, array.get(), schema.get());
  PyObject* schema_capsule = PyCapsule_New(schema.get(), "arrow_schema", &arrow_schema_capsule_destructor);
  if (schema_capsule == nullptr) {
    schema->release(schema.get());
    array->release(array.get());
    throw py::error_already_set();
  }
  schema.release();  // the capsule owns it now
  py::object schema_object = py::reinterpret_steal<py::object>(schema_capsule);
  PyObject* array_capsule = PyCapsule_New(array.get(), "arrow_array", &arrow_array_capsule_destructor);
  if (array_capsule == nullptr) {
    array->release(array.get());
    throw py::error_already_set();
  }
  array.release();
  return py::make_tuple(schema_object, py::reinterpret_steal<py::object>(array_capsule));
}

// The format of a requested schema capsule, or "" when there is none or it is not a
// schema.
std::string requested_format(py::handle requested_schema) {
  if (requested_schema.is_none()) return "";
  if (!PyCapsule_IsValid(requested_schema.ptr(), "arrow_schema")) {
    throw py::type_error("requested_schema must be an 'arrow_schema' PyCapsule or None, not " +
                         type_name(requested_schema));
  }
  const auto* schema =
      static_cast<const ArrowSchema*>(PyCapsule_GetPointer(requested_schema.ptr(), "arrow_schema"));
  if (schema == nullptr || schema->format == nullptr) return "";
  return schema->format;
}

py::object as_numpy(py::object self, py::object dtype, py::object shape) {
  const EntryHandle& handle = py::cast<const EntryHandle&>(self);
  py::module_ numpy = py::module_::import("numpy");
  py::object resolved = numpy.attr("dtype")(dtype);
  const auto itemsize = py::cast<std::size_t>(resolved.attr("itemsize"));
  const auto alignment = py::cast<std::size_t>(resolved.attr("alignment"));
  const std::string name = py::str(resolved);
  if (itemsize == 0) throw py::value_error("dtype " + name + " has no size");
  if (handle.size() % itemsize != 0) {
    throw py::value_error("the value's " + std::to_string(handle.size()) + " bytes are not a whole number of " +
                          name + " elements (" + std::to_string(itemsize) + " bytes each)");
  }
  const auto address = reinterpret_cast<std::uintptr_t>(handle.data());
  if (alignment > 1 && address % alignment != 0) {
    throw py::value_error("the value's address is not aligned to " + std::to_string(alignment) + " bytes for " +
                          name);
  }
  py::object array = numpy.attr("frombuffer")(self, resolved);
  if (!shape.is_none()) array = array.attr("reshape")(shape);
  return array;
}

std::string repr(const EntryHandle& handle) {
  char hash[19];
  std::snprintf(hash, sizeof hash, "0x%016llx", static_cast<unsigned long long>(handle.key_hash()));
  return "<simd_r_drive.EntryHandle key_hash=" + std::string(hash) + " size=" + std::to_string(handle.size()) +
         " offsets=[" + std::to_string(handle.start_offset()) + ", " + std::to_string(handle.end_offset()) + ")>";
}

}  // namespace

py::object wrap_handle(EntryHandle handle) {
  return py::cast(std::move(handle), py::return_value_policy::move);
}

void bind_entry_handle(py::module_& m) {
  py::class_<simd_r_drive::EntryMetadata>(m, "EntryMetadata", "The 20-byte record that ends an entry, decoded.")
      .def_readonly("key_hash", &simd_r_drive::EntryMetadata::key_hash)
      .def_readonly("prev_offset", &simd_r_drive::EntryMetadata::prev_offset,
                    "The file's length before this entry (before its pre-pad).")
      .def_readonly("checksum", &simd_r_drive::EntryMetadata::checksum, "CRC-32 of the payload.")
      .def("serialize",
           [](const simd_r_drive::EntryMetadata& metadata) {
             const auto bytes = metadata.serialize();
             return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
           },
           "The 20 bytes as they are in the file.")
      .def("__repr__", [](const simd_r_drive::EntryMetadata& metadata) {
        return "EntryMetadata(key_hash=" + std::to_string(metadata.key_hash) +
               ", prev_offset=" + std::to_string(metadata.prev_offset) +
               ", checksum=" + std::to_string(metadata.checksum) + ")";
      });

  auto cls = py::class_<EntryHandle>(
      m, "EntryHandle", py::buffer_protocol(),
      "One stored value, in place in the store's memory mapping. It exports its bytes with the buffer "
      "protocol, read-only and without copying: memoryview(handle), numpy.frombuffer(handle, dtype), "
      "bytes(handle) (a copy). Every view holds the handle, and the handle keeps the mapping alive, also "
      "after the store is closed or deleted.");
  g_handle_type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  auto* heap_type = reinterpret_cast<PyHeapTypeObject*>(cls.ptr());
  heap_type->as_buffer.bf_getbuffer = &entry_getbuffer;
  heap_type->as_buffer.bf_releasebuffer = nullptr;  // nothing to free: the view is the mapping
  PyType_Modified(g_handle_type);

  cls.def_property_readonly("size", &EntryHandle::size, "The value's length in bytes.")
      .def("__len__", &EntryHandle::size)
      .def_property_readonly("file_size", &EntryHandle::file_size,
                             "The value plus its 20-byte record, as the original reports it (pre-pad not counted).")
      .def_property_readonly("key_hash", &EntryHandle::key_hash, "The 64-bit hash of the key.")
      .def_property_readonly("checksum", &EntryHandle::checksum, "The stored CRC-32 of the value.")
      .def("raw_checksum",
           [](const EntryHandle& handle) {
             const auto bytes = handle.raw_checksum();
             return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
           },
           "The stored CRC-32 as its 4 bytes in the file (little endian).")
      .def(
          "is_valid_checksum",
          [](const EntryHandle& handle) {
            if (handle.size() < kReleaseGilAbove) return handle.is_valid_checksum();
            py::gil_scoped_release release;
            return handle.is_valid_checksum();
          },
          "Recomputes the CRC-32 of the value and compares it with the stored one.")
      .def_property_readonly("is_tombstone", &EntryHandle::is_tombstone,
                             "True for a delete marker (only read_last_entry returns one).")
      .def_property_readonly("start_offset", &EntryHandle::start_offset, "File offset of the value's first byte.")
      .def_property_readonly("end_offset", &EntryHandle::end_offset, "File offset one past the value's last byte.")
      .def("offset_range", &EntryHandle::offset_range, "(start_offset, end_offset).")
      .def("address_range", &EntryHandle::address_range,
           "(start, end) addresses of the value in this process's memory; valid while the handle lives.")
      .def_property_readonly("metadata", &EntryHandle::metadata, "The entry's record (EntryMetadata).")
      .def_property_readonly("prev_offset", [](const EntryHandle& handle) { return handle.metadata().prev_offset; })
      .def("as_slice", [](const EntryHandle& handle) { return copy_to_bytes(simd_r_drive::ByteView(handle.as_slice())); },
           "A copy of the value as bytes (memoryview(handle) does not copy).")
      .def("as_memoryview",
           [](py::object self) { return py::reinterpret_steal<py::object>(PyMemoryView_FromObject(self.ptr())); },
           "A read-only memoryview of the value, in place (no copy; the original's copied).")
      .def("as_numpy", &as_numpy, py::arg("dtype") = "uint8", py::arg("shape") = py::none(),
           "A read-only numpy array over the value, in place (no copy). Raises ValueError unless the size "
           "is a whole number of elements and the address suits the dtype's alignment (values start on "
           "64-byte boundaries, so it always does for stored values). `shape` reshapes it.")
      .def("clone_arc", [](const EntryHandle& handle) { return wrap_handle(handle); },
           "Another handle on the same bytes (shares the mapping; copies nothing).")
      .def(
          "__arrow_c_array__",
          [](const EntryHandle& handle, py::handle requested_schema) {
            std::string format = requested_format(requested_schema);
            // A requested type this export cannot produce gets the default, as the
            // PyCapsule interface allows; the consumer sees the format in the schema.
            if (!format.empty() && format != "z" && format != "Z" &&
                simd_r_drive::extensions::arrow_detail::primitive_width(format) == 0) {
              format.clear();
            }
            return arrow_capsules(handle, format);
          },
          py::arg("requested_schema") = py::none(),
          "The Arrow PyCapsule interface: (schema, array) capsules of the Arrow C Data Interface. By "
          "default a binary array of one element, the value; a requested schema of a primitive format "
          "views the value as that many elements. The array holds the handle: no copy.")
      .def("arrow_c_array", &arrow_capsules, py::arg("format") = "",
           "(schema, array) PyCapsules for `format`: '' or 'z' (binary, one element), 'Z' (large binary), "
           "or a primitive ('c' 'C' 's' 'S' 'i' 'I' 'l' 'L' 'e' 'f' 'g', 'w:N'): the value viewed as elements.")
      .def(
          "_read_into",
          [](const EntryHandle& handle, std::size_t offset, py::handle target) -> std::size_t {
            Py_buffer view;
            if (PyObject_GetBuffer(target.ptr(), &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) != 0) {
              throw py::error_already_set();
            }
            const std::size_t available = offset < handle.size() ? handle.size() - offset : 0;
            const std::size_t count = std::min(available, static_cast<std::size_t>(view.len));
            if (count >= kReleaseGilAbove) {
              py::gil_scoped_release release;
              std::memcpy(view.buf, handle.data() + offset, count);
            } else if (count != 0) {
              std::memcpy(view.buf, handle.data() + offset, count);
            }
            PyBuffer_Release(&view);
            return count;
          },
          py::arg("offset"), py::arg("buffer"))
      .def("__repr__", &repr)
      .def("__reduce_ex__", [](py::handle, py::handle) -> py::object {
        throw py::type_error(
            "an EntryHandle views memory of this process and cannot be pickled: pickle bytes(handle), "
            "or the key, instead");
      });
}

}  // namespace srd_python

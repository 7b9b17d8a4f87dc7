// Helpers shared by the binding files of simd_r_drive._native.
//
// The GIL rules every binding follows (docs/python.md, "Threads and the GIL"):
//  1. Every call that may take one of the engine's mutexes (writes of any kind,
//     deletes, renames, copies, compaction, sync, refresh, close, stats, verify,
//     iteration, the TTL and import functions) runs with the GIL released. A
//     write_stream holds the store's write mutex while it calls back into Python for
//     the next chunk (which needs the GIL): a thread holding the GIL while it waits for
//     that mutex would deadlock with it.
//  2. Lookups (read, exists, len, read_entry) take no lock and cost about as much as
//     releasing and taking back the GIL, so they keep it, except where they copy a
//     large value or work through a batch.
//  3. No Python object is touched while the GIL is released: arguments are turned into
//     C++ views (BufferArg holds each buffer, so its memory cannot move or be freed)
//     before, and results into Python objects after.
#pragma once

#include <Python.h>
#include <pybind11/pybind11.h>
// In every file of the module, so each sees the same type casters.
#include <pybind11/stl.h>

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <simd_r_drive/byte_view.h>
#include <simd_r_drive/entry_handle.h>

namespace srd_python {

namespace py = pybind11;

// Copies and checksums above this size release the GIL for the work.
inline constexpr std::size_t kReleaseGilAbove = 64 * 1024;

// A contiguous buffer argument (bytes, bytearray, memoryview, numpy array, anything
// with the buffer protocol), held for the call: its bytes cannot move or be freed
// until this object dies, which must happen with the GIL held. Anything else raises
// TypeError naming the argument.
class BufferArg {
 public:
  BufferArg(py::handle object, const char* name) {
    if (PyBytes_CheckExact(object.ptr())) {
      // The common case, without the buffer protocol's round trip: bytes never change.
      view_.buf = PyBytes_AS_STRING(object.ptr());
      view_.len = PyBytes_GET_SIZE(object.ptr());
      bytes_ = object.inc_ref().ptr();
      return;
    }
    acquire(object, name);
  }
  BufferArg(BufferArg&& other) noexcept : view_(other.view_), held_(other.held_), bytes_(other.bytes_) {
    other.held_ = false;
    other.bytes_ = nullptr;
  }
  BufferArg& operator=(BufferArg&&) = delete;
  BufferArg(const BufferArg&) = delete;
  ~BufferArg() {
    if (held_) PyBuffer_Release(&view_);
    Py_XDECREF(bytes_);
  }
  simd_r_drive::ByteView view() const noexcept {
    return {static_cast<const std::byte*>(view_.buf), static_cast<std::size_t>(view_.len)};
  }

 private:
  void acquire(py::handle object, const char* name);

  Py_buffer view_{};
  bool held_ = false;
  PyObject* bytes_ = nullptr;  // a bytes object held instead of a buffer
};

// A sequence argument (list, tuple, any sequence) as a list of its items; TypeError
// naming the argument otherwise. Iterators and generators are accepted too.
py::list sequence_arg(py::handle object, const char* name);

// bytes holding a copy of `bytes`; releases the GIL for the copy of a large value.
py::bytes copy_to_bytes(simd_r_drive::ByteView bytes);

// The EntryHandle as a Python object (simd_r_drive.EntryHandle).
py::object wrap_handle(simd_r_drive::EntryHandle handle);

// The process id, as of the last fork (kept current by a pthread_atfork handler, so
// checking it costs no system call).
pid_t current_pid() noexcept;

// Raises simd_r_drive.<name> (an exception class of the module) with `message`.
[[noreturn]] void raise_module_error(const char* name, const std::string& message);

// The Python type name of `object`, for error messages.
std::string type_name(py::handle object);

void bind_errors(py::module_& m);
void bind_entry_handle(py::module_& m);
void bind_data_store(py::module_& m);
void bind_hashing(py::module_& m);

}  // namespace srd_python

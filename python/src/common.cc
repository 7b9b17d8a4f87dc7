#include "common.h"

#include <cstring>

namespace srd_python {

void BufferArg::acquire(py::handle object, const char* name) {
  if (PyUnicode_Check(object.ptr())) {
    throw py::type_error(std::string(name) +
                         " must be a bytes-like object (bytes, bytearray, memoryview, a numpy array), not str: "
                         "encode it first (for example with .encode())");
  }
  if (PyObject_GetBuffer(object.ptr(), &view_, PyBUF_SIMPLE) != 0) {
    // Keep the exporter's reason (a numpy array that is not contiguous says so).
    std::string reason;
    if (PyErr_ExceptionMatches(PyExc_BufferError) || PyErr_ExceptionMatches(PyExc_ValueError)) {
      py::error_already_set error;
      reason = std::string(" (") + error.what() + ")";
    } else {
      PyErr_Clear();
    }
    throw py::type_error(std::string(name) +
                         " must be a contiguous bytes-like object (bytes, bytearray, memoryview, a numpy array), "
                         "not " + type_name(object) + reason);
  }
  held_ = true;
}

py::list sequence_arg(py::handle object, const char* name) {
  if (PyList_CheckExact(object.ptr())) return py::reinterpret_borrow<py::list>(object);
  if (PyUnicode_Check(object.ptr()) || PyBytes_Check(object.ptr()) || PyByteArray_Check(object.ptr())) {
    throw py::type_error(std::string(name) + " must be a list or another iterable of items, not " +
                         type_name(object));
  }
  PyObject* list = PySequence_List(object.ptr());
  if (list == nullptr) {
    PyErr_Clear();
    throw py::type_error(std::string(name) + " must be a list or another iterable of items, not " +
                         type_name(object));
  }
  return py::reinterpret_steal<py::list>(list);
}

py::bytes copy_to_bytes(simd_r_drive::ByteView bytes) {
  if (bytes.size() < kReleaseGilAbove) {
    return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  PyObject* object = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(bytes.size()));
  if (object == nullptr) throw py::error_already_set();
  char* target = PyBytes_AS_STRING(object);
  {
    // The copy may fault the value's pages in from disk: let other threads run.
    py::gil_scoped_release release;
    std::memcpy(target, bytes.data(), bytes.size());
  }
  return py::reinterpret_steal<py::bytes>(object);
}

}  // namespace srd_python

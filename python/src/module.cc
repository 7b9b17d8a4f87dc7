// simd_r_drive._native: the engine and its extensions, in process (docs/python.md).
// The pure-Python package simd_r_drive builds on this module; users import that.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include <simd_r_drive/error.h>

#include "common.h"

namespace srd_python {

namespace {

std::atomic<pid_t> g_pid{0};

void after_fork_in_child() noexcept { g_pid.store(::getpid(), std::memory_order_relaxed); }

// The exception classes, created once at import and kept for the process's life.
struct ErrorClasses {
  PyObject* error = nullptr;
  PyObject* invalid_argument = nullptr;
  PyObject* not_found = nullptr;
  PyObject* corruption = nullptr;
  PyObject* io = nullptr;
  PyObject* locked = nullptr;
  PyObject* closed = nullptr;
  PyObject* forked = nullptr;
};
ErrorClasses g_errors;

PyObject* new_error_class(py::module_& m, const char* name, const char* doc, py::tuple bases) {
  const std::string qualified = std::string("simd_r_drive.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases.ptr(), nullptr);
  if (type == nullptr) throw py::error_already_set();
  m.add_object(name, py::handle(type));  // the module holds a reference; so do we
  return type;
}

// Sets `type(message)` as the current exception, with its `code` attribute.
void set_error(PyObject* type, const std::string& message, const char* code) {
  PyObject* text = PyUnicode_DecodeUTF8(message.data(), static_cast<Py_ssize_t>(message.size()), "replace");
  if (text == nullptr) return;  // the call set an exception of its own
  PyObject* instance = PyObject_CallOneArg(type, text);
  Py_DECREF(text);
  if (instance == nullptr) return;
  PyObject* code_object = PyUnicode_FromString(code);
  if (code_object == nullptr || PyObject_SetAttrString(instance, "code", code_object) != 0) {
    Py_XDECREF(code_object);
    Py_DECREF(instance);
    return;
  }
  Py_DECREF(code_object);
  PyErr_SetObject(type, instance);
  Py_DECREF(instance);
}

PyObject* class_for(simd_r_drive::ErrorCode code) {
  switch (code) {
    case simd_r_drive::ErrorCode::kInvalidArgument: return g_errors.invalid_argument;
    case simd_r_drive::ErrorCode::kNotFound: return g_errors.not_found;
    case simd_r_drive::ErrorCode::kCorruption: return g_errors.corruption;
    case simd_r_drive::ErrorCode::kIo: return g_errors.io;
    case simd_r_drive::ErrorCode::kLocked: return g_errors.locked;
  }
  return g_errors.error;
}

}  // namespace

pid_t current_pid() noexcept { return g_pid.load(std::memory_order_relaxed); }

void raise_module_error(const char* name, const std::string& message) {
  PyObject* type = g_errors.error;
  const char* code = name;
  if (std::string(name) == "closed") type = g_errors.closed;
  if (std::string(name) == "forked") type = g_errors.forked;
  set_error(type, message, code);
  throw py::error_already_set();
}

std::string type_name(py::handle object) { return Py_TYPE(object.ptr())->tp_name; }

void bind_errors(py::module_& m) {
  g_pid.store(::getpid(), std::memory_order_relaxed);
  ::pthread_atfork(nullptr, nullptr, &after_fork_in_child);

  g_errors.error = new_error_class(
      m, "Error",
      "Base class of the store's errors. `code` names the kind: 'invalid_argument', 'not_found', "
      "'corruption', 'io', 'locked' (the engine's error codes), 'closed' or 'forked'. A subclass "
      "of OSError, as the original package raised IOError.",
      py::make_tuple(py::handle(PyExc_OSError)));
  const py::handle base(g_errors.error);
  g_errors.invalid_argument = new_error_class(
      m, "InvalidArgumentError",
      "The store refused the arguments: an empty value, a value of the single byte 0x00, renaming a "
      "key to itself, a write to a read-only store.",
      py::make_tuple(base, py::handle(PyExc_ValueError)));
  g_errors.not_found = new_error_class(
      m, "NotFoundError", "Something the operation needs does not exist: the key of a rename, the store file.",
      py::make_tuple(base, py::handle(PyExc_KeyError)));
  g_errors.corruption =
      new_error_class(m, "CorruptionError", "The file is not a store, or is damaged beyond what open repairs.",
                      py::make_tuple(base));
  g_errors.io = new_error_class(m, "StoreIOError", "The operating system refused or failed an I/O call.",
                                py::make_tuple(base));
  g_errors.locked = new_error_class(
      m, "LockedError", "Another writer, in this process or another, holds the store.", py::make_tuple(base));
  g_errors.closed = new_error_class(m, "StoreClosedError", "The store was closed; open it again to use it.",
                                    py::make_tuple(base, py::handle(PyExc_ValueError)));
  g_errors.forked = new_error_class(
      m, "ForkedProcessError",
      "The store was opened in another process (this one is a fork of it): open it again in this process.",
      py::make_tuple(base, py::handle(PyExc_RuntimeError)));

  py::register_exception_translator([](std::exception_ptr pointer) {
    try {
      if (pointer) std::rethrow_exception(pointer);
    } catch (const simd_r_drive::Error& error) {
      const std::string_view code = simd_r_drive::to_string(error.code());
      set_error(class_for(error.code()), error.what(), std::string(code).c_str());
    }
  });
}

}  // namespace srd_python

PYBIND11_MODULE(_native, m) {
  m.doc() = "The engine of simd_r_drive, in process. Import simd_r_drive, not this module.";
  srd_python::bind_errors(m);
  srd_python::bind_hashing(m);
  srd_python::bind_entry_handle(m);
  srd_python::bind_data_store(m);
}

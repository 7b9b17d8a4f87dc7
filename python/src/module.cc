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

// Sets `type(message, code)` as the current exception.
void set_error(PyObject* type, const std::string& message, const char* code) {
  PyObject* instance = PyObject_CallFunction(type, "Ns", PyUnicode_DecodeUTF8(message.data(),
                                             static_cast<Py_ssize_t>(message.size()), "replace"), code);
  if (instance == nullptr) return;  // the call set an exception of its own
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

  // The classes are the pure-Python ones of simd_r_drive._errors, which the network
  // client raises too: one hierarchy whichever way a store is reached.
  py::module_ errors = py::module_::import("simd_r_drive._errors");
  auto keep = [&](const char* name) {
    py::object type = errors.attr(name);
    m.add_object(name, type);
    return type.release().ptr();  // kept for the process's life
  };
  g_errors.error = keep("Error");
  g_errors.invalid_argument = keep("InvalidArgumentError");
  g_errors.not_found = keep("NotFoundError");
  g_errors.corruption = keep("CorruptionError");
  g_errors.io = keep("StoreIOError");
  g_errors.locked = keep("LockedError");
  g_errors.closed = keep("StoreClosedError");
  g_errors.forked = keep("ForkedProcessError");

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

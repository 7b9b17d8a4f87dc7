// compute_hash, compute_checksum and NamespaceHasher: the engine's own functions, so the
// bytes are those of the C++ library and of the original.
#include <array>
#include <vector>

#include <simd_r_drive/hashing.h>

#include "common.h"

namespace srd_python {

void bind_hashing(py::module_& m) {
  m.def(
      "compute_hash",
      [](py::handle key) { return simd_r_drive::compute_hash(BufferArg(key, "key").view()); }, py::arg("key"),
      "The 64-bit key hash the store keeps for `key` (XXH3-64, seed 0).");
  m.def(
      "compute_checksum",
      [](py::handle data) {
        BufferArg buffer(data, "data");
        if (buffer.view().size() < kReleaseGilAbove) return simd_r_drive::compute_checksum(buffer.view());
        py::gil_scoped_release release;
        return simd_r_drive::compute_checksum(buffer.view());
      },
      py::arg("data"), "The CRC-32 (IEEE, zlib's) the store keeps beside a value.");

  py::class_<simd_r_drive::NamespaceHasher>(m, "NamespaceHasher",
                                            "Keys in a namespace: namespace(key) is 16 bytes, the XXH3-64 of the "
                                            "prefix then that of the key, both little endian, as the original "
                                            "builds them.")
      .def(py::init([](py::handle prefix) { return simd_r_drive::NamespaceHasher(BufferArg(prefix, "prefix").view()); }),
           py::arg("prefix"))
      .def(
          "namespace",
          [](const simd_r_drive::NamespaceHasher& hasher, py::handle key) {
            const std::array<std::byte, 16> bytes = hasher.namespace_key(BufferArg(key, "key").view());
            return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
          },
          py::arg("key"), "The 16-byte key of `key` in this namespace.")
      .def_property_readonly("prefix_hash", &simd_r_drive::NamespaceHasher::prefix_hash,
                             "XXH3-64 of the prefix: the first 8 bytes of every key, as a number.")
      .def("__reduce_ex__", [](py::handle, py::handle) -> py::object {
        throw py::type_error("NamespaceHasher is not picklable: pickle its prefix and build it again");
      });
}

}  // namespace srd_python

"""Arrow export through the C Data Interface, checked by a consumer written with cffi
(Debian has no pyarrow): it reads the structs the PyCapsules hold, as the
specification lays them out, checks the data buffer is the value in the mapping, takes
the array out of its capsule (as a consumer does) and calls release."""

from __future__ import annotations

import ctypes
import gc
from pathlib import Path

import pytest

from simd_r_drive import DataStore

cffi = pytest.importorskip("cffi")
np = pytest.importorskip("numpy")

ffi = cffi.FFI()
ffi.cdef(
    """
    struct ArrowSchema {
      const char* format; const char* name; const char* metadata;
      int64_t flags; int64_t n_children;
      struct ArrowSchema** children; struct ArrowSchema* dictionary;
      void (*release)(struct ArrowSchema*);
      void* private_data;
    };
    struct ArrowArray {
      int64_t length; int64_t null_count; int64_t offset;
      int64_t n_buffers; int64_t n_children;
      const void** buffers;
      struct ArrowArray** children; struct ArrowArray* dictionary;
      void (*release)(struct ArrowArray*);
      void* private_data;
    };
    """
)

_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_is_valid.restype = ctypes.c_int
_is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]


def struct_of(capsule: object, name: bytes, kind: str) -> object:
    assert _is_valid(capsule, name) == 1, f"not an {name!r} capsule"
    return ffi.cast(f"struct {kind}*", _get_pointer(capsule, name))


class Consumer:
    """What an Arrow consumer does: moves the structs out of the capsules (so the
    capsules' destructors no longer release them) and releases them when done."""

    def __init__(self, capsules: tuple[object, object]) -> None:
        schema_capsule, array_capsule = capsules
        self.schema = ffi.new("struct ArrowSchema*")
        self.array = ffi.new("struct ArrowArray*")
        source_schema = struct_of(schema_capsule, b"arrow_schema", "ArrowSchema")
        source_array = struct_of(array_capsule, b"arrow_array", "ArrowArray")
        ffi.memmove(self.schema, source_schema, ffi.sizeof("struct ArrowSchema"))
        ffi.memmove(self.array, source_array, ffi.sizeof("struct ArrowArray"))
        source_schema.release = ffi.NULL  # moved: marked released at the source
        source_array.release = ffi.NULL

    @property
    def format(self) -> str:
        return ffi.string(self.schema.format).decode()

    def buffer(self, index: int, size: int) -> memoryview:
        return memoryview(ffi.buffer(self.array.buffers[index], size))

    def address(self, index: int) -> int:
        return int(ffi.cast("uintptr_t", self.array.buffers[index]))

    def release(self) -> None:
        assert self.array.release != ffi.NULL and self.schema.release != ffi.NULL
        self.array.release(self.array)
        self.schema.release(self.schema)
        assert self.array.release == ffi.NULL and self.array.private_data == ffi.NULL
        assert self.schema.release == ffi.NULL and self.schema.private_data == ffi.NULL


def test_the_struct_layouts_are_the_specifications() -> None:
    assert ffi.sizeof("struct ArrowSchema") == 72
    assert ffi.sizeof("struct ArrowArray") == 80
    assert ffi.offsetof("struct ArrowArray", "buffers") == 40
    assert ffi.offsetof("struct ArrowArray", "release") == 64


def test_binary_array_of_one_value_in_place(store: DataStore) -> None:
    store.write(b"k", b"hello, arrow")
    handle = store.read_entry(b"k")
    consumer = Consumer(handle.__arrow_c_array__())
    assert consumer.format == "z"
    assert ffi.string(consumer.schema.name) == b""
    assert consumer.schema.metadata == ffi.NULL and consumer.schema.n_children == 0
    array = consumer.array
    assert (array.length, array.null_count, array.offset, array.n_buffers, array.n_children) == (1, 0, 0, 3, 0)
    assert array.buffers[0] == ffi.NULL  # no nulls, no validity bitmap
    offsets = np.frombuffer(consumer.buffer(1, 8), dtype=np.int32)
    assert offsets.tolist() == [0, 12]
    start, end = handle.address_range()
    assert consumer.address(2) == start and end - start == 12
    assert bytes(consumer.buffer(2, 12)) == b"hello, arrow"
    consumer.release()


@pytest.mark.parametrize(
    "fmt, dtype",
    [("f", np.float32), ("g", np.float64), ("i", np.int32), ("l", np.int64), ("C", np.uint8), ("S", np.uint16)],
)
def test_primitive_arrays_view_the_value_as_elements(store: DataStore, fmt: str, dtype: object) -> None:
    values = np.arange(64).astype(dtype)
    store.write(b"k", values)
    handle = store.read_entry(b"k")
    consumer = Consumer(handle.arrow_c_array(fmt))
    assert consumer.format == fmt
    assert consumer.array.length == 64 and consumer.array.n_buffers == 2
    assert consumer.array.buffers[0] == ffi.NULL
    assert consumer.address(1) == handle.address_range()[0]
    got = np.frombuffer(consumer.buffer(1, values.nbytes), dtype=dtype)
    np.testing.assert_array_equal(got, values)
    consumer.release()


def test_a_requested_schema_picks_the_type(store: DataStore) -> None:
    store.write(b"k", np.arange(8, dtype=np.float64))
    handle = store.read_entry(b"k")
    requested, _ = handle.arrow_c_array("g")  # a schema capsule asking for float64
    consumer = Consumer(handle.__arrow_c_array__(requested_schema=requested))
    assert consumer.format == "g" and consumer.array.length == 8
    consumer.release()
    unexportable, _ = store.read_entry(b"k").arrow_c_array("Z")
    other_format = ffi.new("char[]", b"+s")  # kept alive while the schema points at it
    struct_of(unexportable, b"arrow_schema", "ArrowSchema").format = other_format
    consumer = Consumer(handle.__arrow_c_array__(requested_schema=unexportable))
    assert consumer.format == "z"  # a type it cannot produce: the default
    consumer.release()


def test_the_array_keeps_the_mapping_after_the_store_is_gone(store_path: Path) -> None:
    store = DataStore(store_path)
    values = np.arange(1000, dtype=np.int64)
    store.write(b"k", values)
    consumer = Consumer(store.read_entry(b"k").arrow_c_array("l"))
    store.close()
    del store
    gc.collect()
    store_path.unlink()
    np.testing.assert_array_equal(np.frombuffer(consumer.buffer(1, 8000), dtype=np.int64), values)
    consumer.release()


def test_capsules_nobody_consumed_release_themselves(store: DataStore) -> None:
    store.write(b"k", b"v" * 100)
    handle = store.read_entry(b"k")
    for _ in range(1000):
        schema, array = handle.arrow_c_array("")
        assert struct_of(array, b"arrow_array", "ArrowArray").release != ffi.NULL
        del schema, array  # the capsules' destructors call release
    gc.collect()


def test_refusals(store: DataStore) -> None:
    store.write(b"k", b"12345")
    handle = store.read_entry(b"k")
    for fmt in ("i", "g", "b", "+l", "w:0", "nonsense"):
        with pytest.raises(ValueError) as refused:
            handle.arrow_c_array(fmt)
        assert getattr(refused.value, "code", None) == "invalid_argument"

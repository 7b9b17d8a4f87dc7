"""Zero copy and lifetimes: the buffer a view sees is the store's mapping, and every
view keeps it alive, also after the store is closed, deleted and its file removed."""

from __future__ import annotations

import gc
import os
import weakref
from pathlib import Path

import pytest

from simd_r_drive import DataStore, EntryHandle

np = pytest.importorskip("numpy")


def rss_anon_bytes() -> int:
    """Anonymous resident memory of this process (RssAnon): the value's pages, which
    are the file's page cache, are not counted, so a copy of the value would be."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


def test_every_view_points_into_the_handles_address_range(store: DataStore) -> None:
    store.write(b"k", np.arange(1000, dtype=np.float64))
    handle = store.read_entry(b"k")
    start, end = handle.address_range()
    assert end - start == handle.size == 8000
    assert start % 64 == 0  # values start on 64-byte boundaries

    view = memoryview(handle)
    array = np.frombuffer(handle, dtype=np.float64)
    typed = handle.as_numpy(np.float64, shape=(10, 100))
    as_memoryview = handle.as_memoryview()
    for address in (
        array.ctypes.data,
        typed.ctypes.data,
        np.frombuffer(view, dtype=np.uint8).ctypes.data,
        np.frombuffer(as_memoryview, dtype=np.uint8).ctypes.data,
    ):
        assert address == start
    assert view.readonly and as_memoryview.readonly
    assert not array.flags.writeable and not typed.flags.writeable
    assert view.obj is handle  # the view holds the handle itself
    assert array[999] == 999.0 and typed[9, 99] == 999.0


def test_the_buffer_is_read_only(store: DataStore) -> None:
    store.write(b"k", b"immutable")
    handle = store.read_entry(b"k")
    with pytest.raises(TypeError):
        memoryview(handle)[0] = 0
    array = np.frombuffer(handle, dtype=np.uint8)
    with pytest.raises(ValueError):
        array[0] = 1
    with pytest.raises(ValueError):
        array.setflags(write=True)
    import ctypes

    with pytest.raises(TypeError):
        (ctypes.c_char * handle.size).from_buffer(handle)  # needs a writable buffer
    assert bytes(handle) == b"immutable"


def test_buffer_protocol_flags(store: DataStore) -> None:
    store.write(b"k", b"0123456789abcdef")
    view = memoryview(store.read_entry(b"k"))
    assert (view.format, view.itemsize, view.ndim, view.shape, view.strides) == ("B", 1, 1, (16,), (1,))
    assert view.c_contiguous and view.contiguous
    assert view.cast("I").tolist()[0] == int.from_bytes(b"0123", "little")
    assert bytes(view[4:8]) == b"4567"


def test_a_memoryview_outlives_the_store_a_collection_and_the_file(store_path: Path) -> None:
    store = DataStore(store_path)
    value = os.urandom(100_000)
    store.write(b"k", value)
    handle = store.read_entry(b"k")
    view = memoryview(handle)
    array = np.frombuffer(handle, dtype=np.uint8)
    handle_ref = weakref.ref(handle)
    store_ref = weakref.ref(store)
    del handle
    store.close()
    del store
    gc.collect()
    assert store_ref() is None  # the store is gone
    assert handle_ref() is not None  # the views keep the handle alive
    os.remove(store_path)
    gc.collect()
    assert bytes(view) == value
    assert array.tobytes() == value
    # Another store at the same path does not disturb the old mapping.
    with DataStore(store_path) as other:
        other.write(b"k", b"something else entirely")
        assert bytes(view) == value
    del view
    gc.collect()
    assert handle_ref() is not None  # the array still holds it
    del array
    gc.collect()
    assert handle_ref() is None  # and only the views did


def test_views_survive_compaction_and_overwrites(store: DataStore) -> None:
    store.write(b"k", b"first" * 1000)
    array = store.read_entry(b"k").as_numpy(np.uint8)
    for i in range(50):
        store.write(b"k", f"rewrite {i}".encode() * 100)
    store.compact()
    assert array.tobytes() == b"first" * 1000


def test_as_numpy_checks_size_and_alignment(store: DataStore) -> None:
    store.write(b"odd", b"12345")
    handle = store.read_entry(b"odd")
    with pytest.raises(ValueError, match="not a whole number of float32 elements"):
        handle.as_numpy(np.float32)
    with pytest.raises(ValueError, match="cannot reshape"):
        handle.as_numpy(np.uint8, shape=(2, 2))
    assert handle.as_numpy("S5")[0] == b"12345"
    # The one unaligned payload is a tombstone's single byte (read_last_entry).
    store.delete(b"odd")
    tombstone = store.read_last_entry()
    assert tombstone.address_range()[0] % 2 == 1
    assert tombstone.as_numpy(np.uint8).tolist() == [0]
    store.write(b"pair", b"\x01\x02")
    store.delete(b"pair")
    store.write_with_key_hash(7, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    structured = store.read_entry_with_key_hash(7).as_numpy(np.dtype([("a", "<u4"), ("b", "<u4")]))
    assert structured["a"][0] == 1


@pytest.mark.skipif(bool(os.environ.get("SRD_UNDER_SANITIZER")),
                    reason="under ASan, RSS measures the sanitizer's shadow memory, not copies")
def test_rss_stays_flat_while_a_1_gib_value_is_viewed_and_summed(store: DataStore) -> None:
    gib = 1 << 30
    chunk = np.full(1 << 20, 3, dtype=np.uint8)

    class Repeat:
        """1 GiB of 3s, streamed: the test itself never holds the value."""

        def __init__(self) -> None:
            self.left = gib

        def readinto(self, buffer: memoryview) -> int:
            count = min(len(buffer), self.left, len(chunk))
            buffer[:count] = chunk[:count].data
            self.left -= count
            return count

    store.write_stream(b"big", Repeat())
    gc.collect()
    before = rss_anon_bytes()
    handle = store.read_entry(b"big")
    array = handle.as_numpy(np.uint8)
    assert array.ctypes.data == handle.address_range()[0]
    total = int(array.sum(dtype=np.uint64))
    words = handle.as_numpy(np.uint64)  # the same bytes as 8-byte words
    word_total = int(np.bitwise_xor.reduce(words))
    after = rss_anon_bytes()
    assert total == 3 * gib
    assert word_total == 0  # an even number of equal words
    # A copy would add 1 GiB; numpy's reduction buffers and allocator noise stay far
    # below 64 MiB.
    assert after - before < 64 * 1024 * 1024, f"anonymous RSS grew by {(after - before) >> 20} MiB"
    del array, words, handle
    store.delete(b"big")
    store.compact()


def test_handles_are_not_copies(store: DataStore) -> None:
    store.write(b"k", b"v" * 64)
    a = store.read_entry(b"k")
    b = a.clone_arc()
    c = store.read_entry(b"k")
    assert isinstance(b, EntryHandle)
    assert a.address_range() == b.address_range() == c.address_range()

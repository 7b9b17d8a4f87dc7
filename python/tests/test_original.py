"""Every behaviour of the original's Python tests (its old in-process client's
test_engine.py and test_namespace_hasher.py), against this package, and the golden
namespaced keys the original wrote."""

from __future__ import annotations

import io
import json
import os

import pytest

from conftest import GOLDEN_DIR
from simd_r_drive import DataStore, NamespaceHasher, compute_hash

np = pytest.importorskip("numpy")


def test_write_and_read(store: DataStore) -> None:
    store.write(b"hello", b"world")
    assert store.read(b"hello") == b"world"
    assert store.exists(b"hello")
    assert b"hello" in store


def test_batch_write(store: DataStore) -> None:
    entries = [(b"k1", b"v1"), (b"k2", b"v2"), (b"k3", b"v3")]
    store.batch_write(entries)
    for key, value in entries:
        assert store.read(key) == value


def test_read_entry_returns_memoryview(store: DataStore) -> None:
    array = np.arange(16, dtype=np.float32)
    store.write(b"array", array.tobytes())
    handle = store.read_entry(b"array")
    view = handle.as_memoryview()
    assert isinstance(view, memoryview)
    np.testing.assert_array_equal(np.frombuffer(view, dtype=np.float32), array)


def test_delete(store: DataStore) -> None:
    store.write(b"temp", b"data")
    store.delete(b"temp")
    assert store.read(b"temp") is None
    assert not store.exists(b"temp")


def test_read_missing_key_returns_none(store: DataStore) -> None:
    assert store.read(b"missing") is None
    assert store.read_entry(b"missing") is None
    assert store.read_stream(b"missing") is None


def test_write_stream_and_read_stream(store: DataStore) -> None:
    payload = os.urandom(256 * 1024)
    store.write_stream(b"stream", io.BytesIO(payload))
    stream = store.read_stream(b"stream")
    chunks = list(stream)
    assert all(len(chunk) == 4096 for chunk in chunks)
    assert b"".join(chunks) == payload
    assert store.read_stream(b"stream").read(100) == payload[:100]


def test_write_and_read_many_numpy_arrays(store: DataStore) -> None:
    rng = np.random.default_rng(1)
    arrays = {f"array_{i}".encode(): rng.random((16, 16), dtype=np.float32) for i in range(100)}
    store.batch_write(list(arrays.items()))
    for key, array in arrays.items():
        got = np.frombuffer(store.read_entry(key), dtype=np.float32).reshape(16, 16)
        np.testing.assert_array_equal(got, array)


def test_write_and_read_numpy_matrix(store: DataStore) -> None:
    matrix = np.arange(32 * 32, dtype=np.uint8).reshape(32, 32)
    store.write(b"matrix", matrix)
    got = store.read_entry(b"matrix").as_numpy(np.uint8, shape=(32, 32))
    np.testing.assert_array_equal(got, matrix)


@pytest.mark.parametrize(
    "dtype, values",
    [
        (np.float32, [1.5, -2.25, 3.0e38]),
        (np.int64, [-(2**63), 0, 2**63 - 1]),
        (np.uint8, [0, 7, 255]),
        (np.bool_, [True, False, True]),
        (np.float64, [np.pi, -0.0, 1e-308]),
        (np.complex128, [1 + 2j, -3j]),
        (np.int16, [-32768, 32767]),
        (np.dtype(">u4"), [1, 0xDEADBEEF]),  # big endian survives as bytes
    ],
)
def test_write_and_read_mixed_dtypes(store: DataStore, dtype: object, values: list[object]) -> None:
    array = np.array(values, dtype=dtype)
    key = f"mixed_{np.dtype(dtype).str}".encode()
    store.write(key, array)
    handle = store.read_entry(key)
    got = handle.as_numpy(dtype)
    np.testing.assert_array_equal(got, array)
    assert got.dtype == array.dtype
    np.testing.assert_array_equal(np.frombuffer(store.read(key), dtype=dtype), array)


def test_mixed_dtypes_side_by_side_in_one_batch(store: DataStore) -> None:
    arrays = {
        b"f32": np.linspace(0, 1, 7, dtype=np.float32),
        b"i64": np.arange(-3, 4, dtype=np.int64),
        b"u8": np.arange(7, dtype=np.uint8),
        b"bool": np.array([True, False] * 3 + [True]),
        b"f64": np.linspace(-1, 1, 7),
    }
    store.batch_write(list(arrays.items()))
    for handle, (key, array) in zip(store.batch_read_entries(list(arrays)), arrays.items()):
        np.testing.assert_array_equal(handle.as_numpy(array.dtype), array)


def test_entry_accessors(store: DataStore) -> None:
    store.write(b"key", b"some payload")
    handle = store.read_entry(b"key")
    assert handle.size == 12 == len(handle)
    assert handle.file_size > handle.size and handle.file_size == handle.size + 20
    assert handle.end_offset - handle.start_offset == handle.size
    assert handle.offset_range() == (handle.start_offset, handle.end_offset)
    start, end = handle.address_range()
    assert end - start == handle.size
    assert isinstance(handle.checksum, int)
    raw = handle.raw_checksum()
    assert isinstance(raw, bytes) and len(raw) == 4
    assert int.from_bytes(raw, "little") == handle.checksum
    assert handle.is_valid_checksum()
    assert handle.key_hash == compute_hash(b"key")
    assert handle.as_slice() == b"some payload" and type(handle.as_slice()) is bytes
    assert bytes(handle.as_memoryview()) == b"some payload"
    assert handle.prev_offset == handle.metadata.prev_offset == 0
    assert not handle.is_tombstone
    assert "key_hash=0x" in repr(handle)


# ---- NamespaceHasher -------------------------------------------------------------------


def test_namespaces_separate_values(store: DataStore) -> None:
    a, b = NamespaceHasher(b"ns-a"), NamespaceHasher(b"ns-b")
    store.write(a.namespace(b"key"), b"in a")
    store.write(b.namespace(b"key"), b"in b")
    assert store.read(a.namespace(b"key")) == b"in a"
    assert store.read(b.namespace(b"key")) == b"in b"
    assert store.read(b"key") is None


def test_namespace_output_is_deterministic() -> None:
    first = NamespaceHasher(b"prefix").namespace(b"key")
    assert first == NamespaceHasher(b"prefix").namespace(b"key")
    assert len(first) == 16 and isinstance(first, bytes)


def test_three_namespaces_times_three_keys_are_nine_keys() -> None:
    keys = {NamespaceHasher(ns).namespace(key) for ns in (b"a", b"b", b"c") for key in (b"x", b"y", b"z")}
    assert len(keys) == 9


def test_namespaced_keys_match_the_originals_golden_file() -> None:
    golden = json.loads((GOLDEN_DIR / "prehashed.json").read_text())
    assert golden["namespaced_keys"], "no namespaced keys in the golden file"
    for case in golden["namespaced_keys"]:
        hasher = NamespaceHasher(case["namespace"].encode())
        key = hasher.namespace(case["key"].encode())
        assert key.hex() == case["namespaced_key_hex"]
        assert hasher.prefix_hash == int(case["namespace_prefix_xxh3_64"], 16)
        assert compute_hash(key) == int(case["stored_key_hash"], 16)
    for vector in golden["hash_vectors"]:
        assert compute_hash(bytes.fromhex(vector["key_hex"])) == int(vector["xxh3_64"], 16)


def test_the_originals_golden_store_reads_back_by_namespaced_keys(tmp_path: object) -> None:
    golden = json.loads((GOLDEN_DIR / "prehashed.json").read_text())
    path = tmp_path / "prehashed.bin"  # type: ignore[operator]
    path.write_bytes((GOLDEN_DIR / "prehashed.bin").read_bytes())
    live = {int(entry["key_hash"], 16): bytes.fromhex(entry["value_hex"]) for entry in golden["expected"]["live"]}
    with DataStore(path, read_only=True) as store:
        for case in golden["namespaced_keys"]:
            key = NamespaceHasher(case["namespace"].encode()).namespace(case["key"].encode())
            assert store.read(key) == live[int(case["stored_key_hash"], 16)]
        order = [entry.key_hash for entry in store]
        assert order == [int(h, 16) for h in golden["expected"]["iter_entries_order_key_hashes"]]

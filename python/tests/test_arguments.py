"""Bad arguments: a TypeError that names the argument, never a crash."""

from __future__ import annotations

import pytest

from simd_r_drive import DataStore, NamespaceHasher, compute_checksum, compute_hash

np = pytest.importorskip("numpy")

NOT_BUFFERS = ["text", 42, 1.5, None, object(), [1, 2], {"a": 1}]


@pytest.mark.parametrize("bad", NOT_BUFFERS, ids=lambda value: type(value).__name__)
def test_keys_and_values_that_are_not_buffers(store: DataStore, bad: object) -> None:
    calls = {
        "key": [
            lambda: store.write(bad, b"v"),
            lambda: store.read(bad),
            lambda: store.read_entry(bad),
            lambda: store.exists(bad),
            lambda: bad in store,
            lambda: store.delete(bad),
            lambda: store.get(bad),
            lambda: store[bad],
            lambda: store.write_with_ttl(bad, b"v", 10),
            lambda: store.read_option(bad),
            lambda: compute_hash(bad),
            lambda: NamespaceHasher(b"p").namespace(bad),
        ],
        "value": [lambda: store.write(b"k", bad), lambda: store.write_with_ttl(b"k", bad, 10)],
        "old_key": [lambda: store.rename(bad, b"k")],
        "new_key": [lambda: store.rename(b"k", bad)],
        "prefix": [lambda: NamespaceHasher(bad)],
        "data": [lambda: compute_checksum(bad)],
    }
    for name, functions in calls.items():
        for function in functions:
            with pytest.raises(TypeError) as error:
                function()
            assert str(error.value).startswith(f"{name} must be"), str(error.value)
    assert store.file_size() == 0


def test_str_keys_are_refused_with_a_hint(store: DataStore) -> None:
    with pytest.raises(TypeError, match=r"not str: encode it first"):
        store.write("key", b"value")


def test_non_contiguous_arrays_are_refused(store: DataStore) -> None:
    strided = np.arange(20, dtype=np.uint8)[::2]
    with pytest.raises(TypeError, match="value must be a contiguous bytes-like object"):
        store.write(b"k", strided)
    store.write(b"k", np.ascontiguousarray(strided))
    assert store.read(b"k") == bytes(range(0, 20, 2))
    fortran = np.asfortranarray(np.arange(6, dtype=np.uint8).reshape(2, 3))
    with pytest.raises(TypeError, match="contiguous"):
        store.write(b"f", fortran)


def test_batches_name_the_bad_item(store: DataStore) -> None:
    with pytest.raises(TypeError, match="items must be a list or another iterable"):
        store.batch_write(42)
    with pytest.raises(TypeError, match="each item of items must be a \\(key, value\\) pair"):
        store.batch_write([(b"k", b"v"), b"just bytes"])
    with pytest.raises(TypeError, match="each item of items must be a \\(key, value\\) pair"):
        store.batch_write([(b"k", b"v", b"extra")])
    with pytest.raises(TypeError, match="the value of an item of items must be"):
        store.batch_write([(b"k", "text")])
    with pytest.raises(TypeError, match="keys must be a list"):
        store.batch_read(b"abc")  # bytes are not a list of keys
    with pytest.raises(TypeError, match="each item of keys must be"):
        store.batch_read([b"a", 1])
    with pytest.raises(TypeError, match="each item of keys must be"):
        store.batch_delete([None])
    with pytest.raises(TypeError, match="each item of key_hashes must be an int"):
        store.batch_read_hashed_keys([b"a"])
    assert store.file_size() == 0


def test_key_hashes_and_ttls(store: DataStore) -> None:
    with pytest.raises(TypeError, match="key_hash must be an int"):
        store.write_with_key_hash(b"k", b"v")
    with pytest.raises(ValueError, match="key_hash must be between 0 and 2\\*\\*64 - 1"):
        store.write_with_key_hash(-1, b"v")
    with pytest.raises(ValueError, match="key_hash must be between"):
        store.read_with_key_hash(2**64)
    with pytest.raises(TypeError, match="ttl_secs must be an int"):
        store.write_with_ttl(b"k", b"v", 1.5)
    with pytest.raises(TypeError, match="ttl_secs must be an int"):
        store.write_with_ttl(b"k", b"v", True)
    with pytest.raises(ValueError, match="ttl_secs must be between"):
        store.write_with_ttl(b"k", b"v", -5)


def test_other_arguments(store: DataStore, tmp_path: object) -> None:
    with pytest.raises(TypeError):
        store.copy(b"k", "not a store")
    with pytest.raises(TypeError, match="path must be str"):
        store.import_dir_recursively(5)
    with pytest.raises(ValueError, match="symlinks must be"):
        store.import_dir_recursively(tmp_path, symlinks="sometimes")
    with pytest.raises(TypeError, match="requested_schema must be an 'arrow_schema' PyCapsule"):
        store.write(b"k", b"v")
        store.read_entry(b"k").__arrow_c_array__(requested_schema="f")
    with pytest.raises(TypeError):
        DataStore(tmp_path / "s.bin", True)  # options are keyword-only

"""Every method of simd_r_drive.DataStore, one behaviour at a time."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

import simd_r_drive
from simd_r_drive import (
    DataStore,
    Durability,
    EntryHandle,
    InvalidArgumentError,
    LockedError,
    NotFoundError,
    StoreClosedError,
    compute_checksum,
    compute_hash,
)


def test_write_returns_the_tail_and_read_returns_bytes(store: DataStore) -> None:
    assert store.write(b"a", b"hello") == 25  # 5 bytes + the 20-byte record
    assert store.write(b"b", b"world") == 64 + 5 + 20  # the value starts on 64 bytes
    assert store.read(b"a") == b"hello"
    assert type(store.read(b"a")) is bytes
    assert store.read(b"missing") is None


def test_keys_and_values_take_every_contiguous_buffer(store: DataStore) -> None:
    np = pytest.importorskip("numpy")
    store.write(bytearray(b"k1"), memoryview(b"v1"))
    store.write(memoryview(b"xk2x")[1:3], bytearray(b"v2"))
    store.write(np.frombuffer(b"k3", dtype=np.uint8), np.arange(4, dtype=np.int32))
    assert store.read(b"k1") == b"v1"
    assert store.read(bytearray(b"k2")) == b"v2"
    assert store.read(b"k3") == np.arange(4, dtype=np.int32).tobytes()
    assert store.exists(np.frombuffer(b"k1", dtype=np.uint8))


def test_batch_write_and_batch_reads(store: DataStore) -> None:
    tail = store.batch_write([(b"a", b"1"), (b"b", b"2"), [b"c", b"3"]])
    assert tail == store.file_size()
    assert store.batch_read([b"a", b"missing", b"c"]) == [b"1", None, b"3"]
    handles = store.batch_read_entries([b"b", b"nope"])
    assert isinstance(handles[0], EntryHandle) and bytes(handles[0]) == b"2"
    assert handles[1] is None
    # Any iterable of keys, including a generator.
    assert store.batch_read(key for key in (b"a", b"b")) == [b"1", b"2"]
    assert store.batch_read([]) == []
    # The later of two items for one key wins.
    store.batch_write([(b"d", b"first"), (b"d", b"second")])
    assert store.read(b"d") == b"second"


def test_batch_read_mixes_key_types_and_long_keys(store: DataStore) -> None:
    """Keys that are bytes are hashed at once until they add up to 64 KiB; the rest
    (other buffer types, or keys past that size) later: the answers keep their order."""
    np = pytest.importorskip("numpy")
    long_keys = [bytes([i]) * 5000 for i in range(1, 40)]  # 195,000 bytes of keys
    store.batch_write([(key, key[:3]) for key in long_keys])
    store.batch_write([(b"a", b"1"), (b"b", b"2"), (b"c", b"3")])
    keys = [b"a", memoryview(b"b"), b"c", np.frombuffer(b"a", dtype=np.uint8), b"missing"]
    assert store.batch_read(keys) == [b"1", b"2", b"3", b"1", None]
    assert store.batch_read(long_keys + [b"c"]) == [key[:3] for key in long_keys] + [b"3"]
    assert [bytes(h) for h in store.batch_read_entries([bytearray(b"b"), b"a"])] == [b"2", b"1"]
    with pytest.raises(TypeError, match="each item of keys"):
        store.batch_read([b"a", 5])
    with pytest.raises(TypeError, match="each item of keys"):
        store.batch_read(long_keys + ["text"])


def test_batch_read_of_many_keys_agrees_with_read(store: DataStore) -> None:
    store.batch_write([(b"key%d" % i, b"value%d" % i) for i in range(3000)])
    store.delete(b"key7")
    keys = [b"key%d" % ((i * 7919) % 3500) for i in range(2000)] + [b"key7"]
    assert store.batch_read(keys) == [store.read(key) for key in keys]
    assert store.batch_read(keys)[-1] is None


def test_a_rejected_batch_writes_nothing(store: DataStore) -> None:
    store.write(b"a", b"1")
    size = store.file_size()
    with pytest.raises(InvalidArgumentError):
        store.batch_write([(b"x", b"fine"), (b"y", b"")])
    assert store.file_size() == size
    assert store.read(b"x") is None


def test_key_hash_methods(store: DataStore) -> None:
    store.write_with_key_hash(42, b"forty-two")
    assert store.read_with_key_hash(42) == b"forty-two"
    assert bytes(store.read_entry_with_key_hash(42)) == b"forty-two"
    assert store.exists_with_key_hash(42)
    assert not store.exists_with_key_hash(43)
    store.batch_write_with_key_hashes([(1, b"one"), (2, b"two")])
    assert store.batch_read_hashed_keys([1, 2, 3]) == [b"one", b"two", None]
    store.write(b"real", b"value")
    # With keys beside the hashes, a hash that is not its key's reads as absent.
    assert store.batch_read_hashed_keys([compute_hash(b"real"), 1], [b"real", b"not-one"]) == [b"value", None]
    with pytest.raises(ValueError, match="equal length"):
        store.batch_read_hashed_keys([1, 2], [b"a"])
    # allow_null_bytes: a single 0x00 deletes that hash, as in the original.
    store.batch_write_with_key_hashes([(1, b"\x00")], allow_null_bytes=True)
    assert store.read_with_key_hash(1) is None
    store.batch_delete_key_hashes([2])
    assert store.read_with_key_hash(2) is None
    assert DataStore.hash_key(b"real") == compute_hash(b"real")


def test_read_metadata_and_read_last_entry(store: DataStore) -> None:
    assert store.read_last_entry() is None
    store.write(b"first", b"hello")
    store.write(b"second", b"goodbye")
    metadata = store.read_metadata(b"second")
    assert (metadata.key_hash, metadata.prev_offset, metadata.checksum) == (compute_hash(b"second"), 25, 227530868)
    assert len(metadata.serialize()) == 20
    assert store.read_metadata(b"third") is None
    store.delete(b"first")
    last = store.read_last_entry()
    assert last.is_tombstone and bytes(last) == b"\x00"


def test_delete_exists_and_contains(store: DataStore) -> None:
    store.write(b"a", b"1")
    assert store.exists(b"a") and b"a" in store
    tail = store.delete(b"a")
    assert not store.exists(b"a") and b"a" not in store
    assert store.delete(b"a") == tail  # an absent key writes nothing
    store.batch_write([(b"x", b"1"), (b"y", b"2"), (b"z", b"3")])
    store.batch_delete([b"x", b"z", b"never"])
    assert store.batch_read([b"x", b"y", b"z"]) == [None, b"2", None]


def test_rename(store: DataStore) -> None:
    store.write(b"old", b"value")
    store.rename(b"old", b"new")
    assert store.read(b"new") == b"value" and store.read(b"old") is None
    with pytest.raises(NotFoundError) as absent:
        store.rename(b"old", b"other")
    assert absent.value.code == "not_found" and isinstance(absent.value, KeyError)
    with pytest.raises(InvalidArgumentError):
        store.rename(b"new", b"new")


def test_copy_and_transfer(tmp_path: Path) -> None:
    with DataStore(tmp_path / "a.bin") as source, DataStore(tmp_path / "b.bin") as target:
        source.write(b"k", b"value")
        assert source.copy(b"k", target) == target.file_size()
        assert target.read(b"k") == b"value" and source.read(b"k") == b"value"
        source.write(b"t", b"moving")
        source.transfer(b"t", target)
        assert target.read(b"t") == b"moving" and source.read(b"t") is None
        with pytest.raises(InvalidArgumentError):
            source.copy(b"k", source)  # the same file
        with pytest.raises(NotFoundError):
            source.copy(b"absent", target)


def test_len_is_empty_and_file_size(store: DataStore) -> None:
    assert len(store) == 0 and store.is_empty() and store.file_size() == 0
    store.write(b"a", b"1")
    store.write(b"a", b"2")  # an update does not change len
    store.write(b"b", b"3")
    assert len(store) == 2 and not store.is_empty()
    store.delete(b"a")
    store.delete(b"never")  # deleting an absent key does not change len
    assert len(store) == 1
    assert store.file_size() > 0


def test_mapping_protocol(store: DataStore) -> None:
    store[b"k"] = b"v"
    assert store[b"k"] == b"v"
    assert store.get(b"k") == b"v"
    assert store.get(b"missing") is None
    assert store.get(b"missing", b"fallback") == b"fallback"
    with pytest.raises(KeyError) as missing:
        store[b"missing"]
    assert missing.value.args == (b"missing",)
    del store[b"k"]
    assert b"k" not in store
    with pytest.raises(KeyError):
        del store[b"k"]


def test_iteration_yields_live_entries_newest_first(store: DataStore) -> None:
    for i in range(600):  # more than one chunk of the iterator
        store.write(f"k{i}".encode(), f"v{i}".encode())
    store.write(b"k5", b"rewritten")
    store.delete(b"k7")
    entries = list(store)
    assert len(entries) == 599
    assert all(isinstance(entry, EntryHandle) for entry in entries)
    assert bytes(entries[0]) == b"rewritten"  # the newest write comes first
    assert entries[0].key_hash == compute_hash(b"k5")
    by_hash = {entry.key_hash: bytes(entry) for entry in store.iter_entries()}
    assert by_hash[compute_hash(b"k599")] == b"v599"
    assert compute_hash(b"k7") not in by_hash


def test_values_yields_copies_of_the_live_values(store: DataStore) -> None:
    store.batch_write([(f"k{i}".encode(), f"v{i}".encode()) for i in range(3000)])  # several chunks
    store.write(b"k0", b"newest")
    store.delete(b"k1")
    store.write(b"big", b"B" * 100_000)  # copied without the GIL
    values = list(store.values())
    assert len(values) == 3000 and all(type(value) is bytes for value in values)
    assert values[0] == b"B" * 100_000 and values[1] == b"newest"
    assert sorted(values[2:]) == sorted(f"v{i}".encode() for i in range(2, 3000))
    iterator = store.values()
    assert iter(iterator) is iterator
    next(iterator)
    store.close()
    assert len(list(iterator)) == 2999  # it holds what it reads, not the store


def test_lookups_take_keywords_and_refuse_bad_calls(store: DataStore) -> None:
    store.write(b"k", b"v")
    assert store.read(key=b"k") == b"v" and bytes(store.read_entry(key=b"k")) == b"v"
    assert store.get(b"x", default=5) == 5 and store.get(key=b"k") == b"v"
    assert store.exists(key=b"k")
    with pytest.raises(TypeError, match="missing required argument 'key'"):
        store.read()
    with pytest.raises(TypeError, match="at most 1 argument"):
        store.read(b"k", b"extra")
    with pytest.raises(TypeError, match="unexpected or repeated keyword argument 'value'"):
        store.read(b"k", value=b"x")
    with pytest.raises(TypeError, match="at most 2 arguments"):
        store.get(b"k", 1, 2)
    assert store.read.__doc__ and "bytes" in store.read.__doc__


def test_an_iterator_outlives_the_store(store_path: Path) -> None:
    store = DataStore(store_path)
    store.batch_write([(f"k{i}".encode(), b"x" * 100) for i in range(1000)])
    iterator = iter(store)
    first = next(iterator)
    store.close()
    rest = list(iterator)
    assert len(rest) == 999 and bytes(first) == b"x" * 100


def test_stats_verify_compact(store: DataStore) -> None:
    store.write(b"a", b"1" * 100)
    store.write(b"a", b"2" * 100)
    store.delete(b"a")
    store.write(b"b", b"3" * 10)
    stats = store.stats()
    assert (stats.entries, stats.live_keys, stats.tombstones, stats.stale_entries) == (4, 1, 1, 2)
    assert stats._asdict()["live_payload_bytes"] == 10
    assert store.estimate_compaction_savings() == stats.reclaimable_bytes > 0
    handle = store.read_entry(b"b")
    report = store.verify()
    assert report.ok and bool(report) and report.corrupt_entries == [] and report.chain_intact
    store.compact()
    assert store.stats().entries == 1
    assert bytes(handle) == b"3" * 10  # a handle taken before stays valid
    assert store.read(b"b") == b"3" * 10


def test_verify_reports_a_damaged_value(store_path: Path) -> None:
    with DataStore(store_path) as store:
        store.write(b"a", b"hello world, this is a value")
        store.write(b"b", b"another value")
    data = bytearray(store_path.read_bytes())
    data[3] ^= 0xFF  # inside the first value
    store_path.write_bytes(bytes(data))
    with DataStore(store_path, read_only=True) as store:
        report = store.verify()
        assert not report.ok
        assert len(report.corrupt_entries) == 1
        assert report.corrupt_entries[0].key_hash == compute_hash(b"a")
        assert not store.read_entry(b"a").is_valid_checksum()


def test_sync_and_durability_modes(tmp_path: Path) -> None:
    for mode in (*Durability, "flush", "sync_each_write"):
        with DataStore(tmp_path / f"{mode}.bin", durability=mode, sync_interval=0.05) as store:
            store.write(b"k", b"v")
            store.sync()
            assert store.read(b"k") == b"v"
    with pytest.raises(ValueError, match="durability"):
        DataStore(tmp_path / "x.bin", durability="sometimes")
    with pytest.raises(TypeError, match="durability"):
        DataStore(tmp_path / "x.bin", durability=3)
    with pytest.raises(ValueError, match="sync_interval"):
        DataStore(tmp_path / "x.bin", sync_interval=0)


def test_read_only_store_follows_a_writer_with_refresh(store_path: Path) -> None:
    with DataStore(store_path) as writer:
        writer.write(b"a", b"1")
        with DataStore(store_path, read_only=True) as reader:
            assert reader.read_only and not writer.read_only
            assert reader.read(b"a") == b"1"
            writer.write(b"b", b"2")
            assert reader.refresh() == writer.file_size()
            assert reader.read(b"b") == b"2"
            with pytest.raises(InvalidArgumentError):
                reader.write(b"c", b"3")


def test_open_options(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        DataStore(tmp_path / "absent.bin", must_exist=True)
    with pytest.raises(NotFoundError):
        DataStore(tmp_path / "absent.bin", read_only=True)
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"this is not a store" * 10)
    with pytest.raises(simd_r_drive.CorruptionError):
        DataStore(garbage)
    with DataStore(garbage, repair_unrecoverable=True) as repaired:
        assert len(repaired) == 0
    # The index snapshot: saved on close from the given number of keys, loaded on open.
    path = tmp_path / "snap.bin"
    with DataStore(path, index_snapshot_min_keys=0) as store:
        store.write(b"k", b"v")
    assert Path(str(path) + ".index").exists()
    with DataStore(path) as store:
        assert store.index_loaded_from_snapshot and store.read(b"k") == b"v"
    with DataStore(path, index_snapshot_min_keys=None) as store:
        pass
    assert not Path(str(path) + ".index").exists()
    with pytest.raises(TypeError, match="index_snapshot_min_keys must be an int"):
        DataStore(path, index_snapshot_min_keys="many")
    with pytest.raises(ValueError, match="index_snapshot_min_keys must be between 0"):
        DataStore(path, index_snapshot_min_keys=-1)


def mapped_bytes_of(path: Path) -> list[int]:
    """The sizes of this process's mappings of `path`, from /proc/self/maps: the store's
    mapping, and a page of its own for a write's last page (docs/design.md). The kernel
    lists a mapping as several ranges where parts of it got other advice (huge pages),
    so ranges that continue each other, in memory and in the file, are joined."""
    target = os.path.realpath(path)
    mappings: list[list[int]] = []  # [start, end, file offset]
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].rstrip("\n") == target:
                start, end = (int(x, 16) for x in fields[0].split("-"))
                offset = int(fields[2], 16)
                last = mappings[-1] if mappings else None
                if last and last[1] == start and last[2] + (last[1] - last[0]) == offset:
                    last[1] = end
                else:
                    mappings.append([start, end, offset])
    return [end - start for start, end, _ in mappings]


def test_address_space_reservation(tmp_path: Path) -> None:
    path = tmp_path / "reserved.bin"
    with DataStore(path) as store:
        store.write(b"k", b"v")
        assert max(mapped_bytes_of(path)) == 4 << 30
        assert store._open_arguments()[1]["address_space_reservation"] == 4 << 30
    with DataStore(path, address_space_reservation=16 << 20) as store:
        assert max(mapped_bytes_of(path)) == 16 << 20
        # Past the reservation the store maps twice the file anew; the data stays.
        store.write(b"big", bytes(20 << 20))
        assert max(mapped_bytes_of(path)) >= 40 << 20
        assert store.read(b"k") == b"v" and len(store.read(b"big")) == 20 << 20
    assert mapped_bytes_of(path) == []
    with pytest.raises(TypeError, match="address_space_reservation must be an int"):
        DataStore(path, address_space_reservation=1.5)
    with pytest.raises(ValueError, match="address_space_reservation must be between 0"):
        DataStore(path, address_space_reservation=-1)


def test_path_accepts_str_bytes_and_pathlike(tmp_path: Path) -> None:
    for given in (str(tmp_path / "s.bin"), os.fsencode(tmp_path / "b.bin"), tmp_path / "p.bin"):
        with DataStore(given) as store:
            store.write(b"k", b"v")
            assert Path(store.path).is_absolute() and Path(store.path).exists()
    link = tmp_path / "link.bin"
    link.symlink_to(tmp_path / "p.bin")
    with DataStore(link) as store:
        assert store.path == str(tmp_path / "p.bin")  # resolved once, at open
    with pytest.raises(TypeError, match="path must be str, bytes or os.PathLike, not int"):
        DataStore(3)


def test_a_second_writer_is_refused(store_path: Path) -> None:
    with DataStore(store_path):
        with pytest.raises(LockedError) as locked:
            DataStore(store_path)
        assert locked.value.code == "locked"


def test_close_context_manager_and_use_after_close(store_path: Path) -> None:
    with DataStore(store_path) as store:
        store.write(b"k", b"v")
        handle = store.read_entry(b"k")
    assert store.closed
    for call in (
        lambda: store.read(b"k"),
        lambda: store.write(b"k", b"v"),
        lambda: len(store),
        lambda: b"k" in store,
        lambda: iter(store),
        lambda: store.compact(),
        lambda: store.read_with_ttl(b"k"),
        lambda: store.path,
    ):
        with pytest.raises(StoreClosedError, match="the store is closed") as closed:
            call()
        assert closed.value.code == "closed" and isinstance(closed.value, ValueError)
    store.close()  # idempotent
    assert bytes(handle) == b"v"
    assert "closed" in repr(store)
    # The lock is released: the file opens for writing again.
    with DataStore(store_path) as again:
        assert again.read(b"k") == b"v"


def test_write_refusals_name_the_store_rule(store: DataStore) -> None:
    with pytest.raises(InvalidArgumentError) as empty:
        store.write(b"k", b"")
    assert empty.value.code == "invalid_argument"
    with pytest.raises(InvalidArgumentError):
        store.write(b"k", b"\x00")
    assert store.file_size() == 0


def test_read_stream_is_a_file_object(store: DataStore) -> None:
    value = bytes(range(256)) * 40
    store.write(b"k", value)
    stream = store.read_stream(b"k")
    assert isinstance(stream, io.RawIOBase) and stream.readable() and stream.seekable()
    assert store.read_stream(b"missing") is None
    assert stream.read(10) == value[:10]
    buffer = bytearray(100)
    assert stream.readinto(buffer) == 100 and bytes(buffer) == value[10:110]
    assert stream.tell() == 110
    assert stream.seek(-6, io.SEEK_END) == len(value) - 6
    assert stream.read() == value[-6:]
    assert stream.read(5) == b""
    stream.seek(0)
    chunks = list(stream)
    assert [len(chunk) for chunk in chunks] == [4096, 4096, 2048]
    assert b"".join(chunks) == value
    with io.BufferedReader(store.read_stream(b"k")) as buffered:  # composes with io
        assert buffered.read() == value
    stream.close()
    with pytest.raises(ValueError):
        stream.read(1)


def test_write_stream_from_readinto_and_from_read(store: DataStore) -> None:
    value = os.urandom(300_000)
    store.write_stream(b"bio", io.BytesIO(value))  # readinto
    assert store.read(b"bio") == value

    class OnlyRead:
        def __init__(self) -> None:
            self.data = io.BytesIO(value)
            self.calls = 0

        def read(self, n: int) -> bytes:
            self.calls += 1
            return self.data.read(min(n, 7000))

    reader = OnlyRead()
    store.write_stream(b"read", reader)
    assert store.read(b"read") == value and reader.calls > 40


def test_write_stream_from_a_file(store: DataStore, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"file contents " * 10_000)
    with open(source, "rb") as file:
        store.write_stream(b"file", file)
    with open(source, "rb", buffering=0) as raw:
        store.write_stream(b"raw", raw)
    assert store.read(b"file") == store.read(b"raw") == source.read_bytes()


def test_a_failing_reader_leaves_nothing(store: DataStore) -> None:
    store.write(b"before", b"value")
    size = store.file_size()

    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readinto(self, buffer: memoryview) -> int:
            self.calls += 1
            if self.calls == 3:
                raise OSError("the disk went away")
            buffer[:10] = b"0123456789"
            return 10

    with pytest.raises(OSError, match="the disk went away"):
        store.write_stream(b"k", Failing())
    assert store.file_size() == size and store.read(b"k") is None
    store.write(b"after", b"still works")
    assert store.read(b"after") == b"still works"


def test_write_stream_refuses_what_it_cannot_use(store: DataStore) -> None:
    with pytest.raises(TypeError, match="reader must have a readinto"):
        store.write_stream(b"k", 42)
    with pytest.raises(InvalidArgumentError):
        store.write_stream(b"k", io.BytesIO(b""))  # an empty value

    class KeepsTheBuffer:
        """Keeps views of what it is given: they must stay readable, not dangle."""

        def __init__(self) -> None:
            self.kept: list[memoryview] = []

        def readinto(self, buffer: memoryview) -> int:
            if len(self.kept) == 3:
                return 0
            view = memoryview(buffer).cast("B")
            self.kept.append(view[:4])
            view[:4] = b"abc" + bytes([ord("0") + len(self.kept)])
            return 4

    keeper = KeepsTheBuffer()
    store.write_stream(b"kept", keeper)
    assert store.read(b"kept") == b"abc1abc2abc3"
    assert all(len(bytes(view)) == 4 for view in keeper.kept)  # readable after the stream

    class NonBlocking:
        def readinto(self, buffer: memoryview) -> None:
            return None

    with pytest.raises(ValueError, match="non-blocking"):
        store.write_stream(b"k", NonBlocking())

    class TooMuch:
        def read(self, n: int) -> bytes:
            return b"x" * (n + 1)

    size = store.file_size()
    with pytest.raises(ValueError, match="more than n bytes"):
        store.write_stream(b"k", TooMuch())
    assert store.file_size() == size and store.read(b"k") is None


def test_the_store_cannot_be_changed_from_its_own_stream_source(store: DataStore) -> None:
    # The stream holds the write lock while it asks the reader for bytes: a write from
    # inside would wait for itself. Reads are fine.
    store.write(b"other", b"value")

    class Reentrant:
        def __init__(self) -> None:
            self.done = False
            self.seen: bytes | None = None

        def read(self, n: int) -> bytes:
            if self.done:
                return b""
            self.done = True
            self.seen = store.read(b"other")
            store.write(b"inner", b"x")
            return b"never"

    reader = Reentrant()
    with pytest.raises(ValueError, match="inside its own write_stream"):
        store.write_stream(b"k", reader)
    assert reader.seen == b"value"
    assert store.read(b"inner") is None and store.read(b"k") is None


def test_hash_functions() -> None:
    assert compute_hash(b"") == 0x2D06800538D394C2  # XXH3-64 of nothing, seed 0
    assert compute_checksum(b"123456789") == 0xCBF43926  # the CRC-32 check value
    assert compute_checksum(bytes(200_000)) == compute_checksum(bytearray(200_000))

"""Threads (the GIL released where an engine lock may be taken), fork, pickling."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import random
import threading
from pathlib import Path

import pytest

from simd_r_drive import DataStore, EntryStream, ForkedProcessError, NamespaceHasher

JOIN_TIMEOUT = 120  # a deadlock must fail the test, not hang the suite


def run_threads(targets: list[object]) -> None:
    errors: list[BaseException] = []

    def guarded(target: object) -> None:
        try:
            target()  # type: ignore[operator]
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck (deadlock?)"
    if errors:
        raise errors[0]


def test_eight_threads_reading_and_writing(store: DataStore) -> None:
    operations = 400
    written: dict[bytes, bytes] = {}
    lock = threading.Lock()

    def worker(index: int) -> None:
        rng = random.Random(index)
        mine: dict[bytes, bytes] = {}
        for i in range(operations):
            choice = rng.random()
            if choice < 0.5:
                key = f"t{index}-k{rng.randrange(50)}".encode()
                value = b"v" + os.urandom(rng.randrange(300))
                if rng.random() < 0.5:
                    store.write(key, value)
                else:
                    store.batch_write([(key, value)])
                mine[key] = value
            elif choice < 0.6 and mine:
                key = rng.choice(sorted(mine))
                store.delete(key)
                del mine[key]
            elif choice < 0.9 and mine:
                key = rng.choice(sorted(mine))
                assert store.read(key) == mine[key]  # each thread's own keys: exact
                assert bytes(store.read_entry(key)) == mine[key]
            else:
                keys = sorted(mine)[:5]
                assert store.batch_read(keys) == [mine[key] for key in keys]
                assert len(store) >= len(mine)
        with lock:
            written.update(mine)

    run_threads([lambda i=i: worker(i) for i in range(8)])
    assert len(store) == len(written)
    for key, value in written.items():
        assert store.read(key) == value
    assert {entry.key_hash for entry in store} == {DataStore.hash_key(key) for key in written}
    assert store.verify().ok


def test_threads_iterate_while_others_write_and_compact(store: DataStore) -> None:
    store.batch_write([(f"k{i}".encode(), b"x" * 50) for i in range(2000)])
    stop = threading.Event()

    def writer() -> None:
        for round_ in range(20):
            store.batch_write([(f"k{i}".encode(), f"round {round_}".encode()) for i in range(0, 2000, 7)])
            if round_ % 5 == 0:
                store.compact()
        stop.set()

    every_key = {DataStore.hash_key(f"k{i}".encode()) for i in range(2000)}

    def iterator() -> None:
        while not stop.is_set():
            # An entry overwritten after the iteration began may be skipped (its newer
            # version is not visited either); none is listed twice or made up.
            seen = [(entry.key_hash, bytes(entry)) for entry in store]
            hashes = [key_hash for key_hash, _ in seen]
            assert len(set(hashes)) == len(hashes) and set(hashes) <= every_key
            assert all(value == b"x" * 50 or value.startswith(b"round ") for _, value in seen)

    run_threads([writer, iterator, iterator])
    assert {entry.key_hash for entry in store} == every_key


def test_a_writer_waiting_for_the_lock_lets_python_run(store: DataStore) -> None:
    # A write_stream holds the write lock while its reader runs. Its reader waits here
    # for the main thread; another thread's write waits for the lock meanwhile. If that
    # write held the GIL while it waited, the main thread could never release the
    # reader: a deadlock, which the join timeout turns into a failure.
    reader_started = threading.Event()
    release_reader = threading.Event()

    class SlowReader:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int) -> bytes:
            self.calls += 1
            if self.calls == 1:
                reader_started.set()
                assert release_reader.wait(JOIN_TIMEOUT)
                return b"streamed"
            return b""

    streamer = threading.Thread(target=lambda: store.write_stream(b"stream", SlowReader()))
    streamer.start()
    assert reader_started.wait(JOIN_TIMEOUT)
    writer = threading.Thread(target=lambda: store.write(b"other", b"value"))
    writer.start()
    writer.join(0.2)  # give it time to block on the lock (not needed for correctness)
    assert store.read(b"nothing") is None  # lookups run while the lock is held
    release_reader.set()
    streamer.join(JOIN_TIMEOUT)
    writer.join(JOIN_TIMEOUT)
    assert not streamer.is_alive() and not writer.is_alive()
    assert store.read(b"stream") == b"streamed" and store.read(b"other") == b"value"


def test_close_waits_for_calls_running_in_other_threads(store_path: Path) -> None:
    store = DataStore(store_path)
    started = threading.Event()
    release = threading.Event()

    class Reader:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int) -> bytes:
            self.calls += 1
            if self.calls == 1:
                started.set()
                assert release.wait(JOIN_TIMEOUT)
                return b"finished"
            return b""

    thread = threading.Thread(target=lambda: store.write_stream(b"k", Reader()))
    thread.start()
    assert started.wait(JOIN_TIMEOUT)
    closer = threading.Thread(target=store.close)
    closer.start()
    closer.join(0.2)
    release.set()
    closer.join(JOIN_TIMEOUT)
    thread.join(JOIN_TIMEOUT)
    assert not closer.is_alive() and not thread.is_alive()
    assert store.closed
    with DataStore(store_path) as again:  # closed for real: the lock is free
        assert again.read(b"k") == b"finished"


# ---- fork ------------------------------------------------------------------------------


def child_status(body: object) -> int:
    """Forks; the child runs `body` and exits 0 if it returns True, 1 otherwise."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if body() else 1  # type: ignore[operator]
        except BaseException:  # noqa: BLE001 (the exit code says it)
            code = 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_a_clear_error_and_the_parent_is_unharmed(store_path: Path) -> None:
    store = DataStore(store_path)
    store.write(b"k", b"parent's value")
    handle = store.read_entry(b"k")

    def child() -> bool:
        ok = True
        for call in (lambda: store.read(b"k"), lambda: store.write(b"x", b"y"), lambda: len(store)):
            try:
                call()
                ok = False
            except ForkedProcessError as error:
                ok = ok and error.code == "forked" and "open the store again" in str(error)
        # A handle is memory the child inherited: it stays readable.
        ok = ok and bytes(handle) == b"parent's value"
        # Reopening in the child works (read-only: the parent holds the writer's lock).
        with DataStore(store_path, read_only=True) as own:
            ok = ok and own.read(b"k") == b"parent's value"
        # Closing and dropping the parent's store in the child must not touch the file.
        store.close()
        return ok

    assert child_status(child) == 0
    # The parent's store is intact: the child neither trimmed nor closed its file.
    store.write(b"after", b"the fork")
    assert store.read(b"k") == b"parent's value" and store.read(b"after") == b"the fork"
    assert store.verify().ok
    store.close()
    with DataStore(store_path) as reopened:
        assert reopened.read(b"after") == b"the fork"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_that_drops_the_store_leaves_the_parents_writes_alone(store_path: Path) -> None:
    store = DataStore(store_path)
    store.write(b"k", b"v")

    def child() -> bool:
        nonlocal store
        del store  # the child's copy of the object is destroyed here
        import gc

        gc.collect()
        return True

    assert child_status(child) == 0
    for i in range(1000):  # appends into space the child might have trimmed
        store.write(f"k{i}".encode(), b"x" * 1000)
    assert store.verify().ok
    store.close()


def read_in_worker(args: tuple[object, bytes]) -> bytes | None:
    store, key = args
    return store.read(key)  # type: ignore[attr-defined]


def test_a_read_only_store_pickles_by_path_into_other_processes(store_path: Path) -> None:
    with DataStore(store_path) as writer:
        writer.write(b"k", b"shared")
    reader = DataStore(store_path, read_only=True, index_snapshot_min_keys=None)
    copy = pickle.loads(pickle.dumps(reader))
    assert copy is not reader and copy.read_only and copy.read(b"k") == b"shared"
    assert copy._open_arguments()[1]["index_snapshot_min_keys"] is None
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        assert pool.map(read_in_worker, [(reader, b"k")] * 2) == [b"shared", b"shared"]
    copy.close()
    reader.close()


def test_what_cannot_be_pickled_says_why(store: DataStore) -> None:
    store.write(b"k", b"v")
    with pytest.raises(TypeError, match="writable DataStore cannot be pickled"):
        pickle.dumps(store)
    with pytest.raises(TypeError, match="EntryHandle views memory of this process"):
        pickle.dumps(store.read_entry(b"k"))
    with pytest.raises(TypeError, match="EntryStream"):
        pickle.dumps(EntryStream(store.read_entry(b"k")))
    with pytest.raises(TypeError, match="NamespaceHasher is not picklable"):
        pickle.dumps(NamespaceHasher(b"p"))
    reader = DataStore(store.path, read_only=True)
    reader.close()
    with pytest.raises(TypeError, match="closed DataStore"):
        pickle.dumps(reader)

"""DataStoreWsClient against the real simd-r-drive-server, started on port 0 for each
test (conftest.Server): the conformance cases, the original's client tests, threads
with a client each, a server stopped, paused and restarted under the client."""

from __future__ import annotations

import io
import os
import random
import signal
import socket
import threading
from pathlib import Path
from typing import Any, Iterable

import pytest

import conformance
from conftest import CASES_DIR, Server
from simd_r_drive import InvalidArgumentError, NotFoundError, ProtocolError, StoreClosedError
from simd_r_drive.ws_client import ConnectionError, DataStoreWsClient, TimeoutError

pytest.importorskip("websockets")
pytest.importorskip("msgpack")


def pause(process: Any) -> None:
    """SIGSTOP, then wait until the kernel reports the process stopped (state T)."""
    os.kill(process.pid, signal.SIGSTOP)
    while True:
        with open(f"/proc/{process.pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] in ("T", "t"):
                return
        threading.Event().wait(0.001)


def connect(server: Server, **options: Any) -> DataStoreWsClient:
    return DataStoreWsClient(server.host, server.port, **options)


@pytest.fixture
def client(server: Server) -> Any:
    with connect(server) as opened:
        yield opened


# ---- the conformance cases ------------------------------------------------------------


class OverTheNetwork:
    """The conformance adapter over DataStoreWsClient."""

    def __init__(self, client: DataStoreWsClient) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def write_stream(self, key: bytes, value: bytes) -> int:
        return self.client.write_stream(key, conformance.ChunkedReader(value))

    def entries(self) -> Iterable[tuple[int, bytes]]:
        return list(self.client.iter_entries(page_size=7))  # several pages

    def verify_ok(self) -> bool:
        return bool(self.client.verify()["ok"])

    def reopen(self) -> None:
        raise conformance.CannotRun("a network client cannot close and reopen the server's store")


@pytest.mark.parametrize("name", conformance.case_names(CASES_DIR))
def test_conformance(name: str, server_factory: Any) -> None:
    from simd_r_drive import compute_hash

    test_case = conformance.load_case(CASES_DIR, name)
    if any(step["op"] == "reopen" for step in test_case["steps"]):
        pytest.skip("the case reopens the store, which a network client cannot")
    server = server_factory()
    with connect(server) as client:
        conformance.run_case(test_case, OverTheNetwork(client), compute_hash)


# ---- the original's client tests --------------------------------------------------------


def test_is_empty(client: DataStoreWsClient) -> None:
    assert client.is_empty() and len(client) == 0 and client.file_size() == 0
    client.write(b"k", b"v")
    assert client.exists(b"k") and b"k" in client and len(client) == 1 and client.file_size() > 0
    client.delete(b"k")
    assert len(client) == 0 and client.file_size() > 0


def test_simple_read_write(client: DataStoreWsClient) -> None:
    client.write(b"hello", b"world")
    assert client.read(b"hello") == b"world"


def test_batch_write_and_read(client: DataStoreWsClient) -> None:
    before = len(client)
    items = [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]
    client.batch_write(items)
    assert len(client) == before + 3
    assert client.batch_read([key for key, _ in items]) == [value for _, value in items]


def test_large_batch_write(client: DataStoreWsClient) -> None:
    items = [(f"large{i}".encode(), os.urandom(256 * 1024)) for i in range(4)]
    client.batch_write(items)
    assert client.batch_read([key for key, _ in items]) == [value for _, value in items]


def test_batch_read_with_missing_key(client: DataStoreWsClient) -> None:
    client.write(b"present", b"here")
    assert client.batch_read([b"present", b"absent"]) == [b"here", None]


def test_batch_read_structured_single_dict(client: DataStoreWsClient) -> None:
    client.batch_write([(b"k1", b"v1"), (b"k2", b"v2")])
    assert client.batch_read_structured({"first": b"k1", "second": b"k2", "none": b"kx"}) == {
        "first": b"v1",
        "second": b"v2",
        "none": None,
    }


def test_batch_read_structured_list_of_dicts(client: DataStoreWsClient) -> None:
    client.batch_write([(b"k1", b"v1"), (b"k2", b"v2")])
    assert client.batch_read_structured([{"a": b"k1"}, {"b": b"k2", "c": b"missing"}, {}]) == [
        {"a": b"v1"},
        {"b": b"v2", "c": None},
        {},
    ]
    with pytest.raises(TypeError, match="^All items in the list must be dictionaries.$"):
        client.batch_read_structured([{"a": b"k1"}, b"k2"])
    with pytest.raises(TypeError, match="dict or a list of dicts"):
        client.batch_read_structured(b"k1")


def test_count_simple(client: DataStoreWsClient) -> None:
    client.write(b"a", b"1")
    client.write(b"b", b"2")
    assert len(client) == 2
    client.write(b"a", b"updated")  # an update does not change the count
    assert len(client) == 2
    client.delete(b"never")  # deleting an absent key does not either
    assert len(client) == 2


def test_delete_key(client: DataStoreWsClient) -> None:
    client.write(b"k", b"v")
    client.delete(b"k")
    assert client.read(b"k") is None and not client.exists(b"k")


def test_delete_with_batch_read(client: DataStoreWsClient) -> None:
    client.batch_write([(b"x", b"1"), (b"y", b"2")])
    client.delete(b"x")
    assert client.batch_read([b"x", b"y"]) == [None, b"2"]


def test_namespace_hasher_over_the_network(client: DataStoreWsClient) -> None:
    from simd_r_drive.ws_client import NamespaceHasher

    a, b = NamespaceHasher(b"a"), NamespaceHasher(b"b")
    client.write(a.namespace(b"key"), b"in a")
    client.write(b.namespace(b"key"), b"in b")
    assert client.read(a.namespace(b"key")) == b"in a" and client.read(b.namespace(b"key")) == b"in b"
    assert a.namespace(b"key") == NamespaceHasher(b"a").namespace(b"key")
    keys = {NamespaceHasher(ns).namespace(k) for ns in (b"1", b"2", b"3") for k in (b"x", b"y", b"z")}
    client.batch_write([(key, b"v") for key in keys])
    assert len(client) == 2 + 9


# ---- everything else over the network ----------------------------------------------------


def test_the_rest_of_the_api(client: DataStoreWsClient) -> None:
    client[b"k"] = b"v"
    assert client[b"k"] == b"v" and client.get(b"k") == b"v" and client.get(b"x", 1) == 1
    with pytest.raises(KeyError):
        client[b"missing"]
    del client[b"k"]
    with pytest.raises(KeyError):
        del client[b"k"]
    client.write_with_key_hash(42, b"hashed")
    assert client.read_with_key_hash(42) == b"hashed" and client.exists_with_key_hash(42)
    client.batch_write_with_key_hashes([(1, b"one"), (2, b"two")])
    assert client.batch_read_hashed_keys([1, 2, 3]) == [b"one", b"two", None]
    client.batch_delete_key_hashes([1])
    client.write(b"m", b"metadata")
    metadata = client.read_metadata(b"m")
    assert metadata["payload_size"] == 8 and metadata["payload_offset"] % 64 == 0
    client.rename(b"m", b"n")
    assert client.read(b"n") == b"metadata"
    client.batch_delete([b"n"])
    entries = dict(client)
    assert entries == {42: b"hashed", 2: b"two"}
    assert client.stats()["live_keys"] == 2
    client.compact()
    client.sync()
    assert client.verify()["ok"] and client.ping() == "pong"
    assert "read" in client.server_info["methods"]


def test_errors_keep_their_codes(client: DataStoreWsClient) -> None:
    with pytest.raises(NotFoundError) as absent:
        client.rename(b"absent", b"x")
    assert absent.value.code == "not_found"
    with pytest.raises(InvalidArgumentError):
        client.write(b"k", b"")
    with pytest.raises(InvalidArgumentError):
        client.rename(b"a", b"a")
    with pytest.raises(TypeError, match="key must be a bytes-like object"):
        client.write("text", b"v")
    with pytest.raises(TypeError, match="each item of keys must be"):
        client.batch_read([b"a", 5])
    with pytest.raises(ValueError, match="key_hash must be between"):
        client.read_with_key_hash(-1)
    client.write(b"still", b"works")
    assert client.read(b"still") == b"works"


def test_buffers_of_any_kind_go_out(client: DataStoreWsClient) -> None:
    np = pytest.importorskip("numpy")
    array = np.arange(100, dtype=np.float64)
    client.write(memoryview(b"mv-key"), array)
    client.write(bytearray(b"ba"), array.reshape(10, 10))
    assert client.read(b"mv-key") == array.tobytes() == client.read(b"ba")
    with pytest.raises(TypeError, match="contiguous"):
        client.write(b"k", array[::2])


def test_streams_both_ways(client: DataStoreWsClient) -> None:
    value = os.urandom(3 * 1024 * 1024 + 17)  # several server chunks
    assert client.write_stream(b"big", io.BytesIO(value)) == client.file_size()
    stream = client.read_stream(b"big")
    assert len(stream) == len(value)
    assert stream.read(10) == value[:10]
    assert stream.read() == value[10:]
    stream.close()
    assert b"".join(client.read_stream(b"big")) == value
    assert client.read_stream(b"nothing") is None
    size = client.file_size()

    class Failing:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError("source failed")
            return b"x" * n

    with pytest.raises(OSError, match="source failed"):
        client.write_stream(b"partial", Failing())
    assert client.read(b"partial") is None and client.file_size() == size
    client.write(b"after", b"fine")  # the connection is still usable
    assert client.read(b"after") == b"fine"


def test_ttl_over_the_network(client: DataStoreWsClient) -> None:
    assert {"write_with_ttl", "read_with_ttl", "ttl_remaining"} <= set(client.server_info["methods"])
    client.write_with_ttl(b"session", b"token", 3600)
    assert client.read_with_ttl(b"session") == b"token"
    assert 3590 < client.ttl_remaining(b"session") <= 3600
    client.write_with_ttl(b"gone", b"v", 0)
    assert client.read_with_ttl(b"gone") is None and client.ttl_remaining(b"gone") is None
    client.write_with_ttl(b"forever", b"v", None)
    assert client.ttl_remaining(b"forever") == float("inf")


def test_eight_threads_each_with_its_own_client(server: Server) -> None:
    errors: list[BaseException] = []
    written: dict[bytes, bytes] = {}
    lock = threading.Lock()

    def worker(index: int) -> None:
        try:
            rng = random.Random(index)
            mine: dict[bytes, bytes] = {}
            with connect(server) as client:
                for _ in range(50):
                    if rng.random() < 0.6:
                        key = f"t{index}-{rng.randrange(20)}".encode()
                        value = b"v" + os.urandom(31)
                        client.write(key, value)
                        mine[key] = value
                    elif mine:
                        key = rng.choice(sorted(mine))
                        assert client.read(key) == mine[key]
            with lock:
                written.update(mine)
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors[0]
    with connect(server) as client:
        keys = sorted(written)
        assert client.batch_read(keys) == [written[key] for key in keys]


def test_threads_may_share_one_client(client: DataStoreWsClient) -> None:
    def worker(index: int) -> None:
        for i in range(30):
            client.write(f"{index}-{i}".encode(), b"v")
            assert client.read(f"{index}-{i}".encode()) == b"v"

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(client) == 120


def test_a_restarted_server_is_reconnected_to(server: Server) -> None:
    client = connect(server, connect_timeout=30)
    client.write(b"before", b"the restart")
    server.restart()
    # Reads are sent again on a new connection; the store is the same file.
    assert client.read(b"before") == b"the restart"
    client.write(b"after", b"the restart")
    assert client.batch_read([b"before", b"after"]) == [b"the restart", b"the restart"]
    client.close()
    with pytest.raises(StoreClosedError):
        client.read(b"before")


def test_a_write_in_flight_when_the_server_goes_raises_connection_error(server: Server) -> None:
    client = connect(server, connect_timeout=0.5)
    client.write(b"k", b"v")
    assert server.process is not None
    pause(server.process)  # the write below is never answered
    outcome: list[BaseException] = []

    def write() -> None:
        try:
            client.write(b"k2", b"v2")
        except BaseException as error:  # noqa: BLE001 (checked below)
            outcome.append(error)

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(0.3)
    os.kill(server.process.pid, signal.SIGKILL)  # the connection drops under the write
    os.kill(server.process.pid, signal.SIGCONT)
    thread.join(60)
    server.process.wait()
    server.process = None
    assert outcome and isinstance(outcome[0], ConnectionError)
    assert isinstance(outcome[0], OSError)  # the builtin ConnectionError too
    assert "may or may not have been applied" in str(outcome[0]) or "disconnected" in str(outcome[0])
    with pytest.raises(ConnectionError, match="The client is disconnected."):
        client.read(b"k")  # nothing listens: reconnecting fails
    client.close()


def test_without_reconnect_a_lost_server_is_a_connection_error(server: Server) -> None:
    client = connect(server, reconnect=False)
    client.write(b"k", b"v")
    server.stop()
    with pytest.raises(ConnectionError):
        client.read(b"k")  # finds the connection gone (or knows it already)
    with pytest.raises(ConnectionError, match="^The client is disconnected.$"):
        client.read(b"k")
    client.close()


def test_a_paused_server_times_out(server: Server) -> None:
    client = connect(server, timeout=0.5)
    client.write(b"k", b"v")
    assert server.process is not None
    pause(server.process)
    try:
        with pytest.raises(TimeoutError, match=r"^`read` operation timed out.$") as late:
            client.read(b"k")
        assert isinstance(late.value, OSError) and late.value.code == "timeout"
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    # The late answer is dropped; the next call gets its own.
    client.timeout = 30.0
    assert client.read(b"k") == b"v" and client.read(b"nope") is None
    client.close()


def test_connecting_to_nothing_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but not listening: refused
        with pytest.raises(ConnectionError, match="cannot connect"):
            DataStoreWsClient("127.0.0.1", port, connect_timeout=0.2)


def test_a_token_server_refuses_a_client_without_it(server_factory: Any, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    server = server_factory(extra=["--token-file", str(token_file)])
    with pytest.raises(ProtocolError) as refused:
        connect(server, reconnect=False)
    assert refused.value.code == "unauthorized"
    with connect(server, token="s3cret") as client:
        client.write(b"k", b"v")
        assert client.read(b"k") == b"v"


def test_a_read_only_server_refuses_writes(server_factory: Any, tmp_path: Path) -> None:
    store = tmp_path / "followed.bin"
    writer = server_factory(store)
    with connect(writer) as client:
        client.write(b"k", b"v")
    reader = server_factory(store, extra=["--read-only"])
    with connect(reader) as client:
        assert client.server_info["read_only"] is True
        assert client.read(b"k") == b"v"
        with pytest.raises(InvalidArgumentError):
            client.write(b"k2", b"v")


def test_the_client_cannot_be_pickled(client: DataStoreWsClient) -> None:
    import pickle

    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(client)



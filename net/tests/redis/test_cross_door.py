"""One store, many doors (docs/redis.md, "Keys and values"): a value SET through
redis-cli is the entry the C++ API (through the command-line tool), the WebSocket
client and redis-py read under the same key, and the other way round."""
import subprocess
import time

import pytest
import redis

from conftest import CLI, NET_EXAMPLE, cli_read, redis_cli


def ws_read(url, key):
    """The value srd-net-example (net::Client) reads: it prints it as text and a line
    end, so only text values go through this door here."""
    result = subprocess.run([NET_EXAMPLE, url, key], capture_output=True, timeout=60)
    if result.returncode != 0:
        return None
    assert result.stdout.endswith(b"\n")
    return result.stdout[:-1]


def ws_write(url, key, value):
    subprocess.run([NET_EXAMPLE, url, key, value], check=True, capture_output=True, timeout=60)


def test_redis_writes_are_read_by_every_door(server):
    value = b"from redis\x00\r\nwith bytes"
    assert redis_cli(server.port, "-x", "SET", "shared", input=value) == b"OK\n"
    assert cli_read(server.store, "shared") == value               # the C++ API, in another process
    assert redis.Redis(port=server.port).get("shared") == value     # redis-py
    assert redis_cli(server.port, "SET", "text", "from redis over ws") == b"OK\n"
    assert ws_read(server.ws_url, "text") == b"from redis over ws"  # the WebSocket client
    # DEL through Redis: gone for the others too.
    assert redis_cli(server.port, "DEL", "shared") == b"1\n"
    assert cli_read(server.store, "shared") is None
    assert redis_cli(server.port, "UNLINK", "text") == b"1\n"
    assert ws_read(server.ws_url, "text") is None


def test_other_doors_writes_are_read_by_redis(start_server, tmp_path):
    store = tmp_path / "doors.bin"
    # The C++ API (the command-line tool) writes while no server runs...
    subprocess.run([CLI, str(store), "write", "from-cli", "written by the CLI"], check=True, capture_output=True)
    server = start_server(store=store)
    assert redis_cli(server.port, "GET", "from-cli") == b"written by the CLI\n"
    # ...and the WebSocket client while it does.
    ws_write(server.ws_url, "from-ws", "written over WebSocket")
    r = redis.Redis(port=server.port)
    assert r.get("from-ws") == b"written over WebSocket"
    assert r.ttl("from-ws") == -1
    assert r.mget("from-cli", "from-ws") == [b"written by the CLI", b"written over WebSocket"]
    # A key SET with an expiry is the TTL extension's value, not the plain entry; its
    # PERSIST brings it back to the plain entry, which the other doors read.
    r.set("expiring", "soon", ex=100)
    assert cli_read(store, "expiring") is None
    assert ws_read(server.ws_url, "expiring") is None
    assert r.persist("expiring") is True
    assert cli_read(store, "expiring") == b"soon"
    assert ws_read(server.ws_url, "expiring") == b"soon"
    # A restart keeps everything (the store is the only state).
    server.stop()
    again = start_server(store=store)
    assert redis.Redis(port=again.port).mget("from-cli", "from-ws", "expiring") == [
        b"written by the CLI", b"written over WebSocket", b"soon"]


def test_a_read_only_server_follows_the_writer_and_refuses_writes(start_server, tmp_path):
    store = tmp_path / "followed.bin"
    writer = start_server(store=store)
    follower = start_server("--read-only", "--refresh-interval-ms", "1", store=store)
    w, f = redis.Redis(port=writer.port), redis.Redis(port=follower.port)
    assert w.set("k", "v1") is True
    deadline = time.monotonic() + 10
    while f.get("k") != b"v1" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert f.get("k") == b"v1"
    # redis-py turns "-READONLY You can't write against a read only replica." into this.
    with pytest.raises(redis.exceptions.ReadOnlyError, match="You can't write against a read only replica"):
        f.set("k", "v2")
    with pytest.raises(redis.exceptions.ReadOnlyError):
        f.delete("k")
    assert w.get("k") == b"v1"


def test_sigterm_with_redis_clients_connected_stops_cleanly(start_server, tmp_path):
    server = start_server(store=tmp_path / "stop.bin")
    clients = [redis.Redis(port=server.port) for _ in range(5)]
    for i, c in enumerate(clients):
        assert c.set(f"k{i}", "v") is True
    assert server.stop() == 0
    for c in clients:
        with pytest.raises(redis.ConnectionError):
            c.get("k0")
    again = start_server(store=tmp_path / "stop.bin")
    assert redis.Redis(port=again.port).mget([f"k{i}" for i in range(5)]) == [b"v"] * 5

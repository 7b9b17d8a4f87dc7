"""A server killed with SIGKILL under a SET load, in the modes that sync before they
answer, loses no acknowledged SET (docs/redis.md, "Durability")."""
import threading
import time

import pytest
import redis


@pytest.mark.parametrize("mode", ["sync-each-write", "group-commit"])
def test_sigkill_loses_no_acknowledged_set(start_server, tmp_path, mode):
    store = tmp_path / f"{mode}.bin"
    server = start_server("--durability", mode, store=store)
    acknowledged = [[] for _ in range(4)]
    stop = threading.Event()

    def load(n):
        r = redis.Redis(port=server.port, socket_timeout=10)
        i = 0
        try:
            while not stop.is_set():
                key = f"c{n}:{i}"
                # With an expiry every third key: the TTL form must survive too.
                if r.set(key, f"value {i}\r\n\x00", ex=3600 if i % 3 == 0 else None):
                    acknowledged[n].append(i)
                i += 1
        except (redis.ConnectionError, redis.TimeoutError):
            pass  # the kill: what was answered before it is what counts

    threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while sum(len(a) for a in acknowledged) < 1000 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()
    stop.set()
    for t in threads:
        t.join(30)
    total = sum(len(a) for a in acknowledged)
    assert total >= 1000, "the load acknowledged too little before the kill"

    again = start_server(store=store)
    r = redis.Redis(port=again.port)
    for n, indexes in enumerate(acknowledged):
        keys = [f"c{n}:{i}" for i in indexes]
        for start in range(0, len(keys), 1000):
            chunk = indexes[start:start + 1000]
            values = r.mget(keys[start:start + 1000])
            assert values == [f"value {i}\r\n\x00".encode() for i in chunk]
        for i in indexes:
            if i % 3 == 0:
                assert r.ttl(f"c{n}:{i}") > 3000

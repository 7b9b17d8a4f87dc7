"""twemproxy (nutcracker) in front of three servers (docs/redis.md, "twemproxy"): the
configuration in the repo passes nutcracker -t, and run with this test's ports it
passes redis-benchmark -t set,get and a redis-py round trip, the keys spread over the
three stores."""
import os
import signal
import socket
import subprocess
import time

import pytest
import redis

from conftest import KEYCHECK, REPO, free_port

CONFIG = os.path.join(REPO, "net", "resp", "nutcracker.yml")


def test_the_config_in_the_repo_is_valid():
    result = subprocess.run(["nutcracker", "-t", "-c", CONFIG], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert b"syntax is ok" in result.stdout + result.stderr


@pytest.fixture
def proxy(start_server, tmp_path):
    servers = [start_server() for _ in range(3)]
    listen, stats = free_port(), free_port()
    text = open(CONFIG).read().replace("127.0.0.1:22121", f"127.0.0.1:{listen}")
    for i, s in enumerate(servers):
        text = text.replace(f"127.0.0.1:700{i + 1}:1", f"127.0.0.1:{s.port}:1")
    config = tmp_path / "nutcracker.yml"
    config.write_text(text)
    proc = subprocess.Popen(["nutcracker", "-c", str(config), "-s", str(stats), "-a", "127.0.0.1",
                             "-o", str(tmp_path / "nutcracker.log"), "-p", str(tmp_path / "nutcracker.pid")])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", listen), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, open(tmp_path / "nutcracker.log").read()
                assert time.monotonic() < deadline, "nutcracker did not listen"
                time.sleep(0.05)
        yield listen, servers
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_redis_benchmark_and_redis_py_through_the_proxy(proxy):
    port, servers = proxy
    result = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "set,get", "-n", "5000",
                             "-r", "100000", "-c", "8", "-q"], capture_output=True, timeout=120)
    text = result.stdout.decode(errors="replace")
    assert result.returncode == 0, text + result.stderr.decode(errors="replace")
    assert "SET:" in text and "GET:" in text, text
    r = redis.Redis(host="127.0.0.1", port=port)
    keys = [f"proxy:{i}" for i in range(300)]
    for k in keys:
        assert r.set(k, b"\x00" + k.encode() + b"\r\n") is True
    assert [r.get(k) for k in keys] == [b"\x00" + k.encode() + b"\r\n" for k in keys]
    assert r.mget(keys[:50]) == [b"\x00" + k.encode() + b"\r\n" for k in keys[:50]]
    assert r.delete(*keys[:10]) == 10
    assert r.get(keys[0]) is None
    # The proxy spread the keys: every server holds some, and each key is in one store.
    found = []
    for s in servers:
        listing = "".join(f"{k}\n" for k in keys[:10]).encode()
        absent = subprocess.run([KEYCHECK, s.store], input=listing, capture_output=True, timeout=60)
        assert absent.returncode == 0, absent.stdout  # the deleted keys are gone everywhere
        direct = redis.Redis(port=s.port)
        found.append(sum(1 for k in keys[10:] if direct.exists(k)))
    assert sum(found) == len(keys) - 10
    assert all(n > 0 for n in found), found

"""The Redis front door's suite (docs/redis.md): redis-py, redis-cli, redis-benchmark and
nutcracker against the real simd-r-drive-server binary.

Run by scripts/run-redis-tests.sh BUILD_DIR, which sets SRD_BUILD_BIN. Every server a
test starts listens on 127.0.0.1, port 0 (or a port the test picked free), announces
its ports on stdout, and is stopped (SIGTERM, then SIGKILL) when the test ends. No
Redis server of the system is used: the reference redis-server runs only in the
benchmark (scripts/bench-redis.sh).
"""
import os
import select
import signal
import socket
import subprocess
import time

import pytest

BIN = os.environ.get("SRD_BUILD_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "..", "build", "bin"))
SERVER = os.path.join(BIN, "simd-r-drive-server")
CLI = os.path.join(BIN, "simd-r-drive")
NET_EXAMPLE = os.path.join(BIN, "srd-net-example")
KEYCHECK = os.path.join(BIN, "srd_resp_keycheck")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """simd-r-drive-server on a store, with the RESP port; reads its announcements."""

    def __init__(self, store, *extra, env=None, resp_port=0, log=None):
        self.store = str(store)
        self.log_path = log or (self.store + ".log")
        self.args = [SERVER, self.store, "--resp-port", str(resp_port), *extra]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.log, env=env)
        self.ws_url = None
        self.port = None
        deadline = time.monotonic() + 60
        buffered = b""
        while self.port is None or self.ws_url is None:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise RuntimeError("the server did not announce its ports: " + open(self.log_path, "rb").read().decode(errors="replace"))
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                self.kill()
                raise RuntimeError("the server exited: " + open(self.log_path, "rb").read().decode(errors="replace"))
            buffered += chunk
            for line in buffered.split(b"\n"):
                text = line.decode()
                if text.startswith("listening on ws"):
                    self.ws_url = text.split(" ", 2)[2]
                elif text.startswith("listening on redis://") or text.startswith("listening on rediss://"):
                    self.port = int(text.rsplit(":", 1)[1])
        self.host = "127.0.0.1"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


@pytest.fixture
def start_server(tmp_path):
    started = []

    def start(*extra, store=None, **kwargs):
        server = ServerProcess(store or (tmp_path / f"store{len(started)}.bin"), "--quiet", *extra, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(start_server):
    return start_server()


def redis_cli(port, *args, input=None, cluster=False, check=True):
    """redis-cli's stdout (bytes). Raw output (--no-raw off a tty is raw already)."""
    command = ["redis-cli", "-h", "127.0.0.1", "-p", str(port)]
    if cluster:
        command.append("-c")
    result = subprocess.run(command + [str(a) for a in args], input=input, capture_output=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"redis-cli {args} exited {result.returncode}: {result.stderr!r}")
    return result.stdout


def cli_read(store, key):
    """The value the command-line tool (the C++ API, read-only) reads, or None."""
    result = subprocess.run([CLI, str(store), "read", key], capture_output=True, timeout=60)
    if result.returncode == 3:
        return None
    assert result.returncode == 0, result.stderr
    return result.stdout

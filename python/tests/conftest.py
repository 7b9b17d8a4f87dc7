"""Fixtures shared by the package's tests.

The tests import the installed package (make test installs it into a venv under
build/); they find the repository's shared data (conformance cases, golden files)
through SRD_SOURCE_DIR or their own location, and the server binary through
SRD_SERVER_BINARY or build/bin/simd-r-drive-server.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

SOURCE_DIR = Path(os.environ.get("SRD_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CASES_DIR = SOURCE_DIR / "tests" / "conformance" / "cases"
GOLDEN_DIR = SOURCE_DIR / "tests" / "compat" / "golden"


def server_binary() -> Path | None:
    given = os.environ.get("SRD_SERVER_BINARY")
    path = Path(given) if given else SOURCE_DIR / "build" / "bin" / "simd-r-drive-server"
    return path if path.is_file() and os.access(path, os.X_OK) else None


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store.bin"


@pytest.fixture
def store(store_path: Path) -> Iterator["object"]:
    from simd_r_drive import DataStore

    with DataStore(store_path) as opened:
        yield opened


class Server:
    """simd-r-drive-server on a port of its choosing on 127.0.0.1, for one test.

    It is started with --port 0 and read until its one line "listening on
    ws://HOST:PORT/ws"; stop() sends SIGTERM and waits. restart() stops it and starts
    it again on the same store (and, if it can, the same port).
    """

    LISTENING = re.compile(r"listening on wss?://([^:/\s]+|\[[^\]]+\]):(\d+)/ws")

    def __init__(self, binary: Path, store: Path, extra: list[str] | None = None) -> None:
        self.binary = binary
        self.store = store
        self.extra = list(extra or [])
        self.process: subprocess.Popen[str] | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.output: list[str] = []

    def start(self, port: int = 0, timeout: float = 30.0) -> None:
        command = [str(self.binary), str(self.store), "--host", "127.0.0.1", "--port", str(port), *self.extra]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        found: list[re.Match[str]] = []
        done = threading.Event()

        def read_announcement() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)
                match = self.LISTENING.search(line)
                if match:
                    found.append(match)
                    break
            done.set()
            # Keep draining, so the server never blocks on a full pipe.
            for line in self.process.stdout:
                self.output.append(line)

        threading.Thread(target=read_announcement, daemon=True).start()
        if not done.wait(timeout) or not found:
            self.stop()
            raise RuntimeError("the server did not announce its address:\n" + "".join(self.output))
        self.host = found[0].group(1)
        self.port = int(found[0].group(2))

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.process is None:
            return None
        process, self.process = self.process, None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                return process.wait()
        return process.returncode

    def restart(self) -> None:
        port = self.port
        self.stop()
        try:
            self.start(port=port)
        except RuntimeError:
            self.start(port=0)  # the old port was taken meanwhile


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator["object"]:
    binary = server_binary()
    if binary is None:
        message = "no server binary (build/bin/simd-r-drive-server, or SRD_SERVER_BINARY)"
        # scripts/run-python-tests.sh sets this: there the server is part of the build,
        # and its absence must fail the run rather than skip the network tests.
        if os.environ.get("SRD_REQUIRE_SERVER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    servers: list[Server] = []

    def make(store: Path | None = None, extra: list[str] | None = None) -> Server:
        server = Server(binary, store or tmp_path / f"served-{len(servers)}.bin", extra)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(server_factory: "object") -> Server:
    return server_factory()  # type: ignore[operator]


def pytest_report_header(config: pytest.Config) -> str:
    return f"simd_r_drive tests: python {sys.version.split()[0]}, source {SOURCE_DIR}"

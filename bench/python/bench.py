#!/usr/bin/env python3
"""The srd-bench workload shapes from Python, beside Python's key/value stores.

    bench/python/bench.py [--n 100000] [--runs 3] [--backends a,b,...] [--markdown FILE]

Each (store, run) is its own process, the runs interleaved in rounds; the table shows
medians. Keys are "key{i}", values the 8-byte little-endian i (bench/workload_spec.h),
and every read turns the value into a Python int, so each store's value reaches Python.

  W1  put, one call each (20,000 puts + close)          ops/s
  W2  put, batches of 1,000 (N puts + close)            ops/s
  W4  sequential get of every key                       ops/s
  W5  random get (splitmix64 from seed 42, N gets)      ops/s
      (and "W5 bare": the same gets with the values only fetched, not made ints)
  W6  get in batches of 1,000 (a loop where a store has no multi-get)   ops/s
  W7  iterate every value and sum them                  ops/s
  W8  write 200 values of 1 MiB (puts only); read each back through the same open store
      into numpy and sum it (u64 words), as srd-bench's W8                 MiB/s
      (and "W8 reopened": the same reads after closing and reopening the store)
  B1  the W5 keys, 1,000 a call, against a loop of single gets: how much faster a
      batch read is (ours: >= 5x the goal); the values are only collected

Stores: simd_r_drive (in process), lmdb (buffers=True, one read transaction, sync
off), plyvel (LevelDB), tkrzw (HashDBM), diskcache, sqlitedict (synchronous=OFF), dbm
(the standard library's), simd_r_drive's network client against build/bin/
simd-r-drive-server on loopback, and redis-py against the same server's Redis-protocol
port (for both, single calls are capped at 20,000: each is a round trip; redis-py has
no W7: RESP cannot list the keys of a store that keeps only their hashes). Every store
runs without syncing, as in srd-bench.

Beside them, when build/bin/srd-bench exists (`make bench` builds it), the column
"C++ srd-bench" is srd-bench's own W8 at the same 200 blobs, run once a round right
after simd_r_drive: the C++ figure the numpy row is held against. The table gives each
figure as the median of the rounds. It ends with the three goals of the Python issue,
each measured as the median of the rounds' ratios (ours against the best peer of the
same round, or against the C++ run next to it), with their range.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SINGLE_PUTS = 20_000
NETWORK_SINGLE_CAP = 20_000
BLOBS = 200
BLOB = 1 << 20
BATCH = 1000
MASK64 = (1 << 64) - 1


def splitmix(seed: int, n: int, count: int) -> list[int]:
    state = seed
    out = []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        out.append((z ^ (z >> 31)) % n)
    return out


# ---- the stores ------------------------------------------------------------------------


class Store:
    name = ""
    network = False
    iterable = True

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, key: bytes, value: bytes) -> None: ...
    def put_batch(self, items: list[tuple[bytes, bytes]]) -> None: ...
    def get(self, key: bytes) -> Any: ...
    def get_batch(self, keys: list[bytes]) -> list[Any]:
        return [self.get(key) for key in keys]
    def values(self) -> Iterable[Any]: ...
    def blob_sum(self, key: bytes) -> int:
        import numpy as np

        return int(np.frombuffer(self.get(key), dtype=np.uint64).sum())
    def close(self) -> None: ...


class SimdRDrive(Store):
    name = "simd_r_drive"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        from simd_r_drive import DataStore

        self.store = DataStore(directory / "store.bin")
        self.put = self.store.write  # type: ignore[assignment]
        self.put_batch = self.store.batch_write  # type: ignore[assignment]
        self.get = self.store.read  # type: ignore[assignment]
        self.get_batch = self.store.batch_read  # type: ignore[assignment]

    def values(self) -> Iterable[Any]:
        return self.store.values()  # bytes: for 8-byte values cheaper than a handle each

    def blob_sum(self, key: bytes) -> int:
        import numpy as np

        return int(np.frombuffer(self.store.read_entry(key), dtype=np.uint64).sum())

    def close(self) -> None:
        self.store.close()


class Lmdb(Store):
    name = "lmdb"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        import lmdb

        self.env = lmdb.open(str(directory), map_size=8 << 30, sync=False, metasync=False, writemap=True,
                             readahead=False)
        self.read_txn: Any = None

    def put(self, key: bytes, value: bytes) -> None:
        with self.env.begin(write=True) as txn:
            txn.put(key, value)

    def put_batch(self, items: list[tuple[bytes, bytes]]) -> None:
        with self.env.begin(write=True) as txn:
            for key, value in items:
                txn.put(key, value)

    def _txn(self) -> Any:
        if self.read_txn is None:
            self.read_txn = self.env.begin(buffers=True)
            self.get = self.read_txn.get  # type: ignore[assignment]
        return self.read_txn

    def get(self, key: bytes) -> Any:
        return self._txn().get(key)

    def get_batch(self, keys: list[bytes]) -> list[Any]:
        # Cursor.getmulti skips absent keys; every key here is present.
        return [value for _, value in self._txn().cursor().getmulti(keys)]

    def values(self) -> Iterable[Any]:
        return self._txn().cursor().iternext(keys=False, values=True)

    def close(self) -> None:
        if self.read_txn is not None:
            self.read_txn.abort()
        self.env.close()


class Plyvel(Store):
    name = "plyvel"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        import plyvel

        self.db = plyvel.DB(str(directory / "db"), create_if_missing=True)
        self.put = self.db.put  # type: ignore[assignment]
        self.get = self.db.get  # type: ignore[assignment]

    def put_batch(self, items: list[tuple[bytes, bytes]]) -> None:
        with self.db.write_batch() as batch:
            for key, value in items:
                batch.put(key, value)

    def values(self) -> Iterable[Any]:
        return self.db.iterator(include_key=False)

    def close(self) -> None:
        self.db.close()


class Tkrzw(Store):
    name = "tkrzw"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        import tkrzw

        self.db = tkrzw.DBM()
        self.db.Open(str(directory / "db.tkh"), True, dbm="HashDBM", num_buckets=2_000_000).OrDie()
        self.put = self.db.Set  # type: ignore[assignment]
        self.get = self.db.Get  # type: ignore[assignment]

    def put_batch(self, items: list[tuple[bytes, bytes]]) -> None:
        # SetMulti(overwrite, **records) takes the records as keyword arguments, so its
        # keys must be str (tkrzw stores them UTF-8 encoded: the same bytes for these
        # ASCII keys). A dict passed positionally is taken as `overwrite` and nothing
        # is written.
        self.db.SetMulti(True, **{key.decode(): value for key, value in items}).OrDie()

    def get_batch(self, keys: list[bytes]) -> list[Any]:
        found = self.db.GetMulti(*keys)
        return [found.get(key) for key in keys]

    def values(self) -> Iterable[Any]:
        for _, value in self.db:
            yield value

    def close(self) -> None:
        self.db.Close().OrDie()


class DiskCache(Store):
    name = "diskcache"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        import diskcache

        self.cache = diskcache.Cache(str(directory / "cache"), size_limit=1 << 40, sqlite_synchronous=0)
        self.put = self.cache.set  # type: ignore[assignment]
        self.get = self.cache.get  # type: ignore[assignment]

    def put_batch(self, items: list[tuple[bytes, bytes]]) -> None:
        with self.cache.transact():
            for key, value in items:
                self.cache.set(key, value)

    def values(self) -> Iterable[Any]:
        for key in self.cache.iterkeys():
            yield self.cache.get(key)

    def close(self) -> None:
        self.cache.close()


class SqliteDictStore(Store):
    name = "sqlitedict"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        from sqlitedict import SqliteDict

        identity = lambda value: value  # noqa: E731  (bytes in, bytes out: no pickling)
        self.db = SqliteDict(str(directory / "db.sqlite"), autocommit=False, encode=identity, decode=identity,
                             journal_mode="WAL")
        self.db.conn.execute("PRAGMA synchronous=OFF")
        self.db.conn.commit()

    def put(self, key: bytes, value: bytes) -> None:
        self.db[key] = value
        self.db.commit()

    def put_batch(self, items: list[tuple[bytes, bytes]]) -> None:
        for key, value in items:
            self.db[key] = value
        self.db.commit()

    def get(self, key: bytes) -> Any:
        return self.db.get(key)

    def values(self) -> Iterable[Any]:
        return self.db.values()

    def close(self) -> None:
        self.db.close()


class Dbm(Store):
    name = "dbm"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        import dbm

        self.db = dbm.open(str(directory / "db"), "c")
        self.get = self.db.get  # type: ignore[assignment]

    def put(self, key: bytes, value: bytes) -> None:
        self.db[key] = value

    def put_batch(self, items: list[tuple[bytes, bytes]]) -> None:
        for key, value in items:
            self.db[key] = value

    def values(self) -> Iterable[Any]:
        db = self.db
        for key in db.keys():
            yield db[key]

    def close(self) -> None:
        self.db.close()


class ServedStore(Store):
    """A store behind build/bin/simd-r-drive-server on loopback, started per open."""

    network = True

    def start_server(self, directory: Path, *extra: str) -> list[str]:
        """Starts the server on free ports; returns the URLs it announced."""
        binary = Path(os.environ.get("SRD_SERVER_BINARY", ROOT / "build" / "bin" / "simd-r-drive-server"))
        self.server = subprocess.Popen([str(binary), str(directory / "served.bin"), "--port", "0", "--quiet", *extra],
                                       stdout=subprocess.PIPE, text=True)
        assert self.server.stdout is not None
        return [self.server.stdout.readline().split()[-1] for _ in range(1 + len(extra) // 2)]

    def stop_server(self) -> None:
        self.server.send_signal(signal.SIGTERM)
        self.server.wait(60)


class Network(ServedStore):
    name = "simd_r_drive ws client"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        from simd_r_drive.ws_client import DataStoreWsClient

        (url,) = self.start_server(directory)
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        self.client = DataStoreWsClient("127.0.0.1", port, timeout=120, batch_timeout=300)
        self.put = self.client.write  # type: ignore[assignment]
        self.put_batch = self.client.batch_write  # type: ignore[assignment]
        self.get = self.client.read  # type: ignore[assignment]
        self.get_batch = self.client.batch_read  # type: ignore[assignment]

    def values(self) -> Iterable[Any]:
        for _, value in self.client.iter_entries(page_size=10_000):
            yield value

    def close(self) -> None:
        self.client.close()
        self.stop_server()


class RedisPy(ServedStore):
    """redis-py (python3-redis) against the same server's Redis-protocol port."""

    name = "redis-py"
    iterable = False  # the store keeps key hashes, so RESP has no SCAN (docs/redis.md)

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        import redis

        _, url = self.start_server(directory, "--resp-port", "0")
        host, port = url.removeprefix("redis://").rsplit(":", 1)
        self.client = redis.Redis(host=host, port=int(port), socket_timeout=120)
        self.put = self.client.set  # type: ignore[assignment]
        self.get = self.client.get  # type: ignore[assignment]
        self.get_batch = self.client.mget  # type: ignore[assignment]

    def put_batch(self, items: list[tuple[bytes, bytes]]) -> None:
        self.client.mset(dict(items))

    def close(self) -> None:
        self.client.close()
        self.stop_server()


STORES: dict[str, type[Store]] = {
    cls.name: cls for cls in (SimdRDrive, Lmdb, Plyvel, Tkrzw, DiskCache, SqliteDictStore, Dbm, Network, RedisPy)
}


# ---- the workloads ----------------------------------------------------------------------


def timed(body: Callable[[], Any]) -> float:
    start = time.perf_counter()
    body()
    return time.perf_counter() - start


def run_one(store_name: str, n: int) -> dict[str, float]:
    """Every workload for one store, in this process; returns {row: figure}."""
    import numpy as np

    cls = STORES[store_name]
    figures: dict[str, float] = {}
    keys = [f"key{i}".encode() for i in range(n)]
    values = [i.to_bytes(8, "little") for i in range(n)]
    expected = n * (n - 1) // 2
    single = min(n, SINGLE_PUTS)
    read_count = min(n, NETWORK_SINGLE_CAP) if cls.network else n
    scratch = Path(tempfile.mkdtemp(prefix=f"srd-pybench-{store_name.replace(' ', '-')}-"))
    try:
        # W1
        directory = scratch / "w1"
        directory.mkdir()
        store = cls(directory)

        def w1() -> None:
            put = store.put
            for i in range(single):
                put(keys[i], values[i])
            store.close()

        figures["W1"] = single / timed(w1)
        # W2
        directory = scratch / "w2"
        directory.mkdir()
        store = cls(directory)
        items = list(zip(keys, values))

        def w2() -> None:
            for start in range(0, n, BATCH):
                store.put_batch(items[start:start + BATCH])
            store.close()

        figures["W2"] = n / timed(w2)
        store = cls(directory)
        # W4
        total = 0

        def w4() -> None:
            nonlocal total
            get = store.get
            from_bytes = int.from_bytes
            for key in keys[:read_count]:
                total += from_bytes(get(key), "little")

        figures["W4"] = read_count / timed(w4)
        assert total == read_count * (read_count - 1) // 2, "W4 read wrong values"
        # W5
        order = [keys[i] for i in splitmix(42, n, read_count)]
        want = sum(int.from_bytes(values[int(key[3:])], "little") for key in order)
        total = 0

        def w5() -> None:
            nonlocal total
            get = store.get
            from_bytes = int.from_bytes
            for key in order:
                total += from_bytes(get(key), "little")

        figures["W5"] = read_count / timed(w5)
        assert total == want, "W5 read wrong values"
        # W5 bare: the same gets, the values only fetched, not turned into ints: what the
        # store costs without the loop's own arithmetic

        def w5_bare() -> None:
            get = store.get
            for key in order:
                get(key)

        figures["W5 bare"] = read_count / timed(w5_bare)
        # W6
        total = 0
        batches = [keys[start:start + BATCH] for start in range(0, n, BATCH)]

        def w6() -> None:
            nonlocal total
            get_batch = store.get_batch
            from_bytes = int.from_bytes
            for batch in batches:
                for value in get_batch(batch):
                    total += from_bytes(value, "little")

        figures["W6"] = n / timed(w6)
        assert total == expected, "W6 read wrong values"
        # B1: the same random keys, 1,000 a call, against a loop of single reads (the
        # results only collected, so the figure is the reads' own cost)
        random_batches = [order[start:start + BATCH] for start in range(0, len(order), BATCH)]

        def b1_batch() -> None:
            get_batch = store.get_batch
            for batch in random_batches:
                get_batch(batch)

        def b1_loop() -> None:
            get = store.get
            for batch in random_batches:
                [get(key) for key in batch]

        figures["B1 batch"] = read_count / timed(b1_batch)
        figures["B1 loop"] = read_count / timed(b1_loop)
        # W7
        total = 0
        count = 0

        def w7() -> None:
            nonlocal total, count
            from_bytes = int.from_bytes
            for value in store.values():
                total += from_bytes(value, "little")
                count += 1

        if store.iterable:
            figures["W7"] = n / timed(w7)
            assert (total, count) == (expected, n), "W7 read wrong values"
        store.close()
        # W8
        directory = scratch / "w8"
        directory.mkdir()
        store = cls(directory)
        blob_keys = [f"blob{j}".encode() for j in range(BLOBS)]
        blob = np.arange(BLOB // 8, dtype=np.uint64)

        def w8_write() -> None:
            for j, key in enumerate(blob_keys):
                blob[0] = j
                store.put(key, blob.tobytes() if not isinstance(store, SimdRDrive) else blob)

        # "W8 read+sum" reads the values back through the same open store, as
        # srd-bench's W8 does (bench/BASELINES.md), so that it compares with the C++
        # figure. "W8 reopened" then closes the store and reads them through a new
        # open, as a program that opens a store to read it does: that adds the first
        # touches of a new mapping, one fault per page mapped (docs/performance.md,
        # "Python").
        figures["W8 write"] = BLOBS * BLOB / (1 << 20) / timed(w8_write)
        total = 0

        def w8_read() -> None:
            nonlocal total
            for key in blob_keys:
                total += store.blob_sum(key)

        figures["W8 read+sum"] = BLOBS * BLOB / (1 << 20) / timed(w8_read)
        want = BLOBS * int(blob[1:].sum()) + sum(range(BLOBS))
        assert total == want, "W8 summed wrong values"
        store.close()
        store = cls(directory)
        total = 0
        figures["W8 reopened"] = BLOBS * BLOB / (1 << 20) / timed(w8_read)
        assert total == want, "W8 summed wrong values after reopening"
        store.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    figures["B1"] = figures["B1 batch"] / figures["B1 loop"]
    return figures


# ---- the harness ------------------------------------------------------------------------

ROWS = [
    ("W1", "put, one call each", "K ops/s", 1e-3),
    ("W2", "put, batches of 1000", "K ops/s", 1e-3),
    ("W4", "sequential get", "K ops/s", 1e-3),
    ("W5", "random get", "K ops/s", 1e-3),
    ("W5 bare", "random get, values not turned into ints", "K ops/s", 1e-3),
    ("W6", "get, batches of 1000", "K ops/s", 1e-3),
    ("W7", "iterate + sum", "K ops/s", 1e-3),
    ("W8 write", "1 MiB values", "MiB/s", 1.0),
    ("W8 read+sum", "1 MiB into numpy + sum, the store still open", "MiB/s", 1.0),
    ("W8 reopened", "the same after closing and reopening the store", "MiB/s", 1.0),
    ("B1", "1,000 random keys: get_batch / a loop of get", "x", 1.0),
]
READ_ROWS = ("W4", "W5", "W5 bare", "W6", "W7", "W8 read+sum", "W8 reopened")


def table(results: dict[str, dict[str, list[float]]], n: int, runs: int) -> str:
    names = list(results)
    peers = [name for name in names if name in STORES and name != "simd_r_drive" and not STORES[name].network]
    lines = [
        f"N = {n:,} keys (W1: {min(n, SINGLE_PUTS):,} puts; the network client's W4/W5: "
        f"{min(n, NETWORK_SINGLE_CAP):,} gets), medians of {runs} runs, each in its own process.",
        "",
        "| row | unit | " + " | ".join(names) + " | ours / best peer |",
        "|---|---|" + "---:|" * len(names) + "---:|",
    ]
    for row, label, unit, scale in ROWS:
        cells = []
        for name in names:
            samples = results[name].get(row, [])
            cells.append(f"{statistics.median(samples) * scale:,.1f}" if samples else "-")
        ratio = "-"
        ours = results.get("simd_r_drive", {}).get(row)
        peer_values = [statistics.median(results[p][row]) for p in peers if results[p].get(row)]
        if ours and peer_values and row != "B1":
            ratio = f"{statistics.median(ours) / max(peer_values):.2f}x"
        lines.append(f"| {row} {label} | {unit} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


CXX = "C++ srd-bench"


def cxx_w8(n_blobs: int) -> dict[str, float]:
    """srd-bench's own W8 (build/bin/srd-bench, built by `make bench`) at the same blob
    count, one run: the C++ figure the numpy row is held against. Empty if the binary
    is missing."""
    binary = ROOT / "build" / "bin" / "srd-bench"
    if not binary.exists():
        return {}
    with tempfile.TemporaryDirectory(prefix="srd-pybench-cxx-") as scratch:
        report = Path(scratch) / "w8.json"
        child = subprocess.run([str(binary), "--stores=srd", "--workloads=W8", "--runs=1", f"--n={n_blobs * 1000}",
                                f"--dir={scratch}/data", f"--json={report}"], capture_output=True, text=True)
        if child.returncode != 0 or not report.exists():
            print(f"{CXX}: failed: {child.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return {}
        names = {"W8 write": "W8 write", "W8 read": "W8 read+sum"}
        out = {}
        for record in json.loads(report.read_text())["records"]:
            for figure in record["figures"]:
                if figure["id"] in names and figure["verified"]:
                    out[names[figure["id"]]] = figure["amount"] / figure["seconds"]
        return out


def goals(by_round: dict[tuple[str, str], dict[int, float]]) -> str:
    """The issue's three goals. Each ratio is taken within a round (ours against the
    best peer, or against C++, run minutes apart at most) and the median of those
    ratios is given with their range: the machine's speed drifts between rounds by
    more than the margins the goals ask about."""
    def ratios(ours: dict[int, float], reference: dict[int, float]) -> list[float]:
        return [ours[r] / reference[r] for r in sorted(ours) if reference.get(r)]

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"

    lines = ["", "", "| goal | measured: median of the rounds' ratios (range) | met |", "|---|---|---|"]
    names = {name for name, _ in by_round}
    peers = [name for name in names if name in STORES and name != "simd_r_drive" and not STORES[name].network]
    read_ratios = []
    for row in READ_ROWS:
        ours = by_round.get(("simd_r_drive", row), {})
        best: dict[int, float] = {}
        for peer in peers:
            for r, value in by_round.get((peer, row), {}).items():
                best[r] = max(best.get(r, 0.0), value)
        if values := ratios(ours, best):
            read_ratios.append((row, values))
    if read_ratios:
        text = ", ".join(f"{row} {spread(values)}" for row, values in read_ratios)
        met = "yes" if all(statistics.median(values) >= 1.5 for _, values in read_ratios) else "no"
        lines.append(f"| every in-process read row >= 1.5x the best Python peer | {text} | {met} |")
    if values := ratios(by_round.get(("simd_r_drive", "W8 read+sum"), {}), by_round.get((CXX, "W8 read+sum"), {})):
        met = "yes" if statistics.median(values) >= 0.9 else "no"
        lines.append(f"| 1 MiB into numpy + sum within 10% of C++ (run right after it) | {spread(values)} | {met} |")
    if b1 := list(by_round.get(("simd_r_drive", "B1"), {}).values()):
        lines.append(f"| batch_read of 1,000 keys >= 5x a loop of read | {statistics.median(b1):.1f}x "
                     f"({min(b1):.1f}-{max(b1):.1f}) | {'yes' if statistics.median(b1) >= 5 else 'no'} |")
    return "\n".join(lines) if len(lines) > 4 else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default=",".join(STORES))
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--run-one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_one:
        print(json.dumps(run_one(args.run_one, args.n)))
        return 0
    names = [name for name in args.backends.split(",") if name]
    for name in names:
        if name not in STORES:
            parser.error(f"unknown store {name!r}; known: {', '.join(STORES)}")
    results: dict[str, dict[str, list[float]]] = {name: {} for name in names}
    by_round: dict[tuple[str, str], dict[int, float]] = {}

    def record(name: str, round_: int, figures: dict[str, float]) -> None:
        for row, value in figures.items():
            results.setdefault(name, {}).setdefault(row, []).append(value)
            by_round.setdefault((name, row), {})[round_] = value

    for round_ in range(args.runs):
        for name in names:
            started = time.perf_counter()
            child = subprocess.run([sys.executable, __file__, "--n", str(args.n), "--run-one", name],
                                   capture_output=True, text=True)
            if child.returncode != 0:
                print(f"{name}: failed: {child.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                continue
            record(name, round_, json.loads(child.stdout.strip().splitlines()[-1]))
            print(f"round {round_ + 1}/{args.runs}: {name} ({time.perf_counter() - started:.1f}s)", file=sys.stderr)
            if name == "simd_r_drive":
                # The C++ figure the numpy row is held against, measured next to it.
                record(CXX, round_, cxx_w8(BLOBS))
    results = {name: rows for name, rows in results.items() if rows}
    text = table(results, args.n, args.runs) + goals(by_round)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

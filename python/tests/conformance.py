"""The conformance cases (tests/conformance/cases/*.json) for Python stores.

The same files the C++ runner executes (tests/conformance/README.md), step by step,
including the random walk, against an adapter: InProcess (simd_r_drive.DataStore) or
the network client's (test_ws_client.py). An adapter has the methods below; the runner
only maps each operation onto them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

MASK64 = (1 << 64) - 1


class CannotRun(Exception):
    """The adapter cannot do this operation (a network client cannot reopen)."""


def case_names(cases_dir: Path) -> list[str]:
    return sorted(path.stem for path in cases_dir.glob("*.json"))


def load_case(cases_dir: Path, name: str) -> dict[str, Any]:
    return json.loads((cases_dir / f"{name}.json").read_text())


def pattern(n: int) -> bytes:
    return bytes(((i * 31 + n) % 251) + 1 for i in range(n))


def bytes_of(spec: Any) -> bytes:
    if isinstance(spec, str):
        return spec.encode()
    if isinstance(spec, dict) and "hex" in spec:
        return bytes.fromhex(spec["hex"])
    if isinstance(spec, dict) and "pattern" in spec:
        return pattern(int(spec["pattern"]))
    raise ValueError(f"not a byte string: {spec!r}")


def optional_bytes_of(spec: Any) -> Optional[bytes]:
    return None if spec is None else bytes_of(spec)


def shown(value: Optional[bytes]) -> str:
    if value is None:
        return "(absent)"
    return repr(value) if len(value) <= 64 else f"({len(value)} bytes)"


class ChunkedReader:
    """A reader that hands out at most `chunk` bytes a call, so write_stream sees many."""

    def __init__(self, data: bytes, chunk: int = 1000) -> None:
        self._data = memoryview(data)
        self._chunk = chunk
        self._at = 0

    def read(self, n: int) -> bytes:
        n = min(n, self._chunk, len(self._data) - self._at)
        out = bytes(self._data[self._at : self._at + n])
        self._at += n
        return out


class SplitMix64:
    def __init__(self, seed: int) -> None:
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


def error_code(error: BaseException) -> str:
    code = getattr(error, "code", None)
    if isinstance(code, str):
        return code
    return f"{type(error).__name__}: {error}"


class Runner:
    def __init__(self, store: Any, hash_of: Callable[[bytes], int]) -> None:
        self.store = store
        self.hash_of = hash_of

    # ---- checks -----------------------------------------------------------------------
    @staticmethod
    def expect_value(got: Optional[bytes], want: Optional[bytes], where: str) -> None:
        assert (got is None) == (want is None) and (got is None or bytes(got) == want), (
            f"{where}: got {shown(got)}, want {shown(want)}"
        )

    def expect_entries(self, want: dict[int, bytes], where: str) -> None:
        got: dict[int, bytes] = {}
        for key_hash, value in self.store.entries():
            assert key_hash not in got, f"{where}: key hash {key_hash} listed twice"
            got[key_hash] = value
        assert set(got) == set(want), f"{where}: live key hashes differ: {sorted(set(got) ^ set(want))}"
        for key_hash, value in want.items():
            assert got[key_hash] == value, f"{where}: key hash {key_hash}: got {shown(got[key_hash])}, want {shown(value)}"

    # ---- the random walk ----------------------------------------------------------------
    def random_walk(self, step: dict[str, Any], where: str) -> None:
        rng = SplitMix64(int(step["seed"]))
        count = int(step["count"])
        keys = int(step["keys"])
        compact = bool(step.get("compact", False))
        store = self.store
        model: dict[int, bytes] = dict(store.entries())

        def key() -> bytes:
            return f"k{rng.next() % keys}".encode()

        def value(n: int) -> bytes:
            length = 1 + rng.next() % 200
            unit = f"v{n}:".encode()
            return (unit * (length // len(unit) + 1))[:length]

        def modelled(k: bytes) -> Optional[bytes]:
            return model.get(self.hash_of(k))

        for i in range(count):
            at = f"{where}, random operation {i}"
            r = rng.next() % 100
            if r < 35:
                k = key()
                v = value(i)
                store.write(k, v)
                model[self.hash_of(k)] = v
            elif r < 45:
                n = 1 + rng.next() % 4
                items = []
                for j in range(n):
                    k = key()
                    items.append((k, value(i * 16 + j)))
                store.batch_write(items)
                for k, v in items:
                    model[self.hash_of(k)] = v
            elif r < 55:
                k = key()
                store.delete(k)
                model.pop(self.hash_of(k), None)
            elif r < 60:
                n = 1 + rng.next() % 3
                ks = [key() for _ in range(n)]
                store.batch_delete(ks)
                for k in ks:
                    model.pop(self.hash_of(k), None)
            elif r < 65:
                a = key()
                b = key()
                current = modelled(a)
                code = "none"
                try:
                    store.rename(a, b)
                except Exception as error:  # noqa: BLE001 (the code is what is checked)
                    code = error_code(error)
                if a == b:
                    assert code == "invalid_argument", at
                elif current is None:
                    assert code == "not_found", at
                else:
                    assert code == "none", at
                    model[self.hash_of(b)] = current
                    model.pop(self.hash_of(a), None)
            elif r < 85:
                k = key()
                self.expect_value(store.read(k), modelled(k), at)
            elif r < 90:
                k = key()
                assert store.exists(k) == (modelled(k) is not None), at
            elif r < 95:
                n = 1 + rng.next() % 5
                ks = [key() for _ in range(n)]
                got = store.batch_read(ks)
                assert len(got) == len(ks), at
                for k, g in zip(ks, got):
                    self.expect_value(g, modelled(k), at)
            elif r < 97 or not compact:
                assert store.len() == len(model), at
            else:
                store.compact()
        self.expect_entries(model, where)

    # ---- one step -------------------------------------------------------------------------
    def run_step(self, step: dict[str, Any], where: str) -> None:
        store = self.store
        op = step["op"]
        checks = "expect" in step
        want = step.get("expect")

        def tail(got: int) -> None:
            if checks:
                assert got == want, f"{where}: tail {got}, want {want}"

        def plain(got: Any) -> None:
            if checks:
                assert got == want, f"{where}: got {got!r}, want {want!r}"

        if op == "write":
            tail(store.write(bytes_of(step["key"]), bytes_of(step["value"])))
        elif op == "write_stream":
            tail(store.write_stream(bytes_of(step["key"]), bytes_of(step["value"])))
        elif op == "write_with_key_hash":
            tail(store.write_with_key_hash(int(step["hash"]), bytes_of(step["value"])))
        elif op == "batch_write":
            tail(store.batch_write([(bytes_of(k), bytes_of(v)) for k, v in step["items"]]))
        elif op == "batch_write_with_key_hashes":
            tail(store.batch_write_with_key_hashes([(int(h), bytes_of(v)) for h, v in step["items"]]))
        elif op == "read":
            got = store.read(bytes_of(step["key"]))
            if checks:
                self.expect_value(got, optional_bytes_of(want), where)
        elif op == "read_with_key_hash":
            got = store.read_with_key_hash(int(step["hash"]))
            if checks:
                self.expect_value(got, optional_bytes_of(want), where)
        elif op == "batch_read":
            got = store.batch_read([bytes_of(k) for k in step["keys"]])
            if checks:
                self.expect_values(got, want, where)
        elif op == "batch_read_hashed_keys":
            got = store.batch_read_hashed_keys([int(h) for h in step["hashes"]])
            if checks:
                self.expect_values(got, want, where)
        elif op == "read_metadata":
            key = bytes_of(step["key"])
            got = store.read_metadata(key)
            if checks and want is None:
                assert got is None, f"{where}: metadata of an absent key: {got}"
            elif checks:
                assert got is not None, f"{where}: no metadata"
                assert got["key_hash"] == int(want.get("key_hash", self.hash_of(key))), where
                for field in ("prev_offset", "checksum", "payload_offset", "payload_size"):
                    if field in want:
                        assert got[field] == want[field], f"{where}: {field} {got[field]}, want {want[field]}"
        elif op == "exists":
            plain(store.exists(bytes_of(step["key"])))
        elif op == "exists_with_key_hash":
            plain(store.exists_with_key_hash(int(step["hash"])))
        elif op == "delete":
            tail(store.delete(bytes_of(step["key"])))
        elif op == "batch_delete":
            tail(store.batch_delete([bytes_of(k) for k in step["keys"]]))
        elif op == "rename":
            tail(store.rename(bytes_of(step["old"]), bytes_of(step["new"])))
        elif op == "len":
            plain(store.len())
        elif op == "is_empty":
            plain(store.is_empty())
        elif op == "file_size":
            plain(store.file_size())
        elif op == "stats":
            got = store.stats()
            if checks:
                for field, value in want.items():
                    assert got[field] == value, f"{where}: stats.{field} {got[field]}, want {value}"
        elif op == "entries":
            self.expect_entries({self.hash_of(bytes_of(k)): bytes_of(v) for k, v in want}, where)
        elif op == "verify_ok":
            plain(store.verify_ok())
        elif op == "compact":
            store.compact()
        elif op == "sync":
            store.sync()
        elif op == "reopen":
            store.reopen()
        elif op == "random":
            self.random_walk(step, where)
        else:
            raise AssertionError(f"{where}: unknown operation {op!r}")

    def expect_values(self, got: list[Optional[bytes]], want: list[Any], where: str) -> None:
        assert len(got) == len(want), f"{where}: {len(got)} results, want {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            self.expect_value(g, optional_bytes_of(w), f"{where}, item {i}")


def run_case(test_case: dict[str, Any], store: Any, hash_of: Callable[[bytes], int]) -> None:
    """Runs every step; raises CannotRun when the adapter cannot do one (the caller skips)."""
    runner = Runner(store, hash_of)
    for index, step in enumerate(test_case["steps"]):
        where = f"{test_case['name']} step {index}: {json.dumps(step)[:200]}"
        if "error" in step:
            size_before = store.file_size()
            code = "no error"
            try:
                runner.run_step(step, where)
            except CannotRun:
                raise
            except AssertionError:
                raise
            except Exception as error:  # noqa: BLE001 (the code is what is checked)
                code = error_code(error)
            assert code == step["error"], f"{where}: error {code}, want {step['error']}"
            assert store.file_size() == size_before, f"{where}: a refused operation changed the store"
            continue
        runner.run_step(step, where)


class InProcess:
    """The conformance adapter over simd_r_drive.DataStore."""

    def __init__(self, path: Path) -> None:
        from simd_r_drive import DataStore

        self._open = lambda: DataStore(path)
        self.store = self._open()

    def close(self) -> None:
        self.store.close()

    def __getattr__(self, name: str) -> Any:  # write, read, batch_read, rename, ...
        return getattr(self.store, name)

    def write_stream(self, key: bytes, value: bytes) -> int:
        return self.store.write_stream(key, ChunkedReader(value))

    def read_metadata(self, key: bytes) -> Optional[dict[str, int]]:
        handle = self.store.read_entry(key)
        metadata = self.store.read_metadata(key)
        if metadata is None:
            assert handle is None
            return None
        return {
            "key_hash": metadata.key_hash,
            "prev_offset": metadata.prev_offset,
            "checksum": metadata.checksum,
            "payload_offset": handle.start_offset,
            "payload_size": handle.size,
        }

    def len(self) -> int:
        return len(self.store)

    def stats(self) -> dict[str, int]:
        return self.store.stats()._asdict()

    def entries(self) -> Iterable[tuple[int, bytes]]:
        return [(handle.key_hash, bytes(handle)) for handle in self.store]

    def verify_ok(self) -> bool:
        return self.store.verify().ok

    def reopen(self) -> None:
        self.store.close()
        self.store = self._open()

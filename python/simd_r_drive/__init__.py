"""SIMD R Drive: a single-file, append-only key/value store with zero-copy reads.

The engine runs in this process (the compiled module ``simd_r_drive._native``)::

    import numpy as np
    from simd_r_drive import DataStore

    with DataStore("store.bin") as store:
        store.write(b"greeting", b"hello, world")
        store[b"vector"] = np.arange(1024, dtype=np.float32)   # any contiguous buffer
        store.read(b"greeting")                                  # b"hello, world" (a copy)
        handle = store.read_entry(b"vector")                     # in place, no copy
        view = handle.as_numpy(np.float32)                       # a read-only view of the mapping
        view.sum()

A handle (and every memoryview or numpy array made from it) keeps the store's mapping
alive, also after the store is closed. ``simd_r_drive.ws_client.DataStoreWsClient``
talks to ``simd-r-drive-server`` and needs no compiled module. docs/python.md has the
whole story.
"""

from __future__ import annotations

import enum as _enum
import os as _os
from typing import Any as _Any

from ._errors import ConnectionError, TimeoutError  # noqa: A004 (the original's names; not in __all__)
from ._errors import (
    CorruptionError,
    Error,
    ForkedProcessError,
    InvalidArgumentError,
    LockedError,
    NotFoundError,
    ProtocolError,
    StoreClosedError,
    StoreIOError,
)
from ._stream import EntryStream

__all__ = [
    "DataStore",
    "Durability",
    "EntryHandle",
    "EntryStream",
    "EntryMetadata",
    "EntryIterator",
    "StoreStats",
    "VerifyReport",
    "CorruptEntry",
    "ImportReport",
    "ImportedFile",
    "SkippedFile",
    "NamespaceHasher",
    "compute_hash",
    "compute_checksum",
    "Error",
    "InvalidArgumentError",
    "NotFoundError",
    "CorruptionError",
    "StoreIOError",
    "LockedError",
    "StoreClosedError",
    "ForkedProcessError",
    "ProtocolError",
]

#: The names that need the compiled module.
_NATIVE_NAMES = {
    "DataStore", "EntryHandle", "EntryMetadata", "EntryIterator", "StoreStats", "VerifyReport",
    "CorruptEntry", "ImportReport", "ImportedFile", "SkippedFile", "NamespaceHasher",
    "compute_hash", "compute_checksum",
}

__version__ = "0.1.0"


class Durability(str, _enum.Enum):
    """When a write's bytes are forced to stable storage (docs/durability.md)."""

    #: A write reaches the page cache before it returns: it survives a crash of the
    #: process, not a power loss. The original's behaviour and the default.
    FLUSH = "flush"
    #: fdatasync before each write returns: an acknowledged write survives power loss.
    SYNC_EACH_WRITE = "sync_each_write"
    #: Like SYNC_EACH_WRITE, but concurrent writers share syncs (group commit).
    GROUP_COMMIT = "group_commit"
    #: A background thread syncs every ``sync_interval`` seconds.
    SYNC_PERIODICALLY = "sync_periodically"

    def __str__(self) -> str:
        return self.value


try:
    from . import _native
    from ._native import (  # noqa: F401  (re-exported)
        CorruptEntry,
        EntryHandle,
        EntryIterator,
        EntryMetadata,
        ImportedFile,
        ImportReport,
        NamespaceHasher,
        SkippedFile,
        StoreStats,
        VerifyReport,
        compute_checksum,
        compute_hash,
    )
except ImportError as _error:  # the pure-Python parts (ws_client) work without it
    _native_import_error: ImportError | None = _error

    def __getattr__(name: str) -> _Any:
        if name in _NATIVE_NAMES:
            raise ImportError(
                f"simd_r_drive.{name} needs the compiled module simd_r_drive._native, which did not "
                f"import: {_native_import_error}"
            )
        raise AttributeError(f"module 'simd_r_drive' has no attribute {name!r}")

else:
    _native_import_error = None

    def _reopen_read_only(path: _Any, kwargs: dict[str, _Any]) -> "DataStore":
        return DataStore(path, **kwargs)

    class DataStore(_native.DataStore):
        """A store file, opened in this process.

        ``DataStore(path, *, read_only=False, durability="flush", sync_interval=0.1,
        must_exist=False, repair_unrecoverable=False, index_snapshot_min_keys=65536,
        address_space_reservation=4 << 30)``
        opens ``path``, creating an empty store unless it exists (or ``must_exist``).
        ``address_space_reservation`` is the address space, in bytes, mapped at open for
        the file to grow into without being mapped anew (not memory; docs/design.md).
        ``durability`` is a :class:`Durability` or its value. A read-only store takes no
        lock, so any number of processes can read while one writes; ``refresh()`` takes
        in what the writer appended since.

        Keys and values are any contiguous buffer: bytes, bytearray, memoryview, numpy
        arrays (nothing is copied on the way in). Anything else raises TypeError naming
        the argument. Values may not be empty, nor the single byte 0x00.

        Reads: ``read`` (bytes or None), ``read_entry`` (an :class:`EntryHandle` over the
        mapping, or None), ``read_stream`` (an :class:`EntryStream`), ``batch_read``,
        ``batch_read_entries``, ``get``, ``store[key]`` (KeyError if absent),
        ``key in store``, ``len(store)`` (live keys), iteration (EntryHandles, newest
        first: the store keeps 64-bit key hashes, never the keys).

        Writes return the store's tail (its length) after the write. The store is a
        context manager; ``close()`` ends it, and later calls raise
        :class:`StoreClosedError`. Handles and views stay valid after close.

        Threads may share a store. A forked child that uses its parent's store gets
        :class:`ForkedProcessError`: open the store again in the child. Pickling a
        read-only store pickles its path and options (it reopens, read-only, wherever it
        is unpickled); a writable store holds the file's single writer lock and cannot
        be pickled.
        """

        def read_stream(self, key: _Any) -> EntryStream | None:
            """The value as a readable binary file object (:class:`EntryStream`), or None."""
            handle = self.read_entry(key)
            return None if handle is None else EntryStream(handle)

        def __enter__(self) -> "DataStore":
            return self

        def __exit__(self, *exc_info: object) -> None:
            self.close()

        def __reduce__(self) -> tuple[_Any, ...]:
            if self.closed:
                raise TypeError("a closed DataStore cannot be pickled")
            path, kwargs = self._open_arguments()
            if not kwargs["read_only"]:
                raise TypeError(
                    "a writable DataStore cannot be pickled: it holds the file's single writer lock. "
                    "Pickle the path and open it where it is needed, or pickle a read-only store "
                    "(DataStore(path, read_only=True)), which reopens by path"
                )
            return (_reopen_read_only, (_os.fspath(path), kwargs))

        def __reduce_ex__(self, protocol: int) -> tuple[_Any, ...]:
            return self.__reduce__()

        def __repr__(self) -> str:
            if self.closed:
                return f"<simd_r_drive.DataStore (closed) {self._open_arguments()[0]!r}>"
            mode = "read-only" if self.read_only else "writable"
            return f"<simd_r_drive.DataStore {mode} {self.path!r} keys={len(self)}>"

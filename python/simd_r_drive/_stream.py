"""EntryStream: a stored value as a readable binary file object."""

from __future__ import annotations

import io
from typing import Any, Iterator

#: What iterating over an EntryStream yields at a time, as the original's did.
DEFAULT_CHUNK_SIZE = 4096


class EntryStream(io.RawIOBase):
    """A stored value as a readable, seekable binary file (an ``io.RawIOBase``).

    ``readinto`` copies straight from the store's mapping into the caller's buffer
    (without the GIL for large copies); ``read``, ``readall``, ``readline`` and
    ``seek`` come from ``io.RawIOBase``. Iterating yields chunks of ``chunk_size``
    bytes (4096 by default, as the original's), not lines. The stream holds its
    :class:`EntryHandle`, so it stays readable after the store is closed.
    For a copy-free view of the value, use ``memoryview(stream.handle)``.
    """

    def __init__(self, handle: Any, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        super().__init__()
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self._handle = handle
        self._size = handle.size
        self._position = 0
        self._chunk_size = chunk_size

    @property
    def handle(self) -> Any:
        """The EntryHandle the stream reads."""
        return self._handle

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._check_open()
        count = self._handle._read_into(self._position, buffer)
        self._position += count
        return count

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        if size is None or size < 0:
            return self.readall()
        size = min(size, self._size - self._position)
        if size <= 0:
            return b""
        out = bytearray(size)
        count = self.readinto(out)
        return bytes(out[:count]) if count != size else bytes(out)

    def readall(self) -> bytes:
        return self.read(max(0, self._size - self._position))

    def tell(self) -> int:
        self._check_open()
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._position + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._position = target
        return target

    def remaining(self) -> int:
        """Bytes left to read."""
        return max(0, self._size - self._position)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:  # type: ignore[override]
        self._check_open()
        return self

    def __next__(self) -> bytes:
        chunk = self.read(self._chunk_size)
        if not chunk:
            raise StopIteration
        return chunk

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed EntryStream")

    def __reduce_ex__(self, protocol: int) -> Any:
        raise TypeError("an EntryStream views memory of this process and cannot be pickled")

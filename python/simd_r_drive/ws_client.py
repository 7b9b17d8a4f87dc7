"""DataStoreWsClient: a store served by simd-r-drive-server, over WebSocket.

Pure Python: the protocol of docs/protocol.md (MessagePack RPC in binary WebSocket
messages) on python3-websockets' Sans-I/O connection, over a blocking socket of its
own. No event loop and no thread: each call sends its request and reads until its
answer arrives, so a call costs one round trip and no hand-off between threads. It
needs neither the compiled module nor numpy::

    from simd_r_drive.ws_client import DataStoreWsClient

    with DataStoreWsClient("127.0.0.1", 7878) as client:
        client.write(b"greeting", b"hello")
        client.read(b"greeting")                       # b"hello"
        client.batch_read_structured({"a": b"greeting", "b": b"missing"})
        # {"a": b"hello", "b": None}

Threads may share a client (calls take turns on its one connection); for parallel
requests give each thread a client of its own, as the original's tests do.

Errors: what the store refused raises the same classes as the in-process DataStore
(InvalidArgumentError, NotFoundError, ...), what the server refused ProtocolError
(``code`` says why), a lost or refused connection ConnectionError, and a late answer
TimeoutError (both also the builtin exceptions of those names, as in the original).

Reconnection: a connection that drops (a server restarted, a network blip) is opened
again, with the hello, by the next call, for up to ``connect_timeout`` seconds. The call
that was waiting when it dropped raises ConnectionError if it was a write (it may or
may not have been applied); a read is sent again on the new connection.
"""

from __future__ import annotations

import io
import itertools
import socket
import ssl
import threading
import time
from types import TracebackType
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

import msgpack
from websockets.client import ClientConnection
from websockets.connection import State
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from ._errors import (
    ConnectionError,
    Error,
    ProtocolError,
    StoreClosedError,
    TimeoutError,
    error_for,
)

__all__ = ["DataStoreWsClient", "WsEntryStream", "ConnectionError", "TimeoutError", "NamespaceHasher"]

PROTOCOL_VERSION = 1
CLIENT_NAME = "simd_r_drive.ws_client 0.1.0"

# Methods that change nothing: sent again, once, on a new connection when the old one
# drops while waiting for their answer.
_IDEMPOTENT = frozenset(
    {
        "ping", "read", "read_with_key_hash", "batch_read", "batch_read_hashed_keys", "read_metadata",
        "exists", "exists_with_key_hash", "len", "is_empty", "file_size", "stats", "verify", "scan",
        "read_with_ttl", "ttl_remaining", "sync",
    }
)

BytesLike = Union[bytes, bytearray, memoryview, Any]


def _bytes_arg(value: Any, name: str) -> Any:
    """A key or value as MessagePack packs it as bin: bytes, bytearray or a flat
    memoryview of any contiguous buffer (numpy arrays included)."""
    if isinstance(value, (bytes, bytearray)):
        return value
    if isinstance(value, str):
        raise TypeError(
            f"{name} must be a bytes-like object (bytes, bytearray, memoryview, a numpy array), not str: "
            "encode it first (for example with .encode())"
        )
    try:
        view = memoryview(value)
    except TypeError:
        raise TypeError(
            f"{name} must be a contiguous bytes-like object (bytes, bytearray, memoryview, a numpy array), "
            f"not {type(value).__name__}"
        ) from None
    if not view.c_contiguous:
        raise TypeError(f"{name} must be a contiguous bytes-like object, not a non-contiguous {type(value).__name__}")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def _hash_arg(value: Any, name: str) -> int:
    if not isinstance(value, int):
        raise TypeError(f"{name} must be an int (a 64-bit key hash), not {type(value).__name__}")
    if not 0 <= value < 2**64:
        raise ValueError(f"{name} must be between 0 and 2**64 - 1")
    return value


def _list_arg(value: Any, name: str) -> list[Any]:
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be a list or another iterable of items, not {type(value).__name__}")
    try:
        return list(value)
    except TypeError:
        raise TypeError(f"{name} must be a list or another iterable of items, not {type(value).__name__}") from None


class _Connection:
    """One WebSocket connection: the socket, the Sans-I/O protocol, and the answers read
    so far. Used under the client's lock only."""

    def __init__(self, host: str, port: int, *, secure: bool, ssl_context: Optional[ssl.SSLContext],
                 path: str, timeout: float) -> None:
        scheme = "wss" if secure else "ws"
        display_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        self.uri = f"{scheme}://{display_host}:{port}{path}"
        self.protocol = ClientConnection(parse_uri(self.uri), max_size=None)
        self.answers: dict[int, tuple[Any, Any]] = {}
        self.notices: list[tuple[str, Any]] = []
        self.shutting_down = False
        self.closed = False
        self._fragments: list[bytes] = []
        self._unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=0)
        deadline = time.monotonic() + timeout
        try:
            raw = socket.create_connection((host, port), timeout=timeout)
        except OSError as error:
            raise ConnectionError(f"cannot connect to {self.uri}: {error}") from error
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if secure:
            context = ssl_context or ssl.create_default_context()
            try:
                raw = context.wrap_socket(raw, server_hostname=host)
            except (OSError, ssl.SSLError) as error:
                raw.close()
                raise ConnectionError(f"TLS with {self.uri} failed: {error}") from error
        self.socket = raw
        try:
            self.protocol.send_request(self.protocol.connect())
            self._flush()
            while self.protocol.state is State.CONNECTING and not self.closed:
                self._receive(deadline, "connect")
        except BaseException:
            self.close()
            raise
        if self.protocol.handshake_exc is not None or self.protocol.state is not State.OPEN:
            self.close()
            raise ConnectionError(f"the WebSocket handshake with {self.uri} failed: {self.protocol.handshake_exc}")

    # ---- bytes in and out ----------------------------------------------------------
    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.socket.sendall(data)
            else:  # SEND_EOF: the protocol has closed its side
                try:
                    self.socket.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    def send(self, message: bytes) -> None:
        if self.closed or self.protocol.state is not State.OPEN:
            raise ConnectionError(f"the connection to {self.uri} is closed")
        try:
            self.protocol.send_binary(message)
            self._flush()
        except OSError as error:
            self.close()
            raise ConnectionError(f"the connection to {self.uri} was lost: {error}") from error

    def _receive(self, deadline: float, operation: str) -> None:
        """Reads what the socket has (waiting until `deadline`) and takes in every event."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"`{operation}` operation timed out.", "timeout")
        self.socket.settimeout(remaining)
        try:
            data = self.socket.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError(f"`{operation}` operation timed out.", "timeout") from None
        except OSError:
            self.close()  # wait() says so, after taking any answer that did arrive
            return
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                continue
            self._take_frame(event)
        try:
            self._flush()  # pongs, the close handshake
        except OSError:
            pass
        if not data or self.protocol.state is State.CLOSED:
            self.close()

    def _take_frame(self, frame: Any) -> None:
        if frame.opcode is Opcode.BINARY or frame.opcode is Opcode.CONT:
            self._fragments.append(frame.data)
            if frame.fin:
                message = b"".join(self._fragments) if len(self._fragments) > 1 else self._fragments[0]
                self._fragments = []
                self._take_message(message)
        elif frame.opcode is Opcode.TEXT:
            self.close()
            raise ProtocolError("the server sent a text message, which the protocol does not use", "malformed")
        elif frame.opcode is Opcode.CLOSE:
            self.shutting_down = True

    def _take_message(self, message: bytes) -> None:
        self._unpacker.feed(message)
        for value in self._unpacker:
            if not isinstance(value, list) or not value:
                continue
            if value[0] == 1 and len(value) == 4:
                self.answers[value[1]] = (value[2], value[3])
            elif value[0] == 2 and len(value) >= 2:
                self.notices.append((value[1], value[2] if len(value) > 2 else None))
                if value[1] == "shutting_down":
                    self.shutting_down = True

    def wait(self, request_id: int, deadline: float, operation: str) -> tuple[Any, Any]:
        while request_id not in self.answers:
            if self.closed:
                raise ConnectionError(f"the connection to {self.uri} was closed before the answer came")
            self._receive(deadline, operation)
        return self.answers.pop(request_id)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self.protocol.state is State.OPEN:
                self.protocol.send_close(1000)
                self._flush()
        except OSError:
            pass
        try:
            self.socket.close()
        except OSError:
            pass


class DataStoreWsClient:
    """A store on a simd-r-drive-server, with the methods of DataStore that make sense
    over a network (see the module's documentation).

    ``DataStoreWsClient(host, port, token=None, *, timeout=30.0, batch_timeout=60.0,
    connect_timeout=10.0, reconnect=True, secure=False, ssl_context=None, path="/ws")``
    connects at once and says hello (ConnectionError if it cannot). ``timeout`` bounds
    each call, ``batch_timeout`` the batch calls (the original's 30 and 60 seconds).
    """

    def __init__(
        self,
        host: str,
        port: int,
        token: Optional[Union[str, bytes]] = None,
        *,
        timeout: float = 30.0,
        batch_timeout: float = 60.0,
        connect_timeout: float = 10.0,
        reconnect: bool = True,
        secure: bool = False,
        ssl_context: Optional[ssl.SSLContext] = None,
        path: str = "/ws",
        client_name: str = CLIENT_NAME,
    ) -> None:
        if not isinstance(host, str):
            raise TypeError(f"host must be a str, not {type(host).__name__}")
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"port must be an int between 1 and 65535, not {port!r}")
        for name, value in (("timeout", timeout), ("batch_timeout", batch_timeout), ("connect_timeout", connect_timeout)):
            if not value > 0:
                raise ValueError(f"{name} must be a number of seconds above 0")
        self.host = host
        self.port = port
        self.timeout = float(timeout)
        self.batch_timeout = float(batch_timeout)
        self.connect_timeout = float(connect_timeout)
        self.reconnect = reconnect
        self._token = token
        self._secure = secure
        self._ssl_context = ssl_context
        self._path = path
        self._client_name = client_name
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._connection: Optional[_Connection] = None
        self._closed = False
        self.server_info: dict[str, Any] = {}
        self._connect(self.connect_timeout)

    # ---- connection ----------------------------------------------------------------
    def _connect(self, within: float) -> _Connection:
        """Opens a connection and says hello, retrying refused connections until `within`
        seconds have passed (a server that is restarting)."""
        deadline = time.monotonic() + within
        delay = 0.02
        while True:
            try:
                connection = _Connection(self.host, self.port, secure=self._secure, ssl_context=self._ssl_context,
                                         path=self._path, timeout=max(0.05, deadline - time.monotonic()))
                break
            except ConnectionError:
                if time.monotonic() + delay >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        params: dict[str, Any] = {"protocol": PROTOCOL_VERSION, "client": self._client_name}
        if self._token is not None:
            params["token"] = self._token
        request_id = next(self._ids)
        connection.send(msgpack.packb([0, request_id, "hello", params], use_bin_type=True))
        try:
            error, result = connection.wait(request_id, time.monotonic() + max(self.timeout, 1.0), "hello")
        except BaseException:
            connection.close()
            raise
        if error is not None:
            connection.close()
            raise self._error(error)
        self.server_info = result if isinstance(result, dict) else {}
        self._connection = connection
        return connection

    def _live_connection(self) -> _Connection:
        if self._closed:
            raise StoreClosedError("the client is closed", "closed")
        connection = self._connection
        if connection is not None and not connection.closed and not connection.shutting_down:
            return connection
        if connection is not None:
            connection.close()
            self._connection = None
        if not self.reconnect:
            raise ConnectionError("The client is disconnected.", "connection")
        try:
            return self._connect(self.connect_timeout)
        except ConnectionError as error:
            raise ConnectionError(f"The client is disconnected. ({error})", "connection") from error

    @staticmethod
    def _error(error: Any) -> Error:
        if isinstance(error, dict):
            return error_for(str(error.get("code", "protocol")), str(error.get("message", "")))
        return ProtocolError(f"the server answered with an error the protocol does not define: {error!r}")

    def _call(self, method: str, params: Optional[Mapping[str, Any]] = None, *, batch: bool = False) -> Any:
        timeout = self.batch_timeout if batch else self.timeout
        message_params = dict(params) if params is not None else None
        with self._lock:
            for attempt in (0, 1):
                connection = self._live_connection()
                request_id = next(self._ids) & 0xFFFFFFFF
                try:
                    connection.send(msgpack.packb([0, request_id, method, message_params], use_bin_type=True))
                    error, result = connection.wait(request_id, time.monotonic() + timeout, method)
                except ConnectionError as lost:
                    if attempt == 0 and method in _IDEMPOTENT and self.reconnect:
                        continue  # nothing changed: ask again on a new connection
                    raise ConnectionError(
                        f"the connection was lost during `{method}`"
                        + ("" if method in _IDEMPOTENT else ", which may or may not have been applied")
                        + f": {lost}",
                        "connection",
                    ) from lost
                if error is not None:
                    raise self._error(error)
                return result
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Closes the connection (idempotent). Later calls raise StoreClosedError."""
        with self._lock:
            self._closed = True
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "DataStoreWsClient":
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 (nothing to report to at collection time)
            pass

    def __reduce__(self) -> Any:
        raise TypeError("a DataStoreWsClient holds a connection and cannot be pickled: pickle host and port")

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<simd_r_drive.ws_client.DataStoreWsClient {self.host}:{self.port} ({state})>"

    def ping(self) -> str:
        return self._call("ping")

    # ---- writes ----------------------------------------------------------------------
    def write(self, key: BytesLike, value: BytesLike) -> int:
        """Stores `value` under `key`; returns the store's tail after the write."""
        return self._call("write", {"key": _bytes_arg(key, "key"), "value": _bytes_arg(value, "value")})

    def batch_write(self, items: Sequence[tuple[BytesLike, BytesLike]]) -> int:
        pairs = []
        for item in _list_arg(items, "items"):
            try:
                key, value = item
            except (TypeError, ValueError):
                raise TypeError(f"each item of items must be a (key, value) pair, not {type(item).__name__}") from None
            pairs.append([_bytes_arg(key, "the key of an item of items"), _bytes_arg(value, "the value of an item of items")])
        return self._call("batch_write", {"items": pairs}, batch=True)

    def write_with_key_hash(self, key_hash: int, value: BytesLike) -> int:
        return self._call("write_with_key_hash", {"key_hash": _hash_arg(key_hash, "key_hash"),
                                                  "value": _bytes_arg(value, "value")})

    def batch_write_with_key_hashes(self, items: Sequence[tuple[int, BytesLike]], allow_null_bytes: bool = False) -> int:
        pairs = [[_hash_arg(h, "the key hash of an item of items"), _bytes_arg(v, "the value of an item of items")]
                 for h, v in _list_arg(items, "items")]
        return self._call("batch_write_with_key_hashes", {"items": pairs, "allow_null_bytes": bool(allow_null_bytes)},
                          batch=True)

    def write_stream(self, key: BytesLike, reader: Any) -> int:
        """Streams what `reader` yields (readinto(buffer) or read(n)) in chunks of the
        server's stream_chunk_bytes; the value is written whole when the stream ends, or
        not at all if the reader raises."""
        key = _bytes_arg(key, "key")
        readinto = getattr(reader, "readinto", None)
        read = getattr(reader, "read", None)
        if readinto is None and read is None:
            raise TypeError("reader must have a readinto(buffer) or read(n) method (a binary file object), not "
                            f"{type(reader).__name__}")
        chunk_size = int(self.server_info.get("limits", {}).get("stream_chunk_bytes", 1 << 20))
        with self._lock:
            stream = self._call("write_stream_begin", {"key": key})["stream"]
            connection = self._live_connection()
            window: list[int] = []
            deadline = lambda: time.monotonic() + self.timeout  # noqa: E731
            try:
                buffer = bytearray(chunk_size)
                while True:
                    if readinto is not None:
                        count = readinto(buffer)
                        if count is None:
                            raise ValueError("reader.readinto() returned None (a non-blocking stream without data)")
                        data = bytes(buffer[:count])
                    else:
                        data = read(chunk_size)
                        if data is None:
                            raise ValueError("reader.read() returned None (a non-blocking stream without data)")
                        data = bytes(_bytes_arg(data, "what reader.read() returned"))
                    if not data:
                        break
                    for start in range(0, len(data), chunk_size):
                        request_id = next(self._ids) & 0xFFFFFFFF
                        connection.send(msgpack.packb(
                            [0, request_id, "write_stream_chunk", {"stream": stream, "data": data[start:start + chunk_size]}],
                            use_bin_type=True))
                        window.append(request_id)
                    while len(window) > 8:  # a few chunks in flight, never the whole value
                        self._check(connection.wait(window.pop(0), deadline(), "write_stream_chunk"))
                while window:
                    self._check(connection.wait(window.pop(0), deadline(), "write_stream_chunk"))
            except BaseException:
                try:
                    if not connection.closed:
                        for request_id in window:
                            connection.answers.pop(request_id, None)
                        self._call("write_stream_abort", {"stream": stream})
                except Error:
                    pass  # the connection is gone: the server drops the stream itself
                raise
            return self._call("write_stream_end", {"stream": stream})

    def _check(self, answer: tuple[Any, Any]) -> Any:
        error, result = answer
        if error is not None:
            raise self._error(error)
        return result

    def __setitem__(self, key: BytesLike, value: BytesLike) -> None:
        self.write(key, value)

    # ---- reads -----------------------------------------------------------------------
    def read(self, key: BytesLike) -> Optional[bytes]:
        """The value as bytes, or None if the key is absent."""
        return self._call("read", {"key": _bytes_arg(key, "key")})

    def read_with_key_hash(self, key_hash: int) -> Optional[bytes]:
        return self._call("read_with_key_hash", {"key_hash": _hash_arg(key_hash, "key_hash")})

    def batch_read(self, keys: Sequence[BytesLike]) -> list[Optional[bytes]]:
        """The values of `keys`, in order, bytes or None, in one request."""
        keys = [_bytes_arg(key, "each item of keys") for key in _list_arg(keys, "keys")]
        return self._call("batch_read", {"keys": keys}, batch=True)

    def batch_read_hashed_keys(self, key_hashes: Sequence[int], keys: Optional[Sequence[BytesLike]] = None) -> list[Optional[bytes]]:
        params: dict[str, Any] = {"key_hashes": [_hash_arg(h, "each item of key_hashes") for h in _list_arg(key_hashes, "key_hashes")]}
        if keys is not None:
            params["keys"] = [_bytes_arg(key, "each item of keys") for key in _list_arg(keys, "keys")]
            if len(params["keys"]) != len(params["key_hashes"]):
                raise ValueError(f"key_hashes and keys must be of equal length ({len(params['key_hashes'])} and "
                                 f"{len(params['keys'])})")
        return self._call("batch_read_hashed_keys", params, batch=True)

    def batch_read_structured(self, data: Union[Mapping[Any, Any], Sequence[Mapping[Any, Any]]]) -> Any:
        """The original's: `data` is a dict whose values are keys, or a list of such
        dicts; returns the same shape with each key replaced by its value (bytes or
        None), fetched with a single batch_read."""
        if isinstance(data, Mapping):
            values = self.batch_read(list(data.values()))
            return dict(zip(data.keys(), values))
        if isinstance(data, (list, tuple)):
            if not all(isinstance(item, Mapping) for item in data):
                raise TypeError("All items in the list must be dictionaries.")
            keys = [key for item in data for key in item.values()]
            values = iter(self.batch_read(keys))
            return [{name: next(values) for name in item} for item in data]
        raise TypeError(f"batch_read_structured takes a dict or a list of dicts, not {type(data).__name__}")

    def read_metadata(self, key: BytesLike) -> Optional[dict[str, int]]:
        """{"key_hash", "prev_offset", "checksum", "payload_offset", "payload_size"}, or None."""
        return self._call("read_metadata", {"key": _bytes_arg(key, "key")})

    def read_stream(self, key: BytesLike) -> Optional["WsEntryStream"]:
        """The value as a readable binary file that fetches it in chunks, or None."""
        with self._lock:
            opened = self._call("read_stream_begin", {"key": _bytes_arg(key, "key")})
            if opened is None:
                return None
            return WsEntryStream(self, opened["stream"], opened["size"], self._connection)

    def get(self, key: BytesLike, default: Any = None) -> Any:
        value = self.read(key)
        return default if value is None else value

    def __getitem__(self, key: BytesLike) -> bytes:
        value = self.read(key)
        if value is None:
            raise KeyError(key)
        return value

    def exists(self, key: BytesLike) -> bool:
        return self._call("exists", {"key": _bytes_arg(key, "key")})

    def exists_with_key_hash(self, key_hash: int) -> bool:
        return self._call("exists_with_key_hash", {"key_hash": _hash_arg(key_hash, "key_hash")})

    def __contains__(self, key: BytesLike) -> bool:
        return self.exists(key)

    def __len__(self) -> int:
        return self._call("len")

    def len(self) -> int:
        return self._call("len")

    def is_empty(self) -> bool:
        return self._call("is_empty")

    def file_size(self) -> int:
        return self._call("file_size")

    def iter_entries(self, *, values: bool = True, page_size: int = 1000) -> Iterator[tuple[int, Optional[bytes]]]:
        """(key_hash, value) of every live entry, newest first, a page at a time (the
        server keeps key hashes, not keys). With values=False, value is None."""
        cursor: Optional[bytes] = None
        while True:
            params: dict[str, Any] = {"limit": page_size, "values": values}
            if cursor is not None:
                params["cursor"] = cursor
            page = self._call("scan", params, batch=True)
            for key_hash, value in page["entries"]:
                yield key_hash, value
            cursor = page.get("cursor")
            if cursor is None:
                return

    def __iter__(self) -> Iterator[tuple[int, Optional[bytes]]]:
        return self.iter_entries()

    # ---- deletes and moves --------------------------------------------------------------
    def delete(self, key: BytesLike) -> int:
        return self._call("delete", {"key": _bytes_arg(key, "key")})

    def __delitem__(self, key: BytesLike) -> None:
        if not self.exists(key):
            raise KeyError(key)
        self.delete(key)

    def batch_delete(self, keys: Sequence[BytesLike]) -> int:
        keys = [_bytes_arg(key, "each item of keys") for key in _list_arg(keys, "keys")]
        return self._call("batch_delete", {"keys": keys}, batch=True)

    def batch_delete_key_hashes(self, key_hashes: Sequence[int]) -> int:
        hashes = [_hash_arg(h, "each item of key_hashes") for h in _list_arg(key_hashes, "key_hashes")]
        return self._call("batch_delete_key_hashes", {"key_hashes": hashes}, batch=True)

    def rename(self, old_key: BytesLike, new_key: BytesLike) -> int:
        return self._call("rename", {"old_key": _bytes_arg(old_key, "old_key"), "new_key": _bytes_arg(new_key, "new_key")})

    # ---- maintenance ------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        return self._call("stats", batch=True)

    def verify(self) -> dict[str, Any]:
        return self._call("verify", batch=True)

    def compact(self) -> None:
        self._call("compact", batch=True)

    def sync(self) -> None:
        self._call("sync", batch=True)

    # ---- the TTL extension --------------------------------------------------------------
    def write_with_ttl(self, key: BytesLike, value: BytesLike, ttl_secs: Optional[int]) -> int:
        if ttl_secs is None:
            ttl_secs = 2**64 - 1  # never expires
        if not isinstance(ttl_secs, int) or isinstance(ttl_secs, bool):
            raise TypeError(f"ttl_secs must be an int (whole seconds) or None (never expires), not {type(ttl_secs).__name__}")
        if not 0 <= ttl_secs < 2**64:
            raise ValueError("ttl_secs must be between 0 and 2**64 - 1")
        return self._call("write_with_ttl", {"key": _bytes_arg(key, "key"), "value": _bytes_arg(value, "value"),
                                             "ttl_secs": ttl_secs})

    def read_with_ttl(self, key: BytesLike) -> Optional[bytes]:
        return self._call("read_with_ttl", {"key": _bytes_arg(key, "key")})

    def ttl_remaining(self, key: BytesLike) -> Union[int, float, None]:
        """Whole seconds left, math.inf for no expiry, None if absent or expired."""
        answer = self._call("ttl_remaining", {"key": _bytes_arg(key, "key")})
        state = answer.get("state") if isinstance(answer, dict) else None
        if state == "expires":
            return int(answer["seconds"])
        if state == "no_expiry":
            return float("inf")
        return None


class WsEntryStream(io.RawIOBase):
    """A value on the server as a readable binary file: read_stream_chunk requests, in
    order. Closing it (or reading to the end) releases the server's stream."""

    def __init__(self, client: DataStoreWsClient, stream: int, size: int, connection: Optional[_Connection]) -> None:
        super().__init__()
        self._client = client
        self._stream = stream
        self._size = size
        self._connection = connection
        self._pending = b""
        self._finished = False

    def __len__(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed stream")
        target = memoryview(buffer).cast("B")
        if not self._pending and not self._finished:
            if self._client._connection is not self._connection:
                raise ConnectionError("the connection this stream was read on is gone", "connection")
            chunk = self._client._call("read_stream_chunk", {"stream": self._stream, "max_bytes": max(len(target), 1)})
            if not chunk:
                self._finished = True
            self._pending = chunk
        count = min(len(target), len(self._pending))
        target[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def __iter__(self) -> Iterator[bytes]:  # type: ignore[override]
        return self

    def __next__(self) -> bytes:
        chunk = self.read(4096)
        if not chunk:
            raise StopIteration
        return chunk

    def close(self) -> None:
        if not self.closed and not self._finished:
            try:
                if self._client._connection is self._connection and not self._client.closed:
                    self._client._call("read_stream_close", {"stream": self._stream})
            except Error:
                pass
        super().close()


def __getattr__(name: str) -> Any:
    # The original's client module exports NamespaceHasher too; here it is the compiled
    # module's (XXH3 is not in Python's standard library).
    if name == "NamespaceHasher":
        from ._native import NamespaceHasher

        return NamespaceHasher
    raise AttributeError(f"module 'simd_r_drive.ws_client' has no attribute {name!r}")

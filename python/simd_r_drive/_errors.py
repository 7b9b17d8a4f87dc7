"""The exceptions of simd_r_drive, shared by the in-process store and the network client.

Every one derives from :class:`Error` (an ``OSError``, as the original packages raised
``IOError``) and carries ``code``: the engine's error code for what the store refused
("invalid_argument", "not_found", "corruption", "io", "locked"), the protocol's for what
the server refused ("malformed", "invalid_params", "too_large", "busy", ...), or
"closed", "forked", "connection" and "timeout".
"""

from __future__ import annotations

import builtins


class Error(OSError):
    """Base class of the package's errors; ``code`` names the kind (see the module)."""

    code = "error"

    def __init__(self, message: str = "", code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self):  # type: ignore[override]
        return (type(self), (str(self), self.code))


class InvalidArgumentError(Error, ValueError):
    """The store refused the arguments: an empty value, the single byte 0x00, renaming a
    key to itself, a write to a read-only store."""

    code = "invalid_argument"


class NotFoundError(Error, KeyError):
    """Something the operation needs does not exist: the key of a rename, the store file."""

    code = "not_found"

    def __str__(self) -> str:  # KeyError would quote the message
        return Error.__str__(self)


class CorruptionError(Error):
    """The file is not a store, or is damaged beyond what open repairs."""

    code = "corruption"


class StoreIOError(Error):
    """The operating system refused or failed an I/O call."""

    code = "io"


class LockedError(Error):
    """Another writer, in this process or another, holds the store."""

    code = "locked"


class StoreClosedError(Error, ValueError):
    """The store (or client) was closed; open it again to use it."""

    code = "closed"


class ForkedProcessError(Error, RuntimeError):
    """The store was opened in another process (this one is a fork of it): open it again."""

    code = "forked"


class ProtocolError(Error):
    """The server refused a request for a reason of the protocol (docs/protocol.md):
    ``code`` is "malformed", "invalid_params", "method_not_found", "too_large", "busy",
    "shutting_down", "unauthorized", "unsupported_version", "stream_not_found",
    "cursor_expired", ..."""

    code = "protocol"


class ConnectionError(Error, builtins.ConnectionError):  # noqa: A001 (the original's name)
    """The client is not connected to the server, and could not connect again."""

    code = "connection"


class TimeoutError(Error, builtins.TimeoutError):  # noqa: A001 (the original's name)
    """The server did not answer in time."""

    code = "timeout"


#: The class for each engine error code, as the store and the server report them.
BY_CODE: dict[str, type[Error]] = {
    "invalid_argument": InvalidArgumentError,
    "not_found": NotFoundError,
    "corruption": CorruptionError,
    "io": StoreIOError,
    "locked": LockedError,
    "closed": StoreClosedError,
    "forked": ForkedProcessError,
}


def error_for(code: str, message: str) -> Error:
    """The exception for an error code and message (ProtocolError for the protocol's)."""
    return BY_CODE.get(code, ProtocolError)(message, code)


# Shown (and pickled) as simd_r_drive.<name>, where users import them from.
for _class in (Error, InvalidArgumentError, NotFoundError, CorruptionError, StoreIOError, LockedError,
               StoreClosedError, ForkedProcessError, ProtocolError, ConnectionError, TimeoutError):
    _class.__module__ = "simd_r_drive"
del _class

"""Every exception roomcast raises.

```
RoomcastError
├── ProtocolError                  sans-IO layers only
│   ├── LocalProtocolError         we were asked to send something illegal (a bug in the caller)
│   └── RemoteProtocolError        the peer sent something illegal
│       └── PayloadTooLarge        .size, .limit
├── InvalidState                   operation not allowed in the current state
├── ConnectionClosed               use after close; .reason
├── ConnectionRefused              raised in middleware; .message, .data go to CONNECT_ERROR
├── WebSocketRefused               raised before a plain WebSocket is accepted; .status, .reason
├── NamespaceNotFound
├── AdapterError                   a cluster backend failed; original error in __cause__
├── StoreError                     the durable store (recovery, history) failed
│   ├── StoreUnavailable           its backend is out of reach for now (Redis down, disk
│   │                              full, read-only file); later calls try again by themselves
│   └── StoreCorrupt               its data cannot be read (a damaged SQLite file)
├── EventRejected                  an event refused: .code, .message, .details (the error ack);
│                                  raised by handlers to refuse, by Client.emit_with_ack on one
└── AckTimeout(TimeoutError)       .responses: what arrived before the deadline (broadcasts)
```
"""

from __future__ import annotations

from typing import Any


class RoomcastError(Exception):
    """Base class of every roomcast exception."""


class ProtocolError(RoomcastError):
    """A protocol rule was broken."""


class LocalProtocolError(ProtocolError):
    """We were asked to send something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""


class PayloadTooLarge(RemoteProtocolError):
    """The peer sent a message or request body over the configured limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"payload of {size} bytes is over the limit of {limit}")
        self.size = size
        self.limit = limit


class InvalidState(RoomcastError):
    """The operation is not allowed in the current state."""


class ConnectionClosed(RoomcastError):
    """The connection is closed; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectionRefused(RoomcastError):
    """Raise it in a middleware or connect handler to refuse a namespace connection.

    The client receives a CONNECT_ERROR packet whose ``message`` is ``message`` and whose
    ``data`` is ``data`` (when given).
    """

    def __init__(self, message: str = "Connection refused", data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def payload(self) -> dict[str, Any]:
        """The CONNECT_ERROR payload sent to the client."""
        payload: dict[str, Any] = {"message": self.message}
        if self.data is not None:
            payload["data"] = self.data
        return payload


class WebSocketRefused(RoomcastError):
    """Raise it in a plain WebSocket endpoint's ``on_handshake`` to refuse the client: it gets
    an HTTP ``status`` answer with ``reason`` as its body, and no WebSocket."""

    def __init__(self, status: int = 403, reason: str = "Forbidden") -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class NamespaceNotFound(RoomcastError):
    """No namespace matches the requested name."""


class AdapterError(RoomcastError):
    """The adapter's backend failed (a cluster bus is down, its buffer is full); the original
    error, if any, is in ``__cause__``."""


class StoreError(RoomcastError):
    """The store (connection-state recovery, room history) failed; the original error, if
    any, is in ``__cause__``."""


class StoreUnavailable(StoreError):
    """The store's backend cannot be reached or written for now: Redis is down, the disk is
    full, the file is read-only.

    Nothing is lost that was acknowledged before. The store keeps no broken state: each later
    call tries the backend again, so the caller may log once, keep serving live traffic
    (recovery and history are degraded meanwhile) and carry on calling.
    """


class StoreCorrupt(StoreError):
    """The store's data cannot be read: the SQLite file is damaged or is not a database.
    ``path`` names it. Raised at start-up; an operator must repair or move the file."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class AckTimeout(RoomcastError, TimeoutError):
    """An acknowledgement did not arrive in time.

    For a broadcast, ``responses`` holds the acknowledgements that did arrive.
    """

    def __init__(
        self,
        message: str = "operation has timed out",
        responses: list[Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.responses: list[Any] = responses if responses is not None else []


class EventRejected(RoomcastError):
    """An event was refused: the one error an error ack carries (see ``roomcast.rejections``).

    Raise it in a handler (or a ``socket.use`` middleware) to refuse an event with your own
    ``code``; the client that asked for an ack gets ``{"_rc_error": {"code": ..., "message":
    ..., "details": ...}}``. ``roomcast.Client.emit_with_ack`` raises it when such an ack
    comes back. The codes roomcast itself uses: ``handler_error``, ``validation_failed``,
    ``rate_limited`` (``details["retry_after"]``: seconds), ``too_large``,
    ``too_many_violations``; ``unauthorized`` is the one to use for permissions.
    """

    def __init__(self, code: str, message: str = "", details: Any = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message or code
        self.details = details

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait before trying again (``rate_limited``); None otherwise."""
        if isinstance(self.details, dict):
            value = self.details.get("retry_after")
            if isinstance(value, int | float):
                return float(value)
        return None

    def __repr__(self) -> str:
        return f"EventRejected({self.code!r}, {self.message!r}, {self.details!r})"

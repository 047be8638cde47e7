"""The one shape of an error ack, shared by the server (which sends it) and the client.

A refused event (its handler raised, its arguments failed validation, it was over a rate
or size limit, the app refused it) is answered, when the client asked for an ack, with ONE
ack argument::

    {"_rc_error": {"code": "rate_limited", "message": "...", "details": {...}}}

Why this shape: socket.io-client's ``emitWithAck`` resolves with the first ack argument
only, and nothing a server sends can make that promise reject (its ``err`` slot is the
client's own timeout), so the error must be the first argument and successes must keep
theirs. An error-first convention (``ack(null, value)``) would make every successful
``emitWithAck`` resolve to ``null``. The tag cannot be mistaken for a success because the
server never sends a successful ack whose first argument is an object with the key
``_rc_error``: a handler that returns one is treated as failing (``handler_error``,
logged). So an ack is an error exactly when ``is_error(args[0])``.

Where no ack was asked, nothing is sent unless the server is told to (``notify_rejections``):
then the client gets the event ``rc:rejected`` with the same object (``event`` added to the
error). A socket disconnected for repeated violations always gets that event first, with
``code`` ``too_many_violations``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

from .exceptions import EventRejected

ERROR_KEY: Final = "_rc_error"
"""The key of the object an error ack carries."""

REJECTED_EVENT: Final = "rc:rejected"
"""The event that tells a client about a rejection it asked no ack for (when enabled), and
why it is being disconnected (always)."""


class Code(StrEnum):
    """The codes roomcast uses; handlers may raise ``EventRejected`` with codes of their own."""

    HANDLER_ERROR = "handler_error"
    """The handler raised (its traceback is logged, not sent)."""
    VALIDATION_FAILED = "validation_failed"
    """The arguments do not match the handler's annotations; ``details``: a list of
    ``{"loc": [...], "msg": ..., "type": ...}``, one per field."""
    RATE_LIMITED = "rate_limited"
    """Over a rate limit; ``details["retry_after"]``: seconds until one more is allowed."""
    TOO_LARGE = "too_large"
    """Over ``max_bytes`` (bytes of the encoded packet) or ``max_depth`` (JSON nesting)."""
    UNAUTHORIZED = "unauthorized"
    """Not allowed (raised by the app: ``EventRejected(Code.UNAUTHORIZED, ...)``)."""
    TOO_MANY_VIOLATIONS = "too_many_violations"
    """Sent with ``rc:rejected`` before the server disconnects an abusive socket."""


def error_payload(rejection: EventRejected, event: str | None = None) -> dict[str, Any]:
    """The ack argument (or ``rc:rejected`` data) that carries ``rejection``."""
    error: dict[str, Any] = {
        "code": str(rejection.code),
        "message": rejection.message,
        "details": rejection.details,
    }
    if event is not None:
        error["event"] = event
    return {ERROR_KEY: error}


def is_error(value: Any) -> bool:
    """Whether an ack's first argument is an error (the only test a client needs)."""
    return type(value) is dict and ERROR_KEY in value


def rejection_of(value: Any) -> EventRejected | None:
    """The ``EventRejected`` an ack's first argument carries; None for a success."""
    if not is_error(value):
        return None
    error = value[ERROR_KEY]
    if not isinstance(error, dict):
        return EventRejected(str(Code.HANDLER_ERROR), "malformed error ack", error)
    return EventRejected(
        str(error.get("code", Code.HANDLER_ERROR)),
        str(error.get("message", "")),
        error.get("details"),
    )

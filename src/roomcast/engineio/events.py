"""What an Engine.IO session reports to the layer above."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CloseReason(StrEnum):
    """Why an Engine.IO session closed (the strings Socket.IO reports)."""

    TRANSPORT_CLOSE = "transport close"
    TRANSPORT_ERROR = "transport error"
    PING_TIMEOUT = "ping timeout"
    PARSE_ERROR = "parse error"
    FORCED_CLOSE = "forced close"
    SERVER_SHUTTING_DOWN = "server shutting down"


class Event:
    """Base class of session events."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Message(Event):
    """The peer sent a message."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class Upgraded(Event):
    """The session now runs over WebSocket."""


@dataclass(frozen=True, slots=True)
class Closed(Event):
    """The session is closed; nothing more is sent or received."""

    reason: CloseReason

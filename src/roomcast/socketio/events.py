"""What a Socket.IO namespace session reports to the layer above.

``waiter`` fields carry back, untouched, what the I/O layer gave when it asked for an ack
(a callback, a future): the session never calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class Event:
    """Base class of namespace session events."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Connected(Event):
    """The server accepted the CONNECT (client side): ``recovered`` when it restored the
    previous session (the events missed meanwhile came before this one)."""

    sid: str
    pid: str | None
    recovered: bool


@dataclass(frozen=True, slots=True)
class ConnectRefused(Event):
    """The server answered CONNECT_ERROR, or an answer that is no CONNECT of protocol v5
    (client side)."""

    message: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class Disconnected(Event):
    """The namespace is no longer connected; ``reason`` in Socket.IO's words."""

    reason: str


@dataclass(frozen=True, slots=True)
class EventReceived(Event):
    """The peer emitted ``name`` with ``args``; answer ``ack_id`` (when not None) with
    ``send_ack``."""

    name: str
    args: list[Any]
    ack_id: int | None


@dataclass(frozen=True, slots=True)
class AckSettled(Event):
    """An ack awaited is settled: ``outcome`` is its arguments, or why none will come
    (``AckTimeout``, ``ConnectionClosed``)."""

    waiter: Any
    outcome: list[Any] | BaseException

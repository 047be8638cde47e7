"""The server side of one Socket.IO namespace connection, as data.

A ``ServerSession`` is made when a CONNECT arrives. The I/O layer answers it with
``accept()`` or ``refuse()`` (writing the messages they return), then feeds what the client
sends about this namespace (``receive_event``, ``receive_ack``, ``receive_disconnect``),
writes what ``send_ack`` returns, asks for acks with ``expect_ack`` and calls
``handle_timeout()`` at ``next_deadline()``. Methods that end an ack or the session return
the events to dispatch (frozen dataclasses from ``events``).

Connection-state recovery (Socket.IO 4.6+): with ``recovery``, the session has a private id,
``pid``, given to the client in the CONNECT answer and unguessable; a client that comes back
sends it with the offset of the last broadcast it got (``ConnectRequest``); the server
restores the session from its ``snapshot`` (same sid, rooms and data) and replays what was
missed, each broadcast carrying its offset as its last argument (``stamp_offset``).

At-most-once handling of retried packets: with ``answers``, the session keeps the last
answers it gave by ack id (``RecentAnswers``); a packet that comes again with an ack id
already seen is answered again (``receive_event`` returns the messages) and its handler is
not run again.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from ..exceptions import AckTimeout, ConnectionClosed
from .acks import Parts, PendingAcks, RecentAnswers
from .events import AckSettled, Disconnected, Event
from .packets import Packet, PacketType
from .parsers import JsonParser, Parser

_JSON: Final = JsonParser()

__all__ = [
    "ConnectRequest",
    "Parts",
    "ServerSession",
    "SessionSnapshot",
    "State",
    "connect_error",
    "new_id",
    "stamp_offset",
]


class State(Enum):
    """Where a namespace connection stands (both sides)."""

    CONNECTING = "connecting"
    """CONNECT sent (client) or received and not answered yet (server)."""
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


# module constants: an Enum class attribute costs ~55 ns a read, several times per message
_CONNECTED: Final = State.CONNECTED
_CONNECTING: Final = State.CONNECTING
_DISCONNECTED: Final = State.DISCONNECTED


def new_id() -> str:
    """A fresh unguessable id (a socket id, a recovery pid): 120 random bits, URL-safe."""
    return secrets.token_urlsafe(15)


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    """A client's CONNECT payload: ``auth`` (the whole payload, as the application sees it;
    an empty dict when none came) and the recovery fields found in it."""

    auth: dict[str, Any]
    pid: str | None = None
    offset: str | None = None

    @classmethod
    def parse(cls, data: Any) -> ConnectRequest:
        if not isinstance(data, dict):
            return cls({})
        pid, offset = data.get("pid"), data.get("offset")
        return cls(
            data,
            pid if isinstance(pid, str) else None,
            offset if isinstance(offset, str) else None,
        )


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """What the server keeps of a disconnected session to restore it later (recovery)."""

    namespace: str
    sid: str
    pid: str
    rooms: frozenset[str] = frozenset()
    data: Any = None
    answers: dict[int, Parts] = field(default_factory=dict)
    """The acks answered recently (with ``answers`` on), so that retries after the
    reconnection are still answered once."""
    origin: str | None = None
    """Where the session began in the server's stream: a client that got no offset yet
    (no event came to it) recovers from there."""
    last_event: tuple[int, list[Any]] | None = None
    """The last event that asked for an ack (its id and data), to recognise its retry."""
    in_progress: tuple[int, ...] = ()
    """Acks the session was still handling when it was taken up again (in this process):
    a retry of one waits for its answer."""


def connect_error(namespace: str, payload: Any, parser: Parser = _JSON) -> Parts:
    """A CONNECT_ERROR (``{"message": ..., "data": ...}``), e.g. for an unknown namespace."""
    return parser.encode(Packet(PacketType.CONNECT_ERROR, namespace, payload))


def stamp_offset(data: list[Any], offset: str) -> list[Any]:
    """An EVENT's data with the broadcast's offset appended, as a recovering server sends
    it; the client keeps the last one it got (``ClientSession.offset``)."""
    return [*data, offset]


class ServerSession:
    """Sans-IO state of one client in one namespace (server side).

    Args:
        namespace: the namespace's name.
        parser: how this session's packets are encoded (JSON unless told).
        ack_ids: where ack ids come from (a namespace shares one counter between its
            sockets and its broadcasts, so one id never means two things to a client).
        recovery: give the client a ``pid`` to come back with.
        answers: how many recent ack answers to keep for retried packets (0: none).
        restore: the snapshot of the session a recovering client had (same sid and pid).
    """

    __slots__ = (
        "_ack_ids",
        "_acks",
        "_dumps",
        "_encode",
        "answers",
        "namespace",
        "origin",
        "pid",
        "recovered",
        "sid",
        "state",
    )

    def __init__(
        self,
        namespace: str,
        *,
        parser: Parser = _JSON,
        ack_ids: Iterator[int] | None = None,
        recovery: bool = False,
        answers: int = 0,
        restore: SessionSnapshot | None = None,
    ) -> None:
        self.namespace = namespace
        self.state = _CONNECTING
        self._encode = parser.encode
        self._dumps = parser.dumps  # JSON text: acks written in place (None: other parsers)
        self._ack_ids = ack_ids if ack_ids is not None else itertools.count()
        self._acks: PendingAcks[Any] | None = None  # made on the first ack awaited
        self.origin: str | None = None
        """Where this session began in the server's stream (see ``SessionSnapshot``)."""
        if restore is not None:
            self.sid: str = restore.sid
            self.pid: str | None = restore.pid
            self.origin = restore.origin
            self.recovered = True
        else:
            self.sid = new_id()
            self.pid = new_id() if recovery else None
            self.recovered = False
        self.answers: RecentAnswers | None = None
        """The answers kept for retried packets (None: off, every event is handled); read
        it to skip ``receive_event`` when it is None."""
        if answers:
            self.answers = RecentAnswers(
                answers,
                restore.answers if restore else None,
                namespace=namespace,
                last=restore.last_event if restore else None,
                in_progress=restore.in_progress if restore else (),
            )

    def __repr__(self) -> str:
        return f"<ServerSession {self.namespace} {self.sid} {self.state.value}>"

    @property
    def connected(self) -> bool:
        return self.state is _CONNECTED

    # -- the CONNECT answer -------------------------------------------------------------

    def accept(self) -> Parts:
        """Admit the client: the CONNECT answer to send (its sid, and pid with recovery)."""
        if self.state is not _CONNECTING:
            return []
        self.state = _CONNECTED
        payload = {"sid": self.sid} if self.pid is None else {"sid": self.sid, "pid": self.pid}
        return self._encode(Packet(PacketType.CONNECT, self.namespace, payload))

    def refuse(self, payload: Any) -> Parts:
        """Refuse the client: the CONNECT_ERROR to send (``{"message": ..., "data": ...}``)."""
        if self.state is not _CONNECTING:
            return []
        self.state = _DISCONNECTED
        return self._encode(Packet(PacketType.CONNECT_ERROR, self.namespace, payload))

    # -- events and their acks -------------------------------------------------------------

    def receive_event(self, ack_id: int | None, data: list[Any] | None = None) -> Parts | None:
        """An EVENT with ``data`` arrived (asking for ack ``ack_id``). None: handle it.
        Otherwise it is a retry of one handled already (see ``RecentAnswers``): send the
        messages returned (the answer given before; none while the first is still being
        handled) and do not run its handler."""
        answers = self.answers
        if answers is None or ack_id is None:
            return None
        return answers.begin(ack_id, data)

    def send_ack(self, ack_id: int, args: list[Any]) -> Parts:
        """The messages answering ack ``ack_id`` with ``args`` (none once disconnected)."""
        if self.answers is None:
            if self.state is not _CONNECTED:
                return []
            dumps = self._dumps
            if dumps is not None:  # JSON: encode_ack's common case, one call less
                try:
                    text = dumps(args)
                except TypeError:  # bytes in the answer: BINARY_ACK
                    return self._encode(Packet(PacketType.ACK, self.namespace, args, ack_id))
                if self.namespace == "/":
                    return [f"3{ack_id}{text}"]
                return [f"3{self.namespace},{ack_id}{text}"]
            return self._encode(Packet(PacketType.ACK, self.namespace, args, ack_id))
        parts = self._encode(Packet(PacketType.ACK, self.namespace, args, ack_id))
        parts = parts + self.answers.record(ack_id, parts)  # kept when disconnected too
        return parts if self.state is _CONNECTED else []

    def expect_ack(
        self, waiter: Any, *, deadline: float | None = None, ack_id: int | None = None
    ) -> int:
        """Wait for an ack; returns its id (a fresh one unless ``ack_id`` is given, as for a
        broadcast). ``waiter`` comes back in the ``AckSettled`` that settles it."""
        if ack_id is None:
            ack_id = next(self._ack_ids)
        acks = self._acks
        if acks is None:
            acks = self._acks = PendingAcks()
        acks.expect(ack_id, waiter, deadline)
        return ack_id

    def forget_ack(self, ack_id: int) -> None:
        """Stop waiting for ``ack_id`` (its waiter is not settled)."""
        if self._acks is not None:
            self._acks.pop(ack_id)

    def receive_ack(self, ack_id: int, args: list[Any]) -> AckSettled | None:
        """An ACK arrived: what it settles; None when nobody waits for it (any more)."""
        waiter = None if self._acks is None else self._acks.pop(ack_id)
        return None if waiter is None else AckSettled(waiter, args)

    def next_deadline(self) -> float | None:
        """When ``handle_timeout`` must be called next (an ack's deadline); None: never."""
        return None if self._acks is None else self._acks.next_deadline()

    def handle_timeout(self, *, now: float) -> list[AckSettled]:
        """The acks whose deadline passed, settled with ``AckTimeout``."""
        if self._acks is None:
            return []
        return [AckSettled(waiter, AckTimeout()) for _, waiter in self._acks.expired(now)]

    # -- the end ---------------------------------------------------------------------------

    def receive_disconnect(self) -> list[Event]:
        """The client left the namespace (DISCONNECT)."""
        return self.close("client namespace disconnect")

    def disconnect(self) -> Parts:
        """Make the client leave: the DISCONNECT to send; then ``close()`` with the server's
        reason, "server namespace disconnect"."""
        if self.state is not _CONNECTED:
            return []
        return self._encode(Packet(PacketType.DISCONNECT, self.namespace))

    def close(self, reason: str) -> list[Event]:
        """The namespace connection ended (DISCONNECT either way, or the whole connection
        closed): every ack awaited settled with ConnectionClosed, then ``Disconnected``."""
        if self.state is _DISCONNECTED:
            return []
        self.state = _DISCONNECTED
        events: list[Event] = []
        if self._acks is not None and self._acks:
            failure = ConnectionClosed(reason)
            events.extend(AckSettled(waiter, failure) for _, waiter in self._acks.clear())
        events.append(Disconnected(reason))
        return events

    def snapshot(self, rooms: frozenset[str] = frozenset(), data: Any = None) -> SessionSnapshot:
        """What to keep to restore this session (needs ``recovery``): the rooms and data
        are the caller's (the adapter's and the application's)."""
        if self.pid is None:
            raise ValueError("a session without recovery has nothing to restore")
        answers = self.answers.answered() if self.answers is not None else {}
        last = self.answers.last if self.answers is not None else None
        return SessionSnapshot(
            self.namespace, self.sid, self.pid, rooms, data, answers, self.origin, last
        )

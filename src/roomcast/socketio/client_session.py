"""The client side of one Socket.IO namespace connection, as data.

The I/O layer calls ``connect()`` once the connection is open, feeds each packet of this
namespace to ``receive_packet()``, writes what ``data_to_send()`` returns, dispatches what
``events_received()`` returns, and calls ``handle_timeout()`` at ``next_deadline()``.

Delivery follows socket.io-client:

- Offline buffer: events emitted while disconnected wait (``buffer_size`` at most) and go
  out in order once connected again.
- Acks: each one awaited settles once (``AckSettled``), with its arguments, ``AckTimeout``
  or ``ConnectionClosed``; an ack whose packet is still buffered survives a disconnection.
- Retries: with ``retries``, events go one at a time; the head is sent again (same ack id,
  so a server can answer it at most once) when its ack times out, up to ``retries`` more
  times, and after each reconnection.
- Recovery: the ``pid`` a recovering server gives and the ``offset`` of the last event it
  sent go in the next CONNECT; the events it replays before its CONNECT answer are handed
  over once connected.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..exceptions import AckTimeout, ConnectionClosed, InvalidState
from .acks import Parts, PendingAcks
from .events import AckSettled, Connected, ConnectRefused, Disconnected, Event, EventReceived
from .packets import Packet, PacketType
from .parsers import JsonParser, Parser
from .session import State

_CONNECTED: Final = State.CONNECTED
_HEAD: Final = object()
"""The waiter of the retry queue's head while it is in flight (settled by the session)."""


@dataclass(slots=True)
class _Queued:
    """An event under ``retries``: sent again, with the same ack id, until acked."""

    parts: Parts
    ack_id: int
    timeout: float | None
    waiter: Any
    tries: int = 0
    pending: bool = False


class ClientSession:
    """Sans-IO state of one namespace of a client connection.

    Args:
        namespace: the namespace's name.
        parser: how this session's packets are encoded (JSON when None).
        retries: how many more times an unacknowledged event is sent (0: no retries).
        buffer_size: how many events may wait offline (or in the retry queue).
    """

    def __init__(
        self,
        namespace: str,
        *,
        parser: Parser | None = None,
        retries: int = 0,
        buffer_size: int = 1000,
    ) -> None:
        self.namespace = namespace
        self.state = State.DISCONNECTED
        self.active = False
        """Whether the namespace wants to be connected (and reconnects with its client)."""
        self.sid: str | None = None
        self.pid: str | None = None
        """The private id a recovering server gave; sent back in the next CONNECT."""
        self.offset: str | None = None
        """The offset of the last event from a recovering server."""
        self.recovered = False
        self.retries = retries
        self.buffer_size = buffer_size
        self._encode_packet = (parser or JsonParser()).encode
        self._ids = itertools.count()
        self._acks: PendingAcks[Any] = PendingAcks()
        self._buffer: deque[tuple[Parts, int | None]] = deque()
        self._queue: deque[_Queued] = deque()
        self._replayed: list[Packet] = []
        self._events: list[Event] = []
        self._outgoing: list[Parts] = []

    def __repr__(self) -> str:
        return f"<ClientSession {self.namespace} {self.sid or self.state.value}>"

    @property
    def connected(self) -> bool:
        return self.state is _CONNECTED

    # -- what the I/O layer must do ------------------------------------------------------

    def data_to_send(self) -> list[Parts]:
        """The encoded packets to write now, in order (drains the queue)."""
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def events_received(self) -> list[Event]:
        """What happened since the last call (drains the list)."""
        events, self._events = self._events, []
        return events

    def next_deadline(self) -> float | None:
        """When ``handle_timeout`` must be called next (an ack's deadline); None: never."""
        return self._acks.next_deadline()

    def handle_timeout(self, *, now: float) -> None:
        """Settle the acks whose deadline passed (or send the retry queue's head again)."""
        for ack_id, waiter in self._acks.expired(now):
            if waiter is _HEAD:
                self._head_done(AckTimeout(), now)
            else:
                self._unbuffer(ack_id)
                self._events.append(AckSettled(waiter, AckTimeout()))

    # -- joining and leaving --------------------------------------------------------------

    def activate(self) -> None:
        """The namespace should connect (now, or once the connection is open)."""
        self.active = True

    def deactivate(self) -> None:
        self.active = False

    def connect(self, auth: Mapping[str, Any] | None) -> None:
        """Send CONNECT with ``auth`` (and the recovery fields, once a server gave a pid);
        nothing when the namespace is no longer active."""
        if not self.active:
            return
        data: dict[str, Any] | None = None if auth is None else dict(auth)
        if self.pid is not None:
            recovery: dict[str, Any] = {"pid": self.pid}
            if self.offset is not None:
                recovery["offset"] = self.offset
            data = {**recovery, **(data or {})}
        if self.state is not _CONNECTED:
            self.state = State.CONNECTING
        self._send(Packet(PacketType.CONNECT, self.namespace, data))

    def refuse(self, message: str, data: Any = None) -> None:
        """The namespace cannot connect (the server refused, or the auth could not be
        computed): ``ConnectRefused``, and the namespace is no longer active."""
        self.active = False
        if self.state is not _CONNECTED:
            self.state = State.DISCONNECTED
        self._replayed.clear()
        self._events.append(ConnectRefused(message, data))

    def disconnect(self, reason: str = "io client disconnect") -> None:
        """Leave the namespace for good: DISCONNECT is sent (when connected),
        ``Disconnected`` reported, and whatever waits (acks, buffer, retries) settled with
        ConnectionClosed."""
        if self.state is _CONNECTED:
            self._send(Packet(PacketType.DISCONNECT, self.namespace))
        self.active = False
        if self.state is _CONNECTED:
            self._closed(reason)
        self.state = State.DISCONNECTED
        failure = ConnectionClosed(reason)
        queue, self._queue = self._queue, deque()
        self._buffer.clear()
        for _, waiter in self._acks.clear():
            if waiter is not _HEAD:
                self._events.append(AckSettled(waiter, failure))
        for queued in queue:
            if queued.waiter is not None:
                self._events.append(AckSettled(queued.waiter, failure))

    def connection_lost(self, reason: str) -> None:
        """The connection under the namespace closed (the client may reconnect)."""
        self._replayed.clear()
        if self.state is _CONNECTED:
            self._closed(reason)
        self.state = State.DISCONNECTED

    def _closed(self, reason: str) -> None:
        """Connected → disconnected: acks of sent packets fail with ConnectionClosed, except
        the retry queue's head (sent again on reconnection) and buffered packets."""
        self.state = State.DISCONNECTED
        self.sid = None
        self._replayed.clear()
        head = self._queue[0].ack_id if self._queue else None
        buffered = {ack_id for _, ack_id in self._buffer}
        failure = ConnectionClosed(reason)
        for ack_id in self._acks:
            if ack_id in buffered:
                continue
            waiter = self._acks.pop(ack_id)
            if ack_id != head:
                self._events.append(AckSettled(waiter, failure))
        if self._queue:
            self._queue[0].pending = False
        self._events.append(Disconnected(reason))

    # -- what the server sends -------------------------------------------------------------

    def receive_packet(self, packet: Packet, *, now: float) -> None:
        """Feed a packet of this namespace."""
        kind = packet.type
        if kind is PacketType.EVENT or kind is PacketType.BINARY_EVENT:
            if self.state is _CONNECTED:
                self._receive_event(packet)
            elif self.active:  # a recovering server replays missed events before CONNECT
                self._replayed.append(packet)
        elif kind is PacketType.ACK or kind is PacketType.BINARY_ACK:
            assert packet.id is not None
            self._acked(packet.id, list(packet.data), now)
        elif kind is PacketType.CONNECT:
            self._receive_connect(packet.data, now)
        elif kind is PacketType.CONNECT_ERROR:
            data = packet.data
            if isinstance(data, dict):
                self.refuse(str(data.get("message", "")), data.get("data"))
            else:
                self.refuse(str(data))
        elif kind is PacketType.DISCONNECT:
            self.active = False
            if self.state is _CONNECTED:
                self._closed("io server disconnect")
            self.state = State.DISCONNECTED

    def _receive_connect(self, data: Any, now: float) -> None:
        if self.state is _CONNECTED:
            return  # a duplicate answer
        if not self.active:  # given up meanwhile: leave again
            self._send(Packet(PacketType.DISCONNECT, self.namespace))
            return
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            self.refuse("invalid CONNECT answer (a Socket.IO v2 server?)")
            return
        pid = data.get("pid") if isinstance(data.get("pid"), str) else None
        self.sid = data["sid"]
        self.recovered = pid is not None and pid == self.pid
        self.pid = pid
        self.state = _CONNECTED
        replayed, self._replayed = self._replayed, []
        for packet in replayed:
            self._receive_event(packet)
        self._went_online(now)
        self._events.append(Connected(data["sid"], pid, self.recovered))

    def _receive_event(self, packet: Packet) -> None:
        name, *args = packet.data
        if self.pid is not None and args and isinstance(args[-1], str):
            self.offset = args[-1]  # as socket.io-client: a recovering server's offset
        self._events.append(EventReceived(str(name), args, packet.id))

    # -- sending ---------------------------------------------------------------------------

    def next_ack_id(self) -> int:
        return next(self._ids)

    def emit(
        self,
        data: list[Any],
        *,
        now: float,
        volatile: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Send an event (``data`` is [name, *args]) without waiting for its ack: offline,
        it waits in the buffer (dropped when ``volatile``); with ``retries`` (and not
        ``volatile``) it is sent until acked, ``timeout`` being the wait for each try.

        Raises:
            InvalidState: the buffer (or the retry queue) is full.
        """
        if self.retries and not volatile:
            ack_id = self.next_ack_id()
            self._enqueue(self._encode(data, ack_id), ack_id, timeout, None, now)
        elif self.state is _CONNECTED or not volatile:
            self._post(self._encode(data, None), None)

    def emit_with_ack(
        self, data: list[Any], waiter: Any, *, now: float, timeout: float | None = None
    ) -> int:
        """Send an event and wait for its ack (``AckSettled(waiter, ...)`` reports it);
        ``timeout`` is the wait (with ``retries``: for each try). Returns the ack id.

        Raises:
            InvalidState: the buffer (or the retry queue) is full.
        """
        ack_id = self.next_ack_id()
        parts = self._encode(data, ack_id)
        if self.retries:
            self._enqueue(parts, ack_id, timeout, waiter, now)
        else:
            self._post(parts, ack_id)
            self._acks.expect(ack_id, waiter, None if timeout is None else now + timeout)
        return ack_id

    def forget(self, ack_id: int) -> None:
        """Stop waiting for ``ack_id`` (its packet is dropped if still buffered)."""
        self._acks.pop(ack_id)
        self._unbuffer(ack_id)

    def send_ack(self, ack_id: int, args: list[Any]) -> None:
        """Answer the server's ack ``ack_id`` (nothing once disconnected)."""
        if self.state is _CONNECTED:
            self._send(Packet(PacketType.ACK, self.namespace, args, ack_id))

    def _encode(self, data: list[Any], ack_id: int | None) -> Parts:
        return self._encode_packet(Packet(PacketType.EVENT, self.namespace, data, ack_id))

    def _send(self, packet: Packet) -> None:
        self._outgoing.append(self._encode_packet(packet))

    def _post(self, parts: Parts, ack_id: int | None) -> None:
        if self.state is _CONNECTED:
            self._outgoing.append(parts)
            return
        if len(self._buffer) >= self.buffer_size:
            raise InvalidState(f"the offline buffer of {self.namespace} is full")
        self._buffer.append((parts, ack_id))

    def _unbuffer(self, ack_id: int) -> None:
        for item in self._buffer:
            if item[1] == ack_id:
                self._buffer.remove(item)
                return

    def _acked(self, ack_id: int, args: list[Any], now: float) -> None:
        waiter = self._acks.pop(ack_id)
        if waiter is _HEAD:
            self._head_done(args, now)
        elif waiter is not None:
            self._events.append(AckSettled(waiter, args))

    def _went_online(self, now: float) -> None:
        buffered, self._buffer = self._buffer, deque()
        self._outgoing.extend(parts for parts, _ in buffered)
        self._drain(now, force=True)

    # -- retries ---------------------------------------------------------------------------

    def _enqueue(
        self, parts: Parts, ack_id: int, timeout: float | None, waiter: Any, now: float
    ) -> None:
        if len(self._queue) >= self.buffer_size:
            raise InvalidState(f"the retry queue of {self.namespace} is full")
        self._queue.append(_Queued(parts, ack_id, timeout, waiter))
        self._drain(now)

    def _drain(self, now: float, force: bool = False) -> None:
        if self.state is not _CONNECTED or not self._queue:
            return
        head = self._queue[0]
        if head.pending and not force:
            return
        head.pending = True
        head.tries += 1
        deadline = None if head.timeout is None else now + head.timeout
        self._acks.expect(head.ack_id, _HEAD, deadline)
        self._outgoing.append(head.parts)

    def _head_done(self, outcome: list[Any] | BaseException, now: float) -> None:
        head = self._queue[0]
        head.pending = False
        if isinstance(outcome, BaseException) and head.tries <= self.retries:
            self._drain(now)  # once more, same id
            return
        self._queue.popleft()
        if head.waiter is not None:
            self._events.append(AckSettled(head.waiter, outcome))
        self._drain(now)

"""The server side of one Engine.IO v4 session, as data.

The I/O layer feeds received packets and the current time in, sends what
``packets_to_send()`` returns over the current transport, dispatches what
``events_received()`` returns, and calls ``handle_timeout()`` at ``next_deadline()``.

Heartbeat (v4): the server sends PING every ``ping_interval`` (counted from the handshake,
then from the last PONG); a PONG must arrive within ``ping_timeout`` of the PING or the
session closes (nothing more is sent: the peer is gone). A silent peer is therefore closed
``ping_interval + ping_timeout`` after its handshake or last PONG, as the reference server
does. The PONG deadline counts from the PING's due time, not from when the I/O layer got
round to sending it, so a timer that runs a little late does not push the close later too.
When the PING leaves much later than due (the event loop was busy), the peer still gets nine
tenths of ``ping_timeout`` to answer: the deadline never falls closer than that to the send.

Upgrade: packets that arrive over the probing WebSocket go to ``receive_probe()``:
``2probe`` is answered ``3probe`` on that WebSocket (the I/O layer then answers any pending
or new poll with a NOOP); ``5`` switches the session to WebSocket. Once ``3probe`` is sent
the client stops polling until it has switched: a ``close()`` meanwhile waits for the
switch (the CLOSE packet then goes over the WebSocket) or for the probe to fail, so that
the client learns of it rather than waiting, its polling paused, for a ping timeout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Final

from .events import Closed, CloseReason, Event, Message, Upgraded
from .packets import Packet, PacketType


class Transport(StrEnum):
    """The transports a session can run over."""

    POLLING = "polling"
    WEBSOCKET = "websocket"


class State(Enum):
    """Where a session stands."""

    OPEN = "open"
    UPGRADING = "upgrading"
    CLOSED = "closed"


# Module constants for the states and packet types the hot paths test: an Enum class
# attribute costs ~55 ns a read (about 1,000 instructions on Python 3.11).
_OPEN: Final = State.OPEN
_UPGRADING: Final = State.UPGRADING
_CLOSED: Final = State.CLOSED
_MESSAGE: Final = PacketType.MESSAGE
_PING: Final = PacketType.PING
_PONG: Final = PacketType.PONG


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Session settings (seconds and bytes); the handshake announces them."""

    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    max_payload: int = 1_000_000
    allow_upgrades: bool = True


_PROBE: Final = "probe"
_LATE_SEND_ALLOWANCE: Final = 0.1
"""How late (a fraction of ``ping_timeout``) a PING may leave and still have its PONG
deadline counted from its due time."""


class EngineSession:
    """Sans-IO state of one Engine.IO v4 session (server side)."""

    __slots__ = (
        "_closing",
        "_events",
        "_next_ping",
        "_outbox",
        "_pong_deadline",
        "config",
        "sid",
        "state",
        "transport",
    )

    def __init__(self, sid: str, transport: Transport, config: EngineConfig, *, now: float) -> None:
        self.sid = sid
        self.transport = transport
        self.config = config
        self.state = _OPEN
        self._events: list[Event] = []
        self._outbox: list[Packet] = [Packet(PacketType.OPEN, self._handshake())]
        self._next_ping = now + config.ping_interval
        self._pong_deadline: float | None = None
        self._closing: CloseReason | None = None
        """A ``close()`` asked while upgrading: done once the upgrade ends either way."""

    def _handshake(self) -> str:
        upgrades = (
            ["websocket"]
            if self.transport is Transport.POLLING and self.config.allow_upgrades
            else []
        )
        return json.dumps(
            {
                "sid": self.sid,
                "upgrades": upgrades,
                "pingInterval": round(self.config.ping_interval * 1000),
                "pingTimeout": round(self.config.ping_timeout * 1000),
                "maxPayload": self.config.max_payload,
            },
            separators=(",", ":"),
        )

    @property
    def closed(self) -> bool:
        return self.state is _CLOSED

    # -- receiving ----------------------------------------------------------------------

    def receive_packets(self, packets: list[Packet], *, now: float) -> None:
        """Feed packets received over the current transport."""
        for packet in packets:
            if self.state is _CLOSED:
                return
            self._receive(packet, now)

    def _receive(self, packet: Packet, now: float) -> None:
        kind = packet.type
        if kind is _MESSAGE:
            self._events.append(Message(packet.data))
        elif kind is _PONG:
            self._pong_deadline = None
            self._next_ping = now + self.config.ping_interval
        elif kind is _PING:
            self._outbox.append(Packet(_PONG, packet.data))
        elif kind is PacketType.CLOSE:
            self._close(CloseReason.TRANSPORT_CLOSE, notify_peer=False)
        elif kind is PacketType.OPEN or kind is PacketType.UPGRADE:
            self._close(CloseReason.PARSE_ERROR, notify_peer=True)
        # NOOP: nothing to do

    def receive_probe(self, packet: Packet) -> list[Packet] | None:
        """Feed a packet received over the WebSocket that probes an upgrade.

        Returns the packets to send on that WebSocket, or None when the probe must be
        refused (close that WebSocket; the session goes on over polling).
        """
        if self.transport is not Transport.POLLING or self.state is _CLOSED:
            return None
        if packet.type is _PING and packet.data == _PROBE and self.state is _OPEN:
            self.state = _UPGRADING
            return [Packet(_PONG, _PROBE)]
        if packet.type is PacketType.UPGRADE and self.state is _UPGRADING:
            self.transport = Transport.WEBSOCKET
            self.state = _OPEN
            self._events.append(Upgraded())
            self._close_if_asked()
            return []
        return None

    @property
    def upgrading(self) -> bool:
        return self.state is _UPGRADING

    def can_probe(self) -> bool:
        """Whether a WebSocket may start probing an upgrade of this session now."""
        return (
            self.transport is Transport.POLLING
            and self.state is _OPEN
            and self.config.allow_upgrades
        )

    def cancel_upgrade(self) -> None:
        """The probing WebSocket went away before completing the upgrade (a close asked
        meanwhile happens now: see ``events_received``)."""
        if self.state is _UPGRADING:
            self.state = _OPEN
            self._close_if_asked()

    def _close_if_asked(self) -> None:
        reason, self._closing = self._closing, None
        if reason is not None:
            self._close(reason, notify_peer=True)

    # -- sending ------------------------------------------------------------------------

    def send_message(self, data: str | bytes) -> None:
        """Queue a MESSAGE; dropped silently once the session is closed."""
        if self.state is not _CLOSED:
            self._outbox.append(Packet(_MESSAGE, data))

    def close(self, reason: CloseReason = CloseReason.FORCED_CLOSE) -> None:
        """Close the session from this side: a CLOSE packet is queued for the peer. While
        an upgrade is under way (``3probe`` sent), once it ends: the client polls no more
        until it has switched, so a CLOSE queued for polling would never reach it."""
        if self.state is _UPGRADING:
            if self._closing is None:
                self._closing = reason
            return
        self._close(reason, notify_peer=True)

    def fail(self, reason: CloseReason) -> None:
        """The transport broke or the peer misbehaved: close without telling the peer."""
        self._close(reason, notify_peer=False)

    def _close(self, reason: CloseReason, *, notify_peer: bool) -> None:
        if self.state is _CLOSED:
            return
        self.state = _CLOSED
        if notify_peer:  # what was queued before still goes out first
            self._outbox.append(Packet(PacketType.CLOSE))
        else:
            self._outbox.clear()
        self._events.append(Closed(reason))

    # -- what the I/O layer must do ------------------------------------------------------

    def packets_to_send(self) -> list[Packet]:
        """Packets to write on the current transport now (drains the queue)."""
        packets, self._outbox = self._outbox, []
        return packets

    def has_packets_to_send(self) -> bool:
        return bool(self._outbox)

    def events_received(self) -> list[Event]:
        """What happened since the last call (drains the list)."""
        events, self._events = self._events, []
        return events

    def next_deadline(self) -> float | None:
        """When ``handle_timeout`` must be called next; None once closed."""
        if self.state is _CLOSED:
            return None
        return self._pong_deadline if self._pong_deadline is not None else self._next_ping

    def handle_timeout(self, *, now: float) -> None:
        """Send a PING when one is due; close the session when a PONG is overdue."""
        if self.state is _CLOSED:
            return
        if self._pong_deadline is not None:
            if now >= self._pong_deadline:  # the peer is gone: nothing more to send it
                self._close(CloseReason.PING_TIMEOUT, notify_peer=False)
        elif now >= self._next_ping:
            self._outbox.append(Packet(_PING))
            timeout = self.config.ping_timeout
            sent = max(self._next_ping, now - timeout * _LATE_SEND_ALLOWANCE)
            self._pong_deadline = sent + timeout

"""The client side of one Engine.IO v4 session, as data.

The I/O layer opens a transport (an HTTP long-polling GET or a WebSocket without a sid),
feeds every packet it receives and the current time to ``receive_packets``, writes what
``packets_to_send()`` returns on the current transport, dispatches what
``events_received()`` returns, and calls ``handle_timeout()`` at ``next_deadline()``.

Handshake: the first packet must be OPEN; its JSON (sid, upgrades, pingInterval,
pingTimeout, maxPayload) becomes an ``Opened`` event.

Heartbeat (v4): the server pings, the client answers each PING with a PONG. The server is
deemed gone when no PING arrived within ``pingInterval + pingTimeout`` of the last one (or
of the handshake): the session closes with ``ping timeout`` and nothing more is sent.

Upgrade from polling to WebSocket: the I/O layer opens a WebSocket with the sid and sends
the packet ``start_probe()`` returns on it; what comes back on that WebSocket goes to
``receive_probe()``. Once it answered ``3probe`` the session is *paused*: nothing more is
handed out for polling, the I/O layer lets its pending GET (the server releases it with a
NOOP) and POST finish, starts no new ones, and calls ``finish_upgrade()``; the UPGRADE packet
is then the first packet to send, on the WebSocket, followed by whatever was held meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from ..exceptions import LocalProtocolError
from .events import Closed, CloseReason, Event, Message, Upgraded
from .packets import SEPARATOR, Packet, PacketType, encode_payload
from .session import Transport

_PROBE: Final = "probe"


class ClientState(Enum):
    """Where a client session stands."""

    OPENING = "opening"
    """The transport is open; the server's OPEN packet is awaited."""
    OPEN = "open"
    CLOSED = "closed"


class UpgradeState(Enum):
    """Where an upgrade from polling to WebSocket stands."""

    IDLE = "idle"
    """No probe running (none started, or it ended)."""
    PROBING = "probing"
    """``2probe`` was sent on the new WebSocket; ``3probe`` is awaited."""
    PAUSED = "paused"
    """The probe succeeded: polling finishes what is in flight, then ``finish_upgrade()``."""


@dataclass(frozen=True, slots=True)
class Opened(Event):
    """The server's handshake arrived: the session is open (times in seconds)."""

    sid: str
    upgrades: tuple[str, ...]
    ping_interval: float
    ping_timeout: float
    max_payload: int


_MAX_NUMBER: Final = 2**53 - 1
"""The largest number a handshake may give (JavaScript's safe integers): a larger one is not
a duration or a size, and one past a float's range made the division raise OverflowError."""


def parse_handshake(data: str | bytes) -> Opened | None:
    """The handshake carried by an OPEN packet, or None when it is not a valid one."""
    if not isinstance(data, str):
        return None
    try:
        fields: Any = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        return None
    if not isinstance(fields, dict):
        return None
    sid = fields.get("sid")
    upgrades = fields.get("upgrades", [])
    numbers = [fields.get(key, 0) for key in ("pingInterval", "pingTimeout", "maxPayload")]
    if (
        not isinstance(sid, str)
        or not sid
        or not isinstance(upgrades, list)
        or not all(isinstance(u, str) for u in upgrades)
        or not all(type(n) is int and 0 <= n <= _MAX_NUMBER for n in numbers)
    ):
        return None
    interval, timeout, max_payload = numbers
    return Opened(sid, tuple(upgrades), interval / 1000, timeout / 1000, max_payload)


class EngineClientSession:
    """Sans-IO state of one Engine.IO v4 session (client side).

    Args:
        transport: the transport the session is opened over.
        upgrade: whether to offer ``can_upgrade()`` when the server lists ``websocket``.
    """

    __slots__ = (
        "_deadline",
        "_events",
        "_outbox",
        "handshake",
        "state",
        "transport",
        "upgrade",
        "upgrade_state",
    )

    def __init__(self, transport: Transport, *, upgrade: bool = True) -> None:
        self.transport = transport
        self.upgrade = upgrade
        self.state = ClientState.OPENING
        self.upgrade_state = UpgradeState.IDLE
        self.handshake: Opened | None = None
        """The server's handshake, once it arrived."""
        self._events: list[Event] = []
        self._outbox: list[Packet] = []
        self._deadline: float | None = None

    @property
    def closed(self) -> bool:
        return self.state is ClientState.CLOSED

    @property
    def sid(self) -> str | None:
        """The session id the server gave, once open."""
        return self.handshake.sid if self.handshake is not None else None

    @property
    def paused(self) -> bool:
        """Whether polling must stop (finish what is in flight, start nothing new)."""
        return self.upgrade_state is UpgradeState.PAUSED

    # -- receiving ----------------------------------------------------------------------

    def receive_packets(self, packets: Iterable[Packet], *, now: float) -> None:
        """Feed packets received over the current transport, in order."""
        for packet in packets:
            if self.state is ClientState.CLOSED:
                return
            if self.state is ClientState.OPENING:
                self._receive_handshake(packet, now)
            else:
                self._receive(packet, now)

    def _receive_handshake(self, packet: Packet, now: float) -> None:
        handshake = parse_handshake(packet.data) if packet.type is PacketType.OPEN else None
        if handshake is None:
            self.fail(CloseReason.PARSE_ERROR)
            return
        self.handshake = handshake
        self.state = ClientState.OPEN
        self._events.append(handshake)
        self._arm_heartbeat(now)

    def _receive(self, packet: Packet, now: float) -> None:
        kind = packet.type
        if kind is PacketType.MESSAGE:
            self._events.append(Message(packet.data))
        elif kind is PacketType.PING:
            self._outbox.append(Packet(PacketType.PONG, packet.data))
            self._arm_heartbeat(now)
        elif kind is PacketType.CLOSE:
            self.fail(CloseReason.TRANSPORT_CLOSE)
        elif kind is PacketType.OPEN or kind is PacketType.UPGRADE:
            self.fail(CloseReason.PARSE_ERROR)
        # NOOP, and PONG (a v4 server never asks for one): nothing to do

    def _arm_heartbeat(self, now: float) -> None:
        handshake = self.handshake
        assert handshake is not None
        self._deadline = now + handshake.ping_interval + handshake.ping_timeout

    # -- upgrade ------------------------------------------------------------------------

    def can_upgrade(self) -> bool:
        """Whether a WebSocket may now be opened to probe an upgrade of this session."""
        return (
            self.upgrade
            and self.state is ClientState.OPEN
            and self.transport is Transport.POLLING
            and self.upgrade_state is UpgradeState.IDLE
            and self.handshake is not None
            and Transport.WEBSOCKET.value in self.handshake.upgrades
        )

    def start_probe(self) -> Packet:
        """The packet to send on the probing WebSocket (``2probe``).

        Raises:
            LocalProtocolError: when ``can_upgrade()`` is false.
        """
        if not self.can_upgrade():
            raise LocalProtocolError("this session cannot be upgraded now")
        self.upgrade_state = UpgradeState.PROBING
        return Packet(PacketType.PING, _PROBE)

    def receive_probe(self, packet: Packet) -> bool:
        """Feed the packet received on the probing WebSocket.

        Returns True when it is the expected ``3probe``: the session is then paused, and the
        caller must call ``finish_upgrade()`` once polling is idle. Otherwise the probe is
        over: close that WebSocket, the session goes on over polling.
        """
        if (
            self.upgrade_state is UpgradeState.PROBING
            and self.state is ClientState.OPEN
            and packet.type is PacketType.PONG
            and packet.data == _PROBE
        ):
            self.upgrade_state = UpgradeState.PAUSED
            return True
        self.cancel_upgrade()
        return False

    def finish_upgrade(self) -> None:
        """Polling is idle: switch to the WebSocket; UPGRADE becomes the first packet to send.

        Raises:
            LocalProtocolError: when the session is not paused for an upgrade.
        """
        if self.upgrade_state is not UpgradeState.PAUSED or self.closed:
            raise LocalProtocolError("no upgrade is waiting to finish")
        self.upgrade_state = UpgradeState.IDLE
        self.transport = Transport.WEBSOCKET
        self._outbox.insert(0, Packet(PacketType.UPGRADE))
        self._events.append(Upgraded())

    def cancel_upgrade(self) -> None:
        """The probe failed or its WebSocket went away: stay on polling."""
        self.upgrade_state = UpgradeState.IDLE

    # -- sending ------------------------------------------------------------------------

    def send_message(self, data: str | bytes) -> None:
        """Queue a MESSAGE; dropped silently once the session is closed."""
        if self.state is not ClientState.CLOSED:
            self._outbox.append(Packet(PacketType.MESSAGE, data))

    def close(self) -> None:
        """Close from this side: what is queued, then a CLOSE packet, go out."""
        if self.state is ClientState.CLOSED:
            return
        if self.state is ClientState.OPEN:
            self._outbox.append(Packet(PacketType.CLOSE))
        else:
            self._outbox.clear()
        self._set_closed(CloseReason.FORCED_CLOSE)

    def fail(self, reason: CloseReason) -> None:
        """The transport broke, the server closed or misbehaved: close, send nothing more."""
        if self.state is ClientState.CLOSED:
            return
        self._outbox.clear()
        self._set_closed(reason)

    def _set_closed(self, reason: CloseReason) -> None:
        self.state = ClientState.CLOSED
        self.upgrade_state = UpgradeState.IDLE
        self._deadline = None
        self._events.append(Closed(reason))

    # -- what the I/O layer must do ------------------------------------------------------

    def packets_to_send(self) -> list[Packet]:
        """Packets to write on the current transport now (drains the queue).

        Nothing while an upgrade holds polling paused: the packets wait for the WebSocket.
        """
        if self.paused:
            return []
        packets, self._outbox = self._outbox, []
        return packets

    def has_packets_to_send(self) -> bool:
        return bool(self._outbox) and not self.paused

    def events_received(self) -> list[Event]:
        """What happened since the last call (drains the list)."""
        events, self._events = self._events, []
        return events

    def next_deadline(self) -> float | None:
        """When ``handle_timeout`` must be called next; None before the handshake and once
        closed (the I/O layer bounds the wait for the handshake itself)."""
        return self._deadline

    def handle_timeout(self, *, now: float) -> None:
        """Close the session (``ping timeout``) when the server's PING is overdue."""
        if self._deadline is not None and now >= self._deadline:
            self.fail(CloseReason.PING_TIMEOUT)


def batch_for_polling(packets: Sequence[Packet], max_payload: int) -> list[list[Packet]]:
    """Split packets into POST bodies of at most ``max_payload`` bytes each (as encoded).

    A packet bigger than the limit alone still gets a body of its own; ``max_payload`` 0
    means no limit.
    """
    if max_payload <= 0:
        return [list(packets)] if packets else []
    batches: list[list[Packet]] = []
    batch: list[Packet] = []
    size = 0
    for packet in packets:
        length = len(encode_payload([packet]).encode())
        added = length if not batch else length + len(SEPARATOR)
        if batch and size + added > max_payload:
            batches.append(batch)
            batch, size, added = [], 0, length
        batch.append(packet)
        size += added
    if batch:
        batches.append(batch)
    return batches

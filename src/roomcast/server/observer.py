"""What may watch a server from above (``roomcast.observe``): typed here, so that the server
never imports the layer that watches it.

``Traffic`` holds the counts of what the server receives and sends: plain integers and
dicts, kept where the server already parses a message or encodes a packet, and read by
whoever watches (Prometheus metrics at scrape time, the admin UI every few seconds). A
server counts only once ``Server.count_traffic()`` has been called: until then its
``traffic`` is None and a message costs one check. A ``Service`` is served beside the
server (metrics on their own port).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, Protocol

from ..socketio import Packet, PacketType

if TYPE_CHECKING:
    from .namespace import Namespace

OTHER: Final = "other"
"""The name counted for the events past the first ``top_events`` names, and for events
whose name is not a string."""
_EVENT, _BINARY_EVENT = PacketType.EVENT, PacketType.BINARY_EVENT
_ACK, _BINARY_ACK = PacketType.ACK, PacketType.BINARY_ACK
_FEW: Final = 8
"""Up to this many distinct names in a batch, each is counted with ``list.count``."""


class Traffic:
    """Counts of the server's traffic since it started (they only grow).

    An event on the fast path (an EVENT on ``/``, the common case) costs two list appends
    of strings (untracked by the garbage collector: holding them costs no collections):
    its message, and its name (to ``asking`` when it asks for an ack, else ``names``),
    which ``drain`` counts in bulk (C-level maps, sums and counts rather than Python per
    message) when the counts are read and twice a second (``Metrics``' timer). Everything
    else is counted as it comes.

    Args:
        top_events: how many event names are counted on their own; the rest (and names
            that are not strings) count as ``"other"``, so that what clients send cannot
            grow the counts without bound.
    """

    __slots__ = (
        "acks_received",
        "acks_requested",
        "asking",
        "events_received",
        "events_sent",
        "messages",
        "names",
        "received_bytes",
        "top_events",
    )

    def __init__(self, top_events: int = 100) -> None:
        self.top_events = top_events
        self.messages: list[str] = []
        """The fast path's messages since the last ``drain`` (the server appends them)."""
        self.names: list[Any] = []
        """The names of those that ask for no ack (the server appends them)."""
        self.asking: list[Any] = []
        """The names of those that ask for an ack (the server appends them)."""
        self.received_bytes = 0
        """Bytes of the Engine.IO messages received (text as UTF-8, binary attachments
        included)."""
        self.events_received: dict[str, int] = {}
        """Events received, by name (bounded)."""
        self.acks_requested = 0
        """Events received that asked for an ack."""
        self.acks_received = 0
        """Acks received (answers to the server's emits with an ack)."""
        self.events_sent: dict[str, int] = {}
        """Events encoded to be sent, by name (bounded): a broadcast counts once."""

    def drain(self) -> None:
        """Count the fast path's messages since the last time (call it before reading)."""
        messages, plain, asking = self.messages, self.names, self.asking
        if not messages:
            return
        self.messages, self.names, self.asking = [], [], []
        size = sum(map(len, messages))
        if not all(map(str.isascii, messages)):  # UTF-8 counts more bytes than characters
            size += sum(len(m.encode()) - len(m) for m in messages if not m.isascii())
        self.received_bytes += size
        self.acks_requested += len(asking)
        counts = self.events_received
        for names in (plain, asking):
            for name, n in _tally(names):
                self._count(counts, name, n)

    # -- where the server counts (besides the fast path's appends) -----------------------

    def message(self, message: str | bytes) -> None:
        """A message the general path decodes (counted whatever it turns out to be)."""
        if type(message) is str and not message.isascii():
            self.received_bytes += len(message.encode())
        else:
            self.received_bytes += len(message)

    def packet(self, packet: Packet) -> None:
        """A packet the general path decoded (after ``message``)."""
        kind = packet.type
        if kind is _EVENT or kind is _BINARY_EVENT:
            if packet.id is not None:
                self.acks_requested += 1
            self._count(self.events_received, packet.data[0])
        elif kind is _ACK or kind is _BINARY_ACK:
            self.acks_received += 1

    def encoded(self, packet: Packet) -> None:
        """``packet`` was encoded to be sent (to one client or many)."""
        if (packet.type is _EVENT or packet.type is _BINARY_EVENT) and packet.data:
            self._count(self.events_sent, packet.data[0])

    def _count(self, counts: dict[str, int], name: Any, n: int = 1) -> None:
        """``n`` more ``name``: on its own while ``counts`` has room, else as ``other``."""
        if name not in counts and (type(name) is not str or len(counts) >= self.top_events):
            name = OTHER
        counts[name] = counts.get(name, 0) + n


def _tally(names: list[Any]) -> Iterable[tuple[Any, int]]:
    """How many times each name is in ``names``: a few distinct ones (the usual batch)
    are counted by C-level scans, more by a ``Counter``."""
    distinct = dict.fromkeys(names)
    if len(distinct) > _FEW:
        return Counter(names).items()
    return [(name, names.count(name)) for name in distinct]


class Watcher(Protocol):
    """What watches the server's namespaces and rooms (``Server.watcher``, the admin UI):
    told where the membership changes (the adapters) and where namespaces are made, so that
    nothing is called when no one watches."""

    def namespace_created(self, nsp: Namespace) -> None:
        """``nsp`` was just made (by ``Server.of``, or a dynamic namespace's match)."""
        ...

    def room_joined(self, nsp: Namespace, room: str, sid: str) -> None:
        """Socket ``sid`` (local) joined ``room`` of ``nsp``."""
        ...

    def room_left(self, nsp: Namespace, room: str, sid: str) -> None:
        """Socket ``sid`` (local) left ``room`` of ``nsp`` (its own room too, as it goes)."""
        ...


class Service(Protocol):
    async def start(self) -> None:
        """Start serving (the server starts listening)."""
        ...

    async def aclose(self) -> None:
        """Stop serving (the server is released)."""
        ...

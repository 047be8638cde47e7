"""The Socket.IO state of one Engine.IO connection: its decoder and its namespaces."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..socketio import PacketDecoder
from ..socketio.session import Parts
from ..transports.engine import EngineSocket

if TYPE_CHECKING:
    from .socket import Socket


class Connection:
    """One client connection, multiplexing sockets of several namespaces."""

    __slots__ = ("connect_timer", "decoder", "engine", "packet_bytes", "sockets")

    def __init__(self, engine: EngineSocket, decoder: PacketDecoder) -> None:
        self.engine = engine
        self.decoder = decoder
        self.sockets: dict[str, Socket] = {}
        """The connected sockets by namespace name."""
        self.connect_timer: asyncio.TimerHandle | None = None
        self.packet_bytes = 0
        """The size of the packet being handled, in bytes (its attachments included),
        when some event has a byte limit (``measure``)."""

    def measure(self, message: str | bytes) -> None:
        """Count ``message`` into ``packet_bytes``: a new packet, or an attachment of the
        binary one being assembled."""
        if type(message) is str:
            size = len(message) if message.isascii() else len(message.encode())
        else:
            size = len(message)
        if self.decoder.awaiting_attachments:
            self.packet_bytes += size
        else:
            self.packet_bytes = size

    def send(self, parts: Parts) -> None:
        """Write the messages of one encoded packet."""
        engine = self.engine
        for part in parts:
            engine.send(part)

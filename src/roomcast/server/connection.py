"""The Socket.IO state of one Engine.IO connection: its decoder and its namespaces."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..socketio import Decoder, Packet, encode_packet
from ..transports.engine import EngineSocket

if TYPE_CHECKING:
    from .socket import Socket


class Connection:
    """One client connection, multiplexing sockets of several namespaces."""

    __slots__ = ("connect_timer", "decoder", "engine", "sockets")

    def __init__(self, engine: EngineSocket, decoder: Decoder) -> None:
        self.engine = engine
        self.decoder = decoder
        self.sockets: dict[str, Socket] = {}
        """The connected sockets by namespace name."""
        self.connect_timer: asyncio.TimerHandle | None = None

    def send_packet(self, packet: Packet, dumps: Callable[[Any], str]) -> None:
        for part in encode_packet(packet, dumps):
            self.engine.send(part)

"""The Socket.IO state of one Engine.IO connection: its decoder and its namespaces."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..socketio import Decoder
from ..socketio.session import Parts
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

    def send(self, parts: Parts) -> None:
        """Write the messages of one encoded packet."""
        engine = self.engine
        for part in parts:
            engine.send(part)

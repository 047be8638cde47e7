"""What may watch a server from above (``roomcast.observe``): typed here, so that the server
never imports the layer that watches it.

An ``Observer`` is told of the packets the server encodes to send (one call per packet,
however many clients it goes to); what arrives it hears as an Engine.IO ``message``
listener. A ``Service`` is served beside the server (metrics on their own port).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..socketio import Packet


class Observer(Protocol):
    def encoded(self, packet: Packet, parts: Sequence[str | bytes]) -> None:
        """``packet`` was encoded into ``parts`` to be sent (to one client or many)."""
        ...


class Service(Protocol):
    async def start(self) -> None:
        """Start serving (the server starts listening)."""
        ...

    async def aclose(self) -> None:
        """Stop serving (the server is released)."""
        ...

"""The asyncio Socket.IO client: ``Client`` and its per-namespace ``ClientSocket``.

It shares the sans-IO protocol core with the server (``roomcast.engineio`` for the Engine.IO
session, ``roomcast.socketio`` for packets) and does its I/O with aiohttp's client.
"""

from __future__ import annotations

from .client import Client
from .socket import ClientSocket

__all__ = ["Client", "ClientSocket"]

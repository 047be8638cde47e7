"""Plain WebSocket endpoints beside Socket.IO, on the same port and the same WebSocket code."""

from __future__ import annotations

from .connection import WebSocket
from .endpoint import WebSocketEndpoint, WebSocketHandler

__all__ = ["WebSocket", "WebSocketEndpoint", "WebSocketHandler"]

"""roomcast: a fast real-time server for Python, wire-compatible with Socket.IO v4 clients."""

from __future__ import annotations

from .exceptions import (
    AckTimeout,
    ConnectionClosed,
    ConnectionRefused,
    InvalidState,
    LocalProtocolError,
    NamespaceNotFound,
    PayloadTooLarge,
    ProtocolError,
    RemoteProtocolError,
    RoomcastError,
)
from .transports.engine import EngineServer, EngineSocket
from .transports.http import HandshakeRequest

__all__ = [
    "AckTimeout",
    "ConnectionClosed",
    "ConnectionRefused",
    "EngineServer",
    "EngineSocket",
    "HandshakeRequest",
    "InvalidState",
    "LocalProtocolError",
    "NamespaceNotFound",
    "PayloadTooLarge",
    "ProtocolError",
    "RemoteProtocolError",
    "RoomcastError",
]

"""roomcast: a fast real-time server for Python, wire-compatible with Socket.IO v4 clients."""

from __future__ import annotations

from .adapters import Adapter, BroadcastOptions, MemoryAdapter
from .client import Client
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
from .server import BroadcastOperator, Handshake, Namespace, Server, Socket
from .transports.engine import EngineServer, EngineSocket
from .transports.http import HandshakeRequest

__all__ = [
    "AckTimeout",
    "Adapter",
    "BroadcastOperator",
    "BroadcastOptions",
    "Client",
    "ConnectionClosed",
    "ConnectionRefused",
    "EngineServer",
    "EngineSocket",
    "Handshake",
    "HandshakeRequest",
    "InvalidState",
    "LocalProtocolError",
    "MemoryAdapter",
    "Namespace",
    "NamespaceNotFound",
    "PayloadTooLarge",
    "ProtocolError",
    "RemoteProtocolError",
    "RoomcastError",
    "Server",
    "Socket",
]

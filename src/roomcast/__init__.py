"""roomcast: a fast real-time server for Python, wire-compatible with Socket.IO v4 clients."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .adapters import Adapter, BroadcastOptions, MemoryAdapter
from .adapters.base import ClusterResults
from .client import Client
from .cluster import serve
from .exceptions import (
    AckTimeout,
    AdapterError,
    ConnectionClosed,
    ConnectionRefused,
    InvalidState,
    LocalProtocolError,
    NamespaceNotFound,
    PayloadTooLarge,
    ProtocolError,
    RemoteProtocolError,
    RoomcastError,
    WebSocketRefused,
)
from .server import BroadcastOperator, EngineServer, Handshake, Namespace, Server, Socket
from .transports.engine import EngineSocket
from .transports.http import HandshakeRequest
from .websocket import WebSocket, WebSocketEndpoint

if TYPE_CHECKING:
    from .adapters.redis import RedisAdapter
    from .emitter import Emitter

_LAZY = {"Emitter": ".emitter", "RedisAdapter": ".adapters.redis"}


def __getattr__(name: str) -> Any:
    """``Emitter`` and ``RedisAdapter`` need the redis extra: imported on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'roomcast' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AckTimeout",
    "Adapter",
    "AdapterError",
    "BroadcastOperator",
    "BroadcastOptions",
    "Client",
    "ClusterResults",
    "ConnectionClosed",
    "ConnectionRefused",
    "Emitter",
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
    "RedisAdapter",
    "RemoteProtocolError",
    "RoomcastError",
    "Server",
    "Socket",
    "WebSocket",
    "WebSocketEndpoint",
    "WebSocketRefused",
    "serve",
]

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
    EventRejected,
    InvalidState,
    LocalProtocolError,
    NamespaceNotFound,
    PayloadTooLarge,
    ProtocolError,
    RemoteProtocolError,
    RoomcastError,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
    WebSocketRefused,
)
from .server import BroadcastOperator, EngineServer, Handshake, Namespace, Server, Socket
from .server.health import Health
from .server.http_routes import HttpRequest, json_response
from .server.limits import RateLimit
from .server.recovery import HistoryEntry, Recovery
from .socketio.parsers import Parser
from .store import MemoryStore, Retention, SqliteStore, Store
from .store import from_url as store_from_url
from .transports.compression import HttpCompression
from .transports.deflate import PerMessageDeflate
from .transports.engine import EngineSocket
from .transports.http import HandshakeRequest, HttpResponse
from .transports.limits import Limits
from .websocket import WebSocket, WebSocketEndpoint

if TYPE_CHECKING:
    from .adapters.redis import RedisAdapter
    from .auth.jwt import JwtAuth, jwt_auth
    from .emitter import Emitter
    from .observe.admin import AdminUI, BasicAuth, instrument
    from .observe.metrics import Metrics
    from .store.redis import RedisStore

_LAZY = {
    "Emitter": ".emitter",
    "RedisAdapter": ".adapters.redis",
    "RedisStore": ".store.redis",
    "JwtAuth": ".auth.jwt",
    "jwt_auth": ".auth.jwt",
    "AdminUI": ".observe.admin",
    "BasicAuth": ".observe.admin",
    "instrument": ".observe.admin",
    "Metrics": ".observe.metrics",
}


def __getattr__(name: str) -> Any:
    """``Emitter``, ``RedisAdapter`` and ``RedisStore`` need the redis extra, ``jwt_auth``
    and ``JwtAuth`` the jwt extra, ``Metrics`` the metrics extra, ``instrument`` (the admin
    UI) and its ``BasicAuth`` the admin extra: imported on first use."""
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
    "AdminUI",
    "BasicAuth",
    "BroadcastOperator",
    "BroadcastOptions",
    "Client",
    "ClusterResults",
    "ConnectionClosed",
    "ConnectionRefused",
    "Emitter",
    "EngineServer",
    "EngineSocket",
    "EventRejected",
    "Handshake",
    "HandshakeRequest",
    "Health",
    "HistoryEntry",
    "HttpCompression",
    "HttpRequest",
    "HttpResponse",
    "InvalidState",
    "JwtAuth",
    "Limits",
    "LocalProtocolError",
    "MemoryAdapter",
    "MemoryStore",
    "Metrics",
    "Namespace",
    "NamespaceNotFound",
    "Parser",
    "PayloadTooLarge",
    "PerMessageDeflate",
    "ProtocolError",
    "RateLimit",
    "Recovery",
    "RedisAdapter",
    "RedisStore",
    "RemoteProtocolError",
    "Retention",
    "RoomcastError",
    "Server",
    "Socket",
    "SqliteStore",
    "Store",
    "StoreCorrupt",
    "StoreError",
    "StoreUnavailable",
    "WebSocket",
    "WebSocketEndpoint",
    "WebSocketRefused",
    "instrument",
    "json_response",
    "jwt_auth",
    "serve",
    "store_from_url",
]

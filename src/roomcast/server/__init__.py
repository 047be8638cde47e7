"""The public asyncio server API."""

from __future__ import annotations

from .broadcast import BroadcastOperator
from .engine import EngineServer
from .namespace import Namespace
from .server import Server
from .socket import Handshake, Socket

__all__ = ["BroadcastOperator", "EngineServer", "Handshake", "Namespace", "Server", "Socket"]

"""``roomcast.EngineServer``: the Engine.IO server of ``transports.engine``, hosted."""

from __future__ import annotations

from collections.abc import Sequence

from ..transports import engine
from ..transports.routes import Route
from .hosting import Hosting


class EngineServer(engine.EngineServer, Hosting):
    """An Engine.IO v4 server (plain messages, like the ``engine.io`` npm package) with its
    hosts: ``run``, ``listen``, ``attach``, ``asgi_app``, and plain WebSocket endpoints
    beside it (``websocket``, ``mount``)."""

    def base_routes(self) -> Sequence[Route]:
        return (self,)

    @property
    def hosted_engine(self) -> engine.EngineServer:
        return self

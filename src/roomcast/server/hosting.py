"""Hosting: serving a server's routes on the native server (``run``, ``listen``), inside an
aiohttp application (``attach``) or as an ASGI application (``asgi_app``).

Whatever is hosted is one route table: the Engine.IO path of a server, its static files,
and the routes added with ``mount``. The transports
below serve a table and know nothing of who built it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..transports.asgi import ASGIApp, ASGIApplication
from ..transports.native import HttpProtocol
from ..transports.routes import Route, RouteTable

if TYPE_CHECKING:
    from aiohttp import web

logger = logging.getLogger("roomcast.hosting")


class NativeListener:
    """A running native server (from ``listen``): ``.port``, ``.url``, ``aclose()``."""

    def __init__(
        self,
        server: asyncio.Server,
        routes: RouteTable,
        host: str,
        port: int,
        connections: set[HttpProtocol],
        engine: Any = None,
    ) -> None:
        self.server = server
        self.routes = routes
        self.engine = engine
        """The Engine.IO server of the hosted app, if it has one."""
        self.host = host
        self.port = port
        self._connections = connections

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def aclose(self) -> None:
        """Close every client (polling ones collect their CLOSE first), then stop serving."""
        await self.routes.aclose()
        self.server.close()
        for connection in list(self._connections):  # idle keep-alive connections too
            connection.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.server.wait_closed(), 2.0)


async def listen(
    routes: RouteTable, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> NativeListener:
    """Serve ``routes`` on ``host:port`` in the running loop; port 0 picks a free port."""
    loop = asyncio.get_running_loop()
    connections: set[HttpProtocol] = set()
    server = await loop.create_server(
        lambda: HttpProtocol(routes, connections), host, port, **options
    )
    bound = server.sockets[0].getsockname()[1]
    return NativeListener(server, routes, host, int(bound), connections)


def run_until_interrupted(main: Callable[[], Any]) -> None:
    """Run the coroutine ``main()`` until Ctrl-C (uvloop when installed)."""
    try:
        import uvloop
    except ImportError:
        runner: Any = asyncio.run
    else:
        runner = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(main())


class Hosting:
    """``run``, ``listen``, ``attach`` and ``asgi_app`` for a server that serves routes
    (``Server``, ``EngineServer``)."""

    _table: RouteTable | None = None
    _mounted: tuple[Route, ...] = ()

    def base_routes(self) -> Sequence[Route]:
        """The server's own routes (its Engine.IO path, its static files)."""
        raise NotImplementedError

    @property
    def hosted_engine(self) -> Any:
        """The Engine.IO server among the routes (listeners expose it as ``.engine``)."""
        return None

    def routes(self) -> RouteTable:
        """The route table every host of this server serves (one, built on first use)."""
        if self._table is None:
            self._table = RouteTable([*self.base_routes(), *self._mounted])
        return self._table

    def mount(self, route: Route) -> Route:
        """Serve ``route`` beside this server."""
        self._mounted = (*self._mounted, route)
        if self._table is not None:
            self._table.add(route)
        return route

    # -- hosts --------------------------------------------------------------------------

    def run(self, host: str = "127.0.0.1", port: int = 3000) -> None:
        """Serve until interrupted (the native server; uvloop when installed)."""

        async def main() -> None:
            listener = await self.listen(host, port)
            logger.info("roomcast listening on http://%s:%s", host, listener.port)
            try:
                await asyncio.Event().wait()
            finally:
                await listener.aclose()

        run_until_interrupted(main)

    async def listen(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> Any:
        """Serve in the running loop (the native server); port 0 picks a free port.
        ``options`` go to ``loop.create_server`` (``ssl=...``).

        Returns a listener: ``.port``, ``.url``, ``await .aclose()``.
        """
        listener = await listen(self.routes(), host, port, **options)
        listener.engine = self.hosted_engine
        return listener

    def attach(self, app: web.Application) -> None:
        """Mount into an existing ``aiohttp.web.Application``."""
        from ..transports.aiohttp import path_patterns, request_handler

        routes = self.routes()
        handler = request_handler(routes)
        for pattern in path_patterns(routes):
            app.router.add_route("*", pattern, handler)

        async def on_shutdown(_: web.Application) -> None:
            await routes.aclose()

        app.on_shutdown.append(on_shutdown)

    def asgi_app(self, other_asgi_app: ASGIApplication | None = None) -> ASGIApp:
        """An ASGI application serving this server (and ``other_asgi_app`` for other paths)."""
        return ASGIApp(self.routes(), other_asgi_app)

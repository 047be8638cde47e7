"""Hosting: serving a server's routes on the native server (``run``, ``listen``), inside an
aiohttp application (``attach``) or as an ASGI application (``asgi_app``).

Whatever is hosted is one route table: the Engine.IO path of a server, its static files,
and the plain WebSocket endpoints added with ``websocket`` or ``mount``. The transports
below serve a table and know nothing of who built it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl as _ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..engineio import CloseReason
from ..transports.asgi import ASGIApp, ASGIApplication
from ..transports.native import HttpProtocol
from ..transports.routes import HEADER_TIMEOUT, KEEP_ALIVE_TIMEOUT, Route, RouteTable
from ..websocket import WebSocketEndpoint, WebSocketHandler
from .files import StaticFiles
from .health import Health, HealthRoute, Readiness
from .http_routes import HttpHandler, HttpRoute
from .limits import RateLimit

if TYPE_CHECKING:
    from aiohttp import web

logger = logging.getLogger("roomcast.hosting")


class NativeListener:
    """A running native server (from ``listen``): ``.port``, ``.url``, ``aclose()``."""

    def __init__(
        self,
        server: asyncio.Server,
        routes: RouteTable,
        host: str | None,
        port: int,
        connections: set[HttpProtocol],
        engine: Any = None,
        secure: bool = False,
    ) -> None:
        self.server = server
        self.routes = routes
        self.engine = engine
        """The Engine.IO server of the hosted app, if it has one."""
        self.host = host or "127.0.0.1"
        self.port = port
        self._connections = connections
        self._secure = secure
        self.after_close: Callable[[], Awaitable[None]] | None = None
        """What the hosted server releases once nothing is served any more (its adapters'
        connections, its store)."""

    @property
    def url(self) -> str:
        return f"{'https' if self._secure else 'http'}://{self.host}:{self.port}"

    async def aclose(self) -> None:
        """Close every client (polling ones collect their CLOSE first), then stop serving."""
        await self.routes.aclose()
        self.server.close()
        for connection in list(self._connections):  # idle keep-alive connections too
            connection.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.server.wait_closed(), 2.0)
        if self.after_close is not None:
            await self.after_close()


BACKLOG = 2048
"""Connections the kernel queues before they are accepted (asyncio's default is 100; the
workers of ``roomcast serve`` use 2048 too)."""


async def listen(
    routes: RouteTable,
    host: str | None = "127.0.0.1",
    port: int = 0,
    *,
    header_timeout: float | None = HEADER_TIMEOUT,
    keep_alive_timeout: float | None = KEEP_ALIVE_TIMEOUT,
    **options: Any,
) -> NativeListener:
    """Serve ``routes`` on ``host:port`` in the running loop; port 0 picks a free port.

    The listen backlog is ``BACKLOG`` unless ``backlog`` is given: a thousand clients that
    reconnect at once after a restart must not wait for a SYN retry. A request (head and
    body) must come whole within ``header_timeout`` seconds (else 408 and close), an idle keep-alive
    connection is closed after ``keep_alive_timeout`` (None: no limit)."""
    options.setdefault("backlog", BACKLOG)
    routes.header_timeout = header_timeout
    routes.keep_alive_timeout = keep_alive_timeout
    loop = asyncio.get_running_loop()
    connections: set[HttpProtocol] = set()
    server = await loop.create_server(
        lambda: HttpProtocol(routes, connections), host, port, **options
    )
    bound = server.sockets[0].getsockname()[1]
    secure = options.get("ssl") is not None
    return NativeListener(server, routes, host, int(bound), connections, secure=secure)


def tls_context(certfile: str, keyfile: str | None = None) -> _ssl.SSLContext:
    """A server TLS context for a certificate chain and its key (ALPN: http/1.1).

    Raises ValueError, saying which file, when they cannot be loaded."""
    context = _ssl.create_default_context(_ssl.Purpose.CLIENT_AUTH)
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, _ssl.SSLError) as exc:
        raise ValueError(
            f"cannot load the TLS certificate {certfile!r} with the key {keyfile!r}: {exc}"
        ) from exc
    return context


def _tls_options(
    ssl: _ssl.SSLContext | None, certfile: str | None, keyfile: str | None
) -> dict[str, Any]:
    if ssl is None and certfile is not None:
        ssl = tls_context(certfile, keyfile)
    elif keyfile is not None and certfile is None:
        raise ValueError("a keyfile needs its certfile")
    return {} if ssl is None else {"ssl": ssl}


async def drain(engine: Any, seconds: float) -> None:
    """Disconnect the clients of ``engine`` spread evenly over ``seconds`` ("server shutting
    down": the official client sees "transport close", reconnects, and recovers when the
    server offers recovery), so that they do not all come back in the same second. With
    ``seconds`` 0 nothing is done here (``aclose`` closes everyone at once)."""
    sockets = list(engine.sockets.values())
    if seconds <= 0 or not sockets:
        return
    loop = asyncio.get_running_loop()
    start, step = loop.time(), seconds / len(sockets)
    for index, socket in enumerate(sockets):
        delay = start + index * step - loop.time()
        if delay > 0:
            engine.cork.flush()
            await asyncio.sleep(delay)  # pacing, one timer per step
        socket.close(CloseReason.SERVER_SHUTTING_DOWN)
    engine.cork.flush()


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
    """``run``, ``listen``, ``attach``, ``asgi_app`` and plain WebSocket endpoints, for a
    server that serves routes (``Server``, ``EngineServer``)."""

    _table: RouteTable | None = None
    _mounted: tuple[Route, ...] = ()
    health: Health | None = Health()
    """Where ``/healthz`` and ``/readyz`` are served (None: not served); set it before
    serving (``Server(health=...)``)."""
    draining = False
    """Whether the server is stopping: ``/readyz`` answers 503 from then on."""

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
            health = () if self.health is None else (HealthRoute(self.health, self.readiness),)
            self._table = RouteTable([*self.base_routes(), *health, *self._mounted])
        return self._table

    def readiness(self) -> Readiness:
        """What ``/readyz`` reports: accepting unless draining (servers with an adapter or
        a store add theirs)."""
        return Readiness(accepting=not self.draining)

    # -- plain WebSocket endpoints ----------------------------------------------------------

    def mount(self, route: Route) -> Route:
        """Serve ``route`` (a ``WebSocketEndpoint``, or any route) beside this server."""
        self._mounted = (*self._mounted, route)
        if self._table is not None:
            self._table.add(route)
        return route

    def static(self, prefix: str, folder: str | Path, index: str = "index.html") -> Route:
        """Serve the files of ``folder`` under ``prefix`` (``"/"``: a web page beside the
        server, on every host; ``index`` for paths ending with ``/``)."""
        return self.mount(StaticFiles(prefix, folder, index))

    def route(
        self,
        path: str,
        handler: HttpHandler | None = None,
        *,
        methods: Iterable[str] = ("GET",),
        max_body: int = 64 * 1024,
        rate: RateLimit | str | float | None = None,
        burst: int | None = None,
    ) -> Any:
        """Answer plain HTTP requests to ``path`` with ``handler`` (an async function of a
        ``roomcast.HttpRequest`` returning a ``roomcast.HttpResponse``, e.g.
        ``roomcast.json_response(value)``); also a decorator::

            @io.route("/api/notify", methods=["POST"])
            async def notify(request): ...

        Other methods get 405, bodies over ``max_body`` bytes 413, requests over ``rate``
        (per client address: ``"10/min"``, ``burst``) 429 (see ``http_routes``).
        """

        def add(handler: HttpHandler) -> HttpHandler:
            route = HttpRoute(
                path, handler, methods=methods, max_body=max_body, rate=rate, burst=burst
            )
            self.mount(route)
            return handler

        return add if handler is None else add(handler)

    def websocket(
        self, path: str, handler: WebSocketHandler | None = None, **options: Any
    ) -> WebSocketEndpoint:
        """A plain WebSocket endpoint at ``path``, served beside this server (see
        ``WebSocketEndpoint`` for the options). Also a decorator, the handler becoming the
        endpoint's::

            @io.websocket("/echo")
            async def echo(ws):
                async for message in ws:
                    await ws.send(message)

            chat = io.websocket("/chat")  # hooks and broadcasts: chat.on_message...
        """
        return cast(WebSocketEndpoint, self.mount(WebSocketEndpoint(path, handler, **options)))

    # -- hosts --------------------------------------------------------------------------

    def run(
        self,
        host: str | None = "127.0.0.1",
        port: int = 3000,
        *,
        ssl: _ssl.SSLContext | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
        drain_seconds: float = 0.0,
        header_timeout: float | None = HEADER_TIMEOUT,
        keep_alive_timeout: float | None = KEEP_ALIVE_TIMEOUT,
    ) -> None:
        """Serve until SIGTERM or SIGINT, then close cleanly: no new connections, clients
        told (spread over ``drain_seconds``, else at once), the store written (the native
        server; uvloop when installed). ``ssl``, or ``certfile`` and ``keyfile``, serve TLS
        (``wss://``, ``https://``); host None listens on every interface. A request (head
        and body) must come whole within ``header_timeout`` seconds (else 408 Request Timeout), an
        idle keep-alive connection is closed after ``keep_alive_timeout`` (None: never)."""
        options: dict[str, Any] = _tls_options(ssl, certfile, keyfile)  # a bad key fails now
        options.update(header_timeout=header_timeout, keep_alive_timeout=keep_alive_timeout)

        async def main() -> None:
            listener = await self.listen(host, port, **options)
            logger.info("roomcast listening on %s", listener.url)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):  # a clean stop either way
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(signum, stop.set)
            try:
                await stop.wait()
            finally:
                self.draining = True
                listener.server.close()  # no new connections
                if self.hosted_engine is not None:
                    await drain(self.hosted_engine, drain_seconds)
                await listener.aclose()  # clients told, sessions written, then the exit

        run_until_interrupted(main)

    async def listen(
        self,
        host: str | None = "127.0.0.1",
        port: int = 0,
        *,
        certfile: str | None = None,
        keyfile: str | None = None,
        **options: Any,
    ) -> Any:
        """Serve in the running loop (the native server); port 0 picks a free port.
        ``certfile`` and ``keyfile`` serve TLS; ``header_timeout`` and
        ``keep_alive_timeout`` as for ``run``; other ``options`` go to
        ``loop.create_server`` (``ssl=context``, ``backlog``...).

        Returns a listener: ``.port``, ``.url``, ``await .aclose()``.
        """
        if certfile is not None or keyfile is not None:
            options.update(_tls_options(options.pop("ssl", None), certfile, keyfile))
        listener = await listen(self.routes(), host, port, **options)
        listener.engine = self.hosted_engine
        listener.after_close = self.release
        return listener

    async def release(self) -> None:
        """Release what serving acquired (adapters, store) once the listener is closed."""

    def attach(self, app: web.Application) -> None:
        """Mount into an existing ``aiohttp.web.Application``."""
        from ..transports.aiohttp import mount

        mount(app, self.routes())

    def asgi_app(self, other_asgi_app: ASGIApplication | None = None) -> ASGIApp:
        """An ASGI application serving this server (and ``other_asgi_app`` for other paths)."""
        return ASGIApp(self.routes(), other_asgi_app)

"""The route table: what answers a request, by its path, whichever host serves it.

One table holds every route of a served app: the Engine.IO paths of the Socket.IO server,
plain WebSocket endpoints, the client bundle's static files, and later metrics, health and
user routes. The native server, the aiohttp mount and the ASGI app all look routes up here,
so a path means the same on each host.

A route answers HTTP requests (``answer_now`` without a task, else ``handle_http``) and,
when ``accepts_websocket`` is true, WebSocket upgrades: ``precheck_websocket`` (sync) or
``check_websocket`` (async, when ``websocket_waits``), then ``accept_websocket`` binds the
accepted link to the receiver that gets its messages (an Engine.IO socket, a plain client).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from .deflate import Deflation
from .http import HandshakeRequest, HttpResponse, PendingResponse, ReadBody
from .tasks import Tasks
from .timers import TimerWheel, resolution_for
from .websocket import Cork, WebSocketLink

logger = logging.getLogger("roomcast.routes")

NOT_FOUND_BODY = b"Not Found: nothing is served at this path"


def not_found() -> HttpResponse:
    return HttpResponse(404, NOT_FOUND_BODY, {"Content-Type": "text/plain; charset=utf-8"})


class Receiver(Protocol):
    """What gets the messages of one accepted WebSocket (an Engine.IO socket, a plain client)."""

    def websocket_message(self, link: WebSocketLink, data: str | bytes) -> None: ...

    def websocket_closed(self, link: WebSocketLink, failure: str | None = None) -> None: ...


class Route:
    """One entry of the table. Subclasses say which paths they serve and answer them.

    The defaults answer nothing: HTTP gets 404, WebSocket upgrades are not accepted.
    """

    accepts_websocket = False
    """Whether WebSocket upgrades are accepted on this route's paths."""
    max_message_size = 1_000_000
    """The largest request body or WebSocket message accepted (bytes)."""
    max_write_buffer = 16 * 1024 * 1024
    """Bytes waiting to be sent to one WebSocket client past which it is dropped."""
    ping_interval: float | None = None
    """WebSocket keep-alive pings (hosts that ping by themselves: aiohttp); None: none."""
    deflation: Deflation | None = None
    """permessage-deflate for this route's WebSockets (on the native server); None: off."""

    def __init__(self) -> None:
        self.cork = Cork()

    def exact_paths(self) -> Iterable[str]:
        """Paths served as they are."""
        return ()

    def prefixes(self) -> Iterable[str]:
        """Path prefixes served (everything under them)."""
        return ()

    def answer_now(
        self, request: HandshakeRequest, body: bytes | None
    ) -> HttpResponse | PendingResponse | None:
        """The answer when it needs no task (hosts try it first): the response, or one to
        wait for with a callback (a long-poll); None: ``handle_http`` answers."""
        return None

    async def handle_http(self, request: HandshakeRequest, read_body: ReadBody) -> HttpResponse:
        """Answer a plain HTTP request."""
        return not_found()

    def websocket_waits(self, request: HandshakeRequest) -> bool:
        """Whether the upgrade needs ``check_websocket`` (a hook to await) rather than
        ``precheck_websocket``."""
        return False

    def precheck_websocket(self, request: HandshakeRequest) -> HttpResponse | None:
        """Before accepting a WebSocket, without waiting: the refusal to send, if any."""
        return not_found()

    async def check_websocket(self, request: HandshakeRequest) -> HttpResponse | None:
        """Before accepting a WebSocket: the refusal to send, if any."""
        return self.precheck_websocket(request)

    def subprotocol(self, request: HandshakeRequest) -> str | None:
        """The subprotocol to accept the WebSocket with (``Sec-WebSocket-Protocol``)."""
        return None

    def accept_websocket(self, request: HandshakeRequest, link: WebSocketLink) -> Receiver | None:
        """Bind an accepted WebSocket to its receiver; None when it must be closed now."""
        return None

    async def forward_websocket(
        self, request: HandshakeRequest, protocol: Callable[[], asyncio.Protocol]
    ) -> asyncio.Transport | None:
        """A connection to the process that serves this WebSocket when it is not this one
        (see ``SessionRouter.connect``); None to serve it here."""
        return None

    async def serve_websocket(self, request: HandshakeRequest, link: WebSocketLink) -> None:
        """Serve an accepted WebSocket until it closes (hosts with a receive() API)."""
        receiver = self.accept_websocket(request, link)
        if receiver is None:
            await link.aclose()
            return
        try:
            while (data := await link.receive()) is not None:
                receiver.websocket_message(link, data)
        except asyncio.CancelledError:  # the host saw the client go away
            receiver.websocket_closed(link)
            raise
        receiver.websocket_closed(link, link.failure)

    async def aclose(self) -> None:
        """Close what this route serves (the host is shutting down)."""


AccessLog = Callable[[HandshakeRequest | None, str, int, int], None]
"""``access_log(request, address, status, size)``: an answer the native server wrote
(``request`` is None when the bytes were no request it could read; ``size``: the body's)."""


class ByteMeter:
    """Bytes written to clients' connections (the native server counts them when a table
    has one: metrics on)."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = 0


class GetRoute(Route):
    """A route that answers GET and HEAD at once, with no body to read (files, metrics):
    ``get`` makes the answer; other methods get 405."""

    def answer_now(self, request: HandshakeRequest, body: bytes | None) -> HttpResponse | None:
        return self.answer(request)

    async def handle_http(self, request: HandshakeRequest, read_body: ReadBody) -> HttpResponse:
        return self.answer(request)

    def answer(self, request: HandshakeRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(405, b"Method Not Allowed", {"Allow": "GET, HEAD"})
        return self.get(request)

    def get(self, request: HandshakeRequest) -> HttpResponse:
        """The answer to a GET (or HEAD) of one of this route's paths."""
        raise NotImplementedError


class Expiring(Protocol):
    """What waits on one of the table's deadlines (a connection of the native server)."""

    def expired(self) -> None: ...


def _expire(item: Expiring) -> None:
    item.expired()


HEADER_TIMEOUT = 10.0
"""Seconds a client has to send a request's head, from the connection's opening or the
request's first byte (slowloris: clients that send headers a byte at a time)."""
KEEP_ALIVE_TIMEOUT = 75.0
"""Seconds an idle keep-alive connection is kept between two requests: longer than the
pools of those that reuse connections keep them idle (a cloud load balancer's 60 s, aiohttp's
15 s), so that a connection is not closed just as it is reused (a 502 at the balancer)."""


class RouteTable:
    """Routes by path: exact paths first, then the longest matching prefix."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self.meter: ByteMeter | None = None
        """Counts the bytes the native server writes, when set (before serving)."""
        self.access_log: AccessLog | None = None
        """Called with each answer the native server writes, when set (access logs)."""
        self.header_timeout: float | None = HEADER_TIMEOUT
        """The native server's ``HEADER_TIMEOUT`` (None: none); set before serving."""
        self.keep_alive_timeout: float | None = KEEP_ALIVE_TIMEOUT
        """The native server's ``KEEP_ALIVE_TIMEOUT`` (None: none); set before serving."""
        self._deadlines: TimerWheel[Expiring] | None = None
        self.routes: list[Route] = []
        self._exact: dict[str, Route] = {}
        self._prefixes: list[tuple[str, Route]] = []
        self.max_body = 0
        """The largest request body any route accepts (the rest is not even kept)."""
        self._tasks = Tasks("serving a request")
        for route in routes:
            self.add(route)

    def add(self, route: Route) -> None:
        """Serve ``route``'s paths; a path already taken is an error."""
        for path in route.exact_paths():
            if path in self._exact:
                raise ValueError(f"two routes for the path {path!r}")
            self._exact[path] = route
        for prefix in route.prefixes():
            if any(prefix == taken for taken, _ in self._prefixes):
                raise ValueError(f"two routes for the prefix {prefix!r}")
            self._prefixes.append((prefix, route))
        self._prefixes.sort(key=lambda item: -len(item[0]))
        self.routes.append(route)
        self.max_body = max(self.max_body, route.max_message_size)

    def find(self, path: str) -> Route | None:
        """The route serving ``path``, if any."""
        route = self._exact.get(path)
        if route is not None:
            return route
        for prefix, route in self._prefixes:
            if path.startswith(prefix):
                return route
        return None

    def deadlines(self) -> TimerWheel[Expiring]:
        """The timers of the native server's connections (header and keep-alive timeouts):
        few loop timers for many connections, each a deadline within 1/400 of its timeout."""
        wheel = self._deadlines
        if wheel is None:
            timeouts = [t for t in (self.header_timeout, self.keep_alive_timeout) if t]
            resolution = resolution_for(*timeouts) if timeouts else 0.05
            wheel = self._deadlines = TimerWheel(asyncio.get_running_loop, _expire, resolution)
        return wheel

    def spawn(self, awaitable: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``awaitable`` as a task the table keeps (and waits for in ``aclose``)."""
        return self._tasks.spawn(awaitable)

    def keep(self, future: asyncio.Future[Any]) -> None:
        """Wait for ``future`` in ``aclose`` as for a task: a pending answer's, whose
        done-callback (added first) writes the answer."""
        self._tasks.keep(future)

    async def aclose(self, timeout: float = 2.0) -> None:
        """Close every route, then give the requests being served ``timeout`` seconds."""
        for route in self.routes:
            await route.aclose()
        await self._tasks.wait(timeout)

"""A plain WebSocket endpoint: a route of the host's table, beside Socket.IO on one port.

It reuses what the Socket.IO path uses: the native server's frame parser and corked links,
so a ``broadcast`` builds its frame once and writes the same bytes to every client.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from ..exceptions import ConnectionClosed, WebSocketRefused
from ..handlers import is_awaitable
from ..transports.deflate import Deflation, PerMessageDeflate
from ..transports.frames import CloseCode
from ..transports.handshake import offered_subprotocols, refusal
from ..transports.http import HandshakeRequest, HttpResponse, ReadBody
from ..transports.origins import OriginPolicy, OriginsOption
from ..transports.routes import Route
from ..transports.tasks import Tasks
from ..transports.timers import TimerWheel, resolution_for
from ..transports.websocket import RawOutgoing, WebSocketLink
from .connection import WebSocket

logger = logging.getLogger("roomcast.websocket")

WebSocketHandler = Callable[[WebSocket], Awaitable[None]]
"""``async def handler(ws)``: serves one client; the WebSocket closes when it returns."""
HandshakeHook = Callable[[HandshakeRequest], Any]
"""``on_handshake(request)``: None/True accepts, False refuses with 403, an int refuses with
that HTTP status; it may raise ``WebSocketRefused(status, reason)``; it may be async."""
ClientHook = Callable[[WebSocket], Any]
MessageHook = Callable[[WebSocket, str | bytes], Any]


class WebSocketEndpoint(Route):
    """A plain WebSocket endpoint at ``path``.

    Args:
        path: the exact path served (``"/ws"``).
        handler: ``async def handler(ws)`` run for each client (``async for message in ws``);
            optional when ``on_message`` handles the messages.
        subprotocols: the subprotocols spoken, by preference; the first one the client
            offers is agreed (``ws.subprotocol``); none agreed when it offers none of them.
        max_message_size: a bigger message closes the connection with 1009.
        ping_interval: seconds between keep-alive pings (None: no pings).
        ping_timeout: seconds a pong may take; then the connection closes with 1011.
        max_write_buffer: bytes queued for a client that does not read, past which it is
            closed with 1008.
        origins: the browser origins allowed, as the Socket.IO server's
            ``cors_allowed_origins``: ``"*"``, an origin or a list of them; None (the
            default): the server's own origin only (``Origin`` naming the ``Host``). A
            client that sends no ``Origin`` (not a browser) is always allowed.
        per_message_deflate: permessage-deflate (RFC 7692) with clients that offer it: True
            for the defaults, or a ``PerMessageDeflate``; off by default, as in Node's
            ``ws`` server. On the native server (under ASGI, the ASGI server's own).
    """

    accepts_websocket = True

    def __init__(
        self,
        path: str,
        handler: WebSocketHandler | None = None,
        *,
        subprotocols: Sequence[str] = (),
        max_message_size: int = 1024 * 1024,
        ping_interval: float | None = 20.0,
        ping_timeout: float = 20.0,
        max_write_buffer: int = 16 * 1024 * 1024,
        origins: OriginsOption = None,
        per_message_deflate: bool | PerMessageDeflate = False,
    ) -> None:
        super().__init__()
        if not path.startswith("/"):
            raise ValueError(f"a WebSocket path starts with '/': {path!r}")
        self.path = path
        self.handler = handler
        self.subprotocols = tuple(subprotocols)
        self.max_message_size = max_message_size
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_write_buffer = max_write_buffer
        self.origins = OriginPolicy.from_option(origins)
        deflate = PerMessageDeflate.from_option(per_message_deflate)
        self.deflation = None if deflate is None else Deflation(deflate)
        self.handshake_hook: HandshakeHook | None = None
        self.connect_hook: ClientHook | None = None
        self.message_handler: MessageHook | None = None
        self.disconnect_hook: ClientHook | None = None
        self._clients: set[WebSocket] = set()
        self._tasks = Tasks(f"a WebSocket task of {path}")
        self._loop: asyncio.AbstractEventLoop | None = None
        periods = (ping_interval, ping_timeout) if ping_interval else (1.0,)
        self._keepalive: TimerWheel[WebSocket] = TimerWheel(
            self._get_loop, self._on_timer, resolution_for(*periods)
        )

    def __call__(self, handler: WebSocketHandler) -> WebSocketEndpoint:
        """Set the handler (``@io.websocket(path)`` decorates with this)."""
        self.handler = handler
        return self

    # -- hooks ----------------------------------------------------------------------------

    def on_handshake(self, hook: HandshakeHook) -> HandshakeHook:
        """Decorate the check of a client's request before it is accepted (auth)."""
        self.handshake_hook = hook
        return hook

    def on_connect(self, hook: ClientHook) -> ClientHook:
        """Decorate ``hook(ws)``, called once a client is accepted."""
        self.connect_hook = hook
        return hook

    def on_message(self, hook: MessageHook) -> MessageHook:
        """Decorate ``hook(ws, message)``, called for each message (then ``async for`` gets
        none): no task per client, the fastest way to serve many."""
        self.message_handler = hook
        return hook

    def on_disconnect(self, hook: ClientHook) -> ClientHook:
        """Decorate ``hook(ws)``, called once a client is gone (``ws.close_code``)."""
        self.disconnect_hook = hook
        return hook

    # -- clients --------------------------------------------------------------------------

    @property
    def clients(self) -> AbstractSet[WebSocket]:
        """The connected clients (a live view: copy it to iterate across an ``await``)."""
        return self._clients

    def broadcast(
        self,
        data: str | bytes,
        exclude: WebSocket | Collection[WebSocket] | None = None,
        *,
        compress: bool = True,
    ) -> int:
        """Send ``data`` to every client but ``exclude``: the frame is built once and the same
        bytes go to each (compressed once, with permessage-deflate, unless ``compress`` is
        False). Never waits. Returns how many clients it went to."""
        message = RawOutgoing(data, compress=compress)
        sent = 0
        if exclude is None or isinstance(exclude, WebSocket):
            for ws in self._clients:
                if ws is not exclude:
                    ws.link.send_outgoing(message)
                    sent += 1
        else:
            for ws in self._clients:
                if ws not in exclude:
                    ws.link.send_outgoing(message)
                    sent += 1
        return sent

    # -- the route --------------------------------------------------------------------------

    def exact_paths(self) -> tuple[str, ...]:
        return (self.path,)

    async def handle_http(self, request: HandshakeRequest, read_body: ReadBody) -> HttpResponse:
        return self.answer_now(request, None)

    def answer_now(self, request: HandshakeRequest, body: bytes | None) -> HttpResponse:
        return refusal(
            426,
            f"Upgrade Required: {self.path} is a WebSocket endpoint",
            {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"},
        )

    def websocket_waits(self, request: HandshakeRequest) -> bool:
        hook = self.handshake_hook
        return hook is not None and inspect.iscoroutinefunction(hook)

    def precheck_websocket(self, request: HandshakeRequest) -> HttpResponse | None:
        error = self._origin_error(request)
        if error is not None or self.handshake_hook is None:
            return error
        try:
            verdict = self.handshake_hook(request)
        except WebSocketRefused as exc:
            return refusal(exc.status, exc.reason)
        if is_awaitable(verdict):  # a sync hook that returned an awaitable: not awaited here
            raise TypeError("an async on_handshake hook must be an `async def` function")
        return _verdict(verdict)

    async def check_websocket(self, request: HandshakeRequest) -> HttpResponse | None:
        error = self._origin_error(request)
        if error is not None or self.handshake_hook is None:
            return error
        try:
            verdict = self.handshake_hook(request)
            if is_awaitable(verdict):
                verdict = await verdict
        except WebSocketRefused as exc:
            return refusal(exc.status, exc.reason)
        return _verdict(verdict)

    def _origin_error(self, request: HandshakeRequest) -> HttpResponse | None:
        origin = request.headers.get("Origin")
        if self.origins.allows(origin, request.headers.get("Host")):
            return None
        return refusal(403, f"Forbidden: origin {origin!r} is not allowed")

    def subprotocol(self, request: HandshakeRequest) -> str | None:
        if not self.subprotocols:
            return None
        offered = offered_subprotocols(request)
        return next((p for p in self.subprotocols if p in offered), None)

    def accept_websocket(self, request: HandshakeRequest, link: WebSocketLink) -> WebSocket:
        ws = WebSocket(self, request, link, self.subprotocol(request))
        self._clients.add(ws)
        link.on_overflow = lambda: self._overflow(ws)
        link.on_pong = lambda _payload: self._pong(ws)
        if self.ping_interval:
            ws.next_ping = self._get_loop().time() + self.ping_interval
            self._arm(ws, ws.next_ping)
        if self.connect_hook is not None:
            self._call(self.connect_hook, ws)
        if self.handler is not None:
            self.spawn(self._serve(ws, self.handler))
        return ws

    async def _serve(self, ws: WebSocket, handler: WebSocketHandler) -> None:
        try:
            await handler(ws)
        except ConnectionClosed:
            pass  # sent to a client that had gone: the end of its handler
        except Exception:
            logger.exception("error in the WebSocket handler of %s", self.path)
            await ws.close(CloseCode.INTERNAL_ERROR, "internal error")
        else:
            await ws.close()

    def forget(self, ws: WebSocket) -> None:
        """``ws`` is closed: it leaves ``clients`` and ``on_disconnect`` hears of it."""
        if ws not in self._clients:
            return
        self._clients.discard(ws)
        if ws.timer_slot is not None:
            self._keepalive.discard(ws, ws.timer_slot)
            ws.timer_slot = None
        if self.disconnect_hook is not None:
            self._call(self.disconnect_hook, ws)

    def dispatch_message(self, ws: WebSocket, data: str | bytes) -> None:
        """Call ``on_message`` (a coroutine runs as a task)."""
        hook = self.message_handler
        assert hook is not None
        try:
            result = hook(ws, data)
        except Exception:
            logger.exception("error in the on_message hook of %s", self.path)
            return
        if result is not None and is_awaitable(result):
            self.spawn(result)

    def _call(self, hook: Callable[[WebSocket], Any], ws: WebSocket) -> None:
        try:
            result = hook(ws)
        except Exception:
            logger.exception("error in a hook of the WebSocket endpoint %s", self.path)
            return
        if is_awaitable(result):
            self.spawn(result)

    def _overflow(self, ws: WebSocket) -> None:
        logger.warning("closing a WebSocket of %s: write buffer over the limit", self.path)
        self.spawn(ws.close(CloseCode.POLICY_VIOLATION, "write buffer over the limit"))

    # -- keep-alive -------------------------------------------------------------------------

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _arm(self, ws: WebSocket, when: float) -> None:
        slot = self._keepalive.slot_of(when)
        if ws.timer_slot is not None:
            self._keepalive.discard(ws, ws.timer_slot)
        ws.timer_slot = slot
        self._keepalive.add(ws, slot)

    def _pong(self, ws: WebSocket) -> None:
        if ws.awaiting_pong and self.ping_interval:
            ws.awaiting_pong = False
            ws.next_ping = self._get_loop().time() + self.ping_interval
            self._arm(ws, ws.next_ping)

    def _on_timer(self, ws: WebSocket) -> None:
        ws.timer_slot = None
        if ws.closed:
            return
        if ws.awaiting_pong:
            self.spawn(ws.close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout"))
        elif ws.link.ping():
            ws.awaiting_pong = True
            self._arm(ws, self._get_loop().time() + self.ping_timeout)
        # else: the host pings by itself (aiohttp's heartbeat)

    # -- tasks and shutdown -------------------------------------------------------------------

    def spawn(self, awaitable: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``awaitable`` as a task the endpoint keeps (and waits for on close)."""
        return self._tasks.spawn(awaitable)

    async def aclose(self, timeout: float = 2.0) -> None:
        """Close every client with 1001 ("going away"), then wait for the handlers."""
        for ws in list(self._clients):
            await ws.close(CloseCode.GOING_AWAY, "server shutting down")
        await self._tasks.wait(timeout)

    def __repr__(self) -> str:
        return f"<WebSocketEndpoint {self.path} clients={len(self._clients)}>"


def _verdict(verdict: Any) -> HttpResponse | None:
    """An ``on_handshake`` result as the refusal to send (None: accept)."""
    if verdict is None or verdict is True:
        return None
    if verdict is False:
        return refusal(403, "Forbidden")
    if isinstance(verdict, int):
        return refusal(verdict, f"Refused ({verdict})")
    if isinstance(verdict, HttpResponse):
        return verdict
    raise TypeError(f"on_handshake returned {verdict!r}: expected None, a bool or a status")

"""Serving a route table inside aiohttp: an aiohttp handler for its routes' paths.

aiohttp parses HTTP and reads WebSocket frames (inflating them when permessage-deflate is
agreed); writes go through the same corked link as on the native server (ready frames,
compressed by the route's own deflation, straight to aiohttp's transport).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import WSCloseCode, WSMsgType, web

from ..exceptions import PayloadTooLarge
from .deflate import MessageCompressor
from .http import HandshakeRequest, HttpResponse, ReadBody
from .routes import Route, RouteTable, not_found
from .websocket import Cork, CorkedLink, Outgoing, encoded_frame

logger = logging.getLogger("roomcast.aiohttp")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


EXTENSIONS = "Sec-WebSocket-Extensions"


class RouteWebSocketResponse(web.WebSocketResponse):
    """aiohttp's WebSocket response for a route: aiohttp reads (and inflates) the frames;
    ``extensions`` is the route's own permessage-deflate answer, written in place of
    aiohttp's by ``answer_extensions`` just before the 101 goes out."""

    extensions: str | None = None


async def answer_extensions(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: a route's WebSocket says the permessage-deflate terms the
    route compresses with (no server context takeover: one compression per broadcast),
    where aiohttp would have said its own (a context per connection)."""
    if isinstance(response, RouteWebSocketResponse) and EXTENSIONS in response.headers:
        if response.extensions is None:
            del response.headers[EXTENSIONS]
        else:
            response.headers[EXTENSIONS] = response.extensions


class AiohttpLink(CorkedLink):
    """A WebSocket accepted by aiohttp: aiohttp reads, we write ready frames to its transport."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.WriteTransport,
        cork: Cork,
        max_buffer: int,
    ) -> None:
        super().__init__(transport, cork, max_buffer)
        self._ws = ws

    async def receive(self) -> str | bytes | None:
        msg = await self._ws.receive()
        if msg.type is WSMsgType.TEXT:
            return str(msg.data)
        if msg.type is WSMsgType.BINARY:
            return bytes(msg.data)
        if msg.type is WSMsgType.ERROR:
            self.failure = f"WebSocket error: {msg.data}"
            if self._ws.close_code == WSCloseCode.MESSAGE_TOO_BIG:
                self.failure = "message too big"
        elif msg.type is WSMsgType.CLOSE:
            self.close_code, self.close_reason = int(msg.data), str(msg.extra or "")
        return None

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        self.flush()
        with contextlib.suppress(Exception):
            await self._ws.close(code=code, message=reason.encode())


class AiohttpDeflatingLink(AiohttpLink):
    """An aiohttp WebSocket with permessage-deflate agreed: our frames go out compressed
    over the threshold (a broadcast's compressed frame built once), aiohttp inflates."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.WriteTransport,
        cork: Cork,
        max_buffer: int,
        compressor: MessageCompressor,
    ) -> None:
        super().__init__(ws, transport, cork, max_buffer)
        self.compressor = compressor

    def send_outgoing(self, message: Outgoing) -> None:
        self.send_frame(message.deflated_frame(self.compressor))

    def send_encoded(self, data: str | bytes) -> None:
        self.send_frame(encoded_frame(data, self.compressor))


def handshake_request(request: web.Request) -> HandshakeRequest:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return HandshakeRequest(
        method=request.method,
        path=request.path,
        query={k: v for k, v in request.query.items()},
        headers=request.headers,
        address=request.remote or (str(peer[0]) if peer else ""),
        secure=request.secure,
        url=str(request.rel_url),
    )


def _body_reader(request: web.Request) -> ReadBody:
    async def read_body(limit: int) -> bytes:
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(request.content_length, limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(size, limit)
            chunks.append(chunk)
        return b"".join(chunks)

    return read_body


def request_handler(routes: RouteTable) -> Handler:
    """The aiohttp handler that serves the paths of ``routes``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        hreq = handshake_request(request)
        route = routes.find(hreq.path)
        if route is None:
            return await _send(request, not_found())
        if request.headers.get("Upgrade", "").lower() == "websocket" and route.accepts_websocket:
            return await _websocket(route, request, hreq)
        response = await route.handle_http(hreq, _body_reader(request))
        return await _send(request, response)

    return handle


def mount(app: web.Application, routes: RouteTable) -> None:
    """Serve ``routes`` in ``app``."""
    handler = request_handler(routes)
    for pattern in path_patterns(routes):
        app.router.add_route("*", pattern, handler)
    app.on_response_prepare.append(answer_extensions)

    async def on_shutdown(_: web.Application) -> None:
        await routes.aclose()

    app.on_shutdown.append(on_shutdown)


def path_patterns(routes: RouteTable) -> list[str]:
    """aiohttp route patterns for every path of ``routes``."""
    patterns: list[str] = []
    for route in routes.routes:
        patterns.extend(route.exact_paths())
        patterns.extend(prefix + "{tail:.*}" for prefix in route.prefixes())
    return patterns


async def _websocket(
    route: Route, request: web.Request, hreq: HandshakeRequest
) -> web.StreamResponse:
    error = await route.check_websocket(hreq)
    if error is not None:
        return web.Response(status=error.status, body=error.body, headers=error.headers)
    subprotocol = route.subprotocol(hreq)
    deflation = route.deflation
    agreement = None
    if deflation is not None:
        agreement = deflation.negotiate(request.headers.getall(EXTENSIONS, []))
    ws = RouteWebSocketResponse(
        protocols=() if subprotocol is None else (subprotocol,),
        max_msg_size=route.max_message_size,
        compress=agreement is not None,
        autoping=True,
        heartbeat=route.ping_interval,
    )
    ws.extensions = None if agreement is None else agreement.response
    try:
        await ws.prepare(request)
    except ConnectionResetError:
        # The client left during the upgrade. The half-prepared WebSocket response must
        # not go back to aiohttp (its write_eof raises "Call .prepare() first", logged as
        # an unhandled exception); a plain response meets the closed connection quietly.
        return web.Response(status=499)
    transport = request.transport
    assert transport is not None
    link: AiohttpLink
    if deflation is not None and agreement is not None and ws.compress:
        compressor = deflation.compressor(agreement)
        link = AiohttpDeflatingLink(ws, transport, route.cork, route.max_write_buffer, compressor)
    else:  # not offered, or not accepted by both aiohttp's reader and the route
        link = AiohttpLink(ws, transport, route.cork, route.max_write_buffer)
    await route.serve_websocket(hreq, link)
    return ws


async def _send(request: web.Request, response: HttpResponse) -> web.StreamResponse:
    """Write the response here, so a client gone meanwhile is noticed (not just logged)."""
    reply = web.Response(status=response.status, body=response.body, headers=response.headers)
    try:
        await reply.prepare(request)
        await reply.write_eof()
    except ConnectionResetError:
        if response.undelivered is not None:
            response.undelivered()
    return reply

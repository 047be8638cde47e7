"""Hosting on aiohttp: standalone (``run``, ``listen``) or mounted in an existing app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from ..exceptions import PayloadTooLarge
from .engine import EngineServer
from .http import HandshakeRequest, HttpResponse, ReadBody
from .websocket import Cork, CorkedLink

logger = logging.getLogger("roomcast.aiohttp")


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
        return None

    async def aclose(self) -> None:
        self.flush()
        with contextlib.suppress(Exception):
            await self._ws.close()


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


def request_handler(engine: EngineServer) -> Any:
    """The aiohttp handler that serves ``engine.path``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        hreq = handshake_request(request)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await _websocket(engine, request, hreq)
        response = await engine.handle_http(hreq, _body_reader(request))
        return await _send(request, response)

    return handle


async def _websocket(
    engine: EngineServer, request: web.Request, hreq: HandshakeRequest
) -> web.StreamResponse:
    error = await engine.check_websocket(hreq)
    if error is not None:
        return web.Response(status=error.status, body=error.body, headers=error.headers)
    ws = web.WebSocketResponse(
        max_msg_size=engine.config.max_payload,
        compress=False,
        autoping=True,
        heartbeat=None,
    )
    try:
        await ws.prepare(request)
    except ConnectionResetError:  # the client gave up before the upgrade completed
        return ws
    transport = request.transport
    assert transport is not None
    link = AiohttpLink(ws, transport, engine.cork, engine.max_write_buffer)
    await engine.serve_websocket(hreq, link)
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


def attach(engine: EngineServer, app: web.Application) -> None:
    """Serve ``engine`` under its path in an existing aiohttp application."""
    handler = request_handler(engine)
    app.router.add_route("*", engine.path.rstrip("/"), handler)
    app.router.add_route("*", engine.path + "{tail:.*}", handler)

    async def on_shutdown(_: web.Application) -> None:
        await engine.aclose()

    app.on_shutdown.append(on_shutdown)


@dataclass
class Listener:
    """A running standalone server (from ``listen``)."""

    runner: web.AppRunner
    engine: EngineServer
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def aclose(self) -> None:
        """Close every client (polling ones collect their CLOSE first), then stop serving."""
        await self.engine.aclose()
        await self.runner.cleanup()


async def listen(
    engine: EngineServer,
    host: str = "127.0.0.1",
    port: int = 0,
    app: web.Application | None = None,
) -> Listener:
    """Start serving in the running loop; port 0 picks a free port."""
    app = app if app is not None else web.Application()
    attach(engine, app)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=1.0, handler_cancellation=True
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    return Listener(runner, engine, host, int(bound[1]))


def run(
    engine: EngineServer,
    host: str = "127.0.0.1",
    port: int = 3000,
    app: web.Application | None = None,
) -> None:
    """Serve until interrupted (uvloop when installed)."""
    app = app if app is not None else web.Application()
    attach(engine, app)
    loop_factory = None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        pass
    logger.info("roomcast listening on http://%s:%s%s", host, port, engine.path)
    web.run_app(
        app,
        handler_cancellation=True,
        host=host,
        port=port,
        access_log=None,
        print=None,
        loop=loop_factory() if loop_factory else None,
    )

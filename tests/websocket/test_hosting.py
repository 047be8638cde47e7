"""Plain endpoints mounted in aiohttp (``attach``) and served as ASGI under uvicorn
(``asgi_app``), beside Socket.IO and the host's own routes, driven by the ``websockets``
client: echo, broadcast, refusals, and the close codes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from aiohttp import web
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from wire import WAIT

import roomcast


def build() -> roomcast.Server:
    io = roomcast.Server(serve_client=False)
    chat = io.websocket("/chat", max_message_size=1000)
    chat.on_message(lambda ws, message: chat.broadcast(message, exclude=ws))

    @io.websocket("/echo")
    async def echo(ws: roomcast.WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    @chat.on_handshake
    def check(request: roomcast.HandshakeRequest) -> bool:
        return request.query.get("token") != "bad"

    return io


@contextlib.asynccontextmanager
async def aiohttp_serving(
    io: roomcast.Server, app: web.Application | None = None
) -> AsyncIterator[str]:
    """``io`` attached to ``app`` (a new one with a route ``/own`` of its own by default)."""

    async def own(request: web.Request) -> web.Response:
        return web.Response(text="own route")

    if app is None:
        app = web.Application()
        app.router.add_get("/own", own)
    io.attach(app)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"ws://{host}:{port}"
    finally:
        await asyncio.wait_for(runner.cleanup(), WAIT)


@contextlib.asynccontextmanager
async def uvicorn_serving(io: roomcast.Server) -> AsyncIterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(io.asgi_app(), log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            async with asyncio.timeout(WAIT):
                while not server.started:  # uvicorn offers a flag, not an event
                    assert not task.done(), "uvicorn stopped before it started"
                    await asyncio.sleep(0.01)
            yield f"ws://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, WAIT)


HOSTS = {"aiohttp": aiohttp_serving, "uvicorn": uvicorn_serving}


@pytest.mark.parametrize("host", HOSTS)
async def test_plain_endpoints_on_a_host(host: str) -> None:
    async with HOSTS[host](build()) as base:
        async with connect(f"{base}/echo") as ws:
            await ws.send("héllo")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "héllo"
            await ws.send(b"\x00\xff")
            assert await asyncio.wait_for(ws.recv(), WAIT) == b"\x00\xff"
        async with connect(f"{base}/chat") as a, connect(f"{base}/chat") as b:
            await a.send("to b")
            assert await asyncio.wait_for(b.recv(), WAIT) == "to b"
            await a.send("x" * 1001)  # over this endpoint's max_message_size
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(a.recv(), WAIT)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{base}/chat?token=bad"):
                pass
        assert refused.value.response.status_code == 403


async def test_aiohttp_keeps_its_own_routes() -> None:
    async with aiohttp_serving(build()) as base:
        reader, writer = await asyncio.open_connection(*base[5:].split(":"))
        writer.write(b"GET /own HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response: Any = await asyncio.wait_for(reader.read(), WAIT)
        writer.close()
        assert response.endswith(b"own route")


async def test_aiohttp_client_gone_during_the_upgrade_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client that leaves while aiohttp prepares the 101 answer: no traceback is logged
    (aiohttp would log one for a WebSocket response returned half-prepared), and the
    next client is served."""
    io = roomcast.Server(serve_client=False)
    io.websocket("/echo").on_message(lambda ws, message: ws.send(message))
    entered, release = asyncio.Event(), asyncio.Event()
    transports: list[asyncio.BaseTransport] = []

    async def hold_first_upgrade(request: web.Request, response: web.StreamResponse) -> None:
        if response.status == 101 and not transports:
            assert request.transport is not None
            transports.append(request.transport)
            entered.set()
            await release.wait()

    app = web.Application()
    app.on_response_prepare.append(hold_first_upgrade)
    async with aiohttp_serving(io, app) as base:
        host, port = base[5:].split(":")
        _, writer = await asyncio.open_connection(host, port)
        writer.write(
            b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await asyncio.wait_for(entered.wait(), WAIT)
        writer.close()
        async with asyncio.timeout(WAIT):
            while not transports[0].is_closing():  # noqa: ASYNC110 - a transport has no event
                await asyncio.sleep(0.005)
        release.set()
        async with asyncio.timeout(WAIT):  # until aiohttp is done with that connection
            while any(  # noqa: ASYNC110 - aiohttp offers no event for it
                getattr(t.get_coro(), "__qualname__", "") == "RequestHandler.start"
                for t in asyncio.all_tasks()
            ):
                await asyncio.sleep(0.005)
        async with connect(f"ws://{host}:{port}/echo") as ws:
            await ws.send("still here")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "still here"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]

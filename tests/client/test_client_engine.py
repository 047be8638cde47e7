"""The client's Engine.IO I/O (``EngineClient``) against a scripted server, for what a real
server will not do on demand: stop pinging, refuse the upgrade probe, answer the handshake
with an error or garbage, announce a tiny ``maxPayload``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from yarl import URL

from roomcast.client.engine import EngineClient
from roomcast.client.http import Endpoint
from roomcast.engineio import CloseReason, Transport, decode_payload

from .client_support import WAIT, seconds
from .conftest import client_tasks

WsScript = Callable[[web.WebSocketResponse], Awaitable[None]]


def handshake(**fields: Any) -> str:
    data = {"sid": "s1", "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000}
    data["maxPayload"] = 1_000_000
    return "0" + json.dumps({**data, **fields})


class ScriptedServer:
    """An Engine.IO endpoint whose answers the test decides.

    Polling: the handshake GET answers ``self.handshake``; later GETs answer what the test
    puts in ``polls`` (a CLOSE from the client releases a waiting GET with a NOOP); POST
    bodies are kept in ``posts``. WebSocket: ``ws_script`` runs it, or the upgrade is
    refused with 400.
    """

    def __init__(self) -> None:
        self.handshake = handshake()
        self.handshake_status = 200
        self.polls: asyncio.Queue[str] = asyncio.Queue()
        self.posts: list[str] = []
        self.posted = asyncio.Event()
        self.ws_script: WsScript | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("transport") == "websocket":
            if self.ws_script is None:
                return web.Response(status=400, text='{"code":3,"message":"Bad request"}')
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await self.ws_script(ws)
            await ws.close()
            return ws
        if request.method == "POST":
            body = await request.text()
            self.posts.append(body)
            self.posted.set()
            if "1" in [p.split("\x1e")[0] for p in body.split("\x1e")]:
                self.polls.put_nowait("6")
            return web.Response(text="ok")
        if "sid" not in request.query:
            return web.Response(status=self.handshake_status, text=self.handshake)
        return web.Response(text=await self.polls.get())

    def endpoint(self) -> Endpoint:
        return Endpoint(URL(f"http://127.0.0.1:{self.port}/socket.io/"))


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer()
    app = web.Application()
    app.router.add_route("*", "/socket.io/", server.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    yield server
    await runner.cleanup()


class Seen:
    """What an EngineClient reported."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.closes: list[CloseReason] = []

    def client(self, endpoint: Endpoint, **options: Any) -> EngineClient:
        return EngineClient(
            endpoint, on_message=self.messages.put_nowait, on_close=self.closes.append, **options
        )


async def test_handshake_error_is_a_connection_error(scripted: ScriptedServer) -> None:
    scripted.handshake_status = 400
    scripted.handshake = '{"code":4,"message":"Forbidden"}'
    engine = Seen().client(scripted.endpoint())
    with pytest.raises(ConnectionError, match=r"400.*Forbidden"):
        await engine.open(Transport.POLLING)
    assert await engine.wait_closed() is CloseReason.TRANSPORT_ERROR
    with pytest.raises(ConnectionError, match="400"):
        await Seen().client(scripted.endpoint()).open(Transport.WEBSOCKET)
    assert client_tasks() == []


@pytest.mark.parametrize("body", ["4hello", "0{not json", "", '0{"sid":""}'])
async def test_invalid_handshake_is_a_connection_error(scripted: ScriptedServer, body: str) -> None:
    scripted.handshake = body
    engine = Seen().client(scripted.endpoint())
    with pytest.raises(ConnectionError, match="invalid handshake"):
        await engine.open(Transport.POLLING)
    assert client_tasks() == []


async def test_pings_are_answered_then_a_silent_server_times_out(
    scripted: ScriptedServer,
) -> None:
    interval, timeout = 0.1, 0.1
    pongs: asyncio.Queue[str] = asyncio.Queue()

    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_str(handshake(pingInterval=int(interval * 1000), pingTimeout=100))
        await ws.send_str("2")
        pongs.put_nowait(await ws.receive_str())
        await ws.send_str("4still here")
        await ws.receive()  # then silence until the client gives up

    scripted.ws_script = script
    seen = Seen()
    engine = seen.client(scripted.endpoint())
    loop = asyncio.get_running_loop()
    opened = await engine.open(Transport.WEBSOCKET)
    assert (opened.sid, opened.ping_interval, opened.ping_timeout) == ("s1", interval, timeout)
    assert await asyncio.wait_for(pongs.get(), WAIT) == "3"
    assert await asyncio.wait_for(seen.messages.get(), WAIT) == "still here"
    pinged_at = loop.time()
    assert await asyncio.wait_for(engine.wait_closed(), WAIT) is CloseReason.PING_TIMEOUT
    assert loop.time() - pinged_at >= (interval + timeout) * 0.9
    assert seen.closes == [CloseReason.PING_TIMEOUT]
    assert client_tasks() == []


async def test_refused_probe_keeps_polling(scripted: ScriptedServer) -> None:
    scripted.handshake = handshake(upgrades=["websocket"])
    seen = Seen()
    engine = seen.client(scripted.endpoint())
    await engine.open(Transport.POLLING)
    scripted.polls.put_nowait("4hello\x1ebAAE=")
    assert await asyncio.wait_for(seen.messages.get(), WAIT) == "hello"
    assert await asyncio.wait_for(seen.messages.get(), WAIT) == b"\x00\x01"
    engine.send("after")
    await asyncio.wait_for(scripted.posted.wait(), WAIT)
    assert scripted.posts == ["4after"]
    assert engine.transport == "polling"
    await asyncio.wait_for(engine.aclose(), WAIT)
    assert scripted.posts[-1] == "1"  # goodbye
    assert seen.closes == [CloseReason.FORCED_CLOSE]
    assert client_tasks() == []


async def test_posts_respect_the_servers_max_payload(scripted: ScriptedServer) -> None:
    scripted.handshake = handshake(maxPayload=11)
    engine = Seen().client(scripted.endpoint())
    await engine.open(Transport.POLLING)
    for text in ("aaaa", "bbbb", "cccc", "dddd"):
        engine.send(text)
    async with asyncio.timeout(WAIT):
        while sum(len(decode_payload(p)) for p in scripted.posts) < 4:
            scripted.posted.clear()
            await scripted.posted.wait()
    assert all(len(p.encode()) <= 11 for p in scripted.posts)
    assert [p.data for body in scripted.posts for p in decode_payload(body)] == [
        "aaaa",
        "bbbb",
        "cccc",
        "dddd",
    ]
    await asyncio.wait_for(engine.aclose(), WAIT)


async def test_server_close_packet(scripted: ScriptedServer) -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_str(handshake())
        await ws.send_str("1")
        await ws.receive()

    scripted.ws_script = script
    seen = Seen()
    engine = seen.client(scripted.endpoint())
    await engine.open(Transport.WEBSOCKET)
    assert await asyncio.wait_for(engine.wait_closed(), WAIT) is CloseReason.TRANSPORT_CLOSE
    assert seen.closes == [CloseReason.TRANSPORT_CLOSE]


async def test_garbage_frame_is_a_parse_error(scripted: ScriptedServer) -> None:
    async def script(ws: web.WebSocketResponse) -> None:
        await ws.send_str(handshake())
        await ws.send_str("x")
        await ws.receive()

    scripted.ws_script = script
    engine = Seen().client(scripted.endpoint())
    await engine.open(Transport.WEBSOCKET)
    assert await asyncio.wait_for(engine.wait_closed(), WAIT) is CloseReason.PARSE_ERROR


async def test_empty_poll_is_a_parse_error(scripted: ScriptedServer) -> None:
    engine = Seen().client(scripted.endpoint(), connect_timeout=seconds(5))
    await engine.open(Transport.POLLING)
    scripted.polls.put_nowait("")  # an empty payload is not Engine.IO
    assert await asyncio.wait_for(engine.wait_closed(), WAIT) is CloseReason.PARSE_ERROR

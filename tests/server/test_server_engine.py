"""A plain ``roomcast.EngineServer`` (no Socket.IO), used like the npm ``engine.io`` package:
``connection`` / ``message`` / ``close`` handlers and ``conn.send`` echoing text and binary
over WebSocket and long-polling."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from server_wire import EIO_PATH, Changes, Net, Serve

import roomcast
from roomcast.engineio import CloseReason


async def call(method: Callable[..., Any], *args: Any) -> None:
    """Call ``conn.send`` or ``conn.close``, awaiting the result when it is awaitable (the API
    sketch makes them coroutines), so that only the contract test depends on that."""
    result = method(*args)
    if inspect.isawaitable(result):
        await result


@dataclass
class EngineLog(Changes):
    """What the EngineServer handlers saw."""

    connections: list[str] = field(default_factory=list)
    messages: list[tuple[str, str | bytes]] = field(default_factory=list)
    closes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()

    async def close_reason(self, sid: str) -> str:
        await self.until(lambda: sid in self.closes, f"close of {sid}")
        return self.closes[sid]


@dataclass
class EchoEngine:
    eio: roomcast.EngineServer
    log: EngineLog
    url: str


@pytest.fixture
async def engine(serve: Serve) -> EchoEngine:
    """An EngineServer on /engine.io/ that echoes every message; ``"close me"`` closes."""
    eio = roomcast.EngineServer(path=EIO_PATH)
    log = EngineLog()

    def connection(conn: roomcast.EngineSocket) -> None:
        log.connections.append(conn.sid)
        log.changed()

    async def message(conn: roomcast.EngineSocket, data: str | bytes) -> None:
        log.messages.append((conn.sid, data))
        log.changed()
        if data == "close me":
            await call(conn.close)
        else:
            await call(conn.send, data)

    def close(conn: roomcast.EngineSocket, reason: str) -> None:
        log.closes[conn.sid] = reason
        log.changed()

    eio.on("connection", connection)
    eio.on("message", message)
    eio.on("close", close)
    listener = await serve(eio)
    return EchoEngine(eio, log, listener.url)


async def test_websocket_text_and_binary_echo(net: Net, engine: EchoEngine) -> None:
    bystander = await net.websocket(engine.url, EIO_PATH)
    client = await net.websocket(engine.url, EIO_PATH)
    assert client.handshake["upgrades"] == []
    assert set(client.handshake) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert engine.log.connections == [bystander.sid, client.sid]

    await client.send("4hello ünïcode")
    assert await client.recv() == "4hello ünïcode"
    await client.send(b"\x00\x01\x02\xff")
    assert await client.recv() == b"\x00\x01\x02\xff"
    await client.send("4")  # an empty message is a message
    assert await client.recv() == "4"

    assert engine.log.messages == [
        (client.sid, "hello ünïcode"),
        (client.sid, b"\x00\x01\x02\xff"),
        (client.sid, ""),
    ]
    await bystander.send("4me too")
    assert await bystander.recv() == "4me too"


async def test_polling_text_and_binary_echo(net: Net, engine: EchoEngine) -> None:
    bystander = await net.websocket(engine.url, EIO_PATH)
    client = await net.polling(engine.url, EIO_PATH)
    assert client.handshake["upgrades"] == ["websocket"]

    await client.send("4hello", "bAAEC/w==")

    packets: list[str] = []
    while len(packets) < 2:  # the echoes may come in one poll or two
        packets += await client.get()
    assert packets == ["4hello", "bAAEC/w=="]
    assert engine.log.messages == [(client.sid, "hello"), (client.sid, b"\x00\x01\x02\xff")]
    await bystander.send("4me too")
    assert await bystander.recv() == "4me too"


async def test_polling_echo_releases_a_pending_poll(net: Net, engine: EchoEngine) -> None:
    client = await net.polling(engine.url, EIO_PATH)
    poll = asyncio.create_task(client.get())

    await client.send("4wake up")

    assert await poll == ["4wake up"]


async def test_upgrade_from_polling_to_websocket_then_echo(net: Net, engine: EchoEngine) -> None:
    client = await net.polling(engine.url, EIO_PATH)
    ws_params = {"EIO": "4", "transport": "websocket", "sid": client.sid}
    pending = asyncio.create_task(client.get())
    async with net.http.ws_connect(engine.url + EIO_PATH, params=ws_params) as ws:
        await ws.send_str("2probe")
        assert (await asyncio.wait_for(ws.receive(), 10)).data == "3probe"
        assert await pending == ["6"]
        await ws.send_str("5")
        await ws.send_bytes(b"\x07")
        assert (await asyncio.wait_for(ws.receive(), 10)).data == b"\x07"
        await ws.send_str("4upgraded")
        assert (await asyncio.wait_for(ws.receive(), 10)).data == "4upgraded"
    assert await engine.log.close_reason(client.sid) == "transport close"


async def test_a_close_during_an_upgrade_reaches_the_client_over_the_websocket(
    net: Net, engine: EchoEngine
) -> None:
    """The server closes a session (a drain) after answering ``3probe``: the client polls no
    more until it has switched, so the CLOSE must wait for its ``5`` and go over the
    WebSocket; a CLOSE left for a poll would never be fetched and the client would hang
    until its ping timeout."""
    client = await net.polling(engine.url, EIO_PATH)
    ws_params = {"EIO": "4", "transport": "websocket", "sid": client.sid}
    pending = asyncio.create_task(client.get())
    async with net.http.ws_connect(engine.url + EIO_PATH, params=ws_params) as ws:
        await ws.send_str("2probe")
        assert (await asyncio.wait_for(ws.receive(), 10)).data == "3probe"
        assert await pending == ["6"]  # the client's polling pauses here
        engine.eio.sockets[client.sid].close(CloseReason.SERVER_SHUTTING_DOWN)
        await ws.send_str("5")
        assert (await asyncio.wait_for(ws.receive(), 10)).data == "1"
        assert (await asyncio.wait_for(ws.receive(), 10)).type is aiohttp.WSMsgType.CLOSE
    assert await engine.log.close_reason(client.sid) == "server shutting down"


async def test_client_close_packet_reports_transport_close(net: Net, engine: EchoEngine) -> None:
    bystander = await net.websocket(engine.url, EIO_PATH)
    client = await net.websocket(engine.url, EIO_PATH)

    await client.send("1")

    await client.expect_closed()
    assert await engine.log.close_reason(client.sid) == "transport close"
    await bystander.send("4still here")
    assert await bystander.recv() == "4still here"


async def test_polling_client_close_packet_reports_transport_close(
    net: Net, engine: EchoEngine
) -> None:
    client = await net.polling(engine.url, EIO_PATH)

    await client.send("1")

    assert await engine.log.close_reason(client.sid) == "transport close"
    await client.assert_closed()


async def test_server_close_sends_close_packet(net: Net, engine: EchoEngine) -> None:
    bystander = await net.websocket(engine.url, EIO_PATH)
    client = await net.websocket(engine.url, EIO_PATH)

    await client.send("4close me")

    assert await client.expect_closed() == ["1"]
    assert await engine.log.close_reason(client.sid) == "forced close"
    await bystander.send("4still here")
    assert await bystander.recv() == "4still here"


async def test_malformed_packet_closes_only_that_connection(net: Net, engine: EchoEngine) -> None:
    bystander = await net.websocket(engine.url, EIO_PATH)
    client = await net.websocket(engine.url, EIO_PATH)

    await client.send("abc")

    await client.expect_closed()
    assert await engine.log.close_reason(client.sid) == "parse error"
    await bystander.send("4still here")
    assert await bystander.recv() == "4still here"


async def test_conn_send_and_close_from_an_async_handler(net: Net, serve: Serve) -> None:
    """``conn.send(data)`` and ``conn.close()`` never block: plain calls, from any handler."""
    eio = roomcast.EngineServer(path=EIO_PATH)

    async def message(conn: roomcast.EngineSocket, data: str | bytes) -> None:
        conn.send(data)
        if data == "bye":
            conn.close()

    eio.on("message", message)
    listener = await serve(eio)
    client = await net.websocket(listener.url, EIO_PATH)

    await client.send("4hello")
    assert await client.recv() == "4hello"
    await client.send("4bye")
    assert await client.expect_closed() == ["4bye", "1"]

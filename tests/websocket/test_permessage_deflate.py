"""permessage-deflate on a real server: Node's ``ws`` 8 with and without it, the official
``socket.io-client`` with it, and a raw client for what the others would not show or send
(the frame bytes of a broadcast, ``compress(False)``, malformed data, a decompression
bomb)."""

from __future__ import annotations

import asyncio
import json
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from rfc6455_cases import close
from test_endpoint import Tally, b64, ws_peer
from test_hosting import aiohttp_serving
from websockets.extensions.permessage_deflate import PerMessageDeflate as WsDeflate
from websockets.frames import Frame
from websockets.frames import Opcode as WsOpcode
from wire import SIO_WEBSOCKET, WAIT, RawWebSocket, Serve, echo_server

import roomcast
from roomcast.transports.deflate import SharedDeflater

NODE = shutil.which("node")
SIO_PEER = Path(__file__).resolve().parent / "node" / "sio_deflate.mjs"
node = pytest.mark.skipif(NODE is None, reason="needs node")
OFFER = (("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),)
BIG = "the quick brown fox jumps over the lazy dog; " * 100  # 4.5 KB, compresses well


def deflate_server(deflate: bool | roomcast.PerMessageDeflate = True) -> roomcast.Server:
    """``echo_server`` with permessage-deflate on its endpoints and its Socket.IO server."""
    return echo_server(per_message_deflate=deflate, server_options={"per_message_deflate": deflate})


def peer() -> WsDeflate:
    """The client side of the extension as agreed by default (no context either way)."""
    return WsDeflate(True, True, 15, 15)


async def read_raw(client: RawWebSocket) -> tuple[int, bytes]:
    """(first byte, payload) of the next server frame, RSV1 allowed."""
    first, second = await asyncio.wait_for(client.reader.readexactly(2), WAIT)
    n = second & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await client.reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await client.reader.readexactly(8))
    return first, await asyncio.wait_for(client.reader.readexactly(n), WAIT)


def inflate(first: int, payload: bytes) -> bytes:
    assert first & 0x40, "a compressed frame has RSV1"
    return bytes(peer().decode(Frame(WsOpcode(first & 0x0F), payload, rsv1=True)).data)


def compressed(opcode: WsOpcode, data: bytes) -> bytes:
    return Frame(opcode, data).serialize(mask=True, extensions=[peer()])


async def open_deflate(port: int, path: str) -> RawWebSocket:
    client, status, head = await RawWebSocket.open(port, path, OFFER)
    assert status == 101
    assert b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover" in head
    return client


# -- Node's ws -----------------------------------------------------------------------------------


@node
@pytest.mark.parametrize("path", ["/echo", "/echo-task"])
async def test_node_ws_with_permessage_deflate(serve: Serve, path: str) -> None:
    listener = await serve(deflate_server())
    blob = bytes(range(256)) * 40
    sent = [{"text": BIG}, {"text": "small"}, {"bin": b64(blob)}, {"text": "é" * 10000}]
    got = await ws_peer(
        f"ws://127.0.0.1:{listener.port}{path}",
        send=sent,
        expect=4,
        close=[1000, "done"],
        deflate={"threshold": 0},  # ws compresses everything it sends
    )
    assert got["extensions"] == "permessage-deflate"
    assert got["messages"] == sent
    assert got["close"][0] == 1000


@node
async def test_node_ws_without_permessage_deflate(serve: Serve) -> None:
    listener = await serve(deflate_server())
    got = await ws_peer(
        f"ws://127.0.0.1:{listener.port}/echo", send=[{"text": BIG}], expect=1, close=[1000]
    )
    assert got["extensions"] == ""
    assert got["messages"] == [{"text": BIG}]


@node
async def test_node_ws_offer_is_declined_where_it_is_off(serve: Serve) -> None:
    listener = await serve(deflate_server(deflate=False))
    url = f"ws://127.0.0.1:{listener.port}/echo"
    got = await ws_peer(url, send=[{"text": BIG}], expect=1, close=[1000], deflate=True)
    assert got["extensions"] == ""
    assert got["messages"] == [{"text": BIG}]


@node
async def test_node_ws_with_context_takeover(serve: Serve) -> None:
    options = roomcast.PerMessageDeflate(
        server_no_context_takeover=False, client_no_context_takeover=False, threshold=0
    )
    listener = await serve(deflate_server(deflate=options))
    sent = [{"text": BIG[: 200 + i]} for i in range(20)]
    got = await ws_peer(
        f"ws://127.0.0.1:{listener.port}/echo",
        send=sent,
        expect=len(sent),
        close=[1000],
        deflate={"threshold": 0},
    )
    assert got["extensions"] == "permessage-deflate"
    assert got["messages"] == sent


# -- raw clients ----------------------------------------------------------------------------------


async def test_broadcast_is_compressed_once_for_every_recipient(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    io = roomcast.Server(serve_client=False)
    hub = io.websocket("/hub", per_message_deflate=True)
    joined = Tally()
    hub.on_connect(joined)
    listener = await serve(io)
    clients = [await open_deflate(listener.port, "/hub") for _ in range(3)]
    await joined.reaches(3)
    calls: list[bytes] = []
    original = SharedDeflater.compress

    def spy(self: SharedDeflater, data: bytes) -> bytes:
        calls.append(data)
        return original(self, data)

    monkeypatch.setattr(SharedDeflater, "compress", spy)
    assert hub.broadcast(BIG) == 3
    frames = [await read_raw(client) for client in clients]
    assert calls == [BIG.encode()]  # compressed once
    assert len(set(frames)) == 1  # the same bytes to each
    first, payload = frames[0]
    assert first == 0xC1  # FIN, RSV1, TEXT
    assert len(payload) < len(BIG) // 5
    assert inflate(first, payload) == BIG.encode()
    for client in clients:
        await client.aclose()


async def test_compress_false_and_small_messages_go_as_they_are(serve: Serve) -> None:
    io = roomcast.Server(serve_client=False)
    hub = io.websocket("/hub", per_message_deflate=True)
    joined = Tally()
    hub.on_connect(joined)
    listener = await serve(io)
    client = await open_deflate(listener.port, "/hub")
    await joined.reaches(1)
    hub.broadcast(BIG, compress=False)
    hub.broadcast("x" * 1023)  # under the threshold
    hub.broadcast(b"\x00" * 2000)  # binary, compressed
    (ws,) = hub.clients
    await ws.send(BIG, compress=False)
    assert await read_raw(client) == (0x81, BIG.encode())
    assert await read_raw(client) == (0x81, b"x" * 1023)
    first, payload = await read_raw(client)
    assert (first, inflate(first, payload)) == (0xC2, b"\x00" * 2000)
    assert await read_raw(client) == (0x81, BIG.encode())
    await client.aclose()


@pytest.mark.parametrize("path", ["/echo", SIO_WEBSOCKET])
async def test_malformed_compressed_data_closes_with_1007(serve: Serve, path: str) -> None:
    listener = await serve(deflate_server())
    client = await open_deflate(listener.port, path)
    if path == SIO_WEBSOCKET:
        await read_raw(client)  # the Engine.IO OPEN packet
    bad = bytearray(Frame(WsOpcode.TEXT, b"\xff\xfe\xfd not deflate").serialize(mask=True))
    bad[0] |= 0x40
    await client.send(bytes(bad))
    got = await client.receive_all()
    assert got.close_code == 1007
    assert got.eof_after_close
    await client.aclose()
    await assert_echo_still_served(listener.port)


@pytest.mark.parametrize("path", ["/echo", SIO_WEBSOCKET])
async def test_decompression_bomb_closes_with_1009(serve: Serve, path: str) -> None:
    listener = await serve(deflate_server())
    bystander = await open_deflate(listener.port, "/echo")
    client = await open_deflate(listener.port, path)
    if path == SIO_WEBSOCKET:
        await read_raw(client)
    bomb = compressed(WsOpcode.BINARY, b"\x00" * (16 << 20))  # 16 MiB in ~16 KB
    assert len(bomb) < 40_000
    await client.send(bomb)
    got = await client.receive_all()
    assert got.close_code == 1009
    await client.aclose()
    await bystander.send(compressed(WsOpcode.TEXT, BIG.encode()) + close(1000))
    first, payload = await read_raw(bystander)
    assert inflate(first, payload) == BIG.encode()
    await bystander.aclose()


async def test_rsv1_where_nothing_was_agreed_closes_with_1002(serve: Serve) -> None:
    listener = await serve(deflate_server())
    client, status, head = await RawWebSocket.open(listener.port, "/echo")  # no offer
    assert status == 101
    assert b"Sec-WebSocket-Extensions" not in head
    await client.send(compressed(WsOpcode.TEXT, BIG.encode()))
    assert (await client.receive_all()).close_code == 1002
    await client.aclose()


async def assert_echo_still_served(port: int) -> None:
    client = await open_deflate(port, "/echo")
    await client.send(compressed(WsOpcode.TEXT, BIG.encode()) + close(1000))
    first, payload = await read_raw(client)
    assert inflate(first, payload) == BIG.encode()
    await client.aclose()


# -- Socket.IO over WebSocket --------------------------------------------------------------------


async def sio_connect(port: int, *, offer: bool = True) -> tuple[RawWebSocket, bytes]:
    client, status, head = await RawWebSocket.open(port, SIO_WEBSOCKET, OFFER if offer else ())
    assert status == 101
    first, payload = await read_raw(client)
    assert (first, payload[:1]) == (0x81, b"0")
    await client.send(Frame(WsOpcode.TEXT, b"40").serialize(mask=True))
    first, payload = await read_raw(client)
    assert payload.startswith(b"40{")
    return client, head


async def test_socketio_is_not_compressed_by_default(serve: Serve) -> None:
    io = roomcast.Server(serve_client=False)
    listener = await serve(io)
    client, head = await sio_connect(listener.port)
    assert b"Sec-WebSocket-Extensions" not in head
    await io.emit("big", BIG)
    first, payload = await read_raw(client)
    assert first == 0x81
    assert payload == b'42["big","' + BIG.encode() + b'"]'
    await client.aclose()


async def test_socketio_broadcast_compressed_once_and_compress_false(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    io = roomcast.Server(serve_client=False, per_message_deflate=True)
    listener = await serve(io)
    clients = [(await sio_connect(listener.port))[0] for _ in range(3)]
    plain, _ = await sio_connect(listener.port, offer=False)
    calls = Tally()
    original = SharedDeflater.compress

    def spy(self: SharedDeflater, data: bytes) -> bytes:
        calls()
        return original(self, data)

    monkeypatch.setattr(SharedDeflater, "compress", spy)
    await io.emit("big", BIG)
    await io.compress(False).emit("big", BIG)
    packet = b'42["big","' + BIG.encode() + b'"]'
    frames = [await read_raw(client) for client in clients]
    assert calls.count == 1
    assert len(set(frames)) == 1
    assert inflate(*frames[0]) == packet
    for client in clients:
        assert await read_raw(client) == (0x81, packet)  # compress(False)
    assert await read_raw(plain) == (0x81, packet)  # offered nothing: plain frames
    for client in [*clients, plain]:
        await client.aclose()


async def test_one_socket_compress_false(serve: Serve) -> None:
    io = roomcast.Server(serve_client=False, per_message_deflate=True)
    listener = await serve(io)
    client, _ = await sio_connect(listener.port)
    (socket,) = io.of("/").sockets.values()
    packet = b'42["big","' + BIG.encode() + b'"]'
    await socket.emit("big", BIG)
    first, payload = await read_raw(client)
    assert first == 0xC1  # FIN + RSV1: compressed
    assert inflate(first, payload) == packet
    await socket.compress(False).emit("big", BIG)
    assert await read_raw(client) == (0x81, packet)
    await socket.emit("big", BIG, compress=False)
    assert await read_raw(client) == (0x81, packet)
    await socket.volatile.compress(False).emit("big", BIG)
    assert await read_raw(client) == (0x81, packet)
    await socket.compress(True).emit("big", BIG)  # the flag is for one emit only
    first, payload = await read_raw(client)
    assert first == 0xC1
    await client.aclose()


@node
@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_official_client_with_compression(serve: Serve, transport: str) -> None:
    io = roomcast.Server(serve_client=False, per_message_deflate=True)

    @io.on("echo")
    def echo(socket: roomcast.Socket, data: Any) -> Any:
        return data

    @io.on("ready")
    async def ready(socket: roomcast.Socket) -> None:
        await io.emit("big", BIG * 4)

    listener = await serve(io)
    assert NODE is not None
    proc = await asyncio.create_subprocess_exec(
        NODE, str(SIO_PEER), f"http://127.0.0.1:{listener.port}", transport, "50000",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), WAIT * 2)
    got = json.loads(out)
    assert got.get("error") is None, got
    assert got["acked"] == 50000
    assert got["big"] == len(BIG) * 4
    if transport == "websocket":
        assert got["extensions"] == "permessage-deflate"
    else:  # the handshake is small; the ack and the broadcast are compressed
        assert "gzip" in got["encodings"]
        assert got["encodings"][0] is None


# -- mounted in aiohttp ---------------------------------------------------------------------------


@node
async def test_node_ws_with_permessage_deflate_under_aiohttp() -> None:
    async with aiohttp_serving(deflate_server()) as base:
        sent = [{"text": BIG}, {"text": "small"}, {"text": "é" * 10000}]
        got = await ws_peer(
            f"{base}/echo-task", send=sent, expect=3, close=[1000], deflate={"threshold": 0}
        )
    assert got["extensions"] == "permessage-deflate"
    assert got["messages"] == sent


async def test_aiohttp_frames_compressed_by_the_route() -> None:
    io = deflate_server()
    async with aiohttp_serving(io) as base:
        port = int(base.rsplit(":", 1)[1])
        client = await open_deflate(port, "/echo")  # the route's terms, not aiohttp's
        await client.send(compressed(WsOpcode.TEXT, BIG.encode()))
        first, payload = await read_raw(client)
        assert first == 0xC1  # FIN + RSV1
        assert inflate(first, payload) == BIG.encode()
        await client.send(Frame(WsOpcode.TEXT, b"small").serialize(mask=True))
        assert await read_raw(client) == (0x81, b"small")
        await client.aclose()
        plain, status, head = await RawWebSocket.open(port, "/echo")  # offers nothing
        assert status == 101
        assert b"Sec-WebSocket-Extensions" not in head
        await plain.send(Frame(WsOpcode.TEXT, BIG.encode()).serialize(mask=True))
        assert await read_raw(plain) == (0x81, BIG.encode())
        await plain.aclose()

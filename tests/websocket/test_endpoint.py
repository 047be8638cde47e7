"""Plain WebSocket endpoints on the native server, driven by Node's ``ws`` 8 client (the
happy paths) and by a raw client (what ``ws`` would not send): echo, broadcast, hooks,
refusals, subprotocols, keep-alive, and the HTTP answers around them."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from rfc6455_cases import PING, TEXT, close, frame
from wire import WAIT, RawWebSocket, Serve, echo_server

import roomcast
from roomcast.transports.native import FRAMES_PER_TURN
from roomcast.websocket.connection import UNREAD

NODE = shutil.which("node")
PEER = Path(__file__).resolve().parent / "node" / "ws_peer.mjs"
node = pytest.mark.skipif(NODE is None, reason="needs node")


async def ws_peer(url: str, **script: Any) -> dict[str, Any]:
    """Run one Node ``ws`` client with ``script`` (see ws_peer.mjs); its JSON record."""
    assert NODE is not None
    proc = await asyncio.create_subprocess_exec(
        NODE, str(PEER), url, json.dumps(script), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), WAIT * 2)
    record: dict[str, Any] = json.loads(out)
    return record


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@node
@pytest.mark.parametrize("path", ["/echo", "/echo-task"])
async def test_echo_with_node_ws(serve: Serve, path: str) -> None:
    listener = await serve(echo_server())
    got = await ws_peer(
        f"ws://127.0.0.1:{listener.port}{path}",
        send=[{"text": "héllo"}, {"bin": b64(b"\x00\xff\x01")}, {"text": "x" * 70000}],
        expect=3,
        close=[4001, "done"],
    )
    assert got["messages"] == [
        {"text": "héllo"},
        {"bin": b64(b"\x00\xff\x01")},
        {"text": "x" * 70000},
    ]
    assert got["close"][0] == 4001


@node
async def test_broadcast_reaches_every_other_client(serve: Serve) -> None:
    io = roomcast.Server(serve_client=False)
    chat = io.websocket("/chat")
    joined, gone = Tally(), Tally()
    left: list[int | None] = []
    chat.on_connect(joined)

    @chat.on_message
    def relay(ws: roomcast.WebSocket, message: str | bytes) -> None:
        chat.broadcast(message, exclude=ws)

    @chat.on_disconnect
    def on_disconnect(ws: roomcast.WebSocket) -> None:
        left.append(ws.close_code)
        gone()

    listener = await serve(io)
    url = f"ws://127.0.0.1:{listener.port}/chat"
    receivers = [asyncio.create_task(ws_peer(url, expect=2, close=[1000, "bye"])) for _ in range(2)]
    await joined.reaches(2)
    sender = await ws_peer(url, send=[{"text": "hi"}, {"bin": b64(b"\x01\x02")}], close=[1000])
    for got in await asyncio.gather(*receivers):
        assert got["messages"] == [{"text": "hi"}, {"bin": b64(b"\x01\x02")}]
    assert sender["messages"] == []  # not to the sender
    await gone.reaches(3)
    assert left == [1000, 1000, 1000]
    assert not chat.clients


class Tally:
    """Counts calls; ``await tally.reaches(n)`` waits (with a timeout) for the n-th."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = asyncio.Event()

    def __call__(self, *_: Any) -> None:
        self.count += 1
        self._changed.set()

    async def reaches(self, n: int) -> None:
        async with asyncio.timeout(WAIT):
            while self.count < n:
                self._changed.clear()
                await self._changed.wait()


async def test_broadcast_builds_the_frame_once(serve: Serve) -> None:
    io = roomcast.Server(serve_client=False)
    hub = io.websocket("/hub")
    joined = Tally()
    hub.on_connect(joined)
    listener = await serve(io)
    clients = [(await RawWebSocket.open(listener.port, "/hub"))[0] for _ in range(3)]
    await joined.reaches(3)
    built: list[bytes] = []
    original = roomcast.transports.websocket.RawOutgoing.frame  # type: ignore[attr-defined]

    def frame_spy(self: Any) -> bytes:
        result: bytes = original(self)
        built.append(result)
        return result

    roomcast.transports.websocket.RawOutgoing.frame = frame_spy  # type: ignore[attr-defined]
    try:
        assert hub.broadcast("to all") == 3
    finally:
        roomcast.transports.websocket.RawOutgoing.frame = original  # type: ignore[attr-defined]
    assert len({id(frame) for frame in built}) == 1  # the same bytes object for all three
    for client in clients:
        assert await client.read_frame() == (0x1, b"to all")
        await client.aclose()


@node
async def test_subprotocol_is_negotiated(serve: Serve) -> None:
    io = roomcast.Server(serve_client=False)
    seen: list[str | None] = []
    joined = Tally()
    endpoint = io.websocket("/proto", subprotocols=["v2.chat", "v1.chat"])

    @endpoint.on_connect
    def on_connect(ws: roomcast.WebSocket) -> None:
        seen.append(ws.subprotocol)
        joined()

    listener = await serve(io)
    url = f"ws://127.0.0.1:{listener.port}/proto"
    got = await ws_peer(url, protocols=["v1.chat", "v2.chat"], close=[1000])
    assert got["protocol"] == "v2.chat"  # the server's preference
    # none agreed: the server accepts without one (RFC 6455 4.2.2); ws then gives up
    got = await ws_peer(url, protocols=["other"], close=[1000])
    assert got["error"] == "Server sent no subprotocol"
    await joined.reaches(2)
    assert seen == ["v2.chat", None]


@node
@pytest.mark.parametrize(
    ("verdict", "status", "body"),
    [
        (False, 403, "Forbidden"),
        (401, 401, "Refused (401)"),
        (roomcast.WebSocketRefused(429, "Too many clients"), 429, "Too many clients"),
    ],
)
async def test_on_handshake_refuses_before_accepting(
    serve: Serve, verdict: Any, status: int, body: str
) -> None:
    io = roomcast.Server(serve_client=False)
    endpoint = io.websocket("/auth")
    requests: list[roomcast.HandshakeRequest] = []

    @endpoint.on_handshake
    async def check(request: roomcast.HandshakeRequest) -> Any:
        requests.append(request)
        if request.query.get("token") == "good":
            return None
        if isinstance(verdict, Exception):
            raise verdict
        return verdict

    listener = await serve(io)
    base = f"ws://127.0.0.1:{listener.port}/auth"
    got = await ws_peer(f"{base}?token=bad", close=[1000])
    assert (got["error"], got["status"], got["body"]) == ("refused", status, body)
    assert not endpoint.clients
    got = await ws_peer(f"{base}?token=good", close=[1000])
    assert got["close"][0] == 1000
    assert requests[0].path == "/auth"
    assert requests[0].address == "127.0.0.1"


async def test_close_from_the_server_with_code_and_reason(serve: Serve) -> None:
    io = roomcast.Server(serve_client=False)

    @io.websocket("/bye")
    async def bye(ws: roomcast.WebSocket) -> None:
        await ws.send("hello")
        await ws.close(4002, "see you")

    listener = await serve(io)
    client, status, _ = await RawWebSocket.open(listener.port, "/bye")
    assert status == 101
    got = await client.receive_all()
    assert (got.messages, got.close_code, got.close_reason) == (["hello"], 4002, "see you")
    assert got.eof_after_close
    await client.aclose()


async def test_keepalive_closes_a_client_that_does_not_pong(serve: Serve) -> None:
    listener = await serve(echo_server(ping_interval=0.05, ping_timeout=0.05))
    client, _, _ = await RawWebSocket.open(listener.port, "/echo")
    assert await client.read_frame() == (0x9, b"")  # a ping; no pong from this client
    got = await client.receive_all()
    assert (got.close_code, got.close_reason) == (1011, "keepalive ping timeout")
    await client.aclose()


async def test_keepalive_keeps_a_client_that_pongs(serve: Serve) -> None:
    listener = await serve(echo_server(ping_interval=0.05, ping_timeout=0.2))
    client, _, _ = await RawWebSocket.open(listener.port, "/echo")
    for _ in range(3):
        opcode, payload = await client.read_frame() or (0, b"")
        assert opcode == PING
        await client.send(frame(0xA, payload))
    await client.send(frame(TEXT, b"alive") + close(1000))
    got = await client.receive_all()
    assert got.messages == ["alive"]
    assert got.close_code == 1000
    await client.aclose()


async def test_unknown_path_is_a_clear_404(serve: Serve) -> None:
    listener = await serve(echo_server())
    for path in ("/", "/nope"):
        client, status, head = await RawWebSocket.open(listener.port, path)
        assert status == 404
        assert b"Not Found" in head or b"Not Found" in await client.reader.read()
        await client.aclose()


async def test_plain_http_get_on_an_endpoint_is_426(serve: Serve) -> None:
    listener = await serve(echo_server())
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    response = await asyncio.wait_for(reader.read(), WAIT)
    assert response.startswith(b"HTTP/1.1 426 ")
    assert b"Sec-WebSocket-Version: 13" in response
    assert response.endswith(b"Upgrade Required: /echo is a WebSocket endpoint")
    writer.close()


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({"Sec-WebSocket-Version": "8"}, 426, b"Sec-WebSocket-Version"),
        ({"Sec-WebSocket-Key": "short"}, 400, b"Sec-WebSocket-Key"),
        ({"Sec-WebSocket-Key": None}, 400, b"Sec-WebSocket-Key"),
        ({"Upgrade": "h2c"}, 400, b"Upgrade"),
    ],
)
async def test_bad_handshake_gets_a_reason(
    serve: Serve, headers: dict[str, str | None], status: int, reason: bytes
) -> None:
    listener = await serve(echo_server())
    fields = {
        "Host": "x",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        **headers,
    }
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v is not None)
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(f"GET /echo HTTP/1.1\r\n{head}\r\n".encode())
    response = await asyncio.wait_for(reader.read(), WAIT)
    assert response.startswith(f"HTTP/1.1 {status} ".encode()), response[:40]
    assert reason in response.split(b"\r\n\r\n", 1)[1]
    writer.close()


async def test_message_over_the_limit_is_1009_and_others_go_on(serve: Serve) -> None:
    listener = await serve(echo_server(max_message_size=1000))
    bystander, _, _ = await RawWebSocket.open(listener.port, "/echo")
    client, _, _ = await RawWebSocket.open(listener.port, "/echo")
    await client.send(frame(0x2, b"\x00" * 1001))
    got = await client.receive_all()
    assert got.close_code == 1009
    assert got.eof_after_close
    await bystander.send(frame(TEXT, b"still") + close(1000))
    assert (await bystander.receive_all()).messages == ["still"]
    for each in (client, bystander):
        await each.aclose()


async def test_a_handler_that_reads_slower_than_its_client_sends_holds_the_client(
    serve: Serve,
) -> None:
    """Past ``UNREAD`` messages its handler has not read, a client is not read (its TCP
    window fills); the others are served meanwhile; once the handler reads on, every
    message arrives, in order."""
    io = echo_server()
    gate, first, handlers = asyncio.Event(), asyncio.Event(), []
    got: list[str | bytes] = []

    @io.websocket("/slow")
    async def slow(ws: roomcast.WebSocket) -> None:
        handlers.append(ws)
        async for message in ws:
            got.append(message)
            first.set()
            await gate.wait()

    listener = await serve(io)
    bystander, _, _ = await RawWebSocket.open(listener.port, "/echo")
    client, _, _ = await RawWebSocket.open(listener.port, "/slow")
    await client.send(b"".join(frame(TEXT, str(n).encode()) for n in range(2000)))
    await asyncio.wait_for(first.wait(), WAIT)
    for n in range(10):  # many loop turns
        await bystander.send(frame(TEXT, f"ping {n}".encode()))
        assert await bystander.read_frame() == (TEXT, f"ping {n}".encode())
    assert UNREAD <= handlers[0].unread < UNREAD + FRAMES_PER_TURN
    gate.set()
    await client.send(close(1000))
    assert (await client.receive_all()).close_code == 1000
    assert got == [str(n) for n in range(2000)]
    for each in (client, bystander):
        await each.aclose()


async def test_server_shutdown_closes_clients_with_1001(serve: Serve) -> None:
    io = echo_server()
    listener = await serve(io)
    client, _, _ = await RawWebSocket.open(listener.port, "/echo-task")
    closing = asyncio.create_task(listener.aclose())
    got = await client.receive_all()
    assert got.close_code == 1001
    await client.aclose()
    await closing


def test_close_frame_payload_helper() -> None:
    assert close(1000, b"x")[:1] == b"\x88"
    assert struct.unpack("!H", close(4000)[6:8])[0] ^ 0 >= 0  # masked: just well-formed

"""The native HTTP/WebSocket server (``io.listen``) on 127.0.0.1, port 0, against raw peers.

HTTP is spoken byte for byte over ``asyncio.open_connection``; WebSocket peers are the
``websockets`` client (a standards-compliant reference), aiohttp's ``ws_connect``, and a
hand-framed client over a bare TCP stream for what no library will send (unmasked frames,
invalid UTF-8, frames in the same segment as the upgrade request).

The server is a plain ``EngineServer`` whose ``message`` handler echoes every message back,
and whose ``close`` handler records (sid, reason). Nothing sleeps to hide a race: every wait
is on a response, a frame or an event, with a timeout scaled by ROOMCAST_TEST_TIMEOUT_FACTOR.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket as net
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.frames import Frame
from websockets.frames import Opcode as WsOpcode

import roomcast
from roomcast.transports.native import _cached_target, _target

FACTOR = float(os.environ.get("ROOMCAST_TEST_TIMEOUT_FACTOR", "1"))


def seconds(value: float) -> float:
    """A duration in seconds, scaled by ROOMCAST_TEST_TIMEOUT_FACTOR."""
    return value * FACTOR


WAIT = seconds(10.0)
EIO_PATH = "/engine.io/"
POLLING = f"{EIO_PATH}?EIO=4&transport=polling"
WEBSOCKET = f"{EIO_PATH}?EIO=4&transport=websocket"
#: RFC 6455 section 1.3: the sample nonce and the Sec-WebSocket-Accept it must produce.
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


async def until(predicate: Callable[[], bool], what: str, within: float = WAIT) -> None:
    """Wait (yielding to the loop) until ``predicate()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


# -- the server ------------------------------------------------------------------------------


@dataclass
class Served:
    """A running EngineServer with an echo handler and a record of closed sessions."""

    io: roomcast.EngineServer
    port: int
    closes: asyncio.Queue[tuple[str, str]] = field(default_factory=asyncio.Queue)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{WEBSOCKET}"

    async def closed(self, within: float = WAIT) -> tuple[str, str]:
        """The next (sid, reason) the ``close`` handler saw."""
        return await asyncio.wait_for(self.closes.get(), within)


Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``served = await serve(**engine_options)``: closed at teardown."""
    listeners: list[Any] = []

    async def start(**options: Any) -> Served:
        io = roomcast.EngineServer(path=EIO_PATH, **options)
        io.on("message", lambda socket, data: socket.send(data))
        listener = await io.listen(host="127.0.0.1", port=0)
        listeners.append(listener)
        served = Served(io, listener.port)
        io.on("close", lambda socket, reason: served.closes.put_nowait((socket.sid, reason)))
        return served

    yield start
    for listener in reversed(listeners):
        await collect_polling_sessions(listener.engine, listener.port)
        await asyncio.wait_for(listener.aclose(), WAIT)


async def collect_polling_sessions(io: roomcast.EngineServer, port: int) -> None:
    """Close the polling sessions left open and fetch their CLOSE packet, as their clients
    would; otherwise ``aclose`` waits two seconds for them to do so."""
    for sid, socket in list(io.sockets.items()):
        if socket.transport != "polling":
            continue
        socket.close()  # a pending GET gets the CLOSE packet right away
        if sid in io.sockets:
            client = RawClient(*await asyncio.open_connection("127.0.0.1", port))
            await client.send(request("GET", f"{POLLING}&sid={sid}"))
            assert "1" in (await client.response()).text.split("\x1e")
            await client.aclose()


# -- raw HTTP --------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    lines = [f"{method} {target} {version}", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers)]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class RawClient:
    """Bytes over one TCP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self, within: float = WAIT) -> Response:
        """The next HTTP response; its body is read by Content-Length (which must be there,
        except where HTTP says there is no body)."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), within)
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        version, status, *_ = status_line.split(" ", 2)
        assert version == "HTTP/1.1", status_line
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"duplicate header {name}"
            headers[name.lower()] = value.strip()
        code = int(status)
        if code < 200 or code in (204, 304):
            return Response(code, headers, b"")
        assert "content-length" in headers, f"no Content-Length in {status_line}: {headers}"
        body = await asyncio.wait_for(
            self.reader.readexactly(int(headers["content-length"])), within
        )
        return Response(code, headers, body)

    async def at_eof(self, within: float = WAIT) -> bool:
        """Whether the server closed the connection (nothing more arrives)."""
        return await asyncio.wait_for(self.reader.read(1), within) == b""

    async def aclose(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


Connect = Callable[[int], Awaitable[RawClient]]


@pytest.fixture
async def raw() -> AsyncIterator[Connect]:
    """``client = await raw(port)``: closed at teardown."""
    clients: list[RawClient] = []

    async def open_(port: int) -> RawClient:
        client = RawClient(*await asyncio.open_connection("127.0.0.1", port))
        clients.append(client)
        return client

    yield open_
    for client in clients:
        await client.aclose()


async def handshake(client: RawClient) -> str:
    """Open a polling session on ``client``'s connection; its sid."""
    await client.send(request("GET", POLLING))
    response = await client.response()
    assert response.status == 200, response
    assert response.text.startswith("0{"), response.text
    sid: str = json.loads(response.text[1:])["sid"]
    return sid


# -- raw WebSocket ---------------------------------------------------------------------------


def upgrade_request(
    target: str = WEBSOCKET,
    *,
    key: str | None = SAMPLE_KEY,
    version: str | None = "13",
) -> bytes:
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade")]
    if key is not None:
        headers.append(("Sec-WebSocket-Key", key))
    if version is not None:
        headers.append(("Sec-WebSocket-Version", version))
    return request("GET", target, headers)


def masked(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame (websockets' serializer, random mask)."""
    return Frame(WsOpcode(opcode), payload, fin=fin).serialize(mask=True)


def unmasked(opcode: int, payload: bytes) -> bytes:
    return Frame(WsOpcode(opcode), payload).serialize(mask=False)


@dataclass
class ServerFrame:
    fin: bool
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int:
        assert self.opcode == OP_CLOSE, self
        (code,) = struct.unpack("!H", self.payload[:2])
        return int(code)


class RawWebSocket:
    """A hand-framed WebSocket client over ``RawClient``."""

    def __init__(self, client: RawClient) -> None:
        self.client = client

    async def send(self, data: bytes) -> None:
        await self.client.send(data)

    async def frame(self, within: float = WAIT) -> ServerFrame:
        reader = self.client.reader

        async def read() -> ServerFrame:
            first, second = await reader.readexactly(2)
            assert not second & 0x80, "server frames must not be masked"
            assert not first & 0x70, "no extension was negotiated: RSV bits must be clear"
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await reader.readexactly(8))
            return ServerFrame(bool(first & 0x80), first & 0x0F, await reader.readexactly(length))

        return await asyncio.wait_for(read(), within)

    async def text(self) -> str:
        frame = await self.frame()
        assert (frame.opcode, frame.fin) == (OP_TEXT, True), frame
        return frame.payload.decode()

    async def close_code(self) -> int:
        """Read up to the server's CLOSE frame (skipping PONGs); its code. The server then
        closes the TCP connection."""
        while (frame := await self.frame()).opcode == OP_PONG:
            pass
        code = frame.close_code
        assert await self.client.at_eof()
        return code


async def open_raw_websocket(raw: Connect, served: Served) -> tuple[RawWebSocket, str]:
    """An Engine.IO session over a raw WebSocket: the socket and the sid from OPEN."""
    client = await raw(served.port)
    await client.send(upgrade_request())
    response = await client.response()
    assert response.status == 101, response
    ws = RawWebSocket(client)
    opened = await ws.text()
    assert opened.startswith("0{"), opened
    return ws, json.loads(opened[1:])["sid"]


async def recv(ws: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), WAIT)


async def open_session(ws: ClientConnection) -> str:
    """Read the OPEN packet of a WebSocket session; its sid."""
    opened = await recv(ws)
    assert isinstance(opened, str), opened
    assert opened.startswith("0{"), opened
    handshake = json.loads(opened[1:])
    assert handshake["upgrades"] == []
    sid: str = handshake["sid"]
    return sid


async def assert_serves_another(served: Served) -> None:
    """A new client still gets a session and its echo."""
    async with connect(served.ws_url, ping_interval=None, open_timeout=WAIT) as ws:
        await open_session(ws)
        await ws.send("4still serving")
        assert await recv(ws) == "4still serving"


# == HTTP =====================================================================================


async def test_two_polling_requests_on_one_connection(serve: Serve, raw: Connect) -> None:
    served = await serve()
    client = await raw(served.port)
    sid = await handshake(client)

    await client.send(request("POST", f"{POLLING}&sid={sid}", body=b"4hello"))
    posted = await client.response()
    await client.send(request("GET", f"{POLLING}&sid={sid}"))
    polled = await client.response()

    assert (posted.status, posted.text) == (200, "ok")
    assert (polled.status, polled.text) == (200, "4hello")
    assert "connection" not in posted.headers
    assert "connection" not in polled.headers


async def test_pipelined_requests_are_answered_in_order(serve: Serve, raw: Connect) -> None:
    served = await serve()
    client = await raw(served.port)

    await client.send(
        request("GET", POLLING)
        + request("GET", "/elsewhere/")
        + request("GET", f"{EIO_PATH}?EIO=3&transport=polling")
        + request("GET", f"{EIO_PATH}?EIO=4&transport=nope")
        + request("GET", POLLING)
    )
    responses = [await client.response() for _ in range(5)]

    assert [r.status for r in responses] == [200, 404, 400, 400, 200]
    assert responses[0].text.startswith("0{")
    assert responses[4].text.startswith("0{")
    assert responses[2].json()["code"] == 5  # unsupported protocol version
    assert responses[3].json()["code"] == 0  # unknown transport
    assert responses[0].text != responses[4].text  # two sessions


async def test_pipelined_request_waits_behind_a_pending_poll(serve: Serve, raw: Connect) -> None:
    served = await serve()
    sid = await handshake(await raw(served.port))
    client = await raw(served.port)

    await client.send(request("GET", f"{POLLING}&sid={sid}") + request("GET", "/elsewhere/"))
    socket = served.io.sockets[sid]
    await until(lambda: socket.poll_pending, "the GET to wait for data")
    socket.send("late")

    first, second = await client.response(), await client.response()
    assert (first.status, first.text) == (200, "4late")
    assert second.status == 404


async def test_each_request_on_a_connection_is_checked_by_its_own_headers(
    serve: Serve, raw: Connect
) -> None:
    served = await serve(cors_allowed_origins="https://app.example")
    client = await raw(served.port)
    sid = await handshake(client)
    target = f"{POLLING}&sid={sid}"
    allowed, other = [("Origin", "https://app.example")], [("Origin", "https://other.example")]

    await client.send(request("POST", target, allowed, body=b"4one"))
    posted = await client.response()
    await client.send(request("GET", target, other))  # the same request but its Origin
    refused = await client.response()
    await client.send(request("GET", target, allowed))
    polled = await client.response()
    await client.send(request("GET", target))  # no Origin: not a browser, no CORS headers
    socket = served.io.sockets[sid]
    await until(lambda: socket.poll_pending, "the GET to wait for data")
    socket.send("two")
    waited = await client.response()

    assert (posted.status, posted.headers["access-control-allow-origin"]) == (
        200,
        "https://app.example",
    )
    assert (refused.status, refused.json()["code"]) == (403, 4)  # Forbidden
    assert (polled.status, polled.text) == (200, "4one")
    assert polled.headers["access-control-allow-origin"] == "https://app.example"
    assert (waited.status, waited.text) == (200, "4two")
    assert "access-control-allow-origin" not in waited.headers


async def test_waiting_poll_answers_with_its_cors_headers(serve: Serve, raw: Connect) -> None:
    served = await serve(cors_allowed_origins="https://app.example")
    sid = await handshake(await raw(served.port))
    client = await raw(served.port)

    await client.send(request("GET", f"{POLLING}&sid={sid}", [("Origin", "https://app.example")]))
    socket = served.io.sockets[sid]
    await until(lambda: socket.poll_pending, "the GET to wait for data")
    socket.send("late")
    response = await client.response()

    assert (response.status, response.text) == (200, "4late")
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert response.headers["access-control-allow-credentials"] == "true"


async def test_waiting_poll_with_connection_close_closes_after_its_answer(
    serve: Serve, raw: Connect
) -> None:
    served = await serve()
    sid = await handshake(await raw(served.port))
    client = await raw(served.port)

    await client.send(request("GET", f"{POLLING}&sid={sid}", [("Connection", "close")]))
    socket = served.io.sockets[sid]
    await until(lambda: socket.poll_pending, "the GET to wait for data")
    socket.send("late")
    response = await client.response()

    assert (response.status, response.text) == (200, "4late")
    assert response.headers.get("connection") == "close"
    assert await client.at_eof()
    socket.send("next")  # the session lives on: the next GET, on another connection, has it
    again = await raw(served.port)
    await again.send(request("GET", f"{POLLING}&sid={sid}"))
    assert (await again.response()).text == "4next"


async def test_connection_close_closes_after_the_response(serve: Serve, raw: Connect) -> None:
    served = await serve()
    client = await raw(served.port)

    await client.send(request("GET", POLLING, [("Connection", "close")]))
    response = await client.response()

    assert response.status == 200
    assert response.text.startswith("0{")
    assert response.headers.get("connection") == "close"
    assert await client.at_eof()


async def test_http_10_closes_after_the_response(serve: Serve, raw: Connect) -> None:
    served = await serve()
    client = await raw(served.port)

    await client.send(request("GET", POLLING, version="HTTP/1.0"))
    response = await client.response()

    assert response.status == 200
    assert response.text.startswith("0{")
    assert response.headers.get("connection") == "close"
    assert await client.at_eof()


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32), id="tls-hello"),
        pytest.param(b"HELLO\r\n\r\n", id="no-method"),
        pytest.param(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", id="bad-header"),
        pytest.param(b"GET /engine.io/ HTTP/9\r\n\r\n", id="bad-version"),
        # httptools takes CONNECT for an upgrade; its target is no URL (found by fuzz/)
        pytest.param(b"CONNECT example.com:443 HTTP/1.1\r\n\r\n", id="connect-authority"),
    ],
)
async def test_garbage_is_400_and_closes(serve: Serve, raw: Connect, garbage: bytes) -> None:
    served = await serve()
    client = await raw(served.port)

    await client.send(garbage)
    response = await client.response()

    assert response.status == 400
    assert response.headers.get("connection") == "close"
    assert await client.at_eof()
    await handshake(await raw(served.port))  # the server goes on


async def test_garbage_after_a_pipelined_request_is_answered_after_it(
    serve: Serve, raw: Connect
) -> None:
    """RFC 9112 9.3.2: responses go out in the order of the requests. The 400 for bytes that
    are not a request comes after the answer to the valid request before them."""
    served = await serve()
    client = await raw(served.port)

    await client.send(request("GET", POLLING) + b"HELLO\r\n\r\n")
    first = await client.response()

    assert (first.status, first.text[:2]) == (200, "0{"), first
    assert (await client.response()).status == 400
    assert await client.at_eof()


async def test_a_request_head_that_never_ends_is_431_and_closes(serve: Serve, raw: Connect) -> None:
    """A head still incomplete past 16 KiB (Node's limit) is not kept growing: 431 Request
    Header Fields Too Large, then the connection ends; the server goes on."""
    served = await serve()
    client = await raw(served.port)
    await client.send(b"GET " + POLLING.encode() + b" HTTP/1.1\r\nHost: x\r\n")
    filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    for _ in range(256):  # 256 KiB in many reads, never ending the head
        await client.send(filler)
    response = await client.response()
    assert response.status == 431
    assert response.headers.get("connection") == "close"
    assert await client.at_eof()
    await handshake(await raw(served.port))  # the server goes on


async def test_a_long_head_under_the_limit_and_pipelined_requests_are_served(
    serve: Serve, raw: Connect
) -> None:
    served = await serve()
    client = await raw(served.port)
    cookie = ("Cookie", "c=" + "b" * 12_000)  # 12 KB, sent in pieces
    head = request("GET", POLLING, [cookie])
    for start in range(0, len(head), 1000):
        await client.send(head[start : start + 1000])
    assert (await client.response()).status == 200
    await client.send(request("GET", POLLING) * 300)  # ~20 KB of heads in one write
    statuses = {(await client.response()).status for _ in range(300)}
    assert statuses == {200}


@pytest.mark.parametrize("target", ["/", "/elsewhere/", "/engine.iox/?EIO=4&transport=polling"])
async def test_path_outside_the_engine_path_is_404(serve: Serve, raw: Connect, target: str) -> None:
    served = await serve()
    client = await raw(served.port)

    await client.send(request("GET", target))
    response = await client.response()

    assert response.status == 404
    await handshake(client)  # same connection, still served (keep-alive)


async def test_websocket_upgrade_outside_the_engine_path_is_404(serve: Serve, raw: Connect) -> None:
    served = await serve()
    client = await raw(served.port)

    await client.send(upgrade_request("/elsewhere/?EIO=4&transport=websocket"))

    assert (await client.response()).status == 404
    assert await client.at_eof()


async def test_responses_carry_their_content_length(serve: Serve, raw: Connect) -> None:
    served = await serve()
    client = await raw(served.port)
    sid = await handshake(client)
    requests = [
        request("GET", POLLING),
        request("POST", f"{POLLING}&sid={sid}", body=b"4" + "é".encode() * 10),
        request("GET", f"{POLLING}&sid={sid}"),
        request("GET", f"{POLLING}&sid=unknown"),
        request("GET", "/elsewhere/"),
    ]
    for raw_request in requests:
        await client.send(raw_request)
        response = await client.response()  # reads exactly Content-Length bytes
        assert int(response.headers["content-length"]) == len(response.body) > 0
    await client.send(request("GET", "/elsewhere/"))  # nothing was left unread before it
    assert (await client.response()).status == 404


async def test_no_content_response_has_no_content_length(serve: Serve, raw: Connect) -> None:
    """RFC 9110 8.6: a server MUST NOT send Content-Length in a 204 response."""
    served = await serve(cors_allowed_origins="*")
    client = await raw(served.port)

    await client.send(
        request(
            "OPTIONS",
            POLLING,
            [("Origin", "http://example.com"), ("Access-Control-Request-Method", "POST")],
        )
    )
    response = await client.response()

    assert response.status == 204
    assert "content-length" not in response.headers, response.headers


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_oversize_post_is_413_and_closes_that_session(
    serve: Serve, raw: Connect, chunked: bool
) -> None:
    served = await serve(max_http_buffer_size=1000)
    client = await raw(served.port)
    sid = await handshake(client)
    other = await handshake(client)
    body = b"4" + b"x" * 1500

    if chunked:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:700], body[700:]))
        await client.send(
            request("POST", f"{POLLING}&sid={sid}", [("Transfer-Encoding", "chunked")]).replace(
                b"Content-Length: 0\r\n", b""
            )
            + chunks
            + b"0\r\n\r\n"
        )
    else:
        await client.send(request("POST", f"{POLLING}&sid={sid}", body=body))
    response = await client.response()

    assert response.status == 413
    assert await served.closed() == (sid, "transport error")
    await client.send(request("GET", f"{POLLING}&sid={sid}"))
    gone = await client.response()
    assert (gone.status, gone.json()["code"]) == (400, 1)  # Session ID unknown
    # The other session, on the same connection, is untouched.
    await client.send(request("POST", f"{POLLING}&sid={other}", body=b"4fine"))
    assert (await client.response()).text == "ok"
    await client.send(request("GET", f"{POLLING}&sid={other}"))
    assert (await client.response()).text == "4fine"
    assert served.closes.empty()


async def test_client_gone_mid_poll_closes_with_transport_error(serve: Serve, raw: Connect) -> None:
    served = await serve()  # heartbeat: 25 s + 20 s, far beyond the wait below
    sid = await handshake(await raw(served.port))
    polling = await raw(served.port)
    await polling.send(request("GET", f"{POLLING}&sid={sid}"))
    socket = served.io.sockets[sid]
    await until(lambda: socket.poll_pending, "the GET to wait for data")

    await polling.aclose()

    assert await served.closed(within=seconds(5)) == (sid, "transport error")
    assert sid not in served.io.sockets
    await handshake(await raw(served.port))


# == HTTP: timeouts (slowloris) ===============================================================


async def trickle(client: RawClient, data: bytes, pause: float) -> None:
    """Send ``data`` a byte at a time (a slowloris client) until the server closes."""
    for byte in data:
        client.writer.write(bytes((byte,)))
        await asyncio.sleep(pause)  # the pace of the attack, not a wait for the server
        if client.reader.at_eof() or client.writer.is_closing():
            return


async def test_request_heads_sent_a_byte_at_a_time_get_408_and_are_closed(
    serve: Serve, raw: Connect
) -> None:
    """Fifty connections trickle their request head a byte every 20 ms, one sends nothing:
    each is answered 408 and closed once ``header_timeout`` has passed since it opened;
    a WebSocket session and a polling handshake carry on meanwhile, and afterwards."""
    served = await serve()
    listener = await served.io.listen(host="127.0.0.1", port=0, header_timeout=seconds(0.3))
    port = listener.port
    try:
        ws, _ = await open_raw_websocket(raw, Served(served.io, port))
        silent = await raw(port)
        slow = [await raw(port) for _ in range(50)]
        head = request("GET", POLLING, [("X-Padding", "x" * 200)])
        trickling = [asyncio.ensure_future(trickle(c, head, 0.02)) for c in slow]
        await ws.send(masked(OP_TEXT, b"4during"))
        assert await ws.text() == "4during"
        for client in [silent, *slow]:
            response = await client.response()
            assert response.status == 408, response
            assert response.headers["connection"] == "close"
            assert await client.at_eof()
        await asyncio.wait_for(asyncio.gather(*trickling), WAIT)
        await ws.send(masked(OP_TEXT, b"4after"))  # the WebSocket has no such timeout
        assert await ws.text() == "4after"
        assert await handshake(await raw(port))
    finally:
        await asyncio.wait_for(listener.aclose(), WAIT)


async def test_a_request_body_sent_slowly_gets_408_and_is_closed(
    serve: Serve, raw: Connect
) -> None:
    """A polling POST whose head comes at once but whose body trickles in: the request
    must come whole within ``header_timeout``, body included; answered 408, closed, and
    the session it posted to is not fed half a body. A whole POST is still answered."""
    served = await serve()
    listener = await served.io.listen(host="127.0.0.1", port=0, header_timeout=seconds(0.3))
    try:
        sid = await handshake(await raw(listener.port))
        slow = await raw(listener.port)
        body = b"4" + b"x" * 100
        post = request("POST", f"{POLLING}&sid={sid}", body=body)
        head, _, _ = post.partition(b"\r\n\r\n")
        await slow.send(head + b"\r\n\r\n")
        trickling = asyncio.ensure_future(trickle(slow, body, 0.02))
        response = await slow.response()
        assert response.status == 408, response
        assert await slow.at_eof()
        await asyncio.wait_for(trickling, WAIT)
        poster = await raw(listener.port)
        await poster.send(request("POST", f"{POLLING}&sid={sid}", body=b"4whole"))
        assert (await poster.response()).text == "ok"
    finally:
        await collect_polling_sessions(served.io, listener.port)
        await asyncio.wait_for(listener.aclose(), WAIT)


async def test_an_idle_keep_alive_connection_is_closed(serve: Serve, raw: Connect) -> None:
    """After a response, a kept-alive connection that sends nothing more is closed after
    ``keep_alive_timeout`` (no response: nothing was asked); a pending long-poll is not
    idle, and is answered after that time."""
    served = await serve()
    listener = await served.io.listen(
        host="127.0.0.1", port=0, header_timeout=None, keep_alive_timeout=seconds(0.3)
    )
    try:
        polling, idle = await raw(listener.port), await raw(listener.port)
        sid = await handshake(polling)
        await handshake(idle)
        await polling.send(request("GET", f"{POLLING}&sid={sid}"))  # waits for packets
        assert await idle.at_eof()
        poster = await raw(listener.port)
        await poster.send(request("POST", f"{POLLING}&sid={sid}", body=b"4hi"))
        assert (await poster.response()).text == "ok"
        assert (await polling.response()).text == "4hi"
    finally:
        await collect_polling_sessions(served.io, listener.port)
        await asyncio.wait_for(listener.aclose(), WAIT)


# == WebSocket: the opening handshake =========================================================


async def test_upgrade_answers_101_with_the_rfc_accept_key(serve: Serve, raw: Connect) -> None:
    served = await serve()
    client = await raw(served.port)

    await client.send(upgrade_request(key=SAMPLE_KEY))
    response = await client.response()

    assert response.status == 101
    assert response.headers["upgrade"].lower() == "websocket"
    assert response.headers["connection"].lower() == "upgrade"
    assert response.headers["sec-websocket-accept"] == SAMPLE_ACCEPT
    assert "content-length" not in response.headers
    opened = await RawWebSocket(client).text()
    assert opened.startswith("0{")
    assert json.loads(opened[1:])["sid"] in served.io.sockets


async def test_upgrade_accept_key_for_a_random_key(serve: Serve, raw: Connect) -> None:
    served = await serve()
    client = await raw(served.port)
    key = base64.b64encode(os.urandom(16)).decode()

    await client.send(upgrade_request(key=key))
    response = await client.response()

    expected = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    assert response.status == 101
    assert response.headers["sec-websocket-accept"] == base64.b64encode(expected).decode()


@pytest.mark.parametrize("key", [None, ""], ids=["missing", "empty"])
async def test_upgrade_without_a_key_is_400(serve: Serve, raw: Connect, key: str | None) -> None:
    served = await serve()
    client = await raw(served.port)

    await client.send(upgrade_request(key=key))
    response = await client.response()

    assert response.status == 400
    assert await client.at_eof()
    assert not served.io.sockets
    await assert_serves_another(served)


async def test_upgrade_with_an_unsupported_version_is_426(serve: Serve, raw: Connect) -> None:
    """RFC 6455 4.2.2 / 4.4: an unknown Sec-WebSocket-Version aborts the handshake with an
    error (such as 426) and the |Sec-WebSocket-Version| the server supports."""
    served = await serve()
    client = await raw(served.port)

    await client.send(upgrade_request(version="8"))
    response = await client.response()

    assert response.status == 426, response.status
    assert response.headers.get("sec-websocket-version") == "13"


async def test_message_in_the_same_segment_as_the_upgrade_is_processed(
    serve: Serve, raw: Connect
) -> None:
    served = await serve()
    client = await raw(served.port)

    await client.send(upgrade_request() + masked(OP_TEXT, b"4early") + masked(OP_PING, b"hb"))

    assert (await client.response()).status == 101
    ws = RawWebSocket(client)
    assert (await ws.text()).startswith("0{")
    assert await ws.text() == "4early"
    pong = await ws.frame()
    assert (pong.opcode, pong.payload) == (OP_PONG, b"hb")


# == WebSocket: messages ======================================================================


async def test_echo_over_the_websockets_client(serve: Serve) -> None:
    served = await serve()
    async with connect(served.ws_url, ping_interval=None, open_timeout=WAIT) as ws:
        sid = await open_session(ws)
        assert served.io.sockets[sid].transport == "websocket"

        await ws.send("4hello")
        assert await recv(ws) == "4hello"
        await ws.send(b"\x00\x01\xff")
        assert await recv(ws) == b"\x00\x01\xff"
        big = "4" + "é" * 40_000  # 80 001 bytes: the 64-bit length, both ways
        await ws.send(big)
        assert await recv(ws) == big


async def test_fragmented_message_is_reassembled(serve: Serve) -> None:
    served = await serve()
    async with connect(served.ws_url, ping_interval=None, open_timeout=WAIT) as ws:
        await open_session(ws)

        await ws.send(["4frag", "men", "ted ✓"])  # TEXT, CONTINUATION, CONTINUATION (FIN)
        assert await recv(ws) == "4fragmented ✓"
        await ws.send([b"\x01", b"\x02" * 300, b"\x03"])
        assert await recv(ws) == b"\x01" + b"\x02" * 300 + b"\x03"


async def test_websocket_ping_gets_a_pong(serve: Serve) -> None:
    served = await serve()
    async with connect(served.ws_url, ping_interval=None, open_timeout=WAIT) as ws:
        await open_session(ws)

        pong = await ws.ping(b"are you there")
        latency = await asyncio.wait_for(pong, WAIT)

        assert latency >= 0
        await ws.send("4after ping")
        assert await recv(ws) == "4after ping"


@pytest.mark.parametrize("code", [1000, 1001, 4000])
async def test_client_close_handshake_echoes_the_code(serve: Serve, code: int) -> None:
    served = await serve()
    async with connect(served.ws_url, ping_interval=None, open_timeout=WAIT) as ws:
        sid = await open_session(ws)

        await asyncio.wait_for(ws.close(code, "bye"), WAIT)

        assert ws.close_code == code  # the code in the server's CLOSE frame
        assert await served.closed() == (sid, "transport close")
    await assert_serves_another(served)


async def test_echo_and_close_over_aiohttp(serve: Serve) -> None:
    served = await serve()
    async with aiohttp.ClientSession() as http, http.ws_connect(served.ws_url) as ws:
        opened = await ws.receive_str(timeout=WAIT)
        assert opened.startswith("0{")
        sid = json.loads(opened[1:])["sid"]

        await ws.send_str("4from aiohttp")
        assert await ws.receive_str(timeout=WAIT) == "4from aiohttp"
        await ws.send_bytes(b"\x07" * 70_000)
        assert await ws.receive_bytes(timeout=WAIT) == b"\x07" * 70_000

        await asyncio.wait_for(ws.close(), WAIT)
        assert ws.close_code == 1000
    assert await served.closed() == (sid, "transport close")


async def test_many_small_frames_in_one_write_are_all_processed(serve: Serve, raw: Connect) -> None:
    served = await serve()
    ws, _sid = await open_raw_websocket(raw, served)
    frames = [masked(OP_TEXT, f"4m{i}".encode()) for i in range(300)]
    frames.insert(150, masked(OP_PING, b"mid"))
    frames.insert(100, masked(OP_PONG, b"unsolicited"))  # RFC 6455 5.5.3: no answer expected

    await ws.send(b"".join(frames))

    received: list[str] = []
    pongs = 0
    while len(received) < 300:
        frame = await ws.frame()
        if frame.opcode == OP_PONG:
            assert frame.payload == b"mid"
            pongs += 1
        else:
            assert frame.opcode == OP_TEXT
            received.append(frame.payload.decode())
    assert received == [f"4m{i}" for i in range(300)]
    assert pongs == 1


async def test_a_flooding_client_takes_turns_with_the_others(raw: Connect) -> None:
    """One client writes 5000 messages at once; another's message, sent once the server has
    started on the 5000, is answered long before they are all dispatched (reads of one
    connection are cut into turns of ``FRAMES_PER_TURN`` frames, the others read between
    them). The 5000 all arrive, in order, and the connection reads on afterwards."""
    io = roomcast.EngineServer(path=EIO_PATH)
    noise: list[str] = []
    started = asyncio.Event()

    def on_message(socket: roomcast.EngineSocket, data: str | bytes) -> None:
        if data == "noise":
            noise.append(data)
            started.set()
        else:
            socket.send(f"{data} after {len(noise)}")

    io.on("message", on_message)
    listener = await io.listen(host="127.0.0.1", port=0)
    served = Served(io, listener.port)
    try:
        flooder, _ = await open_raw_websocket(raw, served)
        other, _ = await open_raw_websocket(raw, served)
        await flooder.send(masked(OP_TEXT, b"4noise") * 5000)  # ~60 KB: one read
        await asyncio.wait_for(started.wait(), WAIT)
        await other.send(masked(OP_TEXT, b"4hello"))
        answer = await other.text()
        assert answer.startswith("4hello after "), answer
        assert int(answer.rsplit(" ", 1)[1]) < 2500, answer
        await flooder.send(masked(OP_TEXT, b"4last"))
        assert await flooder.text() == "4last after 5000"
        assert noise == ["noise"] * 5000
    finally:
        await asyncio.wait_for(listener.aclose(), WAIT)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def read_to_the_end(client: RawClient) -> None:
    while await asyncio.wait_for(client.reader.read(65_536), WAIT):
        pass


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
async def test_a_client_that_stops_reading_is_aborted_and_the_others_lose_nothing(
    serve: Serve, raw: Connect
) -> None:
    """Past ``max_write_buffer`` the connection is aborted, not closed gracefully (that would
    wait for a buffer that never drains): the server's file descriptor goes at once, the
    client sees a reset, and a reading client gets every message."""
    served = await serve(max_write_buffer=256 * 1024)
    reader, reader_sid = await open_raw_websocket(raw, served)
    sock = net.socket(net.AF_INET, net.SOCK_STREAM)
    sock.setsockopt(net.SOL_SOCKET, net.SO_RCVBUF, 4096)  # a small window: fills fast
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", served.port))
    stalled = RawClient(*await asyncio.open_connection(sock=sock, limit=4096))
    try:
        await stalled.send(upgrade_request())
        assert (await stalled.response()).status == 101
        assert (await RawWebSocket(stalled).text()).startswith("0{")
        stalled_sid = next(sid for sid in served.io.sockets if sid != reader_sid)
        fds = open_fds()  # both ends of the stalled connection are open
        payload = "x" * 65_536

        sent = 0
        while stalled_sid in served.io.sockets:  # the reader reads meanwhile
            for engine_socket in list(served.io.sockets.values()):
                engine_socket.send(f"{sent} {payload}")
            sent += 1
            frame = await reader.frame()
            assert frame.payload.decode() == f"4{sent - 1} {payload}"
        assert await served.closed() == (stalled_sid, "transport error")
        await until(lambda: open_fds() == fds - 1, "the server to let the aborted connection go")
        with pytest.raises(ConnectionResetError):  # not an end of stream: a reset
            await read_to_the_end(stalled)
    finally:
        stalled.writer.close()
    served.io.sockets[reader_sid].send("after")
    assert (await reader.frame()).payload == b"4after"


async def test_polling_session_upgrades_to_websocket(serve: Serve, raw: Connect) -> None:
    served = await serve()
    client = await raw(served.port)
    await client.send(request("GET", POLLING))
    opened = json.loads((await client.response()).text[1:])
    assert opened["upgrades"] == ["websocket"]
    sid = opened["sid"]
    polling = f"{POLLING}&sid={sid}"

    url = f"ws://127.0.0.1:{served.port}{WEBSOCKET}&sid={sid}"
    async with connect(url, ping_interval=None, open_timeout=WAIT) as ws:
        await client.send(request("GET", polling))  # the client's pending poll
        await until(lambda: served.io.sockets[sid].poll_pending, "the GET to wait")
        await ws.send("2probe")
        assert await recv(ws) == "3probe"
        assert (await client.response()).text == "6"  # the paused poll ends with a NOOP
        await ws.send("5")
        await until(lambda: served.io.sockets[sid].transport == "websocket", "the upgrade")

        await ws.send("4over websocket")
        assert await recv(ws) == "4over websocket"
        served.io.sockets[sid].send("pushed")
        assert await recv(ws) == "4pushed"

    assert await served.closed() == (sid, "transport close")


# == WebSocket: failures ======================================================================


async def test_oversize_message_is_1009_for_that_connection_only(serve: Serve) -> None:
    served = await serve(max_http_buffer_size=1000)
    async with connect(served.ws_url, ping_interval=None, open_timeout=WAIT) as bystander:
        await open_session(bystander)
        async with connect(served.ws_url, ping_interval=None, open_timeout=WAIT) as ws:
            sid = await open_session(ws)

            await ws.send("4" + "x" * 1500)
            await asyncio.wait_for(ws.wait_closed(), WAIT)

            assert ws.close_code == 1009
            assert await served.closed() == (sid, "transport error")
        await bystander.send("4" + "y" * 999)  # at the limit: fine
        assert await recv(bystander) == "4" + "y" * 999
        assert served.closes.empty()  # the bystander's session is still open
    await assert_serves_another(served)


async def test_oversize_fragmented_message_is_1009(serve: Serve, raw: Connect) -> None:
    """Three fragments of 100 bytes, the limit 250: the message is over it. The last
    fragment is sent after a PING round trip, so it arrives alone in its TCP segment."""
    served = await serve(max_http_buffer_size=250)
    ws, sid = await open_raw_websocket(raw, served)

    await ws.send(masked(OP_TEXT, b"4" + b"a" * 99, fin=False))
    await ws.send(masked(OP_CONTINUATION, b"b" * 100, fin=False))
    await ws.send(masked(OP_PING, b"sync"))
    pong = await ws.frame()
    assert (pong.opcode, pong.payload) == (OP_PONG, b"sync")
    await ws.send(masked(OP_CONTINUATION, b"c" * 100, fin=True))

    frame = await ws.frame()
    assert frame.opcode == OP_CLOSE, f"got {frame.payload[:12]!r}... instead of a CLOSE frame"
    assert frame.close_code == 1009
    assert await served.closed() == (sid, "transport error")
    await assert_serves_another(served)


@pytest.mark.parametrize(
    "payload",
    [b"4\xff", b"4caf\xc3", b"4\xed\xa0\x80"],
    ids=["invalid-byte", "truncated", "surrogate"],
)
async def test_invalid_utf8_text_is_1007(serve: Serve, raw: Connect, payload: bytes) -> None:
    served = await serve()
    ws, sid = await open_raw_websocket(raw, served)

    await ws.send(masked(OP_TEXT, payload))

    assert await ws.close_code() == 1007
    assert await served.closed() == (sid, "transport error")
    await assert_serves_another(served)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_PING], ids=["text", "ping"])
async def test_unmasked_frame_is_1002(serve: Serve, raw: Connect, opcode: int) -> None:
    served = await serve()
    ws, sid = await open_raw_websocket(raw, served)

    await ws.send(unmasked(opcode, b"4plain"))

    assert await ws.close_code() == 1002
    assert await served.closed() == (sid, "transport error")
    await assert_serves_another(served)


async def test_reserved_bit_is_1002(serve: Serve, raw: Connect) -> None:
    served = await serve()
    ws, sid = await open_raw_websocket(raw, served)

    frame = bytearray(masked(OP_TEXT, b"4compressed?"))
    frame[0] |= 0x40  # RSV1 without a negotiated extension
    await ws.send(bytes(frame))

    assert await ws.close_code() == 1002
    assert await served.closed() == (sid, "transport error")
    await assert_serves_another(served)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\x03", id="one-byte-body"),
        pytest.param(struct.pack("!H", 1005), id="1005-no-status"),
        pytest.param(struct.pack("!H", 1006), id="1006-abnormal"),
        pytest.param(struct.pack("!H", 1015), id="1015-tls"),
    ],
)
async def test_invalid_close_frame_is_1002(serve: Serve, raw: Connect, payload: bytes) -> None:
    """RFC 6455 5.5.1: a close body starts with a 2-byte code; 7.4.1: 1005, 1006 and 1015
    are never sent in a CLOSE frame, so receiving one is a protocol error (and the server
    must not send them back either)."""
    served = await serve()
    ws, _sid = await open_raw_websocket(raw, served)

    await ws.send(masked(OP_CLOSE, payload))

    assert await ws.close_code() == 1002
    await assert_serves_another(served)


async def test_close_reason_with_invalid_utf8_is_1007(serve: Serve, raw: Connect) -> None:
    """RFC 6455 5.5.1 / 8.1: the close reason is UTF-8; invalid data fails the connection."""
    served = await serve()
    ws, _sid = await open_raw_websocket(raw, served)

    await ws.send(masked(OP_CLOSE, struct.pack("!H", 1000) + b"\xff"))

    assert await ws.close_code() == 1007
    await assert_serves_another(served)


def test_urls_with_a_cache_buster_do_not_fill_the_url_cache() -> None:
    """socket.io-client's polling URLs carry a new ``t=`` each time: parsed, not cached
    (the cache would only fill with URLs never seen again); the same URL again is."""
    _cached_target.cache_clear()
    busted = b"/socket.io/?EIO=4&transport=polling&t=PZq1&sid=abc"
    assert _target(busted) == (
        "/socket.io/",
        (("EIO", "4"), ("transport", "polling"), ("t", "PZq1"), ("sid", "abc")),
    )
    assert _cached_target.cache_info().currsize == 0
    steady = b"/socket.io/?EIO=4&transport=polling&sid=abc"
    assert (
        _target(steady)
        == _target(steady)
        == (
            "/socket.io/",
            (("EIO", "4"), ("transport", "polling"), ("sid", "abc")),
        )
    )
    info = _cached_target.cache_info()
    assert (info.currsize, info.hits) == (1, 1)

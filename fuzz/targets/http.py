"""The native server's HTTP/1.1 side: requests, keep-alive and pipelining, the WebSocket
upgrade and what follows it, through ``HttpProtocol`` over a transport that records writes.

The first byte says how the rest is cut into reads (0: one read). Two routes: ``/ws`` takes
WebSockets with permessage-deflate (messages up to 256 bytes, echoed back), any other path
answers every request at once. Properties: ``data_received`` never raises, no task fails,
and every answer starts with a status line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from roomcast.transports.deflate import Deflation, PerMessageDeflate
from roomcast.transports.http import HandshakeRequest, HttpResponse
from roomcast.transports.native import HttpProtocol
from roomcast.transports.routes import Route, RouteTable
from roomcast.transports.websocket import WebSocketLink

from .frames import client_frame

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)

SEEDS = [
    b"\x00GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x00POST /engine.io/?EIO=4&transport=polling&sid=a HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
    b"4helloGET /a?b=c HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"\x07POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"\x00" + UPGRADE + b"\r\n" + client_frame(1, b"4hello") + client_frame(8, b"\x03\xe8"),
    b"\x00"
    + UPGRADE
    + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    + client_frame(1, bytes.fromhex("f2cbc8c90700"), rsv1=True),
    b"\x00HEAD / HTTP/1.0\r\n\r\nOPTIONS * HTTP/1.1\r\n\r\n",
    b"\x00PUT /x HTTP/1.1\r\nContent-Length: 300\r\n\r\n" + b"y" * 300,
    b"\x00DELETE / HTTP/1.1\r\n\r\nPATCH / HTTP/1.1\r\n\r\nCONNECT host:80 HTTP/1.1\r\n\r\n",
    b"\x00GET /ws HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
    b"\x00\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
]


class Transport(asyncio.Transport):
    """Records what the server writes; never slow, never gone until closed."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False
        self.reading = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:  # turn-taking: the server reads others meanwhile
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


class Echo:
    def websocket_message(self, link: WebSocketLink, data: str | bytes) -> None:
        link.send_encoded(data)

    def websocket_closed(self, link: WebSocketLink, failure: str | None = None) -> None:
        pass


class Everything(Route):
    max_message_size = 256

    def prefixes(self) -> Iterable[str]:
        return ("/",)

    def answer_now(self, request: HandshakeRequest, body: bytes | None) -> HttpResponse | None:
        return HttpResponse(200, b"%d" % len(body or b""), {"Content-Type": "text/plain"})


class Sockets(Route):
    accepts_websocket = True
    max_message_size = 256
    deflation = Deflation(PerMessageDeflate(threshold=16))

    def exact_paths(self) -> Iterable[str]:
        return ("/ws",)

    def precheck_websocket(self, request: HandshakeRequest) -> HttpResponse | None:
        return None

    def accept_websocket(self, request: HandshakeRequest, link: WebSocketLink) -> Echo:
        return Echo()


LOOP = asyncio.new_event_loop()
ROUTES: RouteTable | None = None
ERRORS: list[dict[str, Any]] = []
LOOP.set_exception_handler(lambda loop, context: ERRORS.append(context))


async def _serve(data: bytes) -> Transport:
    global ROUTES
    if ROUTES is None:
        ROUTES = RouteTable([Everything(), Sockets()])
    protocol = HttpProtocol(ROUTES)
    transport = Transport()
    protocol.connection_made(transport)
    step = data[0] or len(data)
    for start in range(1, len(data), step):
        protocol.data_received(data[start : start + step])
        await asyncio.sleep(0)
    for _ in range(3):
        await asyncio.sleep(0)
    protocol.connection_lost(None)
    await asyncio.sleep(0)
    return transport


def test_one_input(data: bytes) -> None:
    if not data:
        return
    transport = LOOP.run_until_complete(_serve(data))
    assert not ERRORS, ERRORS.pop()
    if transport.written:
        assert transport.written[0].startswith(b"HTTP/1.1 "), transport.written[0][:40]

"""Raw wire clients for the bad-input tests: HTTP written byte for byte and WebSocket frames
framed by hand over a bare TCP stream, so that a test can send what no library will
(invalid UTF-8, a head that never ends, a frame bigger than the limit, a client that
never reads) and read exactly what the server answers.

Every wait is on bytes from the server, with a timeout (``WAIT``, scaled by
ROOMCAST_TEST_TIMEOUT_FACTOR).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
from dataclasses import dataclass
from typing import Any

from integration.support import WAIT

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA
SIO = "/socket.io/"
POLLING = f"{SIO}?EIO=4&transport=polling"
WEBSOCKET = f"{SIO}?EIO=4&transport=websocket"


def http_request(
    method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


class Raw:
    """One TCP connection to the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, *, receive_buffer: int | None = None) -> Raw:
        sock = None
        if receive_buffer is not None:  # set before connecting: the window is agreed then
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
        else:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, limit=2**20), WAIT
            )
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self, within: float = WAIT) -> Response:
        """The next HTTP response (its body by Content-Length, else up to the end)."""

        async def read() -> Response:
            head = await self.reader.readuntil(b"\r\n\r\n")
            status_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines if line)
            }
            if "content-length" in headers:
                body = await self.reader.readexactly(int(headers["content-length"]))
            elif status_line.split()[1] == "101":
                body = b""
            else:
                body = await self.reader.read()
            return Response(int(status_line.split()[1]), headers, body)

        return await asyncio.wait_for(read(), within)

    async def closed(self, within: float = WAIT) -> str:
        """Wait for the server to end the connection: ``"eof"`` or ``"reset"`` (what came
        before is dropped)."""

        async def drain() -> str:
            try:
                while await self.reader.read(65536):
                    pass
            except ConnectionResetError:
                return "reset"
            return "eof"

        return await asyncio.wait_for(drain(), within)

    def abort(self) -> None:
        self.writer.transport.abort()

    async def aclose(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def frame(payload: bytes, opcode: int = OP_TEXT, *, fin: bool = True, masked: bool = True) -> bytes:
    """A client frame (masked unless told otherwise)."""
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if masked else 0
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, mask_bit | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@dataclass(frozen=True)
class Closed:
    """The server's CLOSE frame (code, reason), or how the TCP connection ended without one."""

    code: int | None
    reason: str = ""


class RawWebSocket(Raw):
    """A WebSocket over a bare TCP stream: frames written and read by hand; PINGs from the
    Engine.IO server (``"2"``) are answered with ``"3"`` while ``answer_pings`` holds."""

    answer_pings = True

    @classmethod
    async def connect(
        cls, port: int, target: str = WEBSOCKET, *, receive_buffer: int | None = None
    ) -> RawWebSocket:
        raw = await Raw.open(port, receive_buffer=receive_buffer)
        ws = cls(raw.reader, raw.writer)
        answer = await ws.upgrade(target)
        assert answer.status == 101, answer
        return ws

    async def upgrade(self, target: str) -> Response:
        key = base64.b64encode(os.urandom(16)).decode()
        headers = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13",
        }
        await self.send(http_request("GET", target, headers=headers))
        return await self.response()

    async def send_text(self, text: str) -> None:
        await self.send(frame(text.encode()))

    async def send_binary(self, data: bytes) -> None:
        await self.send(frame(data, OP_BINARY))

    async def read_frame(self, within: float = WAIT) -> tuple[int, bytes]:
        async def read() -> tuple[int, bytes]:
            first, second = await self.reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return first & 0x0F, await self.reader.readexactly(size)

        return await asyncio.wait_for(read(), within)

    async def recv(self, within: float = WAIT) -> str | bytes:
        """The next Engine.IO message (text or binary) within ``within`` seconds; PINGs
        answered on the way."""
        async with asyncio.timeout(within):
            while True:
                opcode, payload = await self.read_frame(within)
                if opcode == OP_TEXT:
                    text = payload.decode()
                    if text == "2":
                        if self.answer_pings:
                            await self.send_text("3")
                        continue
                    return text
                if opcode == OP_BINARY:
                    return payload
                if opcode == OP_CLOSE:
                    raise AssertionError(f"closed by the server: {close_of(payload)}")

    async def open_session(self) -> dict[str, Any]:
        """The Engine.IO OPEN packet's handshake."""
        opened = await self.recv()
        assert isinstance(opened, str)
        assert opened.startswith("0{"), opened
        handshake: dict[str, Any] = json.loads(opened[1:])
        return handshake

    async def sio_connect(self, nsp: str = "/") -> str:
        """OPEN read, CONNECT sent; the socket id the server answered."""
        await self.open_session()
        prefix = "40" if nsp == "/" else f"40{nsp},"
        await self.send_text(prefix)
        reply = await self.recv()
        assert isinstance(reply, str)
        assert reply.startswith(prefix + "{"), reply
        sid: str = json.loads(reply[len(prefix) :])["sid"]
        return sid

    async def close_frame(self, within: float = WAIT) -> Closed:
        """Read (messages dropped, PINGs unanswered) until the server's CLOSE frame, or the
        end of the connection without one (code None; reason ``eof`` or ``reset``)."""
        try:
            async with asyncio.timeout(within):
                while True:
                    opcode, payload = await self.read_frame(within)
                    if opcode == OP_CLOSE:
                        return close_of(payload)
        except asyncio.IncompleteReadError:
            return Closed(None, "eof")
        except ConnectionResetError:
            return Closed(None, "reset")


def close_of(payload: bytes) -> Closed:
    if len(payload) < 2:
        return Closed(1005)
    return Closed(struct.unpack("!H", payload[:2])[0], payload[2:].decode())

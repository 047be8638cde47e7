"""A raw WebSocket client over a bare TCP stream (frames built by hand), and the servers
the WebSocket tests run against: real ones on 127.0.0.1, port 0."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

import roomcast

FACTOR = float(os.environ.get("ROOMCAST_TEST_TIMEOUT_FACTOR", "1"))
WAIT = 10.0 * FACTOR
MAX_MESSAGE = 2**20
SIO_WEBSOCKET = "/socket.io/?EIO=4&transport=websocket"


@dataclass
class Received:
    """What the server sent: messages, pong payloads, its close frame, and whether it then
    closed the TCP connection."""

    messages: list[str | bytes] = field(default_factory=list)
    pongs: list[bytes] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    eof_after_close: bool = False


class RawWebSocket:
    """One raw WebSocket connection: ``send`` bytes as they are, ``read_frame`` unmasked
    server frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(
        cls, port: int, path: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> tuple[RawWebSocket, int, bytes]:
        """Connect and send the handshake: (client, HTTP status, the response head+body)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{k}: {v}" for k, v in headers),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        status = int(head.split(b" ", 2)[1])
        return cls(reader, writer), status, head

    async def read_frame(self) -> tuple[int, bytes] | None:
        """(opcode, payload) of the next server frame; None at EOF."""
        try:
            first, second = await asyncio.wait_for(self.reader.readexactly(2), WAIT)
        except asyncio.IncompleteReadError:
            return None
        assert second & 0x80 == 0, "server frames are never masked"
        assert first & 0x70 == 0, "no extension was agreed: RSV bits stay 0"
        n = second & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await asyncio.wait_for(self.reader.readexactly(n), WAIT)

    async def receive_all(self) -> Received:
        """Read until the server's close frame, then whether the TCP stream ends."""
        got = Received()
        while (item := await self.read_frame()) is not None:
            opcode, payload = item
            if opcode == 0x1:
                got.messages.append(payload.decode())
            elif opcode == 0x2:
                got.messages.append(payload)
            elif opcode == 0xA:
                got.pongs.append(payload)
            elif opcode == 0x8:
                got.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                got.close_reason = payload[2:].decode()
                rest = await asyncio.wait_for(self.reader.read(), WAIT)
                got.eof_after_close = rest == b""
                break
        return got

    async def send(self, data: bytes, chop: int = 0) -> None:
        step = chop or len(data) or 1
        try:
            for i in range(0, len(data), step):
                self.writer.write(data[i : i + step])
                await self.writer.drain()
        except ConnectionError:
            pass  # the server closed first: what it sent is still to be read

    async def aclose(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


def echo_server(
    *, server_options: dict[str, Any] | None = None, **endpoint_options: Any
) -> roomcast.Server:
    """Socket.IO (echo ack) plus plain endpoints that send every message back: ``/echo``
    from ``on_message`` (in the order of the frames, before a close that follows them),
    ``/echo-task`` from a handler task (``async for``)."""
    io = roomcast.Server(
        serve_client=False, max_http_buffer_size=MAX_MESSAGE, **(server_options or {})
    )

    @io.on("echo")
    def echo_event(socket: roomcast.Socket, data: Any = None) -> Any:
        return data

    options = {"max_message_size": MAX_MESSAGE, **endpoint_options}

    endpoint = io.websocket("/echo", **options)

    @endpoint.on_message
    def echo(ws: roomcast.WebSocket, message: str | bytes) -> None:
        ws.send_nowait(message)

    @io.websocket("/echo-task", **options)
    async def echo_task(ws: roomcast.WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    return io


Serve = Callable[[Any], Awaitable[Any]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``listener = await serve(io)`` on 127.0.0.1, port 0; closed at teardown."""
    listeners: list[Any] = []

    async def start(io: Any, **options: Any) -> Any:
        listener = await io.listen("127.0.0.1", 0, **options)
        listeners.append(listener)
        return listener

    yield start
    for listener in reversed(listeners):
        await asyncio.wait_for(listener.aclose(), WAIT)

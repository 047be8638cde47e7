"""Raw wire clients for the server I/O tests: aiohttp WebSockets and long-polling, plus a
hand-framed WebSocket over a bare TCP stream (for a client that vanishes without a close).

Nothing here is a Socket.IO client: every packet the tests send is written out literally,
so a test reads as the bytes on the wire. Waiting is always on a message or an event with a
timeout (``WAIT``, scaled by ROOMCAST_TEST_TIMEOUT_FACTOR), never a bare sleep.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import struct
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDictProxy

import roomcast

#: Scale every timeout here, e.g. ROOMCAST_TEST_TIMEOUT_FACTOR=5 on a slow machine.
FACTOR = float(os.environ.get("ROOMCAST_TEST_TIMEOUT_FACTOR", "1"))


def seconds(value: float) -> float:
    """A duration in seconds, scaled by ROOMCAST_TEST_TIMEOUT_FACTOR."""
    return value * FACTOR


WAIT = seconds(10.0)
SEPARATOR = "\x1e"
SIO_PATH = "/socket.io/"
EIO_PATH = "/engine.io/"

Message = str | bytes


def error_body(code: int, message: str) -> dict[str, Any]:
    """The JSON body of an Engine.IO handshake error."""
    return {"code": code, "message": message}


class Changes:
    """Something that changes over time and can be awaited until a predicate holds."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def changed(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def until(self, predicate: Callable[[], bool], what: str, within: float = WAIT) -> None:
        try:
            async with asyncio.timeout(within):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"no {what} within {within:.1f} s") from None


class ServerLog(Changes):
    """What a Socket.IO server's handlers saw, by socket id."""

    def __init__(self) -> None:
        super().__init__()
        self.connected: list[str] = []
        self.disconnects: dict[str, str] = {}

    def on_connection(self, socket: Any) -> None:
        self.connected.append(socket.id)
        self.changed()

    def on_disconnect(self, socket: Any, reason: str) -> None:
        self.disconnects[socket.id] = reason
        self.changed()

    async def disconnect_reason(self, sid: str, within: float = WAIT) -> str:
        await self.until(lambda: sid in self.disconnects, f"disconnect of {sid}", within)
        return self.disconnects[sid]


class EioWebSocket:
    """A raw aiohttp WebSocket speaking Engine.IO v4.

    A reader task queues every message except PINGs (``"2"``), which it counts and, while
    ``answer_pings`` is true, answers with ``"3"`` as a real client would.
    """

    def __init__(
        self, ws: aiohttp.ClientWebSocketResponse, handshake: dict[str, Any], answer_pings: bool
    ) -> None:
        self.ws = ws
        self.handshake = handshake
        self.sid: str = handshake["sid"]
        self.answer_pings = answer_pings
        self.pings = Changes()
        self.ping_count = 0
        self.closed = asyncio.Event()
        self._inbox: asyncio.Queue[Message | None] = asyncio.Queue()
        self._acks = itertools.count(1)
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(
        cls,
        http: aiohttp.ClientSession,
        base_url: str,
        path: str = SIO_PATH,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        answer_pings: bool = True,
    ) -> EioWebSocket:
        """Open a WebSocket-only Engine.IO session and read its OPEN packet."""
        params = {"EIO": "4", "transport": "websocket", **(query or {})}
        ws = await asyncio.wait_for(
            http.ws_connect(base_url + path, params=params, headers=headers, autoping=True),
            WAIT,
        )
        first = await asyncio.wait_for(ws.receive(), WAIT)
        assert first.type is aiohttp.WSMsgType.TEXT, first
        assert first.data.startswith("0{"), first.data
        return cls(ws, json.loads(first.data[1:]), answer_pings)

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    if msg.data == "2":
                        self.ping_count += 1
                        self.pings.changed()
                        if self.answer_pings:
                            await self._send_quietly("3")
                        continue
                    self._inbox.put_nowait(msg.data)
                elif msg.type is aiohttp.WSMsgType.BINARY:
                    self._inbox.put_nowait(bytes(msg.data))
                else:  # ERROR
                    break
        finally:
            self._inbox.put_nowait(None)
            self.closed.set()

    async def _send_quietly(self, text: str) -> None:
        with contextlib.suppress(aiohttp.ClientError, ConnectionError):
            await self.ws.send_str(text)

    # -- sending / receiving ------------------------------------------------------------

    async def send(self, data: Message) -> None:
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def recv(self, within: float = WAIT) -> Message:
        """The next message; fails if the connection closes or nothing comes in time."""
        try:
            item = await asyncio.wait_for(self._inbox.get(), within)
        except TimeoutError:
            raise AssertionError(f"no message on {self.sid} within {within:.1f} s") from None
        if item is None:
            self._inbox.put_nowait(None)
            raise AssertionError(f"{self.sid} closed (code {self.ws.close_code}) while waiting")
        return item

    async def recv_text(self, within: float = WAIT) -> str:
        message = await self.recv(within)
        assert isinstance(message, str), message
        return message

    async def expect_closed(self, within: float = WAIT) -> list[Message]:
        """Wait until the server closes the connection; the messages that came before."""
        received: list[Message] = []
        try:
            async with asyncio.timeout(within):
                while (item := await self._inbox.get()) is not None:
                    received.append(item)
        except TimeoutError:
            raise AssertionError(
                f"{self.sid} still open after {within:.1f} s; received {received!r}"
            ) from None
        self._inbox.put_nowait(None)
        return received

    async def wait_pings(self, count: int, within: float = WAIT) -> None:
        await self.pings.until(lambda: self.ping_count >= count, f"{count} PINGs", within)

    async def aclose(self) -> None:
        with contextlib.suppress(aiohttp.ClientError, ConnectionError):
            await self.ws.close()
        await asyncio.wait_for(self._reader, WAIT)

    # -- Socket.IO over this session ----------------------------------------------------

    async def sio_connect(self, nsp: str = "/") -> str:
        """Send CONNECT for ``nsp``; return the socket id from the server's CONNECT."""
        prefix = "40" if nsp == "/" else f"40{nsp},"
        await self.send(prefix)
        reply = await self.recv_text()
        assert reply.startswith(prefix + "{"), reply
        sid = json.loads(reply[len(prefix) :])["sid"]
        assert isinstance(sid, str)
        return sid

    async def assert_echo(self, nsp: str = "/") -> None:
        """An ``echo`` event with an ack id comes back as its ACK with the same argument."""
        ack_id = next(self._acks)
        token = f"still alive {ack_id}"
        head = "" if nsp == "/" else f"{nsp},"
        await self.send(f'42{head}{ack_id}["echo","{token}"]')
        assert await self.recv_text() == f'43{head}{ack_id}["{token}"]'


class PollingSession:
    """A raw HTTP long-polling Engine.IO session."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        path: str,
        handshake: dict[str, Any],
        headers: Mapping[str, str] | None,
    ) -> None:
        self.http = http
        self.url = base_url + path
        self.handshake = handshake
        self.sid: str = handshake["sid"]
        self.headers = dict(headers or {})

    @classmethod
    async def open(
        cls,
        http: aiohttp.ClientSession,
        base_url: str,
        path: str = SIO_PATH,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> PollingSession:
        status, body = await request(
            http, "GET", base_url + path, params=polling_params(), headers=headers
        )
        assert status == 200, body
        assert body.startswith("0{"), body
        return cls(http, base_url, path, json.loads(body[1:]), headers)

    @property
    def params(self) -> dict[str, str]:
        return polling_params(self.sid)

    async def get_raw(self, within: float = WAIT) -> tuple[int, str]:
        return await request(
            self.http, "GET", self.url, params=self.params, headers=self.headers, within=within
        )

    async def get(self, within: float = WAIT) -> list[str]:
        """One poll: the packets it carried."""
        status, body = await self.get_raw(within)
        assert status == 200, (status, body)
        return body.split(SEPARATOR)

    async def post(self, *packets: str) -> tuple[int, str]:
        return await request(
            self.http,
            "POST",
            self.url,
            params=self.params,
            headers={**self.headers, "Content-Type": "text/plain;charset=UTF-8"},
            data=SEPARATOR.join(packets).encode(),
        )

    async def send(self, *packets: str) -> None:
        status, body = await self.post(*packets)
        assert (status, body) == (200, "ok")

    async def sio_connect(self) -> str:
        await self.send("40")
        (reply,) = await self.get()
        assert reply.startswith("40{"), reply
        sid = json.loads(reply[2:])["sid"]
        assert isinstance(sid, str)
        return sid

    async def assert_echo(self) -> None:
        await self.send('427["echo","over polling"]')
        assert await self.get() == ['437["over polling"]']

    async def assert_closed(self) -> None:
        """The server forgot the session: a poll on its sid is answered "Session ID unknown"."""
        status, body = await self.get_raw()
        assert status == 400, body
        assert json.loads(body) == error_body(1, "Session ID unknown")


def polling_params(sid: str | None = None) -> dict[str, str]:
    params = {"EIO": "4", "transport": "polling"}
    if sid is not None:
        params["sid"] = sid
    return params


async def request(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    within: float = WAIT,
) -> tuple[int, str]:
    """One HTTP request: its status and body text."""
    status, body, _ = await request_full(
        http, method, url, params=params, headers=headers, data=data, within=within
    )
    return status, body.decode()


async def request_full(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    within: float = WAIT,
) -> tuple[int, bytes, CIMultiDictProxy[str]]:
    """One HTTP request: its status, body and headers."""

    async def go() -> tuple[int, bytes, CIMultiDictProxy[str]]:
        async with http.request(method, url, params=params, headers=headers, data=data) as resp:
            return resp.status, await resp.read(), resp.headers

    return await asyncio.wait_for(go(), within)


class RawWebSocket:
    """A WebSocket framed by hand over a bare TCP stream, so a test can drop the TCP
    connection without any close frame (``abort``)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int, target: str) -> RawWebSocket:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), WAIT)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {target} HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n"
                "\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def send_text(self, text: str) -> None:
        await self.send_texts([text])

    async def send_texts(self, texts: list[str]) -> None:
        """Each of ``texts`` in a frame of its own, all in one write."""
        frames = []
        for text in texts:
            payload = text.encode()
            assert len(payload) < 126
            mask = os.urandom(4)
            masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            frames.append(struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked)
        self.writer.write(b"".join(frames))
        await self.writer.drain()

    async def recv_text(self) -> str:
        async def read_frame() -> str:
            first, second = await self.reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(size)
            assert first & 0x0F == 0x1, f"expected a text frame, got opcode {first & 0x0F}"
            return payload.decode()

        return await asyncio.wait_for(read_frame(), WAIT)

    def abort(self) -> None:
        """Vanish: close the TCP connection at once, no close frame, no FIN handshake wait."""
        self.writer.transport.abort()

    async def aclose(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class Net:
    """Opens raw clients and closes them all at teardown."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self._websockets: list[EioWebSocket] = []
        self._raw: list[RawWebSocket] = []

    async def websocket(
        self,
        base_url: str,
        path: str = SIO_PATH,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        answer_pings: bool = True,
    ) -> EioWebSocket:
        ws = await EioWebSocket.open(
            self.http, base_url, path, query=query, headers=headers, answer_pings=answer_pings
        )
        self._websockets.append(ws)
        return ws

    async def polling(
        self, base_url: str, path: str = SIO_PATH, *, headers: Mapping[str, str] | None = None
    ) -> PollingSession:
        return await PollingSession.open(self.http, base_url, path, headers=headers)

    async def raw_websocket(self, host: str, port: int, target: str) -> RawWebSocket:
        raw = await RawWebSocket.open(host, port, target)
        self._raw.append(raw)
        return raw

    async def aclose(self) -> None:
        await asyncio.gather(*(ws.aclose() for ws in self._websockets))
        await asyncio.gather(*(raw.aclose() for raw in self._raw))


@dataclass
class SioHarness:
    """A running Socket.IO server, its log and the clients' side."""

    io: roomcast.Server
    listener: Any
    log: ServerLog
    net: Net

    @property
    def url(self) -> str:
        return str(self.listener.url)

    async def websocket(self, **options: Any) -> EioWebSocket:
        return await self.net.websocket(self.url, **options)

    async def polling(self, **options: Any) -> PollingSession:
        return await self.net.polling(self.url, **options)

    async def bystander(self) -> EioWebSocket:
        """A well-behaved client connected to ``/`` that later checks still work."""
        client = await self.websocket()
        await client.sio_connect()
        await client.assert_echo()
        return client


def install_echo(io: roomcast.Server, log: ServerLog) -> None:
    """``echo`` acks its arguments; connects and disconnect reasons go to ``log``."""

    def echo(socket: roomcast.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    io.on("echo", echo)
    io.on("connection", log.on_connection)
    io.on("disconnect", log.on_disconnect)


StartSio = Callable[..., Awaitable[SioHarness]]
"""``harness = await start_sio(**server_options)`` (the ``start_sio`` fixture)."""
Serve = Callable[[Any], Awaitable[Any]]
"""``listener = await serve(hosting)`` (the ``serve`` fixture)."""


async def raw_upgrade(
    base_url: str, target: str, headers: Mapping[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """A WebSocket opening handshake written by hand: the answer's status, headers (lower
    case names) and body (none after a 101: the connection is closed at once)."""
    url = urlsplit(base_url)
    assert url.hostname is not None
    assert url.port is not None
    reader, writer = await asyncio.wait_for(asyncio.open_connection(url.hostname, url.port), WAIT)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {url.hostname}:{url.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        fields = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in header_lines if line)
        }
        status = int(status_line.split()[1])
        body = b""
        if status != 101:
            size = int(fields.get("content-length", "0"))
            body = await asyncio.wait_for(reader.readexactly(size), WAIT)
        return status, fields, body
    finally:
        writer.close()


def ws_target(sid: str | None = None, path: str = SIO_PATH) -> str:
    """The target of an Engine.IO WebSocket handshake (an upgrade with ``sid``)."""
    target = f"{path}?EIO=4&transport=websocket"
    return target if sid is None else f"{target}&sid={sid}"

"""Raw Engine.IO v4 / Socket.IO v5 wire access for the conformance tests.

The conformance tests speak the protocols byte by byte, the way the published
test suites (socketio/engine.io-protocol and socketio/socket.io-protocol,
``test-suite/``) do: plain HTTP requests for long-polling and plain WebSocket
frames, with no Engine.IO or Socket.IO client in between.

- :class:`Wire` builds URLs for one server and path, sends polling requests
  and opens WebSocket connections (closed again by :meth:`Wire.aclose`).
- :class:`WsPeer` is one raw WebSocket connection: send frames, receive the
  next frame (optionally answering heartbeat pings), wait for the server to
  close it.

Every wait is bounded by :data:`TIMEOUT`, which the environment variable
``ROOMCAST_TEST_TIMEOUT_SCALE`` multiplies on slow machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import aiohttp

SCALE = float(os.environ.get("ROOMCAST_TEST_TIMEOUT_SCALE", "1"))
TIMEOUT = 5.0 * SCALE
"""Seconds to wait for something that must happen."""
MARGIN = 0.3 * SCALE
"""Seconds added to a protocol deadline before checking that it has passed."""

# What both example servers are configured with (examples/*.py), in seconds.
PING_INTERVAL = 0.3
PING_TIMEOUT = 0.2
MAX_PAYLOAD = 1_000_000

SILENT_DEADLINE = PING_INTERVAL + PING_TIMEOUT
"""When the server must have closed the session of a client that never answers a ping."""
DEADLINE_TOLERANCE = 0.010 * SCALE
"""How late the server may meet a heartbeat deadline (loop and loopback latency)."""

SEPARATOR = "\x1e"
"""Joins the packets of an HTTP long-polling payload (Engine.IO v4)."""
HANDSHAKE_KEYS = {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}

Frame = str | bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP response, read in full."""

    status: int
    text: str
    content_type: str

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def packets(self) -> list[str]:
        """The encoded Engine.IO packets of a polling payload."""
        return self.text.split(SEPARATOR)


def check_handshake(packet: str, *, upgrades: list[str]) -> dict[str, Any]:
    """Check an Engine.IO ``open`` packet and return its JSON payload."""
    assert packet[:1] == "0", f"expected an open packet, got {packet!r}"
    info = json.loads(packet[1:])
    assert isinstance(info, dict)
    assert set(info) == HANDSHAKE_KEYS
    assert isinstance(info["sid"], str)
    assert info["sid"]
    assert info["upgrades"] == upgrades
    assert info["pingInterval"] == round(PING_INTERVAL * 1000)
    assert info["pingTimeout"] == round(PING_TIMEOUT * 1000)
    assert info["maxPayload"] == MAX_PAYLOAD
    return info


def check_error(reply: Reply, *codes: int) -> None:
    """Check an HTTP 400 Engine.IO error: JSON ``{"code": N, "message": "..."}``."""
    assert reply.status == 400, reply
    assert reply.content_type == "application/json", reply
    body = reply.json()
    assert isinstance(body, dict), reply
    assert set(body) == {"code", "message"}, reply
    assert body["code"] in codes, reply
    assert isinstance(body["message"], str), reply
    assert body["message"], reply


async def sleep_until(when: float) -> None:
    """Wait until the loop's clock reads ``when`` (the time a request must be sent at)."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(when - loop.time(), 0.0))


class WsPeer:
    """One raw WebSocket connection: each frame is one encoded packet."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws

    async def send(self, frame: Frame) -> None:
        if isinstance(frame, bytes):
            await self._ws.send_bytes(frame)
        else:
            await self._ws.send_str(frame)

    async def recv(self, within: float = TIMEOUT) -> Frame:
        """The next frame, whatever it is; fails if the connection closes."""
        try:
            msg = await asyncio.wait_for(self._ws.receive(), max(within, 0.0))
        except TimeoutError:
            raise AssertionError(f"no frame within {within:.2f} s") from None
        if msg.type is aiohttp.WSMsgType.TEXT:
            return str(msg.data)
        if msg.type is aiohttp.WSMsgType.BINARY:
            return bytes(msg.data)
        raise AssertionError(f"the connection closed ({msg.type.name}: {msg.data!r})")

    async def recv_non_ping(self, within: float = TIMEOUT) -> Frame:
        """The next frame that is not a ping; pings on the way get their pong."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            frame = await self.recv(deadline - loop.time())
            if frame != "2":
                return frame
            await self.send("3")

    async def recv_many(self, count: int) -> list[Frame]:
        """The next ``count`` frames that are not pings (pings get their pong)."""
        return [await self.recv_non_ping() for _ in range(count)]

    async def wait_closed(self, *, answer_pings: bool, within: float = TIMEOUT) -> list[Frame]:
        """Wait until the server closes the connection; return the frames read before.

        With ``answer_pings`` every ping gets its pong, so a close can only come from
        something else than the heartbeat.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        frames: list[Frame] = []
        while True:
            try:
                msg = await asyncio.wait_for(self._ws.receive(), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                raise AssertionError(
                    f"still open after {within:.2f} s (received {frames!r})"
                ) from None
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                return frames
            frames.append(msg.data)
            if answer_pings and msg.data == "2":
                with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                    await self.send("3")

    @property
    def closed(self) -> bool:
        return self._ws.closed

    async def aclose(self) -> None:
        await self._ws.close()


async def _on_headers_sent(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    event = context.trace_request_ctx
    if isinstance(event, asyncio.Event):
        event.set()


def client_session() -> aiohttp.ClientSession:
    """An HTTP client that can tell when a request has gone out (see ``start_poll``)."""
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_on_headers_sent)
    return aiohttp.ClientSession(
        trace_configs=[trace], timeout=aiohttp.ClientTimeout(total=TIMEOUT)
    )


class Wire:
    """Raw requests to one Engine.IO endpoint (``base_url`` + ``path``)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, path: str) -> None:
        self.session = session
        self.base_url = base_url
        self.path = path
        self._peers: list[WsPeer] = []
        self._tasks: list[asyncio.Task[Reply]] = []

    # URLs

    def url(self, query: str) -> str:
        return f"{self.base_url}{self.path}?{query}"

    def ws_url(self, query: str) -> str:
        return "ws" + self.url(query).removeprefix("http")

    def polling_url(self, sid: str) -> str:
        return self.url(f"EIO=4&transport=polling&sid={quote(sid, safe='')}")

    # HTTP long-polling

    async def request(
        self,
        method: str,
        url: str,
        body: str | bytes | None = None,
        *,
        sent: object = None,
    ) -> Reply:
        async with self.session.request(method, url, data=body, trace_request_ctx=sent) as resp:
            text = await resp.text(encoding="utf-8")
            return Reply(resp.status, text, resp.content_type)

    async def get(self, url: str) -> Reply:
        return await self.request("GET", url)

    async def post(self, url: str, body: str | bytes) -> Reply:
        return await self.request("POST", url, body)

    async def poll(self, sid: str) -> Reply:
        return await self.get(self.polling_url(sid))

    async def push(self, sid: str, body: str | bytes) -> Reply:
        return await self.post(self.polling_url(sid), body)

    async def open_polling(self) -> str:
        """Open an Engine.IO session over long-polling; return its sid."""
        reply = await self.get(self.url("EIO=4&transport=polling"))
        assert reply.status == 200, reply
        return str(check_handshake(reply.text, upgrades=["websocket"])["sid"])

    async def start_poll(self, sid: str) -> asyncio.Task[Reply]:
        """Start a GET that should stay pending on the server; return its task.

        Once the request has been written, one full round trip on another
        connection follows. The server read the GET's bytes before those of the
        round trip, so when the round trip answers the GET is the session's
        pending poll, with no sleep involved.
        """
        sent = asyncio.Event()
        task = asyncio.create_task(self.request("GET", self.polling_url(sid), sent=sent))
        self._tasks.append(task)
        await asyncio.wait_for(sent.wait(), TIMEOUT)
        barrier = await self.poll("roomcast-conformance-unknown-sid")
        assert barrier.status == 400, barrier
        return task

    async def collect(self, sid: str, count: int) -> list[str]:
        """Poll until ``count`` packets other than pings came (pings get a pong)."""
        packets: list[str] = []
        while len(packets) < count:
            reply = await self.poll(sid)
            assert reply.status == 200, reply
            for packet in reply.packets:
                if packet == "2":
                    pong = await self.push(sid, "3")
                    assert pong.status == 200, pong
                else:
                    packets.append(packet)
        assert len(packets) == count, packets
        return packets

    async def check_silent_polling_session_ends_on_time(self) -> None:
        """A polling client that never answers the ping: alive before its deadline, unknown
        (HTTP 400) from ``pingInterval + pingTimeout`` after its handshake on."""
        loop = asyncio.get_running_loop()
        asked = loop.time()  # the server's handshake time is after this...
        sid = await self.open_polling()
        opened = loop.time()  # ...and before this
        await sleep_until(asked + PING_INTERVAL + PING_TIMEOUT / 2)
        alive = await self.poll(sid)
        assert alive.status == 200, alive
        assert alive.text == "2", alive  # the ping, left unanswered
        await sleep_until(opened + SILENT_DEADLINE + DEADLINE_TOLERANCE)
        gone = await self.poll(sid)
        assert gone.status == 400, f"{gone} {loop.time() - opened:.3f} s after the handshake"
        check_error(gone, 1)  # session id unknown

    # WebSocket

    async def connect_ws(self, query: str) -> WsPeer:
        ws = await self.session.ws_connect(self.ws_url(query), autoping=True)
        peer = WsPeer(ws)
        self._peers.append(peer)
        return peer

    async def open_websocket(self) -> tuple[WsPeer, dict[str, Any]]:
        """Open a WebSocket-only session; return it with its handshake data."""
        peer = await self.connect_ws("EIO=4&transport=websocket")
        frame = await peer.recv()
        assert isinstance(frame, str), frame
        return peer, check_handshake(frame, upgrades=[])

    async def upgrade_ws(self, sid: str) -> WsPeer:
        """Open the WebSocket that upgrades the polling session ``sid``."""
        return await self.connect_ws(f"EIO=4&transport=websocket&sid={quote(sid, safe='')}")

    async def check_silent_websocket_closed_on_time(self) -> None:
        """A WebSocket client that never answers the ping is closed at ``pingInterval +
        pingTimeout`` after its handshake: not before, and not more than the tolerance after."""
        loop = asyncio.get_running_loop()
        asked = loop.time()
        peer, _info = await self.open_websocket()
        opened = loop.time()
        frames = await peer.wait_closed(answer_pings=False)
        closed = loop.time()
        assert set(frames) <= {"2", "1"}, frames  # pings, perhaps a close packet
        assert closed >= asked + SILENT_DEADLINE, f"closed early: {closed - asked:.3f} s"
        late = closed - opened - SILENT_DEADLINE
        assert late <= DEADLINE_TOLERANCE, f"closed {late * 1000:.1f} ms after the deadline"

    async def check_late_pongs_keep_the_session(self) -> None:
        """Pongs that come late, but within ``pingTimeout`` of their ping, keep it open."""
        peer, _info = await self.open_websocket()
        for _ in range(3):
            assert await peer.recv() == "2"
            await asyncio.sleep(PING_TIMEOUT - 0.05)  # a slow client: 50 ms to spare
            await peer.send("3")
        assert await peer.recv() == "2"  # the session lives on: the next heartbeat comes

    async def check_ws_refused(self, query: str) -> None:
        """The server refuses the WebSocket, or closes it before any open packet."""
        refused: aiohttp.WSServerHandshakeError | None = None
        try:
            peer = await self.connect_ws(query)
        except aiohttp.WSServerHandshakeError as exc:
            refused = exc
        if refused is not None:
            assert refused.status == 400, refused
            return
        frames = await peer.wait_closed(answer_pings=False)
        opened = [f for f in frames if isinstance(f, str) and f.startswith("0")]
        assert not opened, frames

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for peer in self._peers:
            await peer.aclose()

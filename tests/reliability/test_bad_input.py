"""Bad input, end to end: every class of bad input against one real server, what the
offender gets, and twenty bystanders that go on undisturbed.

One ``roomcast.Server`` on the native server (127.0.0.1, a free port) serves the whole
module. Twenty bystanders (roomcast's client, ten over WebSocket and ten over long-polling)
join the room ``bystanders`` once and stay connected throughout. Around each bad input,
each bystander has an ``echo`` acked and all of them receive a ``tick`` broadcast: every
tick since the start, in order, on the same socket id, with no disconnect.

The offenders speak raw bytes (``wire``): HTTP written by hand, WebSocket frames framed by
hand. Each case asserts exactly what the offender gets (an HTTP status and body, a CLOSE
frame's code, an Engine.IO or Socket.IO packet) and, where the server has a socket for it,
the disconnect reason the server's handlers see. No record with a traceback, and none at
ERROR or above, may be logged (``caplog``), and nothing may reach stderr with one.

docs/RELIABILITY.md ("Bad input, end to end") has the same table, by test id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio

import roomcast
from integration.support import WAIT, seconds

from .wire import (
    OP_TEXT,
    POLLING,
    WEBSOCKET,
    Closed,
    Raw,
    RawWebSocket,
    Response,
    frame,
    http_request,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

BYSTANDERS = 20
ROOM = "bystanders"
MAX_MESSAGE = 100_000  # max_http_buffer_size
MAX_WRITE_BUFFER = 256 * 1024
PING_INTERVAL = seconds(1.0)
PING_TIMEOUT = seconds(1.5)
CONNECT_TIMEOUT = seconds(1.5)
HEADER_TIMEOUT = seconds(1.0)
SESSION_UNKNOWN = {"code": 1, "message": "Session ID unknown"}
BAD_REQUEST = {"code": 3, "message": "Bad request"}
TEXT_POST = {"Content-Type": "text/plain;charset=UTF-8"}


# -- the stage: one server, twenty bystanders ------------------------------------------------


class Bystander:
    """A well-behaved client in the room: records every tick and any disconnect."""

    def __init__(self, name: str, transports: tuple[str, ...]) -> None:
        self.name = name
        self.client = roomcast.Client(reconnection=False, transports=transports, timeout=WAIT)
        self.ticks: list[int] = []
        self.lost: list[str] = []
        self.sid: str | None = None
        self._changed = asyncio.Event()
        self.client.on("tick", self._tick)
        self.client.on("disconnect", self.lost.append)

    def _tick(self, n: int) -> None:
        self.ticks.append(n)
        self._changed.set()

    async def wait_tick(self, n: int) -> None:
        async with asyncio.timeout(WAIT):
            while n not in self.ticks:
                self._changed.clear()
                await self._changed.wait()


@dataclass
class Stage:
    io: roomcast.Server
    port: int
    bystanders: list[Bystander]
    gone: dict[str, str] = field(default_factory=dict)
    """Server-side disconnect reasons, by socket id."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    ticks: int = 0
    raws: list[Raw] = field(default_factory=list)

    def disconnected(self, socket: roomcast.Socket, reason: str) -> None:
        self.gone[socket.id] = reason
        self.changed.set()

    async def reason(self, sid: str, within: float = WAIT) -> str:
        """The disconnect reason the server's handler saw for ``sid``."""
        async with asyncio.timeout(within):
            while sid not in self.gone:
                self.changed.clear()
                await self.changed.wait()
        return self.gone[sid]

    async def undisturbed(self) -> None:
        """Every bystander: an echo acked, then the next tick broadcast; all the ticks so
        far, in order, on the socket id it started with, never disconnected."""
        answers = await asyncio.gather(
            *(
                b.client.emit_with_ack("echo", f"{b.name}-{self.ticks}", timeout=WAIT)
                for b in self.bystanders
            )
        )
        assert answers == [f"{b.name}-{self.ticks}" for b in self.bystanders]
        self.ticks += 1
        beat = self.bystanders[0].client.emit_with_ack("beat", self.ticks, timeout=WAIT)
        assert await beat == self.ticks
        await asyncio.gather(*(b.wait_tick(self.ticks) for b in self.bystanders))
        for b in self.bystanders:
            assert b.ticks == list(range(1, self.ticks + 1)), b.name
            assert b.lost == [], b.name
            assert b.client.connected, b.name
            assert b.client.sid == b.sid, b.name

    # -- offenders ---------------------------------------------------------------------

    async def raw(self, **options: Any) -> Raw:
        raw = await Raw.open(self.port, **options)
        self.raws.append(raw)
        return raw

    async def websocket(self, target: str = WEBSOCKET, **options: Any) -> RawWebSocket:
        ws = await RawWebSocket.connect(self.port, target, **options)
        self.raws.append(ws)
        return ws

    async def exchange(self, data: bytes) -> Response:
        """One request on a new connection: the answer."""
        raw = await self.raw()
        await raw.send(data)
        return await raw.response()

    async def polling_session(self) -> tuple[str, str]:
        """A long-polling session joined to ``/``: its Engine.IO sid and its socket id."""
        opened = await self.exchange(http_request("GET", POLLING))
        assert opened.status == 200, opened
        sid: str = json.loads(opened.body[1:])["sid"]
        assert (await self.post(sid, b"40")).text == "ok"
        (reply,) = (await self.get(sid)).text.split("\x1e")
        assert reply.startswith("40{"), reply
        return sid, json.loads(reply[2:])["sid"]

    async def get(self, sid: str) -> Response:
        return await self.exchange(http_request("GET", f"{POLLING}&sid={sid}"))

    async def post(self, sid: str, body: bytes) -> Response:
        return await self.exchange(http_request("POST", f"{POLLING}&sid={sid}", body, TEXT_POST))

    def release(self) -> None:
        for raw in self.raws:
            raw.abort()
        self.raws.clear()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stage() -> AsyncIterator[Stage]:
    io = roomcast.Server(
        serve_client=False,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        connect_timeout=CONNECT_TIMEOUT,
        max_http_buffer_size=MAX_MESSAGE,
        max_write_buffer=MAX_WRITE_BUFFER,
    )

    def echo(socket: roomcast.Socket, value: Any) -> Any:
        return value

    async def beat(socket: roomcast.Socket, n: int) -> int:
        await io.to(ROOM).emit("tick", n)
        return n

    def join(socket: roomcast.Socket, room: str) -> None:
        socket.join(room)

    def wrap(socket: roomcast.Socket, value: Any) -> dict[str, Any]:
        return {"value": value}

    async def later(socket: roomcast.Socket, value: Any) -> Any:
        return value

    io.on("wrap", wrap)
    io.on("later", later)
    io.on("echo", echo)
    io.on("beat", beat)
    io.on("join", join)
    listener = await io.listen("127.0.0.1", 0, header_timeout=HEADER_TIMEOUT)
    bystanders = [
        Bystander(f"b{i}", ("websocket",) if i % 2 else ("polling",)) for i in range(BYSTANDERS)
    ]
    scene = Stage(io, listener.port, bystanders)
    io.on("disconnect", scene.disconnected)
    for b in bystanders:
        await b.client.connect(f"http://127.0.0.1:{listener.port}")
        await b.client.emit_with_ack("join", ROOM)
        b.sid = b.client.sid
    try:
        yield scene
    finally:
        for b in bystanders:
            await b.client.disconnect()
        await asyncio.wait_for(listener.aclose(), WAIT)


# -- the bad inputs --------------------------------------------------------------------------

Case = Callable[[Stage], Awaitable[None]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[name] = fn
        return fn

    return register


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


async def assert_closed_after_close_packet(ws: RawWebSocket) -> None:
    """A Socket.IO-level refusal: the Engine.IO CLOSE packet ``1``, then CLOSE 1000."""
    opcode, payload = await ws.read_frame()
    assert (opcode, payload) == (OP_TEXT, b"1")
    assert await ws.close_frame() == Closed(1000)


@case("http-garbage")
async def http_garbage(stage: Stage) -> None:
    """Bytes that are no HTTP (a TLS ClientHello to a plain port): 400, then closed."""
    raw = await stage.raw()
    await raw.send(bytes.fromhex("16030100a5010000a10303") + bytes(32) + b"\r\n\r\n")
    answer = await raw.response()
    assert (answer.status, answer.body) == (400, b"Bad Request")
    assert answer.headers["connection"] == "close"
    assert await raw.closed() == "eof"


@case("engineio-garbage-websocket")
async def engineio_garbage_websocket(stage: Stage) -> None:
    ws = await stage.websocket()
    sid = await ws.sio_connect()
    await ws.send_text("garbage")
    assert await ws.close_frame() == Closed(1000)
    assert await stage.reason(sid) == "parse error"


@case("engineio-garbage-polling")
async def engineio_garbage_polling(stage: Stage) -> None:
    sid, _ = await stage.polling_session()
    answer = await stage.post(sid, b"garbage")
    assert (answer.status, answer.json()) == (400, BAD_REQUEST)
    gone = await stage.get(sid)
    assert (gone.status, gone.json()) == (400, SESSION_UNKNOWN)


@case("socketio-garbage-websocket")
async def socketio_garbage_websocket(stage: Stage) -> None:
    ws = await stage.websocket()
    sid = await ws.sio_connect()
    await ws.send_text('42{"not":"an array"}')
    await assert_closed_after_close_packet(ws)
    assert await stage.reason(sid) == "parse error"


@case("socketio-garbage-polling")
async def socketio_garbage_polling(stage: Stage) -> None:
    sid, _ = await stage.polling_session()
    assert (await stage.post(sid, b'42{"not":"an array"}')).text == "ok"
    closing = await stage.get(sid)
    assert (closing.status, closing.text) == (200, "1")


@case("unknown-sid-polling-get")
async def unknown_sid_polling_get(stage: Stage) -> None:
    answer = await stage.get("no-such-session")
    assert (answer.status, answer.json()) == (400, SESSION_UNKNOWN)


@case("unknown-sid-polling-post")
async def unknown_sid_polling_post(stage: Stage) -> None:
    answer = await stage.post("no-such-session", b"40")
    assert (answer.status, answer.json()) == (400, SESSION_UNKNOWN)


@case("unknown-sid-websocket")
async def unknown_sid_websocket(stage: Stage) -> None:
    raw = await stage.raw()
    ws = RawWebSocket(raw.reader, raw.writer)
    answer = await ws.upgrade(f"{WEBSOCKET}&sid=no-such-session")
    assert (answer.status, answer.json()) == (400, SESSION_UNKNOWN)


@case("invalid-utf8-websocket")
async def invalid_utf8_websocket(stage: Stage) -> None:
    ws = await stage.websocket()
    sid = await ws.sio_connect()
    await ws.send(frame(b'42["echo","\xff\xfe"]'))
    assert await ws.close_frame() == Closed(1007, "invalid UTF-8")
    assert await stage.reason(sid) == "transport error"


@case("invalid-utf8-polling")
async def invalid_utf8_polling(stage: Stage) -> None:
    sid, _ = await stage.polling_session()
    answer = await stage.post(sid, b'42["echo","\xff\xfe"]')
    assert (answer.status, answer.json()) == (400, BAD_REQUEST)
    gone = await stage.get(sid)
    assert (gone.status, gone.json()) == (400, SESSION_UNKNOWN)


ATTACHMENT_MISMATCHES: dict[str, list[str | bytes]] = {
    # a header announcing one attachment, then a text message where it should be
    "text-for-attachment": ['451-["echo",{"_placeholder":true,"num":0}]', '42["echo","x"]'],
    # a binary message no header announced
    "attachment-unannounced": [b"\x01\x02\x03"],
    # more attachments than the parser takes (10, as socket.io-parser)
    "attachments-too-many": ['4511-["echo",{"_placeholder":true,"num":0}]'],
    # a placeholder naming an attachment that is not there
    "placeholder-out-of-range": ['451-["echo",{"_placeholder":true,"num":3}]', b"\x01"],
}


def attachment_case(messages: list[str | bytes]) -> Case:
    async def run(stage: Stage) -> None:
        ws = await stage.websocket()
        sid = await ws.sio_connect()
        for message in messages:
            await (ws.send_binary(message) if isinstance(message, bytes) else ws.send_text(message))
        await assert_closed_after_close_packet(ws)
        assert await stage.reason(sid) == "parse error"

    return run


for _name, _messages in ATTACHMENT_MISMATCHES.items():
    CASES[f"{_name}-websocket"] = attachment_case(_messages)


@case("text-for-attachment-polling")
async def text_for_attachment_polling(stage: Stage) -> None:
    sid, _ = await stage.polling_session()
    body = b'451-["echo",{"_placeholder":true,"num":0}]\x1e42["echo","x"]'
    assert (await stage.post(sid, body)).text == "ok"
    closing = await stage.get(sid)
    assert (closing.status, closing.text) == (200, "1")


@case("oversized-message-websocket")
async def oversized_message_websocket(stage: Stage) -> None:
    """A frame announcing one byte more than the limit: 1009 at its header."""
    ws = await stage.websocket()
    sid = await ws.sio_connect()
    await ws.send(struct.pack("!BBQ", 0x81, 0xFF, MAX_MESSAGE + 1) + bytes(4) + b"42")
    assert await ws.close_frame() == Closed(1009, "message too big")
    assert await stage.reason(sid) == "transport error"


@case("oversized-post-polling")
async def oversized_post_polling(stage: Stage) -> None:
    sid, _ = await stage.polling_session()
    answer = await stage.post(sid, b"4" + b"x" * MAX_MESSAGE)
    assert (answer.status, answer.body) == (413, b"Payload Too Large")
    gone = await stage.get(sid)
    assert (gone.status, gone.json()) == (400, SESSION_UNKNOWN)


@case("oversized-request-head")
async def oversized_request_head(stage: Stage) -> None:
    """A request head that never ends: 431 once it is past 16 KiB, then closed."""
    raw = await stage.raw()
    await raw.send(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n")

    async def keep_sending() -> None:
        with contextlib.suppress(ConnectionError):
            for i in range(4096):  # 1 MiB at most; the answer comes long before
                await raw.send(b"X-Pad-%04d: %s\r\n" % (i, b"y" * 240))

    sending = asyncio.ensure_future(keep_sending())
    try:
        answer = await raw.response()
    finally:
        sending.cancel()
    assert (answer.status, answer.body) == (431, b"Request Header Fields Too Large")
    assert answer.headers["connection"] == "close"


@case("deeply-nested-readable-websocket")
async def deeply_nested_readable_websocket(stage: Stage) -> None:
    """600 levels: read (JSON takes up to 1,024), but too deep to encode back (orjson
    writes 254): the echo's ack is the error ack ``handler_error``; the socket stays."""
    ws = await stage.websocket()
    await ws.sio_connect()
    await ws.send_text(f'421["echo",{deep(600)}]')
    answer = await ws.recv()
    assert isinstance(answer, str)
    assert answer.startswith("431["), answer
    assert json.loads(answer[3:])[0]["_rc_error"]["code"] == "handler_error"
    await ws.send_text('422["echo","still here"]')
    assert await ws.recv() == '432["still here"]'


@case("deeply-nested-unreadable-websocket")
async def deeply_nested_unreadable_websocket(stage: Stage) -> None:
    """40,000 levels (80 KB): refused by the decoder, a parse error."""
    ws = await stage.websocket()
    sid = await ws.sio_connect()
    await ws.send_text(f'421["echo",{deep(40_000)}]')
    await assert_closed_after_close_packet(ws)
    assert await stage.reason(sid) == "parse error"


@case("deeply-nested-unreadable-polling")
async def deeply_nested_unreadable_polling(stage: Stage) -> None:
    sid, _ = await stage.polling_session()
    assert (await stage.post(sid, f'421["echo",{deep(2_000)}]'.encode())).text == "ok"
    closing = await stage.get(sid)
    assert (closing.status, closing.text) == (200, "1")


@case("duplicate-connect-websocket")
async def duplicate_connect_websocket(stage: Stage) -> None:
    """A second CONNECT to ``/`` on the same connection is ignored: no answer, the
    socket keeps its id and goes on."""
    ws = await stage.websocket()
    sid = await ws.sio_connect()
    await ws.send_text("40")
    await ws.send_text('421["echo","after"]')
    assert await ws.recv() == '431["after"]'  # the first answer after the second CONNECT
    assert sid in stage.io.of("/").sockets
    assert sid not in stage.gone


@case("duplicate-connect-polling")
async def duplicate_connect_polling(stage: Stage) -> None:
    sid, _ = await stage.polling_session()
    assert (await stage.post(sid, b'40\x1e421["echo","after"]')).text == "ok"
    assert (await stage.get(sid)).text == '431["after"]'


@case("poll-after-upgrade")
async def poll_after_upgrade(stage: Stage) -> None:
    """Polling on a session upgraded to WebSocket: 400 Bad request (GET and POST); the
    WebSocket goes on."""
    sid, _ = await stage.polling_session()
    ws = await stage.websocket(f"{WEBSOCKET}&sid={sid}")
    await ws.send_text("2probe")
    assert await ws.recv() == "3probe"
    await ws.send_text("5")
    await ws.send_text('421["echo","upgraded"]')
    assert await ws.recv() == '431["upgraded"]'  # the upgrade is done
    for answer in (await stage.get(sid), await stage.post(sid, b'42["echo","x"]')):
        assert (answer.status, answer.json()) == (400, BAD_REQUEST)
    await ws.send_text('422["echo","still upgraded"]')
    assert await ws.recv() == '432["still upgraded"]'


@case("overlapping-polls")
async def overlapping_polls(stage: Stage) -> None:
    """Two GETs at once on one polling session (a client must have one at most): one is
    answered 400 Bad request, the other gets the CLOSE packet; the session is gone."""
    sid, socket_id = await stage.polling_session()
    target = f"{POLLING}&sid={sid}"
    answers = await asyncio.gather(
        stage.exchange(http_request("GET", target)), stage.exchange(http_request("GET", target))
    )
    assert sorted((a.status, a.text) for a in answers) == [
        (200, "1"),
        (400, json.dumps(BAD_REQUEST, separators=(",", ":"))),
    ]
    assert await stage.reason(socket_id) == "transport error"
    gone = await stage.get(sid)
    assert (gone.status, gone.json()) == (400, SESSION_UNKNOWN)


@case("slowloris-head")
async def slowloris_head(stage: Stage) -> None:
    """A request head a byte at a time: 408 once ``header_timeout`` has passed."""
    raw = await stage.raw()
    head = http_request("GET", POLLING, headers={f"X-Pad-{i}": "y" * 40 for i in range(20)})

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            for byte in head:
                await raw.send(bytes((byte,)))
                await asyncio.sleep(0.05)  # the pace of the attack, not a wait for the server

    trickling = asyncio.ensure_future(trickle())
    try:
        answer = await raw.response()
    finally:
        trickling.cancel()
    assert answer.status == 408
    assert answer.body.startswith(b"Request Timeout")
    assert answer.headers["connection"] == "close"


@case("silent-connection")
async def silent_connection(stage: Stage) -> None:
    """A TCP connection that sends nothing: 408 after ``header_timeout``, then closed."""
    raw = await stage.raw()
    answer = await raw.response()
    assert answer.status == 408
    assert await raw.closed() == "eof"


@case("half-open-websocket")
async def half_open_websocket(stage: Stage) -> None:
    """A client gone without a FIN (it answers nothing, reads nothing): the heartbeat
    closes it, ``ping timeout``, within ping_interval + ping_timeout."""
    ws = await stage.websocket()
    sid = await ws.sio_connect()
    ws.answer_pings = False
    assert await stage.reason(sid, within=WAIT + PING_INTERVAL + PING_TIMEOUT) == "ping timeout"
    assert await ws.close_frame() == Closed(1000)


@case("half-open-polling")
async def half_open_polling(stage: Stage) -> None:
    """A polling client that stops polling: ``ping timeout``, and the session is gone (a
    client presumed dead is sent nothing more): its next poll is told so."""
    sid, socket_id = await stage.polling_session()
    within = WAIT + PING_INTERVAL + PING_TIMEOUT
    assert await stage.reason(socket_id, within=within) == "ping timeout"
    late = await stage.get(sid)
    assert (late.status, late.json()) == (400, SESSION_UNKNOWN)


@case("never-reads")
async def never_reads(stage: Stage) -> None:
    """A client in a busy room that never reads: cut at ``max_write_buffer`` with a
    reset, ``transport error``."""
    ws = await stage.websocket(receive_buffer=4096)
    sid = await ws.sio_connect()
    await ws.send_text('421["join","sink"]')
    assert await ws.recv() == "431[]"
    blob = "z" * 65_536
    for _ in range(4096):  # 256 MiB at most; cut after a few MiB
        if sid in stage.gone:
            break
        await stage.io.to("sink").emit("blob", blob)
        await asyncio.sleep(0)  # let the transports write
    assert await stage.reason(sid) == "transport error"
    assert await ws.close_frame() == Closed(None, "reset")


@case("no-namespace")
async def no_namespace(stage: Stage) -> None:
    """A connection that never sends CONNECT: closed after ``connect_timeout``."""
    ws = await stage.websocket()
    await ws.open_session()
    frames = []
    while (item := await ws.read_frame(WAIT + CONNECT_TIMEOUT))[0] == OP_TEXT:
        frames.append(item[1])
    assert frames[-1:] == [b"1"], frames  # pings answered on the way, then CLOSE
    assert item[0] == 0x8


@case("unknown-namespace")
async def unknown_namespace(stage: Stage) -> None:
    """CONNECT_ERROR ``Invalid namespace``; the connection stays for other namespaces."""
    ws = await stage.websocket()
    await ws.open_session()
    await ws.send_text("40/nowhere,")
    assert await ws.recv() == '44/nowhere,{"message":"Invalid namespace"}'
    await ws.send_text("40")
    assert str(await ws.recv()).startswith("40{")


@case("event-before-connect")
async def event_before_connect(stage: Stage) -> None:
    ws = await stage.websocket()
    await ws.open_session()
    await ws.send_text('421["echo","x"]')
    await assert_closed_after_close_packet(ws)


@case("unmasked-frame")
async def unmasked_frame(stage: Stage) -> None:
    ws = await stage.websocket()
    sid = await ws.sio_connect()
    await ws.send(frame(b'42["echo","x"]', masked=False))
    assert await ws.close_frame() == Closed(1002, "client frames must be masked")
    assert await stage.reason(sid) == "transport error"


@case("unknown-opcode")
async def unknown_opcode(stage: Stage) -> None:
    ws = await stage.websocket()
    await ws.sio_connect()
    await ws.send(frame(b"x", 0x3))
    assert await ws.close_frame() == Closed(1002, "unknown opcode")


HANDSHAKE_ERRORS = {
    "protocol-version-3": ("GET", "/socket.io/?EIO=3&transport=polling", 400, 5),
    "transport-unknown": ("GET", "/socket.io/?EIO=4&transport=flash", 400, 0),
    "handshake-by-post": ("POST", POLLING, 400, 2),
}
MESSAGES = {
    0: "Transport unknown",
    2: "Bad handshake method",
    5: "Unsupported protocol version",
}


def handshake_case(method: str, target: str, status: int, code: int) -> Case:
    async def run(stage: Stage) -> None:
        answer = await stage.exchange(
            http_request(method, target, b"40" if method == "POST" else b"")
        )
        assert (answer.status, answer.json()) == (status, {"code": code, "message": MESSAGES[code]})

    return run


for _name, _spec in HANDSHAKE_ERRORS.items():
    CASES[_name] = handshake_case(*_spec)


@pytest.mark.parametrize("name", list(CASES))
async def test_bad_input(
    name: str, stage: Stage, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    await stage.undisturbed()
    try:
        await asyncio.wait_for(CASES[name](stage), 3 * WAIT)
    finally:
        stage.release()
    await stage.undisturbed()
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not loud, [r.getMessage() for r in loud]
    assert "Traceback" not in "".join(capfd.readouterr())


@pytest.mark.parametrize("event", ["echo", "wrap", "later"])
async def test_an_ack_too_deep_to_encode_is_an_error_ack(
    event: str, stage: Stage, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever the way a handler's result goes (a plain value acked at once, a dict, a
    coroutine's), data the encoder cannot write back answers ``handler_error``, logged as
    one warning, and the socket goes on."""
    ws = await stage.websocket()
    try:
        await ws.sio_connect()
        await ws.send_text(f'421["{event}",{deep(600)}]')
        answer = await ws.recv()
        assert isinstance(answer, str)
        rejection = json.loads(answer.removeprefix("431"))[0]["_rc_error"]
        assert rejection["code"] == "handler_error"
        assert rejection["message"] == "the handler's result could not be encoded"
        await ws.send_text(f'422["{event}",{deep(20)}]')
        assert str(await ws.recv()).startswith("432[")
    finally:
        stage.release()
    (warning,) = [r for r in caplog.records if "could not be encoded" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert warning.exc_info is None
    assert f"the ack of {event!r}" in warning.getMessage()

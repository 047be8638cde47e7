"""The native server: one ``asyncio.Protocol`` per connection, HTTP parsed by httptools,
WebSocket framed by ``frames``, every request answered by the route of its path (``routes``).

Why not aiohttp here: measured on this machine, an idle aiohttp WebSocket costs about
19 KiB and a task per connection; this protocol keeps an idle connection to a few objects
with ``__slots__`` and no task, and writes broadcast frames straight to the transport.
aiohttp stays the way to mount roomcast into an existing application (``attach``).
Long-polling requests, the handshake and the client bundle run as short tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any, Final, cast
from urllib.parse import parse_qsl

import httptools

from ..exceptions import PayloadTooLarge
from .deflate import MessageCompressor
from .frames import (
    CloseCode,
    Control,
    Failure,
    FrameParser,
    Opcode,
    build_frame,
    close_frame,
    close_reply,
    parse_close,
)
from .handshake import accept_headers, handshake_error
from .http import HandshakeRequest, HttpResponse, PendingResponse, make_headers
from .routes import ByteMeter, Receiver, Route, RouteTable, not_found
from .websocket import MESSAGES_PER_TURN, CorkedLink, Outgoing, encoded_frame

logger = logging.getLogger("roomcast.native")

CLOSE_TIMEOUT: Final = 5.0
"""Seconds a closing WebSocket waits for its client to close the TCP connection."""

LINGER: Final = 2.0
"""Seconds a connection answered 408 is still read (and what comes dropped) before it is
closed, so that the answer is not lost to a reset while the client is still sending."""

FRAMES_PER_TURN: Final = MESSAGES_PER_TURN
"""WebSocket frames of one connection dispatched per loop turn at most: a client sending
as fast as it can gets its share of the loop, no more (``HttpProtocol._websocket_data``)."""
_BACKLOG: Final = 1  # reading paused: frames read wait for their turn
_HELD: Final = 2  # reading paused: the link is held (its handlers' work piles up)

MAX_HEAD_BYTES: Final = 16 * 1024
"""A request head (its line and headers) still incomplete past this many bytes is answered
431 and the connection closed (Node's default ``--max-http-header-size``): what a client
sends without ending its head is not kept without bound."""

_RequestKey = tuple[bytes, bytes, list[tuple[bytes, bytes]]]
"""What a request is built from: its method, target and raw headers."""


class NativeLink(CorkedLink):
    """The WebSocket of a native connection: frames in from the protocol, out corked."""

    def __init__(self, route: Route, transport: asyncio.Transport) -> None:
        super().__init__(transport, route.cork, route.max_write_buffer)
        self.socket: Receiver | None = None
        """Where the messages go; None once the link is closing (they are dropped)."""
        self.closing = False
        self.on_hold: Callable[[bool], None] | None = None
        """The connection's: stop or go on reading (``hold_reading``)."""

    def hold_reading(self, held: bool) -> None:
        if self.on_hold is not None:
            self.on_hold(held)

    async def receive(self) -> str | bytes | None:  # pragma: no cover - pushed, never pulled
        raise NotImplementedError("the native link pushes messages to its socket")

    async def aclose(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        self.close(code, reason)

    def ping(self, payload: bytes = b"") -> bool:
        self.send_frame(build_frame(payload, Opcode.PING))
        return True

    def close(self, code: int, reason: str = "") -> None:
        """Send what is queued and a CLOSE frame, then end the TCP stream for writing: the
        client reads the close frame, answers it and closes; what it still sends meanwhile
        is read and dropped (closing at once would reset the connection, and the client
        would lose the close frame). The connection closes after ``CLOSE_TIMEOUT`` anyway."""
        self.socket = None
        if self.closing:
            return
        self.flush()
        self.closing = True
        transport = self._transport
        if transport.is_closing():
            return
        transport.write(close_frame(code, reason))
        if transport.can_write_eof():
            transport.write_eof()
            asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, transport.close)
        else:
            transport.close()


class DeflatingLink(NativeLink):
    """A native link with permessage-deflate agreed: messages over the threshold go out
    compressed (a broadcast's compressed frame is built once and shared)."""

    def __init__(
        self, route: Route, transport: asyncio.Transport, compressor: MessageCompressor
    ) -> None:
        super().__init__(route, transport)
        self.compressor = compressor

    def send_outgoing(self, message: Outgoing) -> None:
        self.send_frame(message.deflated_frame(self.compressor))

    def send_encoded(self, data: str | bytes) -> None:
        self.send_frame(encoded_frame(data, self.compressor))


class MeteredTransport:
    """A connection's transport whose writes are counted in a ``ByteMeter`` (set on the
    route table when metrics are on; without it, connections write to their transport)."""

    __slots__ = ("_meter", "_transport", "get_write_buffer_size", "is_closing")

    def __init__(self, transport: asyncio.BaseTransport, meter: ByteMeter) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._meter = meter
        self.get_write_buffer_size = self._transport.get_write_buffer_size
        self.is_closing = self._transport.is_closing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._meter.sent += len(data)
        self._transport.write(data)

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(asyncio.Protocol):
    """One TCP connection: HTTP/1.1 requests (keep-alive), or a WebSocket once upgraded."""

    __slots__ = (
        "_body",
        "_body_size",
        "_due",
        "_early",
        "_frames",
        "_head_bytes",
        "_headers",
        "_idle",
        "_link",
        "_parser",
        "_paused",
        "_pipe",
        "_previous",
        "_registry",
        "_requests",
        "_serving",
        "_slot",
        "_task",
        "_too_large",
        "_transport",
        "_url",
        "routes",
    )

    def __init__(self, routes: RouteTable, registry: set[HttpProtocol] | None = None) -> None:
        self.routes = routes
        self._registry = registry
        self._transport: asyncio.Transport | None = None
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] | None = None  # of the request being parsed
        # the last request built, by what it was built from (the same comes again and again)
        self._previous: tuple[_RequestKey, HandshakeRequest] | None = None
        self._body: list[bytes] | None = None
        self._body_size = 0
        self._too_large = False
        # requests waiting for an answer (keep-alive, pipelining); none on a WebSocket
        self._requests: deque[tuple[HandshakeRequest | HttpResponse, bytes | None, bool]] | None
        self._requests = None
        self._head_bytes = 0  # bytes of a request head still coming; -1: not in a head
        self._serving = False
        self._task: asyncio.Future[Any] | None = None
        self._frames: FrameParser | None = None
        self._early: bytearray | None = None
        self._link: NativeLink | None = None
        self._pipe: asyncio.Transport | None = None
        self._paused = 0  # why reading is paused: _BACKLOG, _HELD (bits)
        self._due: float | None = None  # when the pending timeout falls (loop time)
        self._idle = False  # whether it is the keep-alive wait (else a request's)
        self._slot: int | None = None  # the deadline wheel's slot this connection is in

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        meter = self.routes.meter
        if meter is not None:  # metrics on: the writes are counted (a check per connection)
            self._transport = cast(asyncio.Transport, MeteredTransport(transport, meter))
        if self._registry is not None:
            self._registry.add(self)
        self._wait(idle=False)

    def data_received(self, data: bytes) -> None:
        frames = self._frames
        if frames is not None:
            text = frames.lone_text(data)  # the common case, in the fewest steps
            link = self._link
            if text is not None and link is not None and link.socket is not None:
                link.socket.websocket_message(link, text)
            else:
                self._websocket_data(data)
            return
        if self._pipe is not None:
            self._pipe.write(data)
            return
        parser = self._parser
        if parser is None:
            if self._early is not None:  # the upgrade is being accepted: keep what comes
                self._early += data
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgrade(data[upgrade.args[0] :])
        except httptools.HttpParserError:
            self._parser = None  # answered 400 after the requests before it, then closed
            self._queue((_refusal(400, b"Bad Request"), None, False))
        else:
            head = self._head_bytes
            if head > 0:  # a head that goes on over reads: bounded
                head += len(data)
                if head > MAX_HEAD_BYTES:
                    self._parser = None
                    self._queue((_refusal(431, b"Request Header Fields Too Large"), None, False))
                self._head_bytes = head
            elif head == 0 and self._parser is not None:  # (counted from the next read)
                self._head_bytes = 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self._registry is not None:
            self._registry.discard(self)
        self._due = None
        if self._slot is not None:
            self.routes.deadlines().discard(self, self._slot)
            self._slot = None
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()  # a pending long-poll learns that its client is gone
        link, self._link = self._link, None
        if link is not None and link.socket is not None:
            link.socket.websocket_closed(link, None if exc is None else str(exc))
        self._frames = None
        self._parser = None
        if self._pipe is not None:
            self._pipe.close()

    def pause_writing(self) -> None:
        if self._pipe is not None:  # the client reads slower than the owner writes
            self._pipe.pause_reading()

    def resume_writing(self) -> None:
        if self._pipe is not None:
            self._pipe.resume_reading()

    # -- httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._due is None or self._idle:  # idle until now: the request has its own time
            self._wait(idle=False)
        self._url = b""
        self._headers = []
        self._body = []
        self._body_size = 0
        self._too_large = False
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self._headers is not None  # on_message_begin came first
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._head_bytes = -1  # the deadline runs on: the body, if any, must come in time too

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self.routes.max_body:
            self._too_large = True
            self._body = []
        elif self._body is not None:
            self._body.append(body)

    def on_message_complete(self) -> None:
        self._due = None
        parser = self._parser
        if parser is None or parser.should_upgrade():
            return
        request = self._request(parser)
        body = None if self._too_large or self._body is None else b"".join(self._body)
        requests = self._requests
        if requests is None:
            requests = self._requests = deque()
        requests.append((request, body, parser.should_keep_alive()))
        self._serve_next()

    def _queue(self, item: tuple[HandshakeRequest | HttpResponse, bytes | None, bool]) -> None:
        if self._requests is None:
            self._requests = deque()
        self._requests.append(item)
        self._serve_next()

    def _serve_next(self) -> None:
        requests, routes = self._requests, self.routes
        if self._serving or requests is None:
            return
        while requests:  # answers that need no waiting (polling POSTs), without a task
            request, body, keep_alive = requests[0]
            if isinstance(request, HttpResponse):  # a refusal: answered in order, below
                break
            route = routes.find(request.path)
            if route is None or (body is not None and len(body) > route.max_message_size):
                break
            response = route.answer_now(request, body)
            if response is None:
                break
            requests.popleft()
            if isinstance(response, PendingResponse):  # a long-poll: waits without a task
                self._serving = True
                self._task = response.ready  # cancelled if the client goes away
                response.ready.add_done_callback(
                    functools.partial(self._answer_ready, response, keep_alive, request)
                )
                routes.keep(response.ready)  # closing waits until it is answered
                return
            if not self._reply(response, keep_alive, request) and response.undelivered is not None:
                response.undelivered()
            if not keep_alive:
                self.close()
                return
        if requests:
            self._serving = True
            self._task = routes.spawn(self._serve_requests())

    def _answer_ready(
        self,
        pending: PendingResponse,
        keep_alive: bool,
        request: HandshakeRequest,
        ready: asyncio.Future[None],
    ) -> None:
        self._serving = False
        self._task = None
        if ready.cancelled():  # the connection was lost
            pending.abandon()
            return
        response = pending.response()
        if not self._reply(response, keep_alive, request) and response.undelivered is not None:
            response.undelivered()
        if not keep_alive:
            self.close()
            return
        self._serve_next()  # the requests that came meanwhile (pipelining)

    # -- HTTP ----------------------------------------------------------------------------

    def _request(self, parser: httptools.HttpRequestParser) -> HandshakeRequest:
        """The request parsed; the previous one again when it came byte for byte the same
        (a polling client's requests do: a ``HandshakeRequest`` cannot change)."""
        key = (parser.get_method(), self._url, self._headers or [])
        previous = self._previous
        if previous is not None and previous[0] == key:
            return previous[1]
        path, query = _target(self._url)
        transport = self._transport
        request = HandshakeRequest(
            method=key[0].decode("ascii"),
            path=path,
            query=dict(query),
            headers=make_headers([(n.decode("latin-1"), v.decode("latin-1")) for n, v in key[2]]),
            address=self._peer(),
            secure=transport is not None and transport.get_extra_info("sslcontext") is not None,
            url=self._url.decode("latin-1"),
        )
        self._previous = (key, request)
        return request

    def _peer(self) -> str:
        """The client's address ("" on a unix socket: another worker of this node)."""
        transport = self._transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        return str(peer[0]) if peer else ""

    async def _serve_requests(self) -> None:
        try:
            while self._requests:
                request, body, keep_alive = self._requests.popleft()  # (not None: truthy)
                if isinstance(request, HttpResponse):  # refused: bad bytes, too long a head
                    response, asked = request, None
                else:
                    response, asked = await self._respond(request, body), request
                if (
                    not self._reply(response, keep_alive, asked)
                    and response.undelivered is not None
                ):
                    response.undelivered()
                if isinstance(request, HttpResponse):
                    self._linger()
                    return
                if not keep_alive:
                    self.close()
                    return
        finally:
            self._serving = False
            self._task = None

    async def _respond(self, request: HandshakeRequest, body: bytes | None) -> HttpResponse:
        route = self.routes.find(request.path)
        if route is None:
            return not_found()

        async def read_body(limit: int) -> bytes:
            if body is None:
                raise PayloadTooLarge(self._body_size, limit)
            if len(body) > limit:
                raise PayloadTooLarge(len(body), limit)
            return body

        return await route.handle_http(request, read_body)

    def _reply(
        self, response: HttpResponse, keep_alive: bool, request: HandshakeRequest | None = None
    ) -> bool:
        """Write ``response`` (to ``request``, when it could be read); False when the
        connection is already gone."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return False
        body = response.body
        head = _head(response.status, tuple(response.headers.items()), keep_alive)
        if response.status in (204, 304):
            transport.write(head + b"\r\n" + body)
        else:
            transport.write(b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body))
        access_log = self.routes.access_log
        if access_log is not None:
            access_log(request, self._peer(), response.status, len(body))
        if keep_alive and not self._requests and self._due is None:
            self._wait(idle=True)
        return True

    def close(self) -> None:
        """Close the connection (what is already written still goes out)."""
        if self._transport is not None:
            self._transport.close()

    # -- timeouts ------------------------------------------------------------------------

    def _wait(self, idle: bool) -> None:
        """Time the request that is coming, head and body (``HEADER_TIMEOUT``) or, ``idle``,
        the wait for another request on a kept-alive connection (``KEEP_ALIVE_TIMEOUT``).

        Lazily: the connection stays in the deadline wheel's slot it is in as long as that
        slot falls before the new deadline (``expired`` puts it back for what is left when
        the slot comes early), so a request costs a clock read, not wheel operations; it
        moves only to a sooner slot (a request's deadline after a keep-alive wait)."""
        routes = self.routes
        timeout = routes.keep_alive_timeout if idle else routes.header_timeout
        if not timeout:
            self._due = None
            return
        wheel = routes.deadlines()
        due = wheel.now() + timeout
        self._due, self._idle = due, idle
        slot = self._slot
        if slot is None or wheel.time_of(slot) > due:
            if slot is not None:
                wheel.discard(self, slot)
            self._slot = slot = wheel.slot_of(due)
            wheel.add(self, slot)

    def expired(self) -> None:
        """The wheel's slot came: if the pending timeout fell, an idle connection is
        closed; one whose request (head and body) did not come whole in time is answered
        408 Request Timeout (RFC 9110 section 15.5.9) and closed, or just closed while an
        earlier request is still being answered. A timeout that moved on waits again."""
        self._slot = None
        due = self._due
        transport = self._transport
        if due is None or transport is None or transport.is_closing():
            return
        wheel = self.routes.deadlines()
        if wheel.now() < due:
            self._slot = slot = wheel.slot_of(due)
            wheel.add(self, slot)
            return
        self._due = None
        self._parser = None  # what else comes is not read as a request
        if self._idle or self._serving or self._requests or not transport.can_write_eof():
            transport.close()
            return
        body = b"Request Timeout: the request took too long to come whole"
        self._reply(HttpResponse(408, body, {"Content-Type": "text/plain"}), False)
        self._linger()

    def _linger(self) -> None:
        """Close after a refusal the client may still be sending into: closing now would
        reset the connection and the answer could be lost; end the stream for writing,
        drop what comes (nothing is parsed any more), abort ``LINGER`` seconds later."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER, transport.abort)

    # -- WebSocket -------------------------------------------------------------------------

    def _upgrade(self, rest: bytes) -> None:
        self._due = None
        parser = self._parser
        assert parser is not None
        try:
            request = self._request(parser)
        except httptools.HttpParserError:  # a target that is no URL: CONNECT host:port
            self._parser = None
            self._queue((_refusal(400, b"Bad Request"), None, False))  # 400, then closed
            return
        self._parser = None  # nothing more to parse as HTTP
        self._headers = self._body = None  # kept in ``request``; not needed twice
        self._previous = None  # nor its raw headers, for the life of the WebSocket
        self._early = bytearray(rest)
        route = self.routes.find(request.path)
        error = handshake_error(request)
        if error is None:
            if route is None or not route.accepts_websocket:
                error = not_found()
            elif route.websocket_waits(request):
                self.routes.spawn(self._accept_later(route, request))  # a hook to wait for
                return
            else:
                error = route.precheck_websocket(request)
        self._accept(route, request, error)

    async def _accept_later(self, route: Route, request: HandshakeRequest) -> None:
        if await self._forward(route, request):
            return
        self._accept(route, request, await route.check_websocket(request))

    def _accept(
        self, route: Route | None, request: HandshakeRequest, error: HttpResponse | None
    ) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if error is not None or route is None:
            self._reply(error or not_found(), False, request)
            self.close()
            return
        access_log = self.routes.access_log
        if access_log is not None:
            access_log(request, request.address, 101, 0)
        head = ["HTTP/1.1 101 Switching Protocols"]
        head.extend(f"{k}: {v}" for k, v in accept_headers(request, route.subprotocol(request)))
        deflation, agreement = route.deflation, None
        if deflation is not None:  # permessage-deflate, when the client offers it
            agreement = deflation.negotiate(_extensions(request))
        link: NativeLink
        if deflation is None or agreement is None:
            link, inflater = NativeLink(route, transport), None
        else:
            head.append(f"Sec-WebSocket-Extensions: {agreement.response}")
            link = DeflatingLink(route, transport, deflation.compressor(agreement))
            inflater = deflation.inflater(agreement, route.max_message_size)
        transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        receiver = route.accept_websocket(request, link)
        if receiver is None:
            link.close(CloseCode.GOING_AWAY)
            return
        if link.closing:  # closed by its receiver already
            self._early = None
            return
        link.socket = receiver
        link.on_hold = self._hold
        self._link = link
        self._frames = FrameParser(route.max_message_size, inflater)
        rest = self._take_early()
        if rest:
            self._websocket_data(rest)

    def _take_early(self) -> bytes:
        """The bytes that came after the upgrade request, before it was accepted."""
        early, self._early = self._early, None
        return bytes(early) if early else b""

    async def _forward(self, route: Route, request: HandshakeRequest) -> bool:
        """Pipe a WebSocket that another process serves (a session it holds) to that
        process; False when it is served here."""
        transport = self._transport
        if transport is None:
            return False
        upstream = await route.forward_websocket(request, lambda: _Pipe(transport))
        if upstream is None:
            return False
        if transport.is_closing():
            upstream.close()
        else:
            self._pipe = upstream
            rest = self._take_early()
            if rest:
                upstream.write(rest)
        return True

    def _websocket_data(self, data: bytes) -> None:
        """Dispatch the frames ``data`` completes, ``FRAMES_PER_TURN`` at most: past them
        the connection stops reading and goes on in the next loop turn, after the others."""
        frames, link = self._frames, self._link
        if frames is None or link is None or link.socket is None:
            self._pause(_BACKLOG | _HELD, False)  # reads on, to see the client close
            return
        socket = link.socket
        for item in frames.feed(data, FRAMES_PER_TURN):
            if isinstance(item, Control):
                if not self._control(link, item):
                    self._pause(_BACKLOG | _HELD, False)
                    return
            elif isinstance(item, Failure):
                self._fail(link, item)
                self._pause(_BACKLOG | _HELD, False)
                return
            else:
                socket.websocket_message(link, item)
            if self._link is not link:
                self._pause(_BACKLOG | _HELD, False)
                return
        if frames.more:
            self._pause(_BACKLOG, True)
            if not self._paused & _HELD:
                asyncio.get_running_loop().call_soon(self._websocket_data, b"")
        elif self._paused & _BACKLOG:
            self._pause(_BACKLOG, False)

    def _hold(self, held: bool) -> None:
        """The link's ``hold_reading``: frames already read wait too, until it is let go."""
        was_held = self._paused & _HELD
        self._pause(_HELD, held)
        if was_held and not held and self._paused & _BACKLOG:  # their turn again
            asyncio.get_running_loop().call_soon(self._websocket_data, b"")

    def _pause(self, reasons: int, paused: bool) -> None:
        """Add or remove ``reasons`` to stop reading; the transport reads while there is none."""
        before = self._paused
        after = before | reasons if paused else before & ~reasons
        if after == before:
            return
        self._paused = after
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if not before:
            transport.pause_reading()
        elif not after:
            transport.resume_reading()

    def _control(self, link: NativeLink, control: Control) -> bool:
        if control.opcode is Opcode.PING:
            link.send_frame(build_frame(control.payload, Opcode.PONG))
            return True
        if control.opcode is Opcode.CLOSE:
            code, reason = close_reply(control.payload)
            if not reason:  # a valid close frame: what the client said
                link.close_code, link.close_reason = parse_close(control.payload)
            self._end_websocket(link, reason or None)
            link.close(code, reason)
            return False
        if link.on_pong is not None:
            link.on_pong(control.payload)
        return True

    def _fail(self, link: NativeLink, failure: Failure) -> None:
        logger.info("closing a WebSocket: %s", failure.reason)
        self._end_websocket(link, failure.reason)
        link.close(failure.code, failure.reason)

    def _end_websocket(self, link: NativeLink, failure: str | None) -> None:
        self._link = None
        self._frames = None
        socket, link.socket = link.socket, None
        if socket is not None:
            socket.websocket_closed(link, failure)


class _Pipe(asyncio.Protocol):
    """The owner's side of a routed connection: its bytes go straight to the client."""

    def __init__(self, client: asyncio.Transport) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()

    def pause_writing(self) -> None:  # the owner reads slower than the client writes
        self.client.pause_reading()

    def resume_writing(self) -> None:
        self.client.resume_reading()


def _extensions(request: HandshakeRequest) -> list[str]:
    return request.headers.getall("Sec-WebSocket-Extensions", [])


@functools.lru_cache(maxsize=64)
def _refusal(status: int, reason: bytes) -> HttpResponse:
    """What bytes that are no acceptable request get, before the connection closes."""
    return HttpResponse(status, reason, {"Content-Type": "text/plain"})


def _status_line(status: int) -> str:
    with contextlib.suppress(ValueError):
        return f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"
    return f"HTTP/1.1 {status} Unknown"


@functools.lru_cache(maxsize=256)
def _head(status: int, headers: tuple[tuple[str, str], ...], keep_alive: bool) -> bytes:
    """A response's status line and headers, each ending with CRLF, without Content-Length
    and the blank line: formatted once per distinct set (a polling answer's are the same
    every time)."""
    lines = [_status_line(status), *(f"{name}: {value}" for name, value in headers)]
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def _parse_target(url: bytes) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A request target's path and query pairs."""
    parsed = httptools.parse_url(url)
    query = (parsed.query or b"").decode("latin-1")
    return parsed.path.decode("latin-1"), tuple(parse_qsl(query, keep_blank_values=True))


_cached_target = functools.lru_cache(maxsize=4096)(_parse_target)
"""Parsed once per distinct URL: a polling client that sends the same one with every
request (roomcast's client, most non-browser clients) is served from here."""


def _target(url: bytes) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A request target's path and query pairs. A URL with a cache-buster (``&t=``, which
    socket.io-client's long-polling sends, new each time) is never seen again: it is parsed
    without filling the cache with it."""
    if b"&t=" in url:
        return _parse_target(url)
    return _cached_target(url)

"""The Engine.IO v4 server: sessions over WebSocket and HTTP long-polling.

Usable on its own (plain messages, like the ``engine.io`` npm package) and as the base of
the Socket.IO server. Hosts (aiohttp, ASGI) hand it requests through ``handle_http``,
``check_websocket`` and ``serve_websocket``; the protocol itself lives in the sans-IO
``EngineSession``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final, Protocol

from ..engineio import (
    Closed,
    CloseReason,
    EngineConfig,
    EngineSession,
    Message,
    State,
    Transport,
    Upgraded,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
    payload_messages,
)
from ..exceptions import PayloadTooLarge, RemoteProtocolError
from ..handlers import is_awaitable
from .compression import HttpCompression
from .deflate import Deflation, PerMessageDeflate
from .http import (
    CorsPolicy,
    ErrorCode,
    HandshakeRequest,
    HttpResponse,
    PendingResponse,
    ReadBody,
    error_response,
)
from .limits import ConnectionLimiter, Limits
from .origins import OriginsOption
from .proxies import TrustedProxies
from .routes import Route
from .tasks import Tasks
from .timers import TimerWheel, resolution_for
from .websocket import MESSAGES_PER_TURN, Cork, Outgoing, WebSocketLink

logger = logging.getLogger("roomcast.engine")

AllowRequest = Callable[[HandshakeRequest], bool | Awaitable[bool]]


class SessionRouter(Protocol):
    """Where requests for sessions held by another process go (``roomcast serve``: several
    workers, several nodes, no sticky sessions). Set as ``EngineServer.router``."""

    def new_sid(self) -> str:
        """The id of a new session held here; it names this process, so others can route."""
        ...

    async def forward_http(
        self, request: HandshakeRequest, read_body: ReadBody
    ) -> HttpResponse | None:
        """The owner's answer to a polling request whose session is not held here; None when
        no other process holds it (the answer is then "Session ID unknown")."""
        ...

    async def connect(
        self, request: HandshakeRequest, protocol: Callable[[], asyncio.Protocol]
    ) -> asyncio.Transport | None:
        """A connection (speaking ``protocol()``) to the owner of the session ``request``
        names, ``request``'s head already sent: the caller pipes the rest of the WebSocket
        through it. None when no other process holds the session."""
        ...


_EVENTS: Final = ("connection", "message", "upgrade", "close")
MAX_PENDING: Final = 256
"""Unfinished handler tasks of one client past which its messages are not read."""
_CLOSED: Final = State.CLOSED  # a module constant: an Enum class attribute costs ~55 ns
_POLLING: Final = Transport.POLLING
_POLL_TYPE: Final = "text/plain; charset=UTF-8"
_TRANSPORTS: Final = {t.value: t for t in Transport}  # a dict look-up: Transport(v) costs ~1 µs


class EngineSocket:
    """One Engine.IO session with its I/O: the current transport, the pending poll, the timer."""

    __slots__ = (
        "_link",
        "_pending",
        "_poll",
        "_poll_compress",
        "_posting",
        "_probe",
        "_probe_timer",
        "_server",
        "_session",
        "_timer_slot",
        "address",
        "data",
        "request",
        "sid",
    )

    def __init__(
        self, server: EngineServer, session: EngineSession, request: HandshakeRequest
    ) -> None:
        self._server = server
        self._session = session
        self.sid = session.sid
        self.request = request
        self.address = server.proxies.client_address(request)
        """The client's address: the peer's, or the one a trusted proxy forwarded."""
        self.data: Any = None
        """Free for the layer above (the Socket.IO server keeps its connection state here)."""
        self._link: WebSocketLink | None = None
        self._probe: WebSocketLink | None = None
        self._probe_timer: asyncio.TimerHandle | None = None
        self._poll: asyncio.Future[None] | None = None
        self._poll_compress = False  # something queued for the next poll may be compressed
        self._posting = False
        self._timer_slot: int | None = None  # where the heartbeat wheel holds this session
        self._pending = 0  # handler tasks for this client's messages, not finished

    @property
    def transport(self) -> str:
        return str(self._session.transport)  # a StrEnum's value (``.value`` is slower)

    @property
    def closed(self) -> bool:
        return self._session.closed

    def buffered_amount(self) -> int:
        """Bytes waiting to be written to the client's WebSocket (0 over polling)."""
        link = self._link
        return 0 if link is None else link.buffered_amount()

    @property
    def poll_pending(self) -> bool:
        """Whether a long-polling GET is waiting for data (polling transport only)."""
        return self._poll is not None

    # -- sending ------------------------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        """Queue one message for the peer; never blocks. Dropped once closed."""
        link = self._link
        if link is not None:
            link.send_encoded("4" + data if isinstance(data, str) else data)
        else:  # send_outgoing(Outgoing(data)) in fewer steps
            self._poll_compress = True
            self._session.send_message(data)
            self._wake_poll()

    def send_outgoing(self, message: Outgoing) -> None:
        """Queue a prepared message (the broadcast hot path)."""
        link = self._link
        if link is not None:
            if message.volatile and link.buffered_amount():
                return
            link.send_outgoing(message)
            return
        if message.volatile and self._poll is None:
            return
        if message.compress:
            self._poll_compress = True
        self._session.send_message(message.data)
        self._wake_poll()

    def spawn(self, awaitable: Awaitable[Any]) -> None:
        """Run the handler work of one of this client's messages as a task. Past
        ``MAX_PENDING`` such tasks unfinished, the client's messages are not read (its
        WebSocket link is held) until half of them are done: backpressure, not a queue."""
        task = self._server.spawn(awaitable)
        self._pending += 1
        if self._pending == MAX_PENDING and self._link is not None:
            self._link.hold_reading(True)
        task.add_done_callback(self._work_done)

    def _work_done(self, _task: asyncio.Future[Any]) -> None:
        self._pending -= 1
        if self._pending == MAX_PENDING // 2 and self._link is not None:
            self._link.hold_reading(False)

    def can_probe(self) -> bool:
        """Whether a WebSocket may probe an upgrade of this session now."""
        return self._session.can_probe()

    def start_heartbeat(self) -> None:
        """Arm the heartbeat timer (the WebSocket path does it when it starts)."""
        self._arm_timer()

    def close(self, reason: CloseReason = CloseReason.FORCED_CLOSE) -> None:
        """Close the session: queued messages and a CLOSE packet go out first."""
        self._session.close(reason)
        self._pump()

    # -- the sans-IO session's requests --------------------------------------------------

    def _now(self) -> float:
        return self._server.loop.time()

    def _pump(self) -> None:
        """Do what the session asks: switch transport, send packets, dispatch events, arm timer."""
        session = self._session
        events = session.events_received()
        for event in events:
            if isinstance(event, Upgraded):
                self._wake_poll()  # the paused poll ends with what is queued (or a NOOP)
        if session.has_packets_to_send():
            link = self._link
            if link is not None:
                for packet in session.packets_to_send():
                    link.send_encoded(encode_packet(packet))
            else:
                self._wake_poll()
        for event in events:
            if isinstance(event, Message):
                self._server.dispatch_message(self, event.data)
            elif isinstance(event, Closed):
                self._teardown(event.reason)
        self._arm_timer()

    def _arm_timer(self) -> None:
        deadline = self._session.next_deadline()
        if deadline is None:
            return
        wheel = self._server.heartbeats
        slot = wheel.slot_of(deadline)
        current = self._timer_slot
        if current is not None:
            if current <= slot:
                return  # it fires first; the session re-checks then
            wheel.discard(self, current)
        self._timer_slot = slot
        wheel.add(self, slot)

    def on_timer(self) -> None:
        """The heartbeat wheel's call: a deadline of the session has come."""
        self._timer_slot = None
        self._session.handle_timeout(now=self._now())
        self._pump()

    def _teardown(self, reason: CloseReason) -> None:
        if self._timer_slot is not None:
            self._server.heartbeats.discard(self, self._timer_slot)
            self._timer_slot = None
        if (
            self._link is None
            and self._poll is None
            and self._probe is None  # a client that probes an upgrade polls no more
            and self._session.has_packets_to_send()
        ):
            # a polling client collects the last packets (CLOSE among them) with its next GET
            linger = self._server.config.ping_interval + self._server.config.ping_timeout
            self._server.loop.call_later(linger, self._server.forget, self)
        else:
            self._server.forget(self)
        self._wake_poll()
        if self._probe is not None:
            self._refuse_probe(self._probe)
        link = self._link
        if link is not None:
            self._server.spawn(link.aclose())
        self._server.dispatch("close", self, reason.value)

    def _on_overflow(self) -> None:
        logger.warning("closing %s: write buffer over the limit (client not reading)", self.sid)
        self._server.overflows += 1
        self._session.fail(CloseReason.TRANSPORT_ERROR)
        self._pump()

    # -- receiving ----------------------------------------------------------------------

    def _receive_message(self, data: str | bytes) -> None:
        """One WebSocket message over the current transport, other than a text MESSAGE."""
        try:
            packet = decode_packet(data)
        except RemoteProtocolError:
            logger.info("closing %s: invalid packet %.40r", self.sid, data)
            self._session.fail(CloseReason.PARSE_ERROR)
        else:
            if packet.type == 4:
                if not self._session.closed:
                    self._server.dispatch_message(self, packet.data)
                return
            self._session.receive_packets([packet], now=self._now())
        self._pump()

    def _transport_lost(self, failure: str | None) -> None:
        if failure is not None:
            logger.info("closing %s: %s", self.sid, failure)
        self._session.fail(CloseReason.TRANSPORT_ERROR if failure else CloseReason.TRANSPORT_CLOSE)
        self._pump()

    # -- long-polling ---------------------------------------------------------------------

    def _wake_poll(self) -> None:
        poll = self._poll
        if poll is not None and not poll.done():
            poll.set_result(None)

    def start_poll(self, accept_encoding: str | None) -> HttpResponse | asyncio.Future[None]:
        """GET: the answer now when packets are queued (or the session ends or upgrades);
        else a future that ends when there are some, after which ``end_poll`` makes the
        answer (or ``abandon_poll`` says its client went away)."""
        if self._poll is not None:
            logger.info("closing %s: overlapping polling GET", self.sid)
            self._session.close(CloseReason.TRANSPORT_ERROR)  # the pending GET gets CLOSE
            self._pump()
            return error_response(ErrorCode.BAD_REQUEST)
        session = self._session
        if not session.has_packets_to_send() and not session.closed and not session.upgrading:
            poll = self._poll = self._server.loop.create_future()
            return poll
        return self._poll_answer(accept_encoding)

    def end_poll(self, accept_encoding: str | None) -> HttpResponse:
        """The answer to the GET that ``start_poll`` made wait, once its future is done."""
        self._poll = None
        return self._poll_answer(accept_encoding)

    def abandon_poll(self) -> None:
        """The client of the GET that ``start_poll`` made wait went away."""
        self._poll = None
        self._transport_lost("poll connection closed prematurely")

    def _poll_answer(self, accept_encoding: str | None) -> HttpResponse:
        """What is queued as one payload (compressed when the client accepts it, unless
        every message in it was sent with ``compress(False)``)."""
        session = self._session
        packets = session.packets_to_send()
        if session.closed:
            self._server.forget(self)
        text = encode_payload(packets) if packets else "6"
        response = HttpResponse(
            200, text.encode(), {"Content-Type": _POLL_TYPE}, self._poll_response_lost
        )
        compression = self._server.http_compression
        if (
            self._poll_compress
            and compression is not None
            and len(response.body) >= compression.threshold
        ):
            response = compression.apply(response, accept_encoding)
        self._poll_compress = False
        return response

    def _poll_response_lost(self) -> None:
        self._transport_lost("poll response could not be delivered")

    async def handle_post(self, read_body: ReadBody) -> HttpResponse:
        """POST: the client's packets."""
        if self._posting:
            return self._overlapping_post()
        self._posting = True
        try:
            body = await read_body(self._server.config.max_payload)
        except PayloadTooLarge as exc:
            logger.info("closing %s: %s", self.sid, exc)
            self._session.fail(CloseReason.TRANSPORT_ERROR)
            self._pump()
            return HttpResponse(413, b"Payload Too Large", {"Content-Type": "text/plain"})
        finally:
            self._posting = False
        return self.receive_post(body)

    def receive_post(self, body: bytes) -> HttpResponse:
        """POST: the client's packets, once its body is read (within ``max_payload``)."""
        if self._posting:  # another POST of this session is reading its body
            return self._overlapping_post()
        try:
            text = body.decode()
        except UnicodeDecodeError:
            text = ""  # not a valid payload either
        messages = payload_messages(text)
        if messages is not None:  # messages only: straight through, as over WebSocket
            for data in messages:
                if self._session.state is not _CLOSED:
                    self._server.dispatch_message(self, data)
            return HttpResponse(200, b"ok", {"Content-Type": "text/html"})
        try:
            packets = decode_payload(text)
        except RemoteProtocolError:
            logger.info("closing %s: invalid polling payload", self.sid)
            self._session.fail(CloseReason.PARSE_ERROR)
            self._pump()
            return error_response(ErrorCode.BAD_REQUEST)
        for packet in packets:
            if packet.type == 4:
                if not self._session.closed:
                    self._server.dispatch_message(self, packet.data)
            else:
                self._session.receive_packets([packet], now=self._now())
        self._pump()
        return HttpResponse(200, b"ok", {"Content-Type": "text/html"})

    def _overlapping_post(self) -> HttpResponse:
        logger.info("closing %s: overlapping polling POST", self.sid)
        self._session.fail(CloseReason.TRANSPORT_ERROR)
        self._pump()
        return error_response(ErrorCode.BAD_REQUEST)

    # -- WebSocket ------------------------------------------------------------------------

    def attach_websocket(self, link: WebSocketLink) -> None:
        """Start serving this (new) session over ``link``."""
        link.on_overflow = self._on_overflow
        self._link = link
        self._pump()  # the OPEN packet

    def start_probe(self, link: WebSocketLink) -> None:
        """``link`` probes an upgrade of this polling session."""
        self._probe = link
        self._probe_timer = self._server.loop.call_later(
            self._server.upgrade_timeout, self._refuse_probe, link
        )

    def websocket_message(self, link: WebSocketLink, data: str | bytes) -> None:
        """A message arrived on ``link`` (the session's WebSocket or the probing one)."""
        if link is self._link:
            if type(data) is str and data[:1] == "4":  # a MESSAGE: straight through
                if self._session.state is not _CLOSED:
                    self._server.dispatch_message(self, data[1:])
                return
            self._receive_message(data)
        elif link is self._probe:
            self._probe_message(link, data)

    def websocket_closed(self, link: WebSocketLink, failure: str | None = None) -> None:
        """``link`` closed (``failure`` says why when it was an error)."""
        if link is self._link:
            self._transport_lost(failure)
        elif link is self._probe:
            self._refuse_probe(link)

    def _probe_message(self, link: WebSocketLink, data: str | bytes) -> None:
        session = self._session
        try:
            answers = session.receive_probe(decode_packet(data))
        except RemoteProtocolError:
            answers = None
        if answers is None:
            self._refuse_probe(link)
            return
        for packet in answers:
            link.send_encoded(encode_packet(packet))
        self._wake_poll()  # a pending poll ends (with a NOOP if nothing is queued)
        if session.transport is Transport.WEBSOCKET:
            self._end_probe()
            link.on_overflow = self._on_overflow
            self._link = link
            self._server.dispatch("upgrade", self)
        self._pump()

    def _end_probe(self) -> None:
        self._probe = None
        if self._probe_timer is not None:
            self._probe_timer.cancel()
            self._probe_timer = None

    def _refuse_probe(self, link: WebSocketLink) -> None:
        if link is not self._probe:
            return
        self._end_probe()
        upgrading = self._session.upgrading
        self._session.cancel_upgrade()
        self._server.spawn(link.aclose())
        if upgrading:  # a close asked while it was upgrading happens now
            self._pump()

    async def serve_link(self, link: WebSocketLink) -> None:
        """Pull messages from ``link`` until it closes (for hosts with a receive() API):
        ``MESSAGES_PER_TURN`` at most per loop turn (a host hands over what it has read
        without yielding, so a client sending as fast as it can would keep the loop), and
        none while the link is held (its handlers' work piles up: ``spawn``)."""
        turn = 0
        try:
            while (data := await link.receive()) is not None:
                self.websocket_message(link, data)
                if link is not self._link and link is not self._probe:
                    return
                turn += 1
                if turn == MESSAGES_PER_TURN:
                    turn = 0
                    await asyncio.sleep(0)
                held = link.held
                if held is not None:
                    await held.wait()
        except asyncio.CancelledError:  # the host saw the client go away
            self.websocket_closed(link)
            raise
        self.websocket_closed(link, link.failure)


class _PendingPoll(PendingResponse):
    """A polling GET waiting for its session to have something to send."""

    __slots__ = ("_accept_encoding", "_request", "_server", "_socket")

    def __init__(
        self,
        ready: asyncio.Future[None],
        server: EngineServer,
        socket: EngineSocket,
        request: HandshakeRequest,
        accept_encoding: str | None,
    ) -> None:
        super().__init__(ready)
        self._server = server
        self._socket = socket
        self._request = request
        self._accept_encoding = accept_encoding

    def response(self) -> HttpResponse:
        response = self._socket.end_poll(self._accept_encoding)
        if self._server.cors.origins.origins is not None:
            self._server.add_cors_headers(response, self._request)
        return response

    def abandon(self) -> None:
        self._socket.abandon_poll()


Handler = Callable[..., Any]


class EngineServer(Route):
    """An Engine.IO v4 server.

    Handlers: ``connection(conn)``, ``message(conn, data)``, ``close(conn, reason)``; each may
    be a plain function (called inline) or a coroutine function (run as a task).

    It is the route of its ``path`` in a host's route table; ``roomcast.EngineServer`` adds
    hosting (``run``, ``listen``, ``attach``, ``asgi_app``).
    """

    accepts_websocket = True

    def __init__(
        self,
        *,
        path: str = "/engine.io/",
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        max_http_buffer_size: int = 1_000_000,
        transports: Sequence[str] = ("polling", "websocket"),
        allow_upgrades: bool = True,
        upgrade_timeout: float = 10.0,
        cors_allowed_origins: OriginsOption = None,
        cors_credentials: bool = True,
        allow_request: AllowRequest | None = None,
        max_write_buffer: int = 16 * 1024 * 1024,
        limits: Limits | None = None,
        trusted_proxies: Iterable[str] = (),
        per_message_deflate: bool | PerMessageDeflate = False,
        http_compression: bool | HttpCompression = True,
    ) -> None:
        unknown = set(transports) - {t.value for t in Transport}
        if unknown or not transports:
            raise ValueError(f"unknown transports: {sorted(unknown)}")
        self.path = "/" + path.strip("/") + "/"
        self.transports = frozenset(Transport(t) for t in transports)
        self.config = EngineConfig(
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_payload=max_http_buffer_size,
            allow_upgrades=allow_upgrades and Transport.WEBSOCKET in self.transports,
        )
        self.upgrade_timeout = upgrade_timeout
        self.cors = CorsPolicy.from_option(cors_allowed_origins, cors_credentials)
        self.allow_request = allow_request
        self.proxies = TrustedProxies(trusted_proxies)
        """Whose ``X-Forwarded-For`` and ``X-Forwarded-Host`` are believed."""
        self.limiter = None if limits is None else ConnectionLimiter(limits)
        """The handshake limits (None: none)."""
        self._origin_warned = False
        self.max_write_buffer = max_write_buffer
        self.max_message_size = max_http_buffer_size
        deflate = PerMessageDeflate.from_option(per_message_deflate)
        self.deflation = None if deflate is None else Deflation(deflate)
        """permessage-deflate over WebSocket (native server), off by default as in Node."""
        self.http_compression = HttpCompression.from_option(http_compression)
        """Compression of long-polling responses, on by default as in Node."""
        self.sockets: dict[str, EngineSocket] = {}
        self.refusals: Counter[str] = Counter()
        """Handshakes refused, by reason (the error's message, ``limits``, ``allow_request``)."""
        self.overflows = 0
        """Clients disconnected because their write buffer went over ``max_write_buffer``."""
        self.cork = Cork()
        self.heartbeats: TimerWheel[EngineSocket] = TimerWheel(
            lambda: self.loop,
            EngineSocket.on_timer,
            resolution_for(ping_interval, ping_timeout),
        )
        """The sessions' pings and timeouts, on a few shared loop timers (see ``timers``)."""
        self.router: SessionRouter | None = None
        self._handlers: dict[str, list[Handler]] = {name: [] for name in _EVENTS}
        self._message_handler: Handler | None = None  # when there is exactly one
        self._tasks = Tasks("a handler")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drained: asyncio.Future[None] | None = None

    @property
    def engine(self) -> EngineServer:
        return self

    def exact_paths(self) -> tuple[str, ...]:
        return (self.path.rstrip("/"),)

    def prefixes(self) -> tuple[str, ...]:
        return (self.path,)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    # -- handlers -------------------------------------------------------------------------

    def on(self, event: str, handler: Handler | None = None) -> Any:
        """Register a handler for ``connection``, ``message``, ``upgrade`` (a polling
        session moved to WebSocket) or ``close`` (or decorate one)."""
        if event not in self._handlers:
            raise ValueError(f"unknown Engine.IO event {event!r}; expected one of {_EVENTS}")

        def register(fn: Handler) -> Handler:
            handlers = self._handlers[event]
            handlers.append(fn)
            if event == "message":
                self._message_handler = handlers[0] if len(handlers) == 1 else None
            return fn

        return register if handler is None else register(handler)

    def dispatch(self, event: str, *args: Any) -> None:
        """Call the handlers of ``event`` (coroutines run as tasks)."""
        for handler in self._handlers[event]:
            try:
                result = handler(*args)
            except Exception:
                logger.exception("error in the %s handler", event)
                continue
            if is_awaitable(result):
                self.spawn(result)

    def dispatch_message(self, socket: EngineSocket, data: str | bytes) -> None:
        """``dispatch("message", socket, data)``, in fewer steps for one plain handler (the
        Socket.IO server's)."""
        handler = self._message_handler
        if handler is None:
            self.dispatch("message", socket, data)
            return
        try:
            result = handler(socket, data)
        except Exception:
            logger.exception("error in the message handler")
            return
        if result is not None and is_awaitable(result):
            self.spawn(result)

    def tap(self, inbox: list[str | bytes]) -> None:
        """Append every message received to ``inbox`` before it is dispatched, for what
        watches the traffic (metrics) to read in bulk, later. Untapped, the dispatch is as
        it was: nothing is appended."""
        dispatch = EngineServer.dispatch_message.__get__(self)
        append = inbox.append

        def tapped(socket: EngineSocket, data: str | bytes) -> None:
            append(data)
            dispatch(socket, data)

        self.dispatch_message = tapped  # type: ignore[method-assign]

    def spawn(self, awaitable: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``awaitable`` as a task the server keeps track of (and waits for on close)."""
        return self._tasks.spawn(awaitable)

    def forget(self, socket: EngineSocket) -> None:
        if self.sockets.get(socket.sid) is socket:
            del self.sockets[socket.sid]
            if self.limiter is not None:
                self.limiter.closed(socket.address)
            if not self.sockets and self._drained is not None and not self._drained.done():
                self._drained.set_result(None)

    # -- what hosts call ------------------------------------------------------------------

    def _open(self, request: HandshakeRequest, transport: Transport) -> EngineSocket:
        sid = secrets.token_urlsafe(15) if self.router is None else self.router.new_sid()
        session = EngineSession(sid, transport, self.config, now=self.loop.time())
        socket = EngineSocket(self, session, request)
        self.sockets[sid] = socket
        if self.limiter is not None:
            self.limiter.opened(socket.address)
        return socket

    def _precheck(
        self, request: HandshakeRequest, transport: Transport | None
    ) -> HttpResponse | None:
        origin = request.headers.get("Origin")  # none: not a browser, allowed (no Host needed)
        if origin is not None and not self.cors.origins.allows(origin, self.proxies.host(request)):
            self._origin_refused(request)
            return self._refuse(ErrorCode.FORBIDDEN, "origin")
        if request.query.get("EIO") != "4":
            return self._refuse(ErrorCode.UNSUPPORTED_PROTOCOL_VERSION, "protocol version")
        if transport is None or transport not in self.transports:
            return self._refuse(ErrorCode.UNKNOWN_TRANSPORT, "transport unknown")
        return None

    def _refuse(self, code: ErrorCode, reason: str) -> HttpResponse:
        """The error answer to a request, counted in ``refusals`` under ``reason``."""
        self.refusals[reason] += 1
        return error_response(code)

    def _origin_refused(self, request: HandshakeRequest) -> None:
        origin, host = request.headers.get("Origin"), self.proxies.host(request)
        if self._origin_warned:
            logger.info("refused a request from the origin %r (to %r)", origin, host)
            return
        self._origin_warned = True
        logger.warning(
            "refused a request from the origin %r (to %r): only the allowed origins may "
            "connect (cors_allowed_origins; None: the server's own origin; behind a proxy "
            "that rewrites Host, set trusted_proxies or list the origins). Further "
            "refusals are logged at INFO",
            origin,
            host,
        )

    def _over_limits(self, request: HandshakeRequest) -> HttpResponse | None:
        """The refusal of a new session over the handshake limits, if any."""
        limiter = self.limiter
        if limiter is None:
            return None
        address = self.proxies.client_address(request)
        refusal = limiter.check(address, self.loop.time())
        if refusal is not None:
            self.refusals["limits"] += 1
            logger.info("refused a connection from %s: %s", address, refusal.status)
        return refusal

    async def _allowed(self, request: HandshakeRequest) -> bool:
        if self.allow_request is None:
            return True
        verdict = self.allow_request(request)
        if is_awaitable(verdict):
            verdict = await verdict
        return bool(verdict)

    def answer_now(
        self, request: HandshakeRequest, body: bytes | None
    ) -> HttpResponse | PendingResponse | None:
        """``handle_http``'s answer without a task (hosts that have the body call this
        first): a long-polling GET's answer or the answer to wait for, a POST whose body is
        read, a handshake (without ``allow_request``), a refusal. None for what has to wait
        in a task: ``allow_request``, a session another process holds, a body to read."""
        answer = self._answer_now(request, body)
        if type(answer) is HttpResponse and self.cors.origins.origins is not None:
            self.add_cors_headers(answer, request)
        return answer

    async def handle_http(self, request: HandshakeRequest, read_body: ReadBody) -> HttpResponse:
        """Answer a plain HTTP request under ``path`` (long-polling, preflight)."""
        answer = self._answer_now(request, None)
        if answer is None:
            answer = await self._answer_later(request, read_body)
        if isinstance(answer, PendingResponse):
            return await answer.wait()  # its CORS headers are in
        self.add_cors_headers(answer, request)
        return answer

    def add_cors_headers(self, response: HttpResponse, request: HandshakeRequest) -> None:
        """Add the CORS headers that answer ``request`` (none for a same-origin page)."""
        headers = self.cors.headers_for(request)
        if headers:
            response.headers.update(headers)

    def _answer_now(
        self, request: HandshakeRequest, body: bytes | None
    ) -> HttpResponse | PendingResponse | None:
        method, query = request.method, request.query
        if method == "OPTIONS":
            return self.cors.preflight(request)
        transport = _TRANSPORTS.get(query.get("transport", ""))
        if (error := self._precheck(request, transport)) is not None:
            return error
        if transport is not _POLLING:
            return error_response(ErrorCode.BAD_REQUEST)
        sid = query.get("sid")
        if sid is None:
            if method != "GET":
                return self._refuse(ErrorCode.BAD_HANDSHAKE_METHOD, "handshake method")
            if self.allow_request is not None:
                return None  # a hook that may wait: in a task
            return self._over_limits(request) or self._open_polling(request)
        socket = self.sockets.get(sid)
        if socket is None:
            return None if self.router is not None else error_response(ErrorCode.UNKNOWN_SID)
        if socket.transport != "polling":
            return error_response(ErrorCode.BAD_REQUEST)
        if method == "GET":
            return self._poll(socket, request)
        if method == "POST":
            return None if body is None else socket.receive_post(body)
        return error_response(ErrorCode.BAD_REQUEST)

    async def _answer_later(
        self, request: HandshakeRequest, read_body: ReadBody
    ) -> HttpResponse | PendingResponse:
        """What ``_answer_now`` leaves to a task: a handshake with ``allow_request``, a
        session that another process may hold, a POST's body to read."""
        sid = request.query.get("sid")
        if sid is None:
            if (refusal := self._over_limits(request)) is not None:
                return refusal
            if not await self._allowed(request):
                return self._refuse(ErrorCode.FORBIDDEN, "allow_request")
            return self._open_polling(request)
        socket = self.sockets.get(sid)
        if socket is None:
            if self.router is not None:
                routed = await self.router.forward_http(request, read_body)
                if routed is not None:
                    return routed
            return error_response(ErrorCode.UNKNOWN_SID)
        return await socket.handle_post(read_body)

    def _open_polling(self, request: HandshakeRequest) -> HttpResponse | PendingResponse:
        socket = self._open(request, Transport.POLLING)
        self.dispatch("connection", socket)
        socket.start_heartbeat()
        return self._poll(socket, request)

    def _poll(
        self, socket: EngineSocket, request: HandshakeRequest
    ) -> HttpResponse | PendingResponse:
        accept_encoding = request.headers.get("Accept-Encoding")
        answer = socket.start_poll(accept_encoding)
        if isinstance(answer, HttpResponse):
            return answer
        return _PendingPoll(answer, self, socket, request, accept_encoding)

    def websocket_waits(self, request: HandshakeRequest) -> bool:
        """Whether accepting this WebSocket waits for a hook (``allow_request``) or for the
        route to the process that holds its session."""
        sid = request.query.get("sid")
        if sid is None:
            return self.allow_request is not None
        return self.router is not None and sid not in self.sockets

    async def forward_websocket(
        self, request: HandshakeRequest, protocol: Callable[[], asyncio.Protocol]
    ) -> asyncio.Transport | None:
        """A connection to the process holding this WebSocket's session (the router finds
        it), or None when it is held here or nowhere."""
        sid, router = request.query.get("sid"), self.router
        if router is None or sid is None or sid in self.sockets:
            return None
        return await router.connect(request, protocol)

    async def check_websocket(self, request: HandshakeRequest) -> HttpResponse | None:
        """Before accepting a WebSocket: the error response to send instead, if any."""
        response = self.precheck_websocket(request)
        if response is None and request.query.get("sid") is None:
            if not await self._allowed(request):
                return self._refuse(ErrorCode.FORBIDDEN, "allow_request")
        return response

    def precheck_websocket(self, request: HandshakeRequest) -> HttpResponse | None:
        """``check_websocket`` without the ``allow_request`` hook (hosts call it directly,
        without a task, when ``allow_request`` is None)."""
        response = self._precheck(request, _transport_of(request))
        if response is None and _transport_of(request) is not Transport.WEBSOCKET:
            response = error_response(ErrorCode.BAD_REQUEST)
        if response is not None:
            return response
        sid = request.query.get("sid")
        if sid is None:
            return self._over_limits(request)
        if sid not in self.sockets:
            return error_response(ErrorCode.UNKNOWN_SID)
        # A session that cannot be upgraded now (already on WebSocket, or probing) gets the
        # WebSocket accepted, then closed, as the spec says ("the server MUST close the
        # WebSocket connection") and as the reference server does.
        return None

    def accept_websocket(
        self, request: HandshakeRequest, link: WebSocketLink
    ) -> EngineSocket | None:
        """Bind an accepted WebSocket (checked with ``check_websocket``) to its session.

        Returns the socket to feed with ``websocket_message`` / ``websocket_closed``, or None
        when the session went away meanwhile (close ``link``).
        """
        sid = request.query.get("sid")
        if sid is not None:
            socket = self.sockets.get(sid)
            if socket is None or not socket.can_probe():
                return None
            socket.start_probe(link)
            return socket
        socket = self._open(request, Transport.WEBSOCKET)
        self.dispatch("connection", socket)
        socket.attach_websocket(link)
        return socket

    async def serve_websocket(self, request: HandshakeRequest, link: WebSocketLink) -> None:
        """Serve an accepted WebSocket until it closes (hosts with a receive() API)."""
        socket = self.accept_websocket(request, link)
        if socket is None:
            await link.aclose()
            return
        await socket.serve_link(link)

    async def aclose(self, timeout: float = 2.0) -> None:
        """Close every session ("server shutting down"), give polling clients up to
        ``timeout`` seconds to collect their CLOSE packet, and wait for the handlers' tasks."""
        for socket in list(self.sockets.values()):
            socket.close(CloseReason.SERVER_SHUTTING_DOWN)
        self.cork.flush()
        deadline = self.loop.time() + timeout
        while self.sockets and self.loop.time() < deadline:
            self._drained = self.loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained, deadline - self.loop.time())
        await self._tasks.wait(timeout)


def _transport_of(request: HandshakeRequest) -> Transport | None:
    return _TRANSPORTS.get(request.query.get("transport", ""))

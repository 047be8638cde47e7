"""The server's handle on one client connected to one namespace."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from ..engineio import CloseReason
from ..exceptions import AckTimeout, ConnectionClosed, EventRejected
from ..handlers import PLAIN_RESULTS, is_awaitable
from ..rejections import ERROR_KEY, REJECTED_EVENT, Code, error_payload
from ..socketio import Packet, PacketType, ServerSession
from ..socketio.events import AckSettled, Disconnected
from ..socketio.packets import RESERVED_EVENTS, ack_args, single_answer
from ..socketio.session import SessionSnapshot, State, stamp_offset
from ..transports.engine import EngineSocket
from ..transports.http import HandshakeRequest
from ..transports.websocket import Outgoing
from .broadcast import BroadcastOperator
from .connection import Connection
from .guard import failure, looks_like_error, unencodable
from .limits import take_all

if TYPE_CHECKING:
    from .namespace import Namespace

logger = logging.getLogger("roomcast.socket")

AckCallback = Callable[[list[Any]], None]
_NO_ROOMS: frozenset[str] = frozenset()
_ONE_ACK_ARG = frozenset({str, int, float, bool, list, dict})  # ack_args(x) == [x], in one step
# what the dispatch acks at once; a dict goes through _send_ack, which refuses the error key
_PLAIN_ACK = frozenset({str, int, float, bool, list})
_UNENCODABLE = (TypeError, ValueError, RecursionError)
"""What encoding a result that JSON cannot write raises (too deep: orjson's TypeError, the
standard library's RecursionError; NaN with a strict encoder: ValueError)."""
_CONNECTED = State.CONNECTED  # a module constant: an Enum class attribute costs ~55 ns a read


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the client sent when it connected to the namespace."""

    auth: dict[str, Any]
    headers: Any
    query: dict[str, str]
    address: str
    secure: bool
    url: str
    issued: float
    time: str = ""
    xdomain: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_request(
        cls, request: HandshakeRequest, auth: dict[str, Any], issued: float, time: str
    ) -> Handshake:
        return cls(
            auth=auth,
            headers=request.headers,
            query=dict(request.query),
            address=request.address,
            secure=request.secure,
            url=request.url,
            issued=issued,
            time=time,
            xdomain="Origin" in request.headers,
        )


class Sink(Protocol):
    """Where a socket writes its messages: its Engine.IO connection, or a ``Holding``."""

    def send(self, data: str | bytes) -> None: ...
    def send_outgoing(self, message: Outgoing) -> None: ...


class Holding:
    """Stands in for the connection of a recovering socket while what it missed is read:
    the broadcasts delivered meanwhile are kept, each with its offset (its last argument),
    to be written after the missed ones, those among them left out."""

    __slots__ = ("_groups",)

    def __init__(self) -> None:
        self._groups: list[tuple[Any, list[Any]]] = []

    def mark(self, *data: Any) -> None:
        """An outgoing listener: an EVENT starts (its messages follow)."""
        self._groups.append((data[-1] if data else None, []))

    def send(self, data: str | bytes) -> None:
        self._current().append(data)

    def send_outgoing(self, message: Outgoing) -> None:
        self._current().append(message)

    def _current(self) -> list[Any]:
        if not self._groups:
            self._groups.append((None, []))
        return self._groups[-1][1]

    def offsets(self) -> set[Any]:
        """The offsets of the broadcasts kept."""
        return {offset for offset, _ in self._groups}

    def release(self, to: EngineSocket, skip: set[str]) -> None:
        """Write what was kept to ``to``, but the packets whose offset is in ``skip``."""
        for offset, messages in self._groups:
            if type(offset) is str and offset in skip:
                continue
            for message in messages:
                if isinstance(message, Outgoing):
                    to.send_outgoing(message)
                else:
                    to.send(message)
        self._groups.clear()


REPLAYED_WINDOW: Final = 10.0
"""Seconds a socket just recovered drops a broadcast that comes live after its replay."""


class Replayed:
    """Stands in for the connection of a socket just recovered, for ``REPLAYED_WINDOW``
    seconds: a broadcast made on another worker or node reaches the store before the bus,
    so it can be replayed from the store and then come live; the live one is dropped.

    ``mark`` (an outgoing listener) runs for each EVENT delivered, whose one message
    follows; other packets (acks, binary events) call no listener and always pass."""

    __slots__ = ("_engine", "_skip", "offsets")

    def __init__(self, engine: Sink, offsets: set[str]) -> None:
        self._engine = engine
        self._skip = False
        self.offsets = offsets

    def mark(self, *data: Any) -> None:
        offset = data[-1] if data else None
        self._skip = type(offset) is str and offset in self.offsets
        if self._skip:
            self.offsets.discard(offset)

    def send(self, data: str | bytes) -> None:
        self._engine.send(data)

    def send_outgoing(self, message: Outgoing) -> None:
        if self._skip:  # the one message of the EVENT just marked: already replayed
            self._skip = False
            return
        self._engine.send_outgoing(message)


class Socket:
    """One client in one namespace. Handlers receive it as their first argument.

    The protocol state (connected or not, acks awaited and their deadlines, answers kept
    for retried packets) is its ``ServerSession``'s; the socket feeds it, writes what it
    says to send, dispatches what it reports and arms a timer for its next deadline.
    """

    __slots__ = (
        "_any",
        "_any_outgoing",
        "_conn",
        "_engine",
        "_handlers",
        "_middlewares",
        "_rooms_at_close",
        "_session",
        "_sink",
        "_timer",
        "data",
        "handshake",
        "id",
        "nsp",
    )

    def __init__(
        self, nsp: Namespace, conn: Connection, session: ServerSession, handshake: Handshake
    ) -> None:
        self.id = session.sid
        self.nsp = nsp
        self.handshake = handshake
        self.data: dict[str, Any] = {}
        self._session = session
        self._timer: asyncio.TimerHandle | None = None
        self._conn = conn
        self._engine = conn.engine
        self._sink: Sink = conn.engine
        """Where this socket's messages go: its connection, or a ``Holding`` while a
        recovering socket's missed packets are read (see ``hold``)."""
        self._handlers: dict[str, list[Callable[..., Any]]] = {}
        # tuples, rebuilt on the rare registration: an empty tuple is shared and not tracked
        # by the garbage collector, where three empty lists per socket were
        self._any: tuple[Callable[..., Any], ...] = ()
        self._any_outgoing: tuple[Callable[..., Any], ...] = ()
        self._middlewares: tuple[Callable[[str, list[Any]], Any], ...] = ()
        self._rooms_at_close: frozenset[str] = _NO_ROOMS

    def __repr__(self) -> str:
        return f"<Socket {self.id} {self.nsp.name}>"

    @property
    def namespace(self) -> str:
        return self.nsp.name

    @property
    def session(self) -> ServerSession:
        """The protocol state of this socket (sans-IO)."""
        return self._session

    @property
    def connected(self) -> bool:
        return self._session.state is _CONNECTED

    @property
    def recovered(self) -> bool:
        """Whether the connection restored the client's previous session."""
        return self._session.recovered

    @property
    def conn(self) -> EngineSocket:
        """The Engine.IO connection under this socket (shared by its namespaces)."""
        return self._engine

    @property
    def transport(self) -> str:
        return self._engine.transport

    @property
    def packet_bytes(self) -> int:
        """The size in bytes of the packet being handled (recorded only while some event
        has a byte limit)."""
        return self._conn.packet_bytes

    @property
    def rooms(self) -> set[str]:
        """The rooms this socket is in (its own id included); kept as they were at disconnect."""
        if not self.connected:
            return set(self._rooms_at_close)
        return set(self.nsp.adapter.socket_rooms(self.id) or ())

    # -- rooms ----------------------------------------------------------------------------

    def join(self, rooms: str | Iterable[str]) -> None:
        """Join one room or several."""
        if self.connected:
            self.nsp.adapter.add_all(self.id, [rooms] if isinstance(rooms, str) else rooms)
            durability = self.nsp.server.durability
            if durability is not None:
                durability.rooms_changed(self)

    def leave(self, room: str) -> None:
        if self.connected:
            self.nsp.adapter.discard(self.id, room)
            durability = self.nsp.server.durability
            if durability is not None:
                durability.rooms_changed(self)

    # -- recovery ---------------------------------------------------------------------------

    def snapshot(self) -> SessionSnapshot:
        """What a recovery of this socket restores: sid, pid, rooms, ``data``, the answers
        to its recent acks (the socket must have a pid: recovery on)."""
        return self._session.snapshot(frozenset(self.rooms), self.data)

    def answer_for(self, ack_id: int, parts: list[str | bytes]) -> None:
        """The answer the session this one restores gave late to ``ack_id``: kept, and sent
        to the retries of it that wait."""
        answers = self._session.answers
        if answers is not None:
            engine = self._engine
            for part in answers.record(ack_id, parts):
                engine.send(part)

    def hold(self) -> Holding:
        """Keep what is sent to this socket until ``release`` (a recovery in progress)."""
        holding = Holding()
        self._sink = holding
        self._any_outgoing = (holding.mark, *self._any_outgoing)
        return holding

    def release(self, holding: Holding, missed: Iterable[tuple[str, list[Any]]]) -> None:
        """Write the ``missed`` events (offset, data), then what ``hold`` kept (but the
        packets among the missed ones), then write to the connection again."""
        self._any_outgoing = tuple(h for h in self._any_outgoing if h != holding.mark)
        self._sink = self._engine
        replayed = set()
        for offset, data in missed:
            replayed.add(offset)
            self.send_packet(Packet(PacketType.EVENT, self.nsp.name, stamp_offset(data, offset)))
        came_live = holding.offsets()
        holding.release(self._engine, replayed)
        replayed.difference_update(came_live)
        if replayed:  # those that came live meanwhile are left out; the others may come
            guard = Replayed(self._engine, replayed)
            self._sink = guard
            self._any_outgoing = (guard.mark, *self._any_outgoing)
            asyncio.get_running_loop().call_later(REPLAYED_WINDOW, self._end_replayed, guard)

    def _end_replayed(self, guard: Replayed) -> None:
        if self._sink is guard:
            self._sink = self._engine
        self._any_outgoing = tuple(h for h in self._any_outgoing if h != guard.mark)

    # -- emitting -------------------------------------------------------------------------

    async def emit(
        self,
        event: str,
        *args: Any,
        callback: Callable[..., Any] | None = None,
        timeout: float | None = None,
        volatile: bool = False,
        compress: bool = True,
    ) -> None:
        """Send an event to this client.

        With ``callback``, the client is asked for an ack: ``callback(None, *ack_args)`` runs
        when it arrives, ``callback(AckTimeout(), )`` when ``timeout`` passes first, and
        ``callback(ConnectionClosed(...))`` if the socket disconnects before either.
        ``volatile``: dropped when the client still has data waiting. ``compress=False``:
        never compressed (permessage-deflate, HTTP compression), whatever its size.
        """
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        if callback is not None:
            ack_id = self._expect(_callback_adapter(callback, self.nsp.server.spawn), timeout)
            packet = Packet(PacketType.EVENT, self.nsp.name, [event, *args], ack_id)
        else:
            packet = Packet(PacketType.EVENT, self.nsp.name, [event, *args])
            durability = self.nsp.server.durability
            if not volatile and durability is not None and durability.recovers_direct:
                # in the store (this socket's own room) before it is sent: recovered too
                packet, _ = await durability.stamp(packet, (self.id,), ())
        self.send_packet(packet, volatile, compress)

    async def emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None, compress: bool = True
    ) -> Any:
        """Send an event and wait for the client's ack: one argument comes back as itself,
        none as None, several as a tuple. Raises AckTimeout or ConnectionClosed."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def settle(args: list[Any]) -> None:
            if not future.done():
                future.set_result(args)

        ack_id = self._expect(settle, timeout)
        packet = Packet(PacketType.EVENT, self.nsp.name, [event, *args], ack_id)
        self.send_packet(packet, compress=compress)
        args_ = await future
        if args_ and isinstance(args_[0], AckTimeout | ConnectionClosed) and len(args_) == 1:
            raise args_[0]
        return single_answer(args_)

    async def send(self, *args: Any) -> None:
        """Emit a ``message`` event."""
        await self.emit("message", *args)

    def send_packet(self, packet: Packet, volatile: bool = False, compress: bool = True) -> None:
        """Encode and send one packet to this client."""
        messages = self.nsp.prepare(packet, volatile=volatile)
        if not compress:
            for message in messages:
                message.compress = False
        self.deliver(messages, packet)

    def compress(self, compress: bool) -> SocketEmitter:
        """This socket, for one emit that is (``True``) or is not (``False``) compressed:
        ``await socket.compress(False).emit("frame", jpeg)``."""
        return SocketEmitter(self, volatile=False, compress=compress)

    @property
    def volatile(self) -> SocketEmitter:
        """This socket, for one emit dropped if the client still has data waiting:
        ``await socket.volatile.emit("position", x, y)``."""
        return SocketEmitter(self, volatile=True, compress=True)

    def deliver(self, messages: list[Outgoing], packet: Packet) -> None:
        """Write already encoded messages (the broadcast hot path)."""
        if self._any_outgoing and packet.type == PacketType.EVENT:
            for listener in self._any_outgoing:
                self._run(listener, *packet.data)
        sink = self._sink
        for message in messages:
            sink.send_outgoing(message)

    def expect_ack(self, ack_id: int, callback: Callable[[Any], None]) -> None:
        """Hand the first argument of the ack ``ack_id`` to ``callback`` (broadcast acks)."""
        self._session.expect_ack(lambda args: callback(args[0] if args else None), ack_id=ack_id)

    def forget_ack(self, ack_id: int) -> None:
        self._session.forget_ack(ack_id)

    def _expect(self, settle: AckCallback, timeout: float | None) -> int:
        """A fresh ack id whose ack goes to ``settle`` ([AckTimeout()] after ``timeout``;
        [ConnectionClosed] at once when the socket has disconnected already)."""
        if self._session.state is State.DISCONNECTED:  # no ack, nor a close, will come
            ack_id = self._session.expect_ack(settle)
            self._session.forget_ack(ack_id)
            closed = ConnectionClosed("the socket is disconnected")
            asyncio.get_running_loop().call_soon(settle, [closed])
            return ack_id
        if timeout is None:
            return self._session.expect_ack(settle)
        loop = asyncio.get_running_loop()
        ack_id = self._session.expect_ack(settle, deadline=loop.time() + timeout)
        self._arm(loop)
        return ack_id

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """Have the timer fire at the session's next deadline (none: no timer)."""
        deadline = self._session.next_deadline()
        timer = self._timer
        if timer is not None:
            if timer.when() == deadline:
                return
            timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = loop.call_at(deadline, self._on_deadline, loop, deadline)

    def _on_deadline(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self._timer = None
        # a loop may run a timer a hair before its time: the deadline has come all the same
        for settled in self._session.handle_timeout(now=max(loop.time(), deadline)):
            self.nsp.ack_timeouts += 1
            _settle(settled)
        self._arm(loop)

    # -- broadcasting from this socket -----------------------------------------------------

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self.nsp, except_rooms=frozenset({self.id}))

    def to(self, rooms: str | Iterable[str]) -> BroadcastOperator:
        """Broadcast to ``rooms``, this socket excluded."""
        return self._operator().to(rooms)

    in_ = to

    def except_(self, rooms: str | Iterable[str]) -> BroadcastOperator:
        return self._operator().except_(rooms)

    @property
    def broadcast(self) -> BroadcastOperator:
        """Every socket of the namespace but this one."""
        return self._operator()

    # -- listeners ---------------------------------------------------------------------------

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """A handler(*args) for ``event`` from this client; its return value is the ack.

        ``disconnecting`` and ``disconnect`` handlers get the reason; ``error`` handlers get
        the exception a ``use`` middleware raised."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self._handlers.setdefault(event, []).append(fn)
            return fn

        return register if handler is None else register(handler)

    def on_any(self, handler: Callable[..., Any]) -> None:
        """handler(event, *args) for every event from this client."""
        self._any = (*self._any, handler)

    def off_any(self, handler: Callable[..., Any] | None = None) -> None:
        if handler is None:
            self._any = ()
        else:
            if handler not in self._any:
                raise ValueError(f"{handler!r} is not a catch-all listener of {self!r}")
            remaining = list(self._any)
            remaining.remove(handler)
            self._any = tuple(remaining)

    def on_any_outgoing(self, handler: Callable[..., Any]) -> None:
        """handler(event, *args) for every event sent to this client."""
        self._any_outgoing = (*self._any_outgoing, handler)

    def use(self, middleware: Callable[[str, list[Any]], Any]) -> None:
        """middleware(event, args) for each incoming event; raise to drop the event (the
        exception goes to this socket's ``error`` listeners)."""
        self._middlewares = (*self._middlewares, middleware)

    # -- what the server feeds in -------------------------------------------------------------

    def handle_event(self, packet: Packet) -> None:
        self.handle_event_data(packet.data, packet.id)

    def handle_event_data(self, data: list[Any], ack_id: int | None) -> None:
        """An EVENT from the client: ``data`` is [name, *args]."""
        event = data[0]
        session = self._session
        if ack_id is not None and session.answers is not None:  # retries are answered once
            again = session.receive_event(ack_id, data)
            if again is not None:  # a retry of a packet handled already: not handled again
                engine = self._engine
                for part in again:
                    engine.send(part)
                return
        if type(event) is str and not self._any and not self._middlewares:
            shared = self.nsp.handlers(event)
            if len(shared) == 1 and event not in self._handlers:  # the common case
                try:
                    result = shared[0](self, *data[1:])
                except Exception as exc:  # refused by its checks, or failed: an error ack
                    self._reject(event, exc, ack_id)
                    return
                if ack_id is None or type(result) not in _PLAIN_ACK:
                    self._answer(result, ack_id, event)
                else:  # a plain result: its ack as _send_ack makes it, sooner
                    try:
                        parts = session.send_ack(ack_id, [result])
                    except _UNENCODABLE as exc:
                        self._reject(event, unencodable(exc, self, event), ack_id)
                        return
                    engine = self._engine
                    for part in parts:
                        engine.send(part)
                return
        args = data[1:]
        for listener in self._any:
            self._run(listener, event, *args)
        if self._middlewares:
            self.nsp.server.spawn(self._filtered(str(event), args, ack_id))
        else:
            self._dispatch(str(event), args, ack_id)

    async def _filtered(self, event: str, args: list[Any], ack_id: int | None) -> None:
        for middleware in self._middlewares:
            try:
                result = middleware(event, args)
                if is_awaitable(result):
                    await result
            except EventRejected as exc:  # refused on purpose: the client is told
                self._reject(event, exc, ack_id)
                return
            except Exception as exc:  # dropped, as with Node: the "error" listeners see it
                for handler in self._handlers.get("error", ()):
                    self._run(handler, exc)
                return
        self._dispatch(event, args, ack_id)

    def _dispatch(self, event: str, args: list[Any], ack_id: int | None) -> None:
        """Call the handlers of ``event``: the namespace's, then this socket's. An event
        nobody handles is not acked (as with Node: the client's timeout fires)."""
        own = self._handlers.get(event)
        shared = self.nsp.handlers(event)
        try:
            if not shared:  # no checked handler spent the namespace's and server's tokens
                limiters = self.nsp.event_limiters
                if limiters:
                    take_all(limiters, self, self.nsp.server.guard.clock())
                if not own:
                    self.nsp.server.guard.unhandled(self, event)
                    return
            result = self._dispatch_all(own, shared, args)
        except Exception as exc:
            self._reject(event, exc, ack_id)
            return
        self._answer(result, ack_id, event)

    def _answer(self, result: Any, ack_id: int | None, event: str) -> None:
        """A handler's result: the ack (once awaited, for a coroutine), if one is asked."""
        if ack_id is None:
            if result is not None and is_awaitable(result):
                self._engine.spawn(self._ack_later(result, None, event))
        elif type(result) in PLAIN_RESULTS or not is_awaitable(result):
            self._send_ack(ack_id, result, event)
        else:
            self._engine.spawn(self._ack_later(result, ack_id, event))

    def _dispatch_all(
        self,
        own: list[Callable[..., Any]] | None,
        shared: list[Callable[..., Any]],
        args: list[Any],
    ) -> Any:
        """Call every handler; the first one's result is the ack (its exception is raised,
        once the others have run; theirs are logged)."""
        first: Any = None
        error: Exception | None = None
        started = False
        for handler in shared:
            if started:
                self._run(handler, self, *args)
                continue
            started = True
            try:
                first = handler(self, *args)
            except Exception as exc:
                error = exc
        for handler in own or ():
            if started:
                self._run(handler, *args)
                continue
            started = True
            try:
                first = handler(*args)
            except Exception as exc:
                error = exc
        if error is not None:
            raise error
        return first

    def _reject(self, event: str, exc: Exception, ack_id: int | None) -> None:
        """Refuse an event: the error ack when one is asked (else ``rc:rejected`` if the
        server tells), counted, logged and reported; disconnected if it is one too many."""
        rejection = failure(exc, self, event)
        guard = self.nsp.server.guard
        strike = guard.rejected(self, event, rejection)
        if ack_id is not None:
            engine = self._engine
            for part in self._session.send_ack(ack_id, [error_payload(rejection)]):
                engine.send(part)
        elif guard.notify:
            self._notify(error_payload(rejection, event))
        if strike and self.connected:
            self._expel(event)

    def _notify(self, payload: dict[str, Any]) -> None:
        self.send_packet(Packet(PacketType.EVENT, self.nsp.name, [REJECTED_EVENT, payload]))

    def _expel(self, event: str) -> None:
        """Disconnect a socket refused too often (``max_violations``), telling it why."""
        logger.warning(
            "disconnecting %s: too many refused events (last: %r)",
            self,
            event,
            extra=self.log_extra,
        )
        guard = self.nsp.server.guard
        guard.counts[Code.TOO_MANY_VIOLATIONS] += 1
        why = EventRejected(
            Code.TOO_MANY_VIOLATIONS,
            "disconnected: too many events over the rate or size limits",
            {"event": event},
        )
        self._notify(error_payload(why, event))
        engine = self._engine
        for part in self._session.disconnect():
            engine.send(part)
        self.handle_close("server namespace disconnect")

    @property
    def log_extra(self) -> dict[str, str]:
        """What the log records about this socket carry (``extra=``): sid, namespace."""
        return {"sid": self.id, "namespace": self.nsp.name}

    def _call(self, handler: Callable[..., Any], *args: Any) -> Any:
        try:
            return handler(*args)
        except Exception:
            logger.exception("error in a handler of %s", self, extra=self.log_extra)
            return None

    def _run(self, handler: Callable[..., Any], *args: Any) -> None:
        result = self._call(handler, *args)
        if is_awaitable(result):
            self.nsp.server.spawn(result)

    async def _ack_later(self, pending: Awaitable[Any], ack_id: int | None, event: str) -> None:
        try:
            result = await pending
        except Exception as exc:
            self._reject(event, exc, ack_id)
            return
        if ack_id is not None:
            self._send_ack(ack_id, result, event)

    def _send_ack(self, ack_id: int, result: Any, event: str) -> None:
        args = [result] if type(result) in _ONE_ACK_ARG else ack_args(result)
        if args and type(args[0]) is dict and ERROR_KEY in args[0]:
            self._reject(event, looks_like_error(), ack_id)  # only an error may look like one
            return
        engine = self._engine
        session = self._session
        try:
            parts = session.send_ack(ack_id, args)
        except _UNENCODABLE as exc:
            self._reject(event, unencodable(exc, self, event), ack_id)
            return
        for part in parts:
            engine.send(part)
        if not self.connected and session.answers is not None:  # answered after it left
            durability = self.nsp.server.durability
            if durability is not None:
                durability.answered_late(self, ack_id)

    def handle_ack(self, packet: Packet) -> None:
        assert packet.id is not None
        settled = self._session.receive_ack(packet.id, list(packet.data))
        if settled is not None:
            _settle(settled)

    def handle_close(self, reason: str) -> None:
        """The client left the namespace, or its connection closed."""
        if not self.connected:
            return
        logger.debug("%s disconnected: %s", self, reason, extra=self.log_extra)
        self._rooms_at_close = frozenset(self.nsp.adapter.socket_rooms(self.id) or ())
        for handler in self.nsp.handlers("disconnecting"):
            self._run(handler, self, reason)
        for handler in self._handlers.get("disconnecting", ()):
            self._run(handler, reason)
        events = self._session.close(reason)
        self.nsp.disconnects[reason] += 1
        durability = self.nsp.server.durability
        if durability is not None and self._session.pid is not None:
            durability.disconnected(self, reason)
        self.nsp.remove(self)
        if self._conn.sockets.get(self.nsp.name) is self:
            del self._conn.sockets[self.nsp.name]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for event in events:
            if isinstance(event, AckSettled):
                _settle(event)
            elif isinstance(event, Disconnected):
                for handler in self.nsp.handlers("disconnect"):
                    self._run(handler, self, event.reason)
                for handler in self._handlers.get("disconnect", ()):
                    self._run(handler, event.reason)

    async def disconnect(self, close: bool = False) -> None:
        """Disconnect from the namespace (the client's reason: "io server disconnect");
        with ``close``, close the whole underlying connection too."""
        if not self.connected:
            return
        engine = self._engine
        for part in self._session.disconnect():
            engine.send(part)
        self.handle_close("server namespace disconnect")
        if close:
            self._engine.close(CloseReason.FORCED_CLOSE)


def _settle(settled: AckSettled) -> None:
    """Hand an ack's outcome to its callback: its arguments, or [the failure]."""
    outcome = settled.outcome
    settled.waiter(outcome if isinstance(outcome, list) else [outcome])


def _callback_adapter(
    callback: Callable[..., Any], spawn: Callable[[Awaitable[Any]], None]
) -> AckCallback:
    def settle(args: list[Any]) -> None:
        if args and len(args) == 1 and isinstance(args[0], AckTimeout | ConnectionClosed):
            result = callback(args[0])
        else:
            result = callback(None, *args)
        if is_awaitable(result):
            spawn(result)

    return settle


class SocketEmitter:
    """One socket with flags for the next emit (``socket.compress(False)``,
    ``socket.volatile``); the flags combine: ``socket.volatile.compress(False)``."""

    __slots__ = ("_compress", "_socket", "_volatile")

    def __init__(self, socket: Socket, *, volatile: bool, compress: bool) -> None:
        self._socket = socket
        self._volatile = volatile
        self._compress = compress

    def compress(self, compress: bool) -> SocketEmitter:
        return SocketEmitter(self._socket, volatile=self._volatile, compress=compress)

    @property
    def volatile(self) -> SocketEmitter:
        return SocketEmitter(self._socket, volatile=True, compress=self._compress)

    async def emit(
        self,
        event: str,
        *args: Any,
        callback: Callable[..., Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        """``Socket.emit`` with this object's flags."""
        await self._socket.emit(
            event,
            *args,
            callback=callback,
            timeout=timeout,
            volatile=self._volatile,
            compress=self._compress,
        )

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """``Socket.emit_with_ack`` with this object's compress flag (an emit that waits
        for an ack is never volatile)."""
        return await self._socket.emit_with_ack(
            event, *args, timeout=timeout, compress=self._compress
        )

    async def send(self, *args: Any) -> None:
        await self.emit("message", *args)

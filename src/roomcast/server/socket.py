"""The server's handle on one client connected to one namespace."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..engineio import CloseReason
from ..exceptions import AckTimeout, ConnectionClosed
from ..handlers import PLAIN_RESULTS, is_awaitable
from ..socketio import Packet, PacketType
from ..socketio.packets import RESERVED_EVENTS, ack_args, encode_ack, single_answer
from ..transports.engine import EngineSocket
from ..transports.http import HandshakeRequest
from ..transports.websocket import Outgoing
from .broadcast import BroadcastOperator
from .connection import Connection

if TYPE_CHECKING:
    from .namespace import Namespace

logger = logging.getLogger("roomcast.socket")

AckCallback = Callable[[list[Any]], None]
_NO_ROOMS: frozenset[str] = frozenset()
_ONE_ACK_ARG = frozenset({str, int, float, bool, list, dict})  # ack_args(x) == [x], in one step


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


class Socket:
    """One client in one namespace. Handlers receive it as their first argument."""

    __slots__ = (
        "_acks",
        "_any",
        "_any_outgoing",
        "_conn",
        "_engine",
        "_handlers",
        "_middlewares",
        "_rooms_at_close",
        "connected",
        "data",
        "handshake",
        "id",
        "nsp",
        "recovered",
    )

    def __init__(self, nsp: Namespace, conn: Connection, sid: str, handshake: Handshake) -> None:
        self.id = sid
        self.nsp = nsp
        self.handshake = handshake
        self.data: dict[str, Any] = {}
        self.connected = False
        self.recovered = False
        self._conn = conn
        self._engine = conn.engine
        self._handlers: dict[str, list[Callable[..., Any]]] = {}
        # tuples, rebuilt on the rare registration: an empty tuple is shared and not tracked
        # by the garbage collector, where three empty lists per socket were
        self._any: tuple[Callable[..., Any], ...] = ()
        self._any_outgoing: tuple[Callable[..., Any], ...] = ()
        self._middlewares: tuple[Callable[[str, list[Any]], Any], ...] = ()
        self._acks: dict[int, AckCallback] = {}
        self._rooms_at_close: frozenset[str] = _NO_ROOMS

    def __repr__(self) -> str:
        return f"<Socket {self.id} {self.nsp.name}>"

    @property
    def namespace(self) -> str:
        return self.nsp.name

    @property
    def conn(self) -> EngineSocket:
        """The Engine.IO connection under this socket (shared by its namespaces)."""
        return self._engine

    @property
    def transport(self) -> str:
        return self._engine.transport

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

    def leave(self, room: str) -> None:
        if self.connected:
            self.nsp.adapter.discard(self.id, room)

    # -- emitting -------------------------------------------------------------------------

    async def emit(
        self,
        event: str,
        *args: Any,
        callback: Callable[..., Any] | None = None,
        timeout: float | None = None,
        volatile: bool = False,
    ) -> None:
        """Send an event to this client.

        With ``callback``, the client is asked for an ack: ``callback(None, *ack_args)`` runs
        when it arrives, ``callback(AckTimeout(), )`` when ``timeout`` passes first, and
        ``callback(ConnectionClosed(...))`` if the socket disconnects before either.
        """
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        ack_id = None
        if callback is not None:
            ack_id = self.nsp.next_ack_id()
            self._expect_with_timeout(
                ack_id, _callback_adapter(callback, self.nsp.server.spawn), timeout
            )
        self.send_packet(Packet(PacketType.EVENT, self.nsp.name, [event, *args], ack_id), volatile)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send an event and wait for the client's ack: one argument comes back as itself,
        none as None, several as a tuple. Raises AckTimeout or ConnectionClosed."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def settle(args: list[Any]) -> None:
            if not future.done():
                future.set_result(args)

        ack_id = self.nsp.next_ack_id()
        self._expect_with_timeout(ack_id, settle, timeout)
        self.send_packet(Packet(PacketType.EVENT, self.nsp.name, [event, *args], ack_id))
        args_ = await future
        if args_ and isinstance(args_[0], AckTimeout | ConnectionClosed) and len(args_) == 1:
            raise args_[0]
        return single_answer(args_)

    async def send(self, *args: Any) -> None:
        """Emit a ``message`` event."""
        await self.emit("message", *args)

    def send_packet(self, packet: Packet, volatile: bool = False) -> None:
        """Encode and send one packet to this client."""
        self.deliver(self.nsp.prepare(packet, volatile=volatile), packet)

    def deliver(self, messages: list[Outgoing], packet: Packet) -> None:
        """Write already encoded messages (the broadcast hot path)."""
        if self._any_outgoing and packet.type == PacketType.EVENT:
            for listener in self._any_outgoing:
                self._run(listener, *packet.data)
        engine = self._engine
        for message in messages:
            engine.send_outgoing(message)

    def expect_ack(self, ack_id: int, callback: Callable[[Any], None]) -> None:
        """Hand the first argument of the ack ``ack_id`` to ``callback`` (broadcast acks)."""
        self._acks[ack_id] = lambda args: callback(args[0] if args else None)

    def forget_ack(self, ack_id: int) -> None:
        self._acks.pop(ack_id, None)

    def _expect_with_timeout(self, ack_id: int, settle: AckCallback, timeout: float | None) -> None:
        if timeout is None:
            self._acks[ack_id] = settle
            return
        loop = asyncio.get_running_loop()

        def expire() -> None:
            if self._acks.pop(ack_id, None) is not None:
                settle([AckTimeout()])

        timer = loop.call_later(timeout, expire)

        def answered(args: list[Any]) -> None:
            timer.cancel()
            settle(args)

        self._acks[ack_id] = answered

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
        if type(event) is str and not self._any and not self._middlewares:
            shared = self.nsp.handlers(event)
            if len(shared) == 1 and event not in self._handlers:  # the common case
                try:
                    result = shared[0](self, *data[1:])
                except Exception:
                    logger.exception("error in a handler of %s", self)
                    result = None
                if ack_id is None or type(result) not in _ONE_ACK_ARG:
                    self._answer(result, ack_id)
                elif self.connected:  # a plain result: its ack as _send_ack makes it, sooner
                    nsp, engine = self.nsp, self._engine
                    for part in encode_ack(nsp.name, ack_id, [result], nsp.server.dumps):
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
            except Exception as exc:
                for handler in self._handlers.get("error", ()):
                    self._run(handler, exc)
                return
        self._dispatch(event, args, ack_id)

    def _dispatch(self, event: str, args: list[Any], ack_id: int | None) -> None:
        """Call the handlers of ``event``: the namespace's, then this socket's."""
        self._answer(
            self._dispatch_all(self._handlers.get(event), self.nsp.handlers(event), args), ack_id
        )

    def _answer(self, result: Any, ack_id: int | None) -> None:
        """A handler's result: the ack (once awaited, for a coroutine), if one is asked."""
        if ack_id is None:
            if result is not None and is_awaitable(result):
                self.nsp.server.spawn(result)
        elif type(result) in PLAIN_RESULTS or not is_awaitable(result):
            self._send_ack(ack_id, result)
        else:
            self.nsp.server.spawn(self._ack_later(result, ack_id))

    def _dispatch_all(
        self,
        own: list[Callable[..., Any]] | None,
        shared: list[Callable[..., Any]],
        args: list[Any],
    ) -> Any:
        """Call every handler; the first one's result is the ack."""
        first: Any = None
        started = False
        for handler in shared:
            result = self._call(handler, self, *args)
            if not started:
                first, started = result, True
        for handler in own or ():
            result = self._call(handler, *args)
            if not started:
                first, started = result, True
        return first

    def _call(self, handler: Callable[..., Any], *args: Any) -> Any:
        try:
            return handler(*args)
        except Exception:
            logger.exception("error in a handler of %s", self)
            return None

    def _run(self, handler: Callable[..., Any], *args: Any) -> None:
        result = self._call(handler, *args)
        if is_awaitable(result):
            self.nsp.server.spawn(result)

    async def _ack_later(self, pending: Awaitable[Any], ack_id: int) -> None:
        self._send_ack(ack_id, await pending)

    def _send_ack(self, ack_id: int, result: Any) -> None:
        if self.connected:
            nsp, engine = self.nsp, self._engine
            args = [result] if type(result) in _ONE_ACK_ARG else ack_args(result)
            for part in encode_ack(nsp.name, ack_id, args, nsp.server.dumps):
                engine.send(part)

    def handle_ack(self, packet: Packet) -> None:
        assert packet.id is not None
        callback = self._acks.pop(packet.id, None)
        if callback is not None:
            callback(list(packet.data))

    def handle_close(self, reason: str) -> None:
        """The client left the namespace, or its connection closed."""
        if not self.connected:
            return
        self._rooms_at_close = frozenset(self.nsp.adapter.socket_rooms(self.id) or ())
        for handler in self.nsp.handlers("disconnecting"):
            self._run(handler, self, reason)
        for handler in self._handlers.get("disconnecting", ()):
            self._run(handler, reason)
        self.connected = False
        self.nsp.remove(self)
        if self._conn.sockets.get(self.nsp.name) is self:
            del self._conn.sockets[self.nsp.name]
        acks, self._acks = self._acks, {}
        for callback in acks.values():
            callback([ConnectionClosed(reason)])
        for handler in self.nsp.handlers("disconnect"):
            self._run(handler, self, reason)
        for handler in self._handlers.get("disconnect", ()):
            self._run(handler, reason)

    async def disconnect(self, close: bool = False) -> None:
        """Disconnect from the namespace (the client's reason: "io server disconnect");
        with ``close``, close the whole underlying connection too."""
        if not self.connected:
            return
        self.send_packet(Packet(PacketType.DISCONNECT, self.nsp.name))
        self.handle_close("server namespace disconnect")
        if close:
            self._engine.close(CloseReason.FORCED_CLOSE)


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

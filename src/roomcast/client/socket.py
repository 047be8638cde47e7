"""The client's handle on one namespace: handlers, emits, acks, the offline buffer, retries
and the connection-state recovery fields.

A ``ClientSocket`` never does I/O itself: it encodes packets and hands them to its
``Manager`` (the connection it shares with the other namespaces), which feeds it what the
server sends (``handle_packet``) and tells it when the connection opens and closes.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, overload

from ..exceptions import AckTimeout, ConnectionClosed, ConnectionRefused, InvalidState
from ..socketio import Packet, PacketType, encode_packet
from ..socketio.packets import RESERVED_EVENTS

if TYPE_CHECKING:
    from .manager import Manager

logger = logging.getLogger("roomcast.client")

Handler: TypeAlias = Callable[..., Any]
H = TypeVar("H", bound=Handler)
AuthData: TypeAlias = Mapping[str, Any]
Auth: TypeAlias = AuthData | Callable[[], AuthData | Awaitable[AuthData]] | None
"""A CONNECT payload, or a function (sync or async) called for it at each (re)connection."""
Parts: TypeAlias = list[str | bytes]
Settle: TypeAlias = Callable[[list[Any] | BaseException], None]


def _ack_args(result: Any) -> list[Any]:
    """A handler's return value as ack arguments: None -> none, tuple -> several, else one."""
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


def _single_answer(args: list[Any]) -> Any:
    """Ack arguments as one value: none -> None, one -> it, several -> a tuple."""
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)


@dataclass(slots=True)
class _Ack:
    """An ack the server owes us."""

    settle: Settle
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class _Queued:
    """An emit under ``retries``: re-sent, with the same ack id, until acked or given up."""

    parts: Parts
    ack_id: int
    timeout: float | None
    future: asyncio.Future[list[Any]] | None
    tries: int = 0
    pending: bool = False


class ClientSocket:
    """One namespace of a client connection (several share one connection).

    Get it from ``Client.socket(name)``. Handlers: ``connect()``, ``connect_error(exc)``
    (``ConnectionRefused`` with ``message`` and ``data`` when the server refused, or the
    ``ConnectionError`` of a failed attempt), ``disconnect(reason)``, and
    ``<event>(*args)`` whose return value is the ack.
    """

    def __init__(self, manager: Manager, namespace: str, auth: Auth = None) -> None:
        self.namespace = namespace
        self.auth: Auth = auth
        self.sid: str | None = None
        """The id the server gave this socket; None while not connected."""
        self.connected = False
        self.recovered = False
        """Whether the last connection restored the previous session (missed events follow)."""
        self.active = False
        """Whether the socket wants to be connected (and reconnects with its client)."""
        self._manager = manager
        self._handlers: dict[str, list[Handler]] = {}
        self._any: list[Handler] = []
        self._ids = itertools.count()
        self._acks: dict[int, _Ack] = {}
        self._buffer: deque[tuple[Parts, int | None]] = deque()
        self._received: list[Packet] = []
        self._queue: deque[_Queued] = deque()
        self._pid: str | None = None
        self._offset: str | None = None
        self._waiters: list[asyncio.Future[None]] = []

    def __repr__(self) -> str:
        return f"<ClientSocket {self.namespace} {self.sid or 'disconnected'}>"

    # -- listeners ------------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...
    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register ``handler`` for ``event`` (or use as a decorator)."""

        def register(fn: H) -> H:
            self._handlers.setdefault(event, []).append(fn)
            return fn

        return register if handler is None else register(handler)

    def off(self, event: str, handler: Handler | None = None) -> None:
        """Remove ``handler`` from ``event``, or every handler of ``event``."""
        if handler is None:
            self._handlers.pop(event, None)
        elif handler in self._handlers.get(event, ()):
            self._handlers[event].remove(handler)

    def on_any(self, handler: H) -> H:
        """``handler(event, *args)`` for every event from the server (not the reserved ones)."""
        self._any.append(handler)
        return handler

    def off_any(self, handler: Handler | None = None) -> None:
        if handler is None:
            self._any.clear()
        elif handler in self._any:
            self._any.remove(handler)

    # -- emitting -------------------------------------------------------------------------

    async def emit(self, event: str, *args: Any, volatile: bool = False) -> None:
        """Send an event. While disconnected it waits in the offline buffer (sent in order on
        reconnection); a ``volatile`` one is dropped instead. With ``retries``, it is sent
        until the server acks it.

        Raises:
            InvalidState: the buffer is full (``buffer_size`` packets wait already).
        """
        _check_event(event)
        if self._manager.options.retries and not volatile:
            self._enqueue([event, *args], None, None)
        elif self.connected:
            self._manager.send(self._encode([event, *args], None))
        elif not volatile:
            self._buffered(self._encode([event, *args], None), None)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send an event and wait for the server's ack: one argument comes back as itself,
        none as None, several as a tuple. ``timeout`` defaults to the client's
        ``ack_timeout`` (with ``retries``: the wait for each try).

        Raises:
            AckTimeout: no ack in time (with ``retries``: after the last try).
            ConnectionClosed: disconnected before the ack (without ``retries``).
            InvalidState: the buffer is full.
        """
        _check_event(event)
        if timeout is None:
            timeout = self._manager.options.ack_timeout
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        if self._manager.options.retries:
            self._enqueue([event, *args], timeout, future)
            return _single_answer(await future)
        ack_id = next(self._ids)
        parts = self._encode([event, *args], ack_id)
        if not self.connected:
            self._buffered(parts, ack_id)
        self._expect(ack_id, _settler(future), timeout)
        if self.connected:
            self._manager.send(parts)
        try:
            return _single_answer(await future)
        finally:
            self._forget(ack_id)

    def _encode(self, data: list[Any], ack_id: int | None) -> Parts:
        packet = Packet(PacketType.EVENT, self.namespace, data, ack_id)
        return encode_packet(packet, self._manager.dumps)

    def _buffered(self, parts: Parts, ack_id: int | None) -> None:
        if len(self._buffer) >= self._manager.options.buffer_size:
            raise InvalidState(f"the offline buffer of {self.namespace} is full")
        self._buffer.append((parts, ack_id))

    def _expect(self, ack_id: int, settle: Settle, timeout: float | None) -> None:
        ack = self._acks[ack_id] = _Ack(settle)
        if timeout is not None:
            ack.timer = asyncio.get_running_loop().call_later(timeout, self._expire, ack_id)

    def _expire(self, ack_id: int) -> None:
        ack = self._acks.pop(ack_id, None)
        if ack is not None:
            self._unbuffer(ack_id)
            ack.settle(AckTimeout())

    def _forget(self, ack_id: int) -> None:
        ack = self._acks.pop(ack_id, None)
        if ack is not None and ack.timer is not None:
            ack.timer.cancel()
        self._unbuffer(ack_id)

    def _unbuffer(self, ack_id: int) -> None:
        for item in self._buffer:
            if item[1] == ack_id:
                self._buffer.remove(item)
                return

    # -- retries ----------------------------------------------------------------------------

    def _enqueue(
        self, data: list[Any], timeout: float | None, future: asyncio.Future[list[Any]] | None
    ) -> None:
        if len(self._queue) >= self._manager.options.buffer_size:
            raise InvalidState(f"the retry queue of {self.namespace} is full")
        ack_id = next(self._ids)
        if timeout is None:
            timeout = self._manager.options.ack_timeout
        self._queue.append(_Queued(self._encode(data, ack_id), ack_id, timeout, future))
        self._drain_queue()

    def _drain_queue(self, force: bool = False) -> None:
        if not self.connected or not self._queue:
            return
        head = self._queue[0]
        if head.pending and not force:
            return
        head.pending = True
        head.tries += 1
        self._forget(head.ack_id)
        self._expect(head.ack_id, lambda outcome: self._queued_done(head, outcome), head.timeout)
        self._manager.send(head.parts)

    def _queued_done(self, head: _Queued, outcome: list[Any] | BaseException) -> None:
        if not self._queue or self._queue[0] is not head:
            return  # already settled
        head.pending = False
        if isinstance(outcome, BaseException):
            if head.tries <= self._manager.options.retries:
                self._drain_queue()  # once more, same id
                return
            logger.info("giving up on a packet of %s after %d tries", self.namespace, head.tries)
        self._queue.popleft()
        if head.future is not None and not head.future.done():
            if isinstance(outcome, BaseException):
                head.future.set_exception(outcome)
            else:
                head.future.set_result(outcome)
        self._drain_queue()

    # -- what the server sends --------------------------------------------------------------

    def handle_packet(self, packet: Packet) -> None:
        """Called by the manager with each packet of this namespace."""
        kind = packet.type
        if kind is PacketType.EVENT or kind is PacketType.BINARY_EVENT:
            if self.connected:
                self._on_event(packet)
            elif self.active:  # a recovering server replays missed events before CONNECT
                self._received.append(packet)
        elif kind is PacketType.ACK or kind is PacketType.BINARY_ACK:
            self._on_ack(packet)
        elif kind is PacketType.CONNECT:
            self._on_connect(packet.data)
        elif kind is PacketType.CONNECT_ERROR:
            data = packet.data
            if isinstance(data, dict):
                error = ConnectionRefused(str(data.get("message", "")), data.get("data"))
            else:
                error = ConnectionRefused(str(data))
            self._refused(error)
        elif kind is PacketType.DISCONNECT:
            self._deactivate()
            self._closed("io server disconnect")
            self._manager.socket_ended(self)

    def _on_connect(self, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            self._refused(ConnectionRefused("invalid CONNECT answer (a Socket.IO v2 server?)"))
            return
        pid = data.get("pid") if isinstance(data.get("pid"), str) else None
        self.sid = data["sid"]
        self.recovered = pid is not None and pid == self._pid
        self._pid = pid
        self.connected = True
        received, self._received = self._received, []
        for event in received:
            self._on_event(event)
        buffered, self._buffer = self._buffer, deque()
        for parts, _ in buffered:
            self._manager.send(parts)
        self._drain_queue(force=True)
        self._fire("connect")
        self._wake_waiters(None)

    def _on_event(self, packet: Packet) -> None:
        event, *args = packet.data
        event = str(event)
        for listener in self._any:
            self._run(listener, event, *args)
        if self._pid is not None and args and isinstance(args[-1], str):
            self._offset = args[-1]  # as socket.io-client: a recovering server's offset
        handlers = self._handlers.get(event, ())
        if not handlers:
            return  # no ack either: as with socket.io-client, the server's wait times out
        first: Any = None
        for index, handler in enumerate(handlers):
            result = self._call(handler, *args)
            if index == 0:
                first = result
            elif inspect.isawaitable(result):
                self._manager.spawn(result)
        if packet.id is not None:
            if inspect.isawaitable(first):
                self._manager.spawn(self._ack_later(first, packet.id))
            else:
                self._send_ack(packet.id, first)
        elif inspect.isawaitable(first):
            self._manager.spawn(first)

    async def _ack_later(self, pending: Awaitable[Any], ack_id: int) -> None:
        self._send_ack(ack_id, await pending)

    def _send_ack(self, ack_id: int, result: Any) -> None:
        if self.connected:
            packet = Packet(PacketType.ACK, self.namespace, _ack_args(result), ack_id)
            self._manager.send(encode_packet(packet, self._manager.dumps))

    def _on_ack(self, packet: Packet) -> None:
        assert packet.id is not None
        ack = self._acks.pop(packet.id, None)
        if ack is not None:
            if ack.timer is not None:
                ack.timer.cancel()
            ack.settle(list(packet.data))

    # -- what the manager tells -------------------------------------------------------------

    def activate(self) -> None:
        """Called by the manager when the socket should connect (now or when it can)."""
        self.active = True

    async def send_connect(self) -> None:
        """Called by the manager once the connection is open: send CONNECT (auth evaluated
        now; the recovery fields added when the server gave a pid)."""
        auth = self.auth
        try:
            data: Any = auth() if callable(auth) else auth
            if inspect.isawaitable(data):
                data = await data
        except Exception as exc:
            logger.exception("error in the auth function of %s", self.namespace)
            self._refused(ConnectionRefused(f"auth function failed: {exc!r}"))
            return
        if self._pid is not None:
            recovery: dict[str, Any] = {"pid": self._pid}
            if self._offset is not None:
                recovery["offset"] = self._offset
            data = {**recovery, **(data or {})}
        elif data is not None:
            data = dict(data)
        if self.active:
            self._manager.send(encode_packet(Packet(PacketType.CONNECT, self.namespace, data)))

    def connection_lost(self, reason: str) -> None:
        """Called by the manager when the connection closed under this socket."""
        self._received.clear()
        if self.connected:
            self._closed(reason)

    def connect_failed(self, error: Exception) -> None:
        """Called by the manager when a connection attempt failed (it may try again)."""
        if self.active and not self.connected:
            self._fire("connect_error", error)

    def manager_stopped(self, error: BaseException) -> None:
        """Called by the manager when it stopped for good: waiters fail with ``error``."""
        self._deactivate()
        self._wake_waiters(error)

    async def wait_connected(self) -> None:
        """Wait for the server's CONNECT answer. Raises ConnectionRefused, or the error
        that stopped the connection."""
        if self.connected:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        finally:
            if future in self._waiters:
                self._waiters.remove(future)

    def close(self, reason: str = "io client disconnect") -> None:
        """Leave the namespace: DISCONNECT is sent, ``disconnect`` fires, whatever waits
        (acks, buffer, retries) fails with ConnectionClosed. Called by ``disconnect()``."""
        if self.connected:
            self._manager.send(encode_packet(Packet(PacketType.DISCONNECT, self.namespace)))
        self._deactivate()
        if self.connected:
            self._closed(reason)
        failure = ConnectionClosed(reason)
        for ack_id in list(self._acks):
            ack = self._acks.pop(ack_id)
            if ack.timer is not None:
                ack.timer.cancel()
            ack.settle(failure)
        self._buffer.clear()
        queue, self._queue = self._queue, deque()
        for queued in queue:
            if queued.future is not None and not queued.future.done():
                queued.future.set_exception(failure)
        self._wake_waiters(failure)

    async def disconnect(self) -> None:
        """Leave this namespace (the connection stays while other namespaces use it)."""
        self.close()
        self._manager.socket_ended(self)

    async def connect(self) -> None:
        """Join this namespace over the client's open connection; wait for the answer.

        Raises:
            InvalidState: the client is not connected (use ``Client.connect``).
            ConnectionRefused: the server refused (``message``, ``data``).
        """
        if self.connected:
            return
        if not self._manager.running:
            raise InvalidState("the client is not connected: use Client.connect()")
        self.activate()
        if self._manager.is_open:
            self._manager.spawn(self.send_connect())
        await self.wait_connected()

    # -- internals --------------------------------------------------------------------------

    def _deactivate(self) -> None:
        self.active = False

    def _refused(self, error: ConnectionRefused) -> None:
        self._deactivate()
        self._received.clear()
        self._fire("connect_error", error)
        self._wake_waiters(error)
        self._manager.socket_ended(self)

    def _closed(self, reason: str) -> None:
        self.connected = False
        self.sid = None
        self._received.clear()
        for ack_id in list(self._acks):
            if any(item[1] == ack_id for item in self._buffer):
                continue  # not sent yet: it goes out on reconnection
            ack = self._acks.pop(ack_id)
            if ack.timer is not None:
                ack.timer.cancel()
            if not (self._queue and self._queue[0].ack_id == ack_id):
                ack.settle(ConnectionClosed(reason))
        if self._queue:
            self._queue[0].pending = False  # re-sent on reconnection
        self._fire("disconnect", reason)

    def _wake_waiters(self, error: BaseException | None) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def _fire(self, event: str, *args: Any) -> None:
        for handler in self._handlers.get(event, ()):
            self._run(handler, *args)

    def _call(self, handler: Handler, *args: Any) -> Any:
        try:
            return handler(*args)
        except Exception:
            logger.exception("error in a handler of %s", self.namespace)
            return None

    def _run(self, handler: Handler, *args: Any) -> None:
        result = self._call(handler, *args)
        if inspect.isawaitable(result):
            self._manager.spawn(result)


def _check_event(event: str) -> None:
    if not isinstance(event, str):
        raise TypeError("an event name is a str")
    if event in RESERVED_EVENTS:
        raise ValueError(f"{event!r} is a reserved event name")


def _settler(future: asyncio.Future[list[Any]]) -> Settle:
    def settle(outcome: list[Any] | BaseException) -> None:
        if future.done():
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    return settle

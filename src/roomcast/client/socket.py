"""The client's handle on one namespace: handlers, emits and acks, the connection-state
recovery fields; delivery (offline buffer, acks awaited, retries) is its ``Outbox``'s.

A ``ClientSocket`` never does I/O itself: it encodes packets and hands them to its
``Manager`` (the connection it shares with the other namespaces), which feeds it what the
server sends (``handle_packet``) and tells it when the connection opens and closes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, overload

from ..exceptions import ConnectionClosed, ConnectionRefused, InvalidState
from ..socketio import Packet, PacketType, encode_packet
from ..socketio.packets import RESERVED_EVENTS, ack_args, single_answer
from .outbox import Outbox, Parts, Settle

if TYPE_CHECKING:
    from .manager import Manager

logger = logging.getLogger("roomcast.client")

Handler: TypeAlias = Callable[..., Any]
H = TypeVar("H", bound=Handler)
AuthData: TypeAlias = Mapping[str, Any]
Auth: TypeAlias = AuthData | Callable[[], AuthData | Awaitable[AuthData]] | None
"""A CONNECT payload, or a function (sync or async) called for it at each (re)connection."""


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
        options = manager.options
        self._outbox = Outbox(
            namespace, manager.send, retries=options.retries, buffer_size=options.buffer_size
        )
        self._received: list[Packet] = []
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
        outbox = self._outbox
        if outbox.retries and not volatile:
            ack_id = outbox.next_id()
            outbox.enqueue(self._encode([event, *args], ack_id), ack_id, self._ack_timeout(None))
        elif self.connected or not volatile:
            outbox.post(self._encode([event, *args], None))

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
        outbox = self._outbox
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        ack_id = outbox.next_id()
        parts = self._encode([event, *args], ack_id)
        if outbox.retries:
            outbox.enqueue(parts, ack_id, self._ack_timeout(timeout), _settler(future))
            return single_answer(await future)
        outbox.post(parts, ack_id)
        outbox.expect(ack_id, _settler(future), self._ack_timeout(timeout))
        try:
            return single_answer(await future)
        finally:
            outbox.forget(ack_id)

    def _ack_timeout(self, timeout: float | None) -> float | None:
        return timeout if timeout is not None else self._manager.options.ack_timeout

    def _encode(self, data: list[Any], ack_id: int | None) -> Parts:
        packet = Packet(PacketType.EVENT, self.namespace, data, ack_id)
        return encode_packet(packet, self._manager.dumps)

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
            assert packet.id is not None
            self._outbox.acked(packet.id, list(packet.data))
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
            if self.connected:
                self._closed("io server disconnect")
            self._manager.socket_ended(self)

    def _on_connect(self, data: Any) -> None:
        if self.connected:
            return  # a duplicate answer
        if not self.active:  # given up meanwhile (timeout, disconnect()): leave again
            self._manager.send(encode_packet(Packet(PacketType.DISCONNECT, self.namespace)))
            return
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
        self._outbox.went_online()
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
            packet = Packet(PacketType.ACK, self.namespace, ack_args(result), ack_id)
            self._manager.send(encode_packet(packet, self._manager.dumps))

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
            data = None if data is None else dict(data)
        except Exception as exc:
            logger.exception("error in the auth of %s", self.namespace)
            self._refused(ConnectionRefused(f"auth failed: {exc!r}"))
            return
        if self._pid is not None:
            recovery: dict[str, Any] = {"pid": self._pid}
            if self._offset is not None:
                recovery["offset"] = self._offset
            data = {**recovery, **(data or {})}
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
        self._outbox.close(reason)
        failure = ConnectionClosed(reason)
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
            TimeoutError: no answer within the client's ``timeout``.
        """
        if self.connected:
            return
        if not self._manager.running:
            raise InvalidState("the client is not connected: use Client.connect()")
        self.activate()
        if self._manager.is_open:
            self._manager.spawn(self.send_connect())
        try:
            async with asyncio.timeout(self._manager.options.timeout):
                await self.wait_connected()
        except TimeoutError:
            self._deactivate()
            raise

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
        self._outbox.went_offline(reason)
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

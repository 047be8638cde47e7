"""The client's handle on one namespace: handlers, emits and acks.

The protocol state (connect and disconnect, the CONNECT payload and its answer, ack ids,
acks awaited and their deadlines, the offline buffer, retries, the recovery fields pid and
offset) is its ``ClientSession``'s. A ``ClientSocket`` feeds the session what its
``Manager`` (the connection it shares with the other namespaces) hands it, writes what the
session says to send through the manager, dispatches what it reports, and arms a timer for
its next deadline.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar, overload

from ..exceptions import ConnectionClosed, ConnectionRefused, InvalidState
from ..rejections import rejection_of
from ..socketio import ClientSession, Packet, PacketType
from ..socketio.events import AckSettled, Connected, ConnectRefused, Disconnected, EventReceived
from ..socketio.events import Event as SessionEvent
from ..socketio.packets import RESERVED_EVENTS, ack_args, single_answer

if TYPE_CHECKING:
    from .manager import Manager

logger = logging.getLogger("roomcast.client")

Handler: TypeAlias = Callable[..., Any]
H = TypeVar("H", bound=Handler)
AuthData: TypeAlias = Mapping[str, Any]
Auth: TypeAlias = AuthData | Callable[[], AuthData | Awaitable[AuthData]] | None
"""A CONNECT payload, or a function (sync or async) called for it at each (re)connection."""
Settle: TypeAlias = Callable[[list[Any] | BaseException], None]
"""Called once with the ack's arguments, or with why none will come."""

_DISCONNECT: Final = PacketType.DISCONNECT


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
        self._manager = manager
        self._handlers: dict[str, list[Handler]] = {}
        self._any: list[Handler] = []
        options = manager.options
        self._session = ClientSession(
            namespace,
            parser=manager.parser,
            retries=options.retries,
            buffer_size=options.buffer_size,
        )
        self._waiters: list[asyncio.Future[None]] = []
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<ClientSocket {self.namespace} {self.sid or 'disconnected'}>"

    @property
    def session(self) -> ClientSession:
        """The protocol state of this namespace (sans-IO)."""
        return self._session

    @property
    def sid(self) -> str | None:
        """The id the server gave this socket; None while not connected."""
        return self._session.sid

    @property
    def connected(self) -> bool:
        return self._session.connected

    @property
    def recovered(self) -> bool:
        """Whether the last connection restored the previous session (missed events follow)."""
        return self._session.recovered

    @property
    def active(self) -> bool:
        """Whether the socket wants to be connected (and reconnects with its client)."""
        return self._session.active

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
        now = asyncio.get_running_loop().time()
        self._session.emit(
            [event, *args], now=now, volatile=volatile, timeout=self._ack_timeout(None)
        )
        self._flush()

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send an event and wait for the server's ack: one argument comes back as itself,
        none as None, several as a tuple. ``timeout`` defaults to the client's
        ``ack_timeout`` (with ``retries``: the wait for each try).

        Raises:
            EventRejected: the server refused the event (an error ack: ``code``,
                ``message``, ``details``).
            AckTimeout: no ack in time (with ``retries``: after the last try).
            ConnectionClosed: disconnected before the ack (without ``retries``).
            InvalidState: the buffer is full.
        """
        _check_event(event)
        session = self._session
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        ack_id = session.emit_with_ack(
            [event, *args], _settler(future), now=loop.time(), timeout=self._ack_timeout(timeout)
        )
        self._flush()
        if session.retries:
            return _answer(await future)
        try:
            return _answer(await future)
        finally:
            session.forget(ack_id)
            self._arm()

    def _ack_timeout(self, timeout: float | None) -> float | None:
        return timeout if timeout is not None else self._manager.options.ack_timeout

    # -- what the server sends --------------------------------------------------------------

    def handle_packet(self, packet: Packet) -> None:
        """Called by the manager with each packet of this namespace."""
        self._session.receive_packet(packet, now=asyncio.get_running_loop().time())
        self._flush()
        if packet.type is _DISCONNECT:
            self._manager.socket_ended(self)

    def _flush(self) -> None:
        """Write what the session has to send, dispatch what it reports (which may give it
        more to send), and arm the timer for its next deadline."""
        session = self._session
        while True:
            for parts in session.data_to_send():
                self._manager.send(parts)
            events = session.events_received()
            if not events:
                break
            for event in events:
                self._dispatch(event)
        self._arm()

    def _dispatch(self, event: SessionEvent) -> None:
        if isinstance(event, EventReceived):
            self._on_event(event)
        elif isinstance(event, AckSettled):
            event.waiter(event.outcome)
        elif isinstance(event, Connected):
            self._fire("connect")
            self._wake_waiters(None)
        elif isinstance(event, Disconnected):
            self._fire("disconnect", event.reason)
        elif isinstance(event, ConnectRefused):
            error = ConnectionRefused(event.message, event.data)
            self._fire("connect_error", error)
            self._wake_waiters(error)
            self._manager.socket_ended(self)

    def _arm(self) -> None:
        """Have the timer fire at the session's next deadline (none: no timer)."""
        deadline = self._session.next_deadline()
        timer = self._timer
        if timer is not None:
            if timer.when() == deadline:
                return
            timer.cancel()
            self._timer = None
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(deadline, self._on_deadline, loop, deadline)

    def _on_deadline(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self._timer = None
        # a loop may run a timer a hair before its time: the deadline has come all the same
        self._session.handle_timeout(now=max(loop.time(), deadline))
        self._flush()

    def _on_event(self, event: EventReceived) -> None:
        name, args = event.name, event.args
        for listener in self._any:
            self._run(listener, name, *args)
        handlers = self._handlers.get(name, ())
        if not handlers:
            return  # no ack either: as with socket.io-client, the server's wait times out
        first: Any = None
        for index, handler in enumerate(handlers):
            result = self._call(handler, *args)
            if index == 0:
                first = result
            elif inspect.isawaitable(result):
                self._manager.spawn(result)
        if event.ack_id is not None:
            if inspect.isawaitable(first):
                self._manager.spawn(self._ack_later(first, event.ack_id))
            else:
                self._send_ack(event.ack_id, first)
        elif inspect.isawaitable(first):
            self._manager.spawn(first)

    async def _ack_later(self, pending: Awaitable[Any], ack_id: int) -> None:
        self._send_ack(ack_id, await pending)

    def _send_ack(self, ack_id: int, result: Any) -> None:
        self._session.send_ack(ack_id, ack_args(result))
        self._flush()

    # -- what the manager tells -------------------------------------------------------------

    def activate(self) -> None:
        """Called by the manager when the socket should connect (now or when it can)."""
        self._session.activate()

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
            self._session.refuse(f"auth failed: {exc!r}")
        else:
            self._session.connect(data)
        self._flush()

    def connection_lost(self, reason: str) -> None:
        """Called by the manager when the connection closed under this socket."""
        self._session.connection_lost(reason)
        self._flush()

    def connect_failed(self, error: Exception) -> None:
        """Called by the manager when a connection attempt failed (it may try again)."""
        if self.active and not self.connected:
            self._fire("connect_error", error)

    def manager_stopped(self, error: BaseException) -> None:
        """Called by the manager when it stopped for good: waiters fail with ``error``."""
        self._session.deactivate()
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
        self._session.disconnect(reason)
        self._flush()
        self._wake_waiters(ConnectionClosed(reason))

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
            self._session.deactivate()
            raise

    # -- internals --------------------------------------------------------------------------

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


def _answer(args: list[Any]) -> Any:
    """An ack's value for ``emit_with_ack``; an error ack raises its ``EventRejected``."""
    if args:
        rejection = rejection_of(args[0])
        if rejection is not None:
            raise rejection
    return single_answer(args)


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

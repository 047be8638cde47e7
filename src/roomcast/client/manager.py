"""The connection a client's namespaces share, and its reconnection loop.

One task (the runner) owns the connection's life: it opens an ``EngineClient``, has each
active socket send its CONNECT, waits for the connection to close, and reconnects with
exponential backoff (``reconnect_attempt``, ``reconnect_error``, ``reconnect``,
``reconnect_failed``) unless the client or the server ended it. Messages from the server
are decoded here and handed to the socket of their namespace.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Final

from ..engineio import CloseReason, Transport
from ..exceptions import ConnectionClosed, InvalidState, RemoteProtocolError
from ..parsers import parser_for
from ..socketio import Packet, Parser
from .backoff import Backoff
from .engine import EngineClient
from .http import Endpoint
from .socket import Auth, ClientSocket, Handler

logger = logging.getLogger("roomcast.client")

MANAGER_EVENTS: Final = frozenset(
    {"reconnect_attempt", "reconnect", "reconnect_error", "reconnect_failed"}
)


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """A client's settings (durations in seconds); ``Client`` documents each one."""

    reconnection: bool = True
    reconnection_attempts: int | None = None
    reconnection_delay: float = 1.0
    reconnection_delay_max: float = 5.0
    randomization_factor: float = 0.5
    timeout: float = 20.0
    retries: int = 0
    ack_timeout: float | None = None
    buffer_size: int = 1000
    path: str = "/socket.io/"
    transports: tuple[str, ...] = ("polling", "websocket")
    parser: str | Parser = "json"


class Manager:
    """The shared connection of a client: engine, decoder, sockets, reconnection."""

    def __init__(self, options: ClientOptions) -> None:
        self.options = options
        self.parser: Parser = parser_for(options.parser)
        self.sockets: dict[str, ClientSocket] = {}
        self._handlers: dict[str, list[Handler]] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self._backoff = Backoff(
            options.reconnection_delay,
            options.reconnection_delay_max,
            options.randomization_factor,
        )
        self._endpoint: Endpoint | None = None
        self._transports: tuple[Transport, ...] = ()
        self._engine: EngineClient | None = None
        self._decoder = self.parser.decoder()
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._stopped = asyncio.Event()
        self._stopped.set()

    @property
    def running(self) -> bool:
        """Whether the client is connected or trying to (re)connect."""
        return self._runner is not None and not self._runner.done()

    @property
    def is_open(self) -> bool:
        """Whether the Engine.IO connection is open now."""
        return self._engine is not None and not self._engine.closed

    @property
    def transport(self) -> str | None:
        return self._engine.transport if self.is_open and self._engine is not None else None

    def socket(self, namespace: str, auth: Auth = None) -> ClientSocket:
        socket = self.sockets.get(namespace)
        if socket is None:
            socket = self.sockets[namespace] = ClientSocket(self, namespace, auth)
        elif auth is not None:
            socket.auth = auth
        return socket

    # -- manager events ---------------------------------------------------------------------

    def on(self, event: str, handler: Handler) -> None:
        self._handlers.setdefault(event, []).append(handler)

    def fire(self, event: str, *args: Any) -> None:
        for handler in self._handlers.get(event, ()):
            try:
                result = handler(*args)
            except Exception:
                logger.exception("error in a %s handler", event)
                continue
            if inspect.isawaitable(result):
                self.spawn(result)

    def spawn(self, awaitable: Awaitable[Any]) -> None:
        """Run a handler's coroutine as a task; ``aclose()`` ends it."""
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("error in a handler", exc_info=exc)

    # -- what the sockets call --------------------------------------------------------------

    def send(self, parts: list[str | bytes]) -> None:
        """Write an encoded packet; dropped when the connection is not open."""
        engine = self._engine
        if engine is not None and not engine.closed:
            for part in parts:
                engine.send(part)

    def socket_ended(self, socket: ClientSocket) -> None:
        """A socket left for good: the connection ends with the last one (no reconnection)."""
        if any(s.active for s in self.sockets.values()) or not self.running:
            return
        self._closing = True
        engine = self._engine
        if engine is not None and not engine.closed:
            engine.close()
        elif self._runner is not None and self._runner is not asyncio.current_task():
            self._runner.cancel()

    # -- life cycle -------------------------------------------------------------------------

    def start(self, endpoint: Endpoint, transports: tuple[Transport, ...], retry: bool) -> None:
        """Start connecting (the runner task); sockets to connect must be active already."""
        if self.running:
            raise InvalidState("the client is connected already; disconnect() first")
        if not transports:
            raise ValueError("no transport to connect with")
        self._endpoint, self._transports = endpoint, transports
        self._closing = False
        self._stopped.clear()
        self._runner = asyncio.get_running_loop().create_task(self._run(retry))

    async def wait(self) -> None:
        """Wait until the runner stopped (disconnected for good)."""
        await self._stopped.wait()

    async def aclose(self) -> None:
        """Stop: close the connection (saying goodbye), stop reconnecting, end every task."""
        self._closing = True
        runner = self._runner
        if runner is not None and not runner.done():
            engine = self._engine
            if engine is not None and not engine.closed:
                engine.close()
            else:
                runner.cancel()
            await asyncio.wait({runner})
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _run(self, retry: bool) -> None:
        stop: BaseException = ConnectionClosed("io client disconnect")
        try:
            failure = await self._open()
            if failure is None:
                await self._connect_sockets()
            elif not (retry and self.options.reconnection):
                stop = failure
                return
            elif not await self._reconnect():
                stop = ConnectionError("reconnection failed")
                return
            while True:
                engine = self._engine
                assert engine is not None
                reason = await engine.wait_closed()
                if self._closing or not any(s.active for s in self.sockets.values()):
                    return
                if not self.options.reconnection:
                    stop = ConnectionClosed(str(reason))
                    return
                if not await self._reconnect():
                    stop = ConnectionError("reconnection failed")
                    return
        finally:
            await self._cleanup(stop)

    async def _open(self) -> Exception | None:
        """One connection attempt: the error, or None once the connection is open."""
        assert self._endpoint is not None
        self._engine = None
        self._decoder = self.parser.decoder()
        engine = EngineClient(
            self._endpoint,
            on_message=self._on_message,
            on_close=self._on_close,
            upgrade=Transport.WEBSOCKET in self._transports,
            connect_timeout=self.options.timeout,
        )
        try:
            async with asyncio.timeout(self.options.timeout):
                await engine.open(self._transports[0])
        except (ConnectionError, TimeoutError) as exc:
            logger.info("cannot connect to %s: %r", self._endpoint.url, exc)
            for socket in list(self.sockets.values()):
                socket.connect_failed(exc)
            return exc
        self._engine = engine
        return None

    async def _reconnect(self) -> bool:
        backoff = self._backoff
        backoff.reset()
        limit = self.options.reconnection_attempts
        while True:
            if limit is not None and backoff.attempts >= limit:
                self.fire("reconnect_failed")
                return False
            await asyncio.sleep(backoff.duration())
            attempt = backoff.attempts
            self.fire("reconnect_attempt", attempt)
            if self._closing:
                return False
            failure = await self._open()
            if failure is None:
                break
            self.fire("reconnect_error", failure)
        backoff.reset()
        self.fire("reconnect", attempt)
        await self._connect_sockets()
        return True

    async def _connect_sockets(self) -> None:
        for socket in list(self.sockets.values()):
            if socket.active and self.is_open:
                await socket.send_connect()

    async def _cleanup(self, stop: BaseException) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()
            await engine.wait_closed()
        for socket in list(self.sockets.values()):
            socket.manager_stopped(stop)
        self._stopped.set()

    # -- what the engine reports ------------------------------------------------------------

    def _on_message(self, data: str | bytes) -> None:
        try:
            packet: Packet | None = self._decoder.receive(data)
        except RemoteProtocolError as exc:
            logger.info("closing the connection: %s", exc)
            if self._engine is not None:
                self._engine.fail(CloseReason.PARSE_ERROR)
            return
        if packet is not None and (socket := self.sockets.get(packet.namespace)) is not None:
            socket.handle_packet(packet)

    def _on_close(self, reason: CloseReason) -> None:
        for socket in list(self.sockets.values()):
            socket.connection_lost(str(reason))

"""The pub/sub bus under a cluster adapter, and what it tells the app.

A ``ClusterAdapter`` needs four things from the nodes' shared medium, and ``Bus`` is exactly
that contract:

- ``publish(channel, message)``: queue a message; messages from one node arrive in the order
  it published them, at least once. It never blocks; it raises ``BusUnavailable`` when it
  cannot take the message (its bounded buffer is full), so nothing is dropped silently.
- ``subscribe(channel, handler)`` and ``subscribe_prefix(prefix, handler)``: call
  ``handler(channel, message)`` for each message on that channel, or on any channel starting
  with ``prefix`` (Redis ``PSUBSCRIBE prefix*``). Subscriptions survive reconnections.
- ``count_subscribers(channel)``: how many subscriptions to exactly ``channel`` exist in the
  whole cluster (Redis ``PUBSUB NUMSUB``): every node subscribes to its namespace's request
  channel, so this is the node count.
- ``connected``, and listeners that receive ``BusDown``, ``BusUp`` and ``MessagesDropped``.

``BufferedBus`` implements what every bus shares: the bounded outbox drained by one writer
task in publish order, the up/down state and its events, reconnection with backoff, and
after an outage holding the backlog until the cluster has re-formed (the adapters' rejoin
gates: the node count is back, or a timeout passed), so that messages published during the
outage reach nodes that were down with it. A bus for another medium (the Redis one in
``redis.py``, a local inter-process channel) subclasses it and supplies ``_send``,
``_serve``, ``_add_subscription``, ``_remove_subscription`` and ``count_subscribers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..exceptions import AdapterError

logger = logging.getLogger("roomcast.cluster")

MessageHandler = Callable[[str, bytes], None]
"""``handler(channel, message)``, called in the event loop in arrival order."""

SubscriptionKind = Literal["channel", "prefix"]


def stop_if_cancelled(exc: BaseException | None = None) -> None:
    """Raise CancelledError if the current task was asked to stop: a client library may have
    swallowed the cancellation or turned it into an ordinary error (redis-py does), and a
    retry loop must still end."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


class BusUnavailable(AdapterError):
    """The bus cannot take a message (its buffer is full) or answer a query (it is down)."""


@dataclass(frozen=True, slots=True)
class BusDown:
    """The bus lost its connection; messages published from now on wait in the buffer."""

    error: str


@dataclass(frozen=True, slots=True)
class BusUp:
    """The bus is connected again after ``downtime`` seconds; ``pending`` messages wait to go."""

    downtime: float
    pending: int


@dataclass(frozen=True, slots=True)
class MessagesDropped:
    """``count`` messages could not be taken (``reason``); their publishers got an error."""

    count: int
    reason: str


BusEvent = BusDown | BusUp | MessagesDropped
BusListener = Callable[[BusEvent], Any]
RejoinGate = Callable[[], Awaitable[None]]


class Bus(ABC):
    """Pub/sub between the nodes of a cluster (see the module docstring for the contract)."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """Whether messages go out now (rather than waiting in the buffer)."""

    @abstractmethod
    def publish(self, channel: str, message: bytes) -> None:
        """Queue ``message`` for ``channel``; raises BusUnavailable when it cannot."""

    @abstractmethod
    async def subscribe(self, channel: str, handler: MessageHandler) -> None:
        """Deliver each message on ``channel`` to ``handler``."""

    @abstractmethod
    async def subscribe_prefix(self, prefix: str, handler: MessageHandler) -> None:
        """Deliver each message on any channel starting with ``prefix`` to ``handler``."""

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None:
        """Undo ``subscribe``."""

    @abstractmethod
    async def unsubscribe_prefix(self, prefix: str) -> None:
        """Undo ``subscribe_prefix``."""

    @abstractmethod
    async def count_subscribers(self, channel: str) -> int:
        """How many subscriptions to ``channel`` the cluster has; raises BusUnavailable."""

    @abstractmethod
    def add_listener(self, listener: BusListener) -> None:
        """Call ``listener(event)`` for each BusDown, BusUp and MessagesDropped."""

    @abstractmethod
    def remove_listener(self, listener: BusListener) -> None:
        """Undo ``add_listener`` (ValueError if it was not added)."""

    @abstractmethod
    def add_rejoin_gate(self, gate: RejoinGate) -> None:
        """After an outage, await ``gate()`` before sending the backlog."""

    @abstractmethod
    def remove_rejoin_gate(self, gate: RejoinGate) -> None:
        """Undo ``add_rejoin_gate``."""

    @abstractmethod
    async def start(self) -> None:
        """Connect (idempotent); returns once subscriptions are served or the first try failed."""

    @abstractmethod
    async def aclose(self) -> None:
        """Stop and disconnect; messages still queued are reported as dropped."""


class BufferedBus(Bus):
    """The shared part of a bus: outbox, writer, state, events, backoff, rejoin gates.

    Args:
        max_buffer: messages kept while the bus is down (or slower than the publishers);
            past it ``publish`` raises BusUnavailable.
        batch_size: messages sent per round trip at most.
        reconnect_delay: first and longest pause between reconnection attempts (seconds).
        rejoin_timeout: after an outage, how long the backlog waits for the cluster to
            re-form (the rejoin gates) before it goes anyway.
    """

    def __init__(
        self,
        *,
        max_buffer: int = 10_000,
        batch_size: int = 512,
        reconnect_delay: tuple[float, float] = (0.05, 2.0),
        rejoin_timeout: float = 5.0,
    ) -> None:
        self.max_buffer = max_buffer
        self.batch_size = batch_size
        self.reconnect_delay = reconnect_delay
        self.rejoin_timeout = rejoin_timeout
        self.channels: dict[str, MessageHandler] = {}
        self.prefixes: dict[str, MessageHandler] = {}
        self._queue: deque[tuple[str, bytes]] = deque()
        self._wakeup = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._sub_ready = asyncio.Event()
        self._sub_ok = False
        self._pub_ok = True
        self._state: Literal["starting", "up", "down", "closed"] = "starting"
        self._down_since = 0.0
        self._needs_rejoin = False
        self._listeners: list[BusListener] = []
        self._gates: list[RejoinGate] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._listener_tasks: set[asyncio.Future[Any]] = set()
        self._first_try: asyncio.Future[None] | None = None

    # -- what subclasses supply ----------------------------------------------------------

    @abstractmethod
    async def _send(self, batch: Sequence[tuple[str, bytes]]) -> None:
        """Publish ``batch`` in order; raise on any failure (the batch is retried)."""

    @abstractmethod
    async def _serve(self) -> None:
        """Connect, subscribe to ``channels`` and ``prefixes``, call ``_subscribed()`` once
        confirmed, then feed messages to ``_deliver``; raise when the connection is lost."""

    @abstractmethod
    async def _add_subscription(self, kind: SubscriptionKind, name: str) -> None:
        """Subscribe on the live connection, if any (``_serve`` covers the next one)."""

    @abstractmethod
    async def _remove_subscription(self, kind: SubscriptionKind, name: str) -> None:
        """Unsubscribe on the live connection, if any."""

    async def _disconnect(self) -> None:
        """Release connections after the tasks stopped."""

    # -- state -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._state == "up"

    @property
    def pending(self) -> int:
        """Messages waiting to be sent."""
        return len(self._queue)

    def add_listener(self, listener: BusListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: BusListener) -> None:
        self._listeners.remove(listener)

    def add_rejoin_gate(self, gate: RejoinGate) -> None:
        self._gates.append(gate)

    def remove_rejoin_gate(self, gate: RejoinGate) -> None:
        with contextlib.suppress(ValueError):
            self._gates.remove(gate)

    def _emit(self, event: BusEvent) -> None:
        for listener in list(self._listeners):
            try:
                result = listener(event)
            except Exception:
                logger.exception("error in a bus listener")
                continue
            if asyncio.iscoroutine(result):
                task = asyncio.ensure_future(result)
                self._listener_tasks.add(task)
                task.add_done_callback(self._listener_tasks.discard)

    def _update(
        self,
        *,
        sub: bool | None = None,
        pub: bool | None = None,
        error: BaseException | None = None,
    ) -> None:
        """Record a connection's health; report the transitions of the whole."""
        if sub is not None:
            self._sub_ok = sub
            if sub:
                self._sub_ready.set()
            else:
                self._sub_ready.clear()
        if pub is not None:
            self._pub_ok = pub
        if self._state == "closed":
            return
        healthy = self._sub_ok and self._pub_ok
        loop = asyncio.get_running_loop()
        if healthy and self._state != "up":
            was_down = self._state == "down"
            self._state = "up"
            if was_down:
                downtime = loop.time() - self._down_since
                logger.warning(
                    "cluster bus back after %.1f s; %d messages to send", downtime, self.pending
                )
                self._emit(BusUp(downtime, self.pending))
        elif not healthy and self._state != "down" and error is not None:
            self._state = "down"
            self._down_since = loop.time()
            self._needs_rejoin = True
            logger.warning(
                "cluster bus down: %s; buffering up to %d messages", error, self.max_buffer
            )
            self._emit(BusDown(str(error) or type(error).__name__))

    def _subscribed(self) -> None:
        """Called by ``_serve`` once every subscription is confirmed."""
        self._update(sub=True)
        if self._first_try is not None and not self._first_try.done():
            self._first_try.set_result(None)

    def _deliver(self, kind: SubscriptionKind, name: str, channel: str, message: bytes) -> None:
        """Hand a received message to the handler of subscription ``name``."""
        handler = (self.prefixes if kind == "prefix" else self.channels).get(name)
        if handler is None:
            return
        try:
            handler(channel, message)
        except Exception:
            logger.exception("error handling a message on %s", channel)

    # -- publishing ------------------------------------------------------------------------

    def publish(self, channel: str, message: bytes) -> None:
        if self._state == "closed":
            raise BusUnavailable("the cluster bus is closed")
        if len(self._queue) >= self.max_buffer:
            self._emit(MessagesDropped(1, "buffer full"))
            raise BusUnavailable(
                f"the cluster bus buffer is full ({self.max_buffer} messages waiting)"
            )
        self._queue.append((channel, message))
        self._empty.clear()
        self._wakeup.set()

    async def drain(self) -> None:
        """Wait until every queued message went out."""
        await self._empty.wait()

    async def _write_loop(self) -> None:
        delay = self.reconnect_delay[0]
        queue = self._queue
        while self._state != "closed":
            if not queue:
                self._empty.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if not self._sub_ok:
                await self._sub_ready.wait()
            if self._needs_rejoin:
                await self._rejoin()
            batch = [queue[i] for i in range(min(len(queue), self.batch_size))]
            try:
                await self._send(batch)
            except Exception as exc:
                stop_if_cancelled(exc)
                self._update(pub=False, error=exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_delay[1])
                continue
            stop_if_cancelled()
            for _ in batch:
                queue.popleft()
            delay = self.reconnect_delay[0]
            if not self._pub_ok:
                self._update(pub=True)

    async def _rejoin(self) -> None:
        """Hold the backlog until every gate passed (the cluster re-formed) or time is up."""
        self._needs_rejoin = False
        gates = [gate() for gate in self._gates]
        if gates:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*gates), self.rejoin_timeout)

    # -- subscribing -------------------------------------------------------------------------

    async def subscribe(self, channel: str, handler: MessageHandler) -> None:
        self.channels[channel] = handler
        await self._add_subscription("channel", channel)

    async def subscribe_prefix(self, prefix: str, handler: MessageHandler) -> None:
        self.prefixes[prefix] = handler
        await self._add_subscription("prefix", prefix)

    async def unsubscribe(self, channel: str) -> None:
        if self.channels.pop(channel, None) is not None:
            await self._remove_subscription("channel", channel)

    async def unsubscribe_prefix(self, prefix: str) -> None:
        if self.prefixes.pop(prefix, None) is not None:
            await self._remove_subscription("prefix", prefix)

    async def _subscribe_loop(self) -> None:
        delay = self.reconnect_delay[0]
        while self._state != "closed":
            try:
                await self._serve()
                return
            except Exception as exc:
                stop_if_cancelled(exc)
                if self._sub_ok:  # that connection had worked: start the backoff over
                    delay = self.reconnect_delay[0]
                self._update(sub=False, error=exc)
                if self._first_try is not None and not self._first_try.done():
                    self._first_try.set_result(None)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.reconnect_delay[1])

    # -- lifetime ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._first_try is None:
            self._first_try = asyncio.get_running_loop().create_future()
            self._tasks = [
                asyncio.create_task(self._subscribe_loop(), name="roomcast-bus-subscriber"),
                asyncio.create_task(self._write_loop(), name="roomcast-bus-writer"),
            ]
        await asyncio.shield(self._first_try)

    async def aclose(self) -> None:
        if self._state == "closed":
            return
        self._state = "closed"
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        self._tasks = []
        if self._queue:
            self._emit(MessagesDropped(len(self._queue), "bus closed"))
            self._queue.clear()
        self._empty.set()
        await self._disconnect()

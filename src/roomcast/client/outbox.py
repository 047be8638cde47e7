"""What one namespace of the client has to deliver: the offline buffer, the acks it waits for
and the retry queue.

No I/O and no Socket.IO semantics: packets come in encoded, and ``send`` writes them on the
connection. The socket says when the namespace goes online and offline.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..exceptions import AckTimeout, ConnectionClosed, InvalidState

logger = logging.getLogger("roomcast.client")

Parts: TypeAlias = list[str | bytes]
"""One encoded packet: its text message, then any binary attachments."""
Settle: TypeAlias = Callable[[list[Any] | BaseException], None]
"""Called once with the ack's arguments, or with why none will come."""


@dataclass(slots=True)
class _Ack:
    settle: Settle
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class _Queued:
    """A packet under ``retries``: re-sent, with the same ack id, until acked or given up."""

    parts: Parts
    ack_id: int
    timeout: float | None
    settle: Settle | None
    tries: int = 0
    pending: bool = False


class Outbox:
    """Delivery for one namespace.

    - Offline buffer: what is posted while offline waits (``buffer_size`` at most) and goes
      out in order when the namespace is online again.
    - Acks: each expected ack settles once, with its arguments, ``AckTimeout`` or
      ``ConnectionClosed``; an ack whose packet is still buffered survives a disconnection.
    - Retries: queued packets go one at a time; the head is re-sent (same ack id) when its
      ack times out, up to ``retries`` more times, and after each reconnection.
    """

    def __init__(
        self,
        namespace: str,
        send: Callable[[Parts], None],
        *,
        retries: int = 0,
        buffer_size: int = 1000,
    ) -> None:
        self.namespace = namespace
        self.online = False
        self.retries = retries
        self.buffer_size = buffer_size
        self._send = send
        self._ids = itertools.count()
        self._acks: dict[int, _Ack] = {}
        self._buffer: deque[tuple[Parts, int | None]] = deque()
        self._queue: deque[_Queued] = deque()

    def next_id(self) -> int:
        """A fresh ack id."""
        return next(self._ids)

    # -- plain delivery -----------------------------------------------------------------------

    def post(self, parts: Parts, ack_id: int | None = None) -> None:
        """Send now when online, else keep for later.

        Raises:
            InvalidState: offline with a full buffer.
        """
        if self.online:
            self._send(parts)
            return
        if len(self._buffer) >= self.buffer_size:
            raise InvalidState(f"the offline buffer of {self.namespace} is full")
        self._buffer.append((parts, ack_id))

    def expect(self, ack_id: int, settle: Settle, timeout: float | None) -> None:
        """Wait for the ack ``ack_id`` (``AckTimeout`` after ``timeout`` seconds)."""
        ack = self._acks[ack_id] = _Ack(settle)
        if timeout is not None:
            ack.timer = asyncio.get_running_loop().call_later(timeout, self._expire, ack_id)

    def forget(self, ack_id: int) -> None:
        """Stop waiting for ``ack_id`` (and drop its packet if still buffered)."""
        ack = self._acks.pop(ack_id, None)
        if ack is not None and ack.timer is not None:
            ack.timer.cancel()
        self._unbuffer(ack_id)

    def acked(self, ack_id: int, args: list[Any]) -> None:
        """The server's ACK arrived (ignored when nobody waits for it any more)."""
        ack = self._acks.pop(ack_id, None)
        if ack is not None:
            if ack.timer is not None:
                ack.timer.cancel()
            ack.settle(args)

    def _expire(self, ack_id: int) -> None:
        ack = self._acks.pop(ack_id, None)
        if ack is not None:
            self._unbuffer(ack_id)
            ack.settle(AckTimeout())

    def _unbuffer(self, ack_id: int) -> None:
        for item in self._buffer:
            if item[1] == ack_id:
                self._buffer.remove(item)
                return

    # -- retries --------------------------------------------------------------------------------

    def enqueue(
        self, parts: Parts, ack_id: int, timeout: float | None, settle: Settle | None = None
    ) -> None:
        """Deliver with retries; ``settle`` gets the ack, or the last try's AckTimeout.

        Raises:
            InvalidState: ``buffer_size`` packets are queued already.
        """
        if len(self._queue) >= self.buffer_size:
            raise InvalidState(f"the retry queue of {self.namespace} is full")
        self._queue.append(_Queued(parts, ack_id, timeout, settle))
        self._drain()

    def _drain(self, force: bool = False) -> None:
        if not self.online or not self._queue:
            return
        head = self._queue[0]
        if head.pending and not force:
            return
        head.pending = True
        head.tries += 1
        self.forget(head.ack_id)
        self.expect(head.ack_id, lambda outcome: self._queued_done(head, outcome), head.timeout)
        self._send(head.parts)

    def _queued_done(self, head: _Queued, outcome: list[Any] | BaseException) -> None:
        if not self._queue or self._queue[0] is not head:
            return  # already settled
        head.pending = False
        if isinstance(outcome, BaseException):
            if head.tries <= self.retries:
                self._drain()  # once more, same id
                return
            logger.info("giving up on a packet of %s after %d tries", self.namespace, head.tries)
        self._queue.popleft()
        if head.settle is not None:
            head.settle(outcome)
        self._drain()

    # -- the namespace's state ----------------------------------------------------------------

    def went_online(self) -> None:
        """Connected: the buffer goes out in order, then the retry queue's head again."""
        self.online = True
        buffered, self._buffer = self._buffer, deque()
        for parts, _ in buffered:
            self._send(parts)
        self._drain(force=True)

    def went_offline(self, reason: str) -> None:
        """Disconnected: acks of sent packets fail with ConnectionClosed, except the retry
        queue's head (re-sent on reconnection) and buffered packets (not sent yet)."""
        self.online = False
        head = self._queue[0].ack_id if self._queue else None
        buffered = {ack_id for _, ack_id in self._buffer}
        for ack_id in list(self._acks):
            if ack_id in buffered:
                continue
            ack = self._acks.pop(ack_id)
            if ack.timer is not None:
                ack.timer.cancel()
            if ack_id != head:
                ack.settle(ConnectionClosed(reason))
        if self._queue:
            self._queue[0].pending = False

    def close(self, reason: str) -> None:
        """Given up for good: everything waiting fails with ConnectionClosed."""
        self.online = False
        failure = ConnectionClosed(reason)
        queue, self._queue = self._queue, deque()
        self._buffer.clear()
        for ack_id in list(self._acks):
            ack = self._acks.pop(ack_id)
            if ack.timer is not None:
                ack.timer.cancel()
            ack.settle(failure)
        for queued in queue:
            if queued.settle is not None:
                queued.settle(failure)

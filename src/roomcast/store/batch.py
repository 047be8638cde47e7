"""Group commit: what is submitted during one event-loop tick is written as one batch.

A store's writes cost a round trip (Redis) or a transaction and a disk flush (SQLite). When
many sockets broadcast at once, paying that per write caps the throughput; paying it per
batch does not. ``GroupCommit.submit`` queues an item and, for the first item of a batch,
schedules the flush with ``call_soon``: every item submitted by the callbacks and tasks of
the same tick joins it. While a batch is being written, new items gather into the next one,
so under load the batches grow by themselves and the writer never falls behind by more
than one batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

_I = TypeVar("_I")
_R = TypeVar("_R")


class GroupCommit(Generic[_I, _R]):
    """Runs ``write(items) -> results`` (one result per item, in order) once per batch; each
    ``submit`` future resolves with its item's result after the batch is written, or with
    the exception the batch raised."""

    def __init__(self, write: Callable[[list[_I]], Awaitable[list[_R]]]) -> None:
        self._write = write
        self._pending: list[tuple[_I, asyncio.Future[_R]]] = []
        self._inflight: asyncio.Task[None] | None = None
        self.batches = 0
        """Batches written successfully."""
        self.failed = 0
        """Items whose batch failed."""

    def submit(self, item: _I) -> asyncio.Future[_R]:
        """Queue ``item`` for the next batch; await the future for its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_R] = loop.create_future()
        self._pending.append((item, future))
        if self._inflight is None and len(self._pending) == 1:
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        if self._inflight is None and self._pending:
            batch, self._pending = self._pending, []
            self._inflight = asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[tuple[_I, asyncio.Future[_R]]]) -> None:
        try:
            results = await self._write([item for item, _ in batch])
        except BaseException as exc:  # handed to every waiter, never lost
            self.failed += len(batch)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        else:
            self.batches += 1
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self._inflight = None
            if self._pending:
                self._flush()

    async def drain(self) -> None:
        """Wait until everything submitted so far is written (or failed)."""
        while self._inflight is not None or self._pending:
            if self._inflight is None:
                self._flush()
            task = self._inflight
            if task is not None:
                await asyncio.wait([task])

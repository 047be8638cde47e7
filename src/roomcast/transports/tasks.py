"""Tasks an owner starts and waits for when it closes (requests, handlers, endpoints)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

logger = logging.getLogger("roomcast")


class Tasks:
    """The running tasks of one owner; a task that fails is logged as ``what`` failed."""

    __slots__ = ("_running", "_what")

    def __init__(self, what: str) -> None:
        self._what = what
        self._running: set[asyncio.Future[Any]] = set()

    def spawn(self, awaitable: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``awaitable`` as a task kept until it ends."""
        task = asyncio.ensure_future(awaitable)
        self.keep(task)
        return task

    def keep(self, future: asyncio.Future[Any]) -> None:
        """Wait for ``future`` too (something answered from its done-callbacks)."""
        self._running.add(future)
        future.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("error in %s", self._what, exc_info=exc)

    async def wait(self, timeout: float) -> None:
        """Give the running tasks up to ``timeout`` seconds to end."""
        if self._running:
            await asyncio.wait(list(self._running), timeout=timeout)

    def __len__(self) -> int:
        return len(self._running)

"""Many deadlines on few loop timers: the heartbeats of thousands of sessions.

A loop timer per session costs a ``TimerHandle`` and its libuv timer (~600 bytes and four
objects for the garbage collector to track, per connection). Here each deadline is rounded
up to the next multiple of ``resolution`` seconds and sessions due in the same slot share one
loop timer. A callback therefore runs up to ``resolution`` late, never early.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TimerWheel(Generic[T]):
    """Calls ``fire(item)`` for each item once its slot's time has come."""

    __slots__ = ("_fire", "_loop", "_resolution", "_slots")

    def __init__(
        self,
        loop: Callable[[], asyncio.AbstractEventLoop],
        fire: Callable[[T], None],
        resolution: float = 0.05,
    ) -> None:
        self._loop = loop
        self._fire = fire
        self._resolution = resolution
        self._slots: dict[int, dict[T, None]] = {}

    def slot_of(self, deadline: float) -> int:
        """The slot a deadline (loop time) falls in: its time is at or after the deadline."""
        return math.ceil(deadline / self._resolution)

    def add(self, item: T, slot: int) -> None:
        items = self._slots.get(slot)
        if items is None:
            items = self._slots[slot] = {}
            self._loop().call_at(slot * self._resolution, self._run, slot)
        items[item] = None

    def discard(self, item: T, slot: int) -> None:
        items = self._slots.get(slot)
        if items is not None:
            items.pop(item, None)

    def _run(self, slot: int) -> None:
        for item in self._slots.pop(slot, {}):
            self._fire(item)

    def __len__(self) -> int:
        return sum(map(len, self._slots.values()))

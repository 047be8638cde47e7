"""Many deadlines on few loop timers: the heartbeats of thousands of sessions.

A loop timer per session costs a ``TimerHandle`` and its libuv timer (~600 bytes and four
objects for the garbage collector to track, per connection). Here each deadline is rounded
up to the next multiple of ``resolution`` seconds and sessions due in the same slot share one
loop timer. A callback therefore runs up to ``resolution`` late, never early.

The rule for the resolution (``resolution_for``): 1/400 of the shortest heartbeat period in
use, between 1 ms and 50 ms. So the loop never holds more than about 400 timers per period,
however many sessions there are, and a deadline is met within 0.25% of its period: 50 ms
with the default 25 s / 20 s heartbeat, 1 ms with the 300 ms / 200 ms that tests and games
use. The sessions count their close deadline from the PING's due time (see
``engineio.session``), so the rounding of the PING and that of the close do not add up: a
silent client is closed at most one resolution after ``pingInterval + pingTimeout``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

SLOTS_PER_PERIOD = 400
"""How finely the shortest heartbeat period is cut (see the module docstring)."""
FINEST = 0.001
COARSEST = 0.05


def resolution_for(*periods: float) -> float:
    """The slot length for heartbeats with these periods (seconds): see the module docstring."""
    return min(COARSEST, max(FINEST, min(periods) / SLOTS_PER_PERIOD))


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

    def now(self) -> float:
        """The loop's time."""
        return self._loop().time()

    def time_of(self, slot: int) -> float:
        """When ``slot`` comes (loop time)."""
        return slot * self._resolution

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

"""The heartbeat wheel: deadlines of many sessions on a few loop timers, never early."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from roomcast.transports.timers import TimerWheel, resolution_for

WAIT = 5.0


async def test_each_item_fires_once_at_or_after_its_deadline() -> None:
    loop = asyncio.get_running_loop()
    fired: dict[str, float] = {}
    done = asyncio.Event()

    def fire(name: str) -> None:
        fired[name] = loop.time()
        if len(fired) == 3:
            done.set()

    wheel: TimerWheel[str] = TimerWheel(lambda: loop, fire, resolution=0.02)
    start = loop.time()
    deadlines = {"a": start + 0.03, "b": start + 0.031, "c": start + 0.07}
    for name, deadline in deadlines.items():
        wheel.add(name, wheel.slot_of(deadline))
    await asyncio.wait_for(done.wait(), WAIT)
    for name, deadline in deadlines.items():
        assert fired[name] >= deadline
    assert fired["c"] >= fired["a"]
    assert len(wheel) == 0


async def test_a_discarded_item_does_not_fire() -> None:
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    later = asyncio.Event()

    def fire(name: str) -> None:
        fired.append(name)
        if name == "kept-later":
            later.set()

    wheel: TimerWheel[str] = TimerWheel(lambda: loop, fire, resolution=0.01)
    slot = wheel.slot_of(loop.time() + 0.02)
    wheel.add("dropped", slot)
    wheel.add("kept", slot)
    wheel.discard("dropped", slot)
    wheel.add("kept-later", wheel.slot_of(loop.time() + 0.05))
    await asyncio.wait_for(later.wait(), WAIT)
    assert fired == ["kept", "kept-later"]


class CountingLoop:
    """The running loop, counting the timers asked of it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.timers = 0

    def call_at(self, when: float, callback: Callable[..., object], *args: object) -> object:
        self.timers += 1
        return self.loop.call_at(when, callback, *args)


async def test_sessions_due_together_share_one_loop_timer() -> None:
    counting = CountingLoop(asyncio.get_running_loop())
    done = asyncio.Event()
    fired: list[int] = []

    def fire(item: int) -> None:
        fired.append(item)
        if len(fired) == 100:
            done.set()

    wheel: TimerWheel[int] = TimerWheel(lambda: counting, fire, resolution=0.05)  # type: ignore[arg-type, return-value]
    base = counting.loop.time() + 0.05
    for i in range(100):
        wheel.add(i, wheel.slot_of(base + i * 0.0001))  # within 10 ms
    await asyncio.wait_for(done.wait(), WAIT)
    assert sorted(fired) == list(range(100))
    assert counting.timers <= 2  # one slot, or two when the 10 ms straddle a slot boundary


def test_resolution_is_a_small_fraction_of_the_shortest_heartbeat_period() -> None:
    # production defaults: 50 ms slots, a few hundred loop timers per period at most
    assert resolution_for(25.0, 20.0) == 0.05
    # the protocol test set-up (300 ms / 200 ms): deadlines met within a millisecond
    assert resolution_for(0.3, 0.2) == 0.001
    # in between, 1/400 of the shortest period
    assert resolution_for(10.0, 4.0) == pytest.approx(0.01)


def test_a_slot_is_due_at_most_one_resolution_after_its_deadlines() -> None:
    resolution = resolution_for(0.3, 0.2)
    wheel: TimerWheel[int] = TimerWheel(
        asyncio.get_event_loop_policy().get_event_loop, print, resolution
    )
    for step in range(1000):
        deadline = 12345.0 + step * 0.00037
        due = wheel.slot_of(deadline) * resolution
        assert deadline - 1e-9 <= due < deadline + resolution

"""The heartbeat wheel: deadlines of many sessions on a few loop timers, never early."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from roomcast.transports.timers import TimerWheel

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

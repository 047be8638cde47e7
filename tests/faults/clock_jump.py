"""Fault: the server's wall clock jumps (hours forward or back) while it serves, with
recovery on and the SQLite store. The server runs under libfaketime (``faketime``
package): ``time.time()`` is shifted by what the test writes in a file, the monotonic clock
is left alone (``FAKETIME_DONT_FAKE_MONOTONIC``), as when NTP or an operator steps the
clock of a real machine.

Heartbeats and timeouts use the loop's monotonic clock; offsets are the store's row ids;
entry times and the expiry of kept sessions are wall time (they must mean the same in
every process on the store, and after a restart).

Used by ``test_faults_clock.py`` (short) and ``bench/faults.py clock-*`` (long).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration.recovery_support import ServerProcess
from integration.support import WAIT, NodeClient

LIBFAKETIME = next(
    (
        path
        for path in (
            Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"),
            Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1"),
            Path("/usr/lib/faketime/libfaketimeMT.so.1"),
        )
        if path.is_file()
    ),
    None,
)
APP = Path(__file__).resolve().parent / "clock_app.py"
ROOM = "room"
RECEIVERS = ["r0", "r1"]
RECONNECT: dict[str, Any] = {
    "reconnection": True,
    "reconnectionDelay": 50,
    "reconnectionDelayMax": 200,
}


@dataclass
class ClockJump:
    """What the clients saw around a jump of ``hours``."""

    hours: float
    jumped: float = 0.0
    """How far the server's ``time.time()`` moved (seconds), as it reported."""
    offsets: list[int] = field(default_factory=list)
    """The acknowledged offsets, in publish order."""
    received: dict[str, list[int]] = field(default_factory=dict)
    pings_after: dict[str, int] = field(default_factory=dict)
    """Heartbeats each receiver got after the jump."""
    disconnects: int = 0
    history: list[int] = field(default_factory=list)
    """The room's history (the ``n``s), oldest first, read after the jump."""
    recovered: bool | None = None
    """A client away across the jump (its session kept before it): ``socket.recovered``."""
    missed: list[int] = field(default_factory=list)
    """What that client did not get of the broadcasts made while it was away."""
    sent: int = 0
    output: str = ""
    """What the server printed."""


def _step(shift: Path, hours: float) -> None:
    """From now on the faked process's wall clock is ``hours`` off."""
    shift.write_text(f"{hours:+.0f}h\n")


async def jump_clock(
    hours: float, tmp: Path, *, before: int = 10, after: int = 10, pings: int = 4
) -> ClockJump:
    """Serve ``clock_app`` under libfaketime; publish ``before`` broadcasts, take a client
    away (its session kept), step the server's wall clock by ``hours``, publish ``after``
    more, wait for ``pings`` more heartbeats on every receiver, bring the client back."""
    assert LIBFAKETIME is not None
    shift = tmp / "faketime"
    shift.write_text("+0\n")
    env = {
        "ROOMCAST_STORE": f"sqlite:///{tmp / 'clock.db'}",
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME_TIMESTAMP_FILE": str(shift),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    server = ServerProcess(APP, tmp, env)
    try:
        await server.start()
        node = await NodeClient.start(server.url)
        try:
            result = await _run(hours, shift, node, before, after, pings)
        finally:
            await node.aclose()
    except BaseException:
        print(await server.stop())  # shown with the failure
        raise
    result.output = await server.stop()
    return result


async def _run(
    hours: float, shift: Path, node: NodeClient, before: int, after: int, pings: int
) -> ClockJump:
    result = ClockJump(hours)
    ids = [*RECEIVERS, "away", "pub"]
    await node.connect_all(ids, transports=["websocket"], **RECONNECT)
    for id in ids:
        await node.call(id, "join", ROOM)

    async def publish(count: int) -> None:
        for _ in range(count):
            (offset,) = await node.call("pub", "publish", {"room": ROOM, "n": result.sent})
            assert offset is not None, "the store refused a broadcast"
            result.offsets.append(int(offset))
            result.sent += 1

    await publish(before)
    await node.wait(type="event", id="away", event="message", count=before)
    await node.cut("away", pause=True)  # gone: its session is kept, expiry in wall time
    await node.wait(type="disconnect", id="away")
    (then,) = await node.call("pub", "now")
    seen = {id: len(node.log.find(type="ping", id=id)) for id in RECEIVERS}
    _step(shift, hours)
    async with asyncio.timeout(WAIT):
        while True:  # until the server reads its clock anew (each call, no cache)
            (now,) = await node.call("pub", "now")
            if abs(now - then) > 1800:
                break
    result.jumped = now - then
    await publish(after)
    for id in RECEIVERS:
        await node.wait(type="ping", id=id, count=seen[id] + pings)
        result.pings_after[id] = len(node.log.find(type="ping", id=id)) - seen[id]
    (history,) = await node.call("pub", "history", ROOM)
    result.history = [n for n, _ in history]
    await node.resume("away")
    record = await node.wait(type="connect", id="away", count=2)
    result.recovered = bool(record["recovered"])
    if not result.recovered:  # a fresh session: in no room yet, as the app would see
        await node.call("away", "join", ROOM)
    await publish(1)
    last = result.sent - 1
    for id in [*RECEIVERS, "away"]:
        await node.wait(type="event", id=id, event="message", args=lambda a: a[0]["n"] == last)
    result.received = {
        id: [args[0]["n"] for args in node.events(id, "message")] for id in [*RECEIVERS, "away"]
    }
    result.missed = sorted(set(range(result.sent)) - set(result.received["away"]))
    result.disconnects = len(node.log.find(type="disconnect", id=lambda i: i in RECEIVERS))
    return result

"""Fault: ``kill -9`` of one worker of ``roomcast serve --workers 2`` under a steady
broadcast, recovery on, the workers sharing a SQLite store.

What "miss nothing" means when a process dies mid-write: a broadcast is appended to the
store (committed) before any client is sent it, and ``publish`` acks its offset only after
that; so every broadcast the publisher saw acknowledged is in the store. The killed
worker's clients reconnect (to the survivor, or to the worker started again) with their
``pid`` and last offset and are replayed what they missed from the store; the survivor's
clients never lost their connection. A broadcast whose worker dies before it committed was
never acknowledged: it may or may not arrive, and nobody was told it was sent.

Used by ``test_faults_worker_kill.py`` (short) and ``bench/faults.py worker-kill`` (long).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration.support import WAIT, NodeClient
from workers.workers_support import Served, closing

APP = f"{Path(__file__).resolve().parent / 'faults_app.py'}:build"
ROOM = "room"


@dataclass
class WorkerKill:
    """What the clients saw: every acknowledged ``n``, and what each receiver got."""

    acked: list[int]
    received: dict[str, list[int]]
    victims: list[str]
    """The receivers that were on the killed worker."""
    recovered: dict[str, bool]
    """Each victim's reconnection: ``socket.recovered``."""
    reconnected_after: dict[str, float]
    """Seconds from the kill to each victim's reconnection."""
    restarted_after: float
    """Seconds from the kill to "worker N is serving again"."""
    acked_while_down: int
    """Broadcasts acknowledged between the kill and the last victim's reconnection."""
    exit_code: int
    cut: dict[str, bool] = field(default_factory=dict)
    """Each receiver: whether it saw a disconnect."""

    def missing(self) -> dict[str, list[int]]:
        """Acknowledged broadcasts a receiver never got."""
        acked = set(self.acked)
        found = {i: sorted(acked - set(got)) for i, got in self.received.items()}
        return {i: lost for i, lost in found.items() if lost}

    def out_of_order(self) -> list[str]:
        """Receivers whose first arrivals are not in publish order."""
        return [i for i, got in self.received.items() if _firsts(got) != sorted(_firsts(got))]

    def duplicates(self) -> int:
        return sum(len(got) - len(set(got)) for got in self.received.values())


def _firsts(got: list[int]) -> list[int]:
    return list(dict.fromkeys(got))


async def _whoami(node: NodeClient, id: str) -> dict[str, Any]:
    (who,) = await node.call(id, "whoami")
    assert isinstance(who, dict), who
    return who


async def kill_a_worker(
    store: str,
    *,
    per_worker: int = 3,
    before: int = 20,
    after: int = 20,
    pace: float = 0.005,
    reconnect: dict[str, Any] | None = None,
) -> WorkerKill:
    """Serve ``faults_app`` with ``--workers 2 --store STORE``; connect official clients
    until each worker holds ``per_worker`` receivers, all in one room, and a publisher on
    one worker that publishes a numbered broadcast every ``pace`` seconds; after ``before``
    arrivals SIGKILL the other worker; go on until it serves again, its clients are back
    and ``after`` more broadcasts were acknowledged."""
    reconnect = reconnect or {
        "reconnection": True,
        "reconnectionDelay": 50,
        "reconnectionDelayMax": 200,
    }
    async with contextlib.AsyncExitStack() as stack:
        served = await Served.start(APP, workers=2, extra=("--store", store))
        stack.push_async_callback(closing, served)
        node = await NodeClient.start(served.url)
        stack.push_async_callback(closing, node)
        return await _scenario(served, node, per_worker, before, after, pace, reconnect)
    raise AssertionError("unreachable")  # pragma: no cover - for the type checker


async def _scenario(
    served: Served,
    node: NodeClient,
    per_worker: int,
    before: int,
    after: int,
    pace: float,
    reconnect: dict[str, Any],
) -> WorkerKill:
    loop = asyncio.get_running_loop()
    held: dict[str, str] = {}  # receiver -> worker tag
    pids: dict[str, int] = {}
    for n in _ids(limit=20 * per_worker):
        await node.connect(n, transports=["websocket"], **reconnect)
        who = await _whoami(node, n)
        held[n], pids[who["tag"]] = who["tag"], who["pid"]
        if len(pids) == 2 and all(list(held.values()).count(t) >= per_worker for t in pids):
            break
    else:
        raise AssertionError(f"the clients all landed on {set(held.values())}")
    await node.connect("pub", transports=["websocket"], **reconnect)
    survivor = (await _whoami(node, "pub"))["tag"]
    (victim,) = set(pids) - {survivor}
    for n in held:
        await node.call(n, "join", ROOM)
    victims = [n for n, tag in held.items() if tag == victim]

    acked: list[int] = []
    back = asyncio.Event()

    async def publish_steadily() -> None:
        since_back = 0
        for n in range(1_000_000):
            record = await node.emit_ack("pub", "publish", {"room": ROOM, "n": n}, timeout_ms=3000)
            if record["type"] == "ack" and record["args"] and record["args"][0] is not None:
                acked.append(n)
                if back.is_set():
                    since_back += 1
                    if since_back >= after:
                        return
            await asyncio.sleep(pace)  # the load's pace, not a wait for an outcome

    publisher = asyncio.create_task(publish_steadily())
    try:
        await node.wait(type="event", id=victims[0], event="message", count=before)
        os.kill(pids[victim], signal.SIGKILL)
        killed, acked_at_kill = loop.time(), len(acked)
        index = victim.rsplit("-", 1)[-1]

        async def restarted() -> float:
            await served.log.wait(
                within=3 * WAIT, text=lambda t: f"worker {index} is serving again" in t
            )
            return loop.time() - killed

        async def reconnected(id: str) -> tuple[float, bool]:
            record = await node.wait(within=3 * WAIT, type="connect", id=id, count=2)
            return loop.time() - killed, bool(record.get("recovered"))

        restart = asyncio.ensure_future(restarted())
        try:
            returns = await asyncio.gather(*map(reconnected, victims))
            restarted_after = await restart
        finally:
            restart.cancel()
        acked_while_down = len(acked) - acked_at_kill
        back.set()
        await asyncio.wait_for(publisher, 6 * WAIT)
    finally:
        publisher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publisher
    last = acked[-1]
    for n in held:  # the last acknowledged broadcast reached everyone (live or replayed)
        await node.wait(
            type="event",
            id=n,
            event="message",
            args=lambda args: bool(args) and args[0].get("n") == last,
        )
    exits = served.lines(rf"worker {index} \(pid {pids[victim]}\) exited with status")
    return WorkerKill(
        acked=acked,
        received={n: [a[0]["n"] for a in node.events(n, "message")] for n in held},
        victims=victims,
        recovered={n: r for n, (_, r) in zip(victims, returns, strict=True)},
        reconnected_after={n: t for n, (t, _) in zip(victims, returns, strict=True)},
        restarted_after=restarted_after,
        acked_while_down=acked_while_down,
        exit_code=int(exits[0].split("exited with status ")[1].split(";")[0]) if exits else 0,
        cut={n: bool(node.log.find(type="disconnect", id=n)) for n in held},
    )


def _ids(limit: int) -> Iterator[str]:
    return (f"r{n}" for n in range(limit))

"""A rolling restart (SIGHUP) under a steady broadcast, with recovery on and a store shared
by the workers: every client, official and unchanged, gets every acknowledged message, in
order, including those sent while its worker was being replaced."""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from integration.support import NodeClient

from .conftest import needs_node
from .workers_support import Served

pytestmark = needs_node

ServeApp = Callable[..., Awaitable[Served]]
NodeStart = Callable[[str], Awaitable[NodeClient]]
RECEIVERS = [f"r{i}" for i in range(6)]


async def test_sighup_under_a_steady_broadcast_loses_no_acknowledged_message(
    serve_app: ServeApp, node_client: NodeStart, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'recovery.db'}"
    served = await serve_app("recovery_workers_app:build", workers=2, extra=("--store", store))
    node = await node_client(served.url)
    reconnect = {"reconnection": True, "reconnectionDelay": 50, "reconnectionDelayMax": 200}
    await node.connect_all([*RECEIVERS, "pub"], transports=["websocket"], **reconnect)
    for i in RECEIVERS:
        assert "room" in (await node.call(i, "join", "room"))[0]

    acked: list[int] = []
    rolled = asyncio.Event()

    async def publish_steadily() -> None:
        after_roll = 0
        for n in itertools.count():
            record = await node.emit_ack(
                "pub", "publish", {"room": "room", "n": n}, timeout_ms=3000
            )
            if record["type"] == "ack" and record["args"] and record["args"][0] is not None:
                acked.append(n)
            if rolled.is_set():
                after_roll += 1
                if after_roll >= 20 and acked and acked[-1] == n:
                    return

    publisher = asyncio.create_task(publish_steadily())
    await node.log.wait(type="event", id=RECEIVERS[0], event="message", count=20)
    served.proc.send_signal(signal.SIGHUP)
    await served.log.wait(text=lambda t: "rolling restart done" in t)
    rolled.set()
    await asyncio.wait_for(publisher, 60)

    assert len(acked) >= 40
    for i in RECEIVERS:
        assert node.log.find(id=i, type="disconnect"), f"{i} was never cut: nothing proven"
    for i in RECEIVERS:
        # the last acknowledged message reached this client (recovered or live)
        await node.log.wait(
            type="event",
            id=i,
            event="message",
            args=lambda args: bool(args) and args[0].get("n") == acked[-1],
        )
        got = [args[0]["n"] for args in node.events(i, "message")]
        # once each, in order: a message broadcast while this client recovers on the other
        # worker is replayed from the store, and its live copy from the hub is dropped
        assert got == sorted(set(got)), f"{i} got them out of order or twice: {got}"
        missing = sorted(set(acked) - set(got))
        assert not missing, f"{i} lost acknowledged messages {missing}"
        reconnects = node.log.find(id=i, type="connect")
        assert all(r["recovered"] for r in reconnects[1:]), reconnects
    assert await served.stop() == 0

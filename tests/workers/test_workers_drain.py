"""Stopping without a stampede: SIGTERM drains the clients over ``--drain-seconds`` (the
official client sees "transport close" and would reconnect), ``/readyz`` says 503 meanwhile,
and SIGHUP restarts the workers one at a time while the official clients reconnect."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable

import aiohttp

from integration.support import WAIT, NodeClient

from .conftest import needs_node
from .test_workers_cli import whoami
from .workers_support import Served

pytestmark = needs_node

ServeApp = Callable[..., Awaitable[Served]]
NodeStart = Callable[[str], Awaitable[NodeClient]]


async def readyz_via(unix_path: str) -> tuple[int, dict[str, str]]:
    async with (
        aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=unix_path)) as http,
        http.get("http://worker/readyz") as response,
    ):
        return response.status, json.loads(await response.text())


def quiet(served: Served) -> list[str]:
    return [line for line in served.lines(r" (WARNING|ERROR|CRITICAL) ")]


async def test_sigterm_drains_clients_over_the_drain_seconds(
    serve_app: ServeApp, node_client: NodeStart
) -> None:
    served = await serve_app(workers=1, extra=("--drain-seconds", "2", "--graceful-timeout", "8"))
    assert (await readyz_via(served.worker_socket(0)))[0] == 200
    node = await node_client(served.url)
    ids = [f"c{i}" for i in range(10)]
    await node.connect_all(ids, transports=["websocket"])
    loop = asyncio.get_running_loop()
    served.proc.send_signal(signal.SIGTERM)
    seen: dict[str, float] = {}
    first = await node.log.wait(type="disconnect")
    seen[first["id"]] = loop.time()
    status, body = await readyz_via(served.worker_socket(0))  # still draining the others
    assert (status, body["status"]) == (503, "draining")
    for count in range(2, len(ids) + 1):
        record = await node.log.wait(type="disconnect", count=count)
        seen.setdefault(record["id"], loop.time())
    reasons = {r["reason"] for r in node.log.find(type="disconnect")}
    assert reasons == {"transport close"}  # the official client reconnects after this one
    assert set(seen) == set(ids)
    assert max(seen.values()) - min(seen.values()) >= 1.0  # spread, not all at once
    # drained, the supervisor exits by itself (another SIGTERM now could find it past
    # its handlers, on the way out)
    assert await asyncio.wait_for(served.proc.wait(), WAIT) == 0
    await served.stop()
    assert quiet(served) == []


async def test_sighup_restarts_the_workers_one_at_a_time(
    serve_app: ServeApp, node_client: NodeStart
) -> None:
    served = await serve_app(workers=2)
    before = [(await whoami(served.worker_socket(i)))["pid"] for i in range(2)]
    node = await node_client(served.url)
    ids = [f"c{i}" for i in range(8)]
    await node.connect_all(ids, reconnection=True, reconnectionDelay=50)
    served.proc.send_signal(signal.SIGHUP)
    await served.log.wait(text=lambda t: "rolling restart done" in t)
    order = served.lines(r"worker \d restarted")
    assert [line.split("worker ")[1][0] for line in order] == ["0", "1"]
    after = [(await whoami(served.worker_socket(i)))["pid"] for i in range(2)]
    assert set(before).isdisjoint(after)
    for i in ids:  # every client that was on a restarted worker came back
        # both workers were restarted: every client is dropped (the last worker's clients
        # may hear it after the supervisor has seen the successor ready)
        await node.log.wait(id=i, type="disconnect")
        drops = node.log.find(id=i, type="disconnect")
        # connected again after its last drop (a reconnection cut before its CONNECT answer
        # is a "disconnect" too, with no "connect" before it: counts would not match)
        last = drops[-1]["seq"]
        await node.log.wait(id=i, type="connect", seq=lambda seq, last=last: seq > last)
        assert await node.call(i, "echo", i) == [i]
    assert served.proc.returncode is None
    assert await served.stop() == 0
    assert quiet(served) == []

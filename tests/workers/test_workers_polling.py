"""Two workers on one port, no Redis: polling-only official clients, whose every request may
land on either worker (node's client opens a new connection per request, and the kernel
spreads connections over the workers' ``SO_REUSEPORT`` sockets)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from integration.support import NodeClient

from .conftest import needs_node
from .workers_support import Served, connect_on_each, one_per_worker, owners

pytestmark = needs_node

ServeApp = Callable[..., Awaitable[Served]]
NodeStarter = Callable[[str], Awaitable[NodeClient]]
POLLING = ["polling"]


async def test_sessions_work_whichever_worker_a_request_lands_on(
    serve_app: ServeApp, node_client: NodeStarter
) -> None:
    served = await serve_app(workers=2)
    node = await node_client(served.url)
    held = await connect_on_each(node, 2, transports=POLLING)
    a, b = one_per_worker(held)

    assert await node.call(a, "echo", 1, {"x": [2, "three"]}) == [1, {"x": [2, "three"]}]
    assert await node.call(b, "echo", "bin", b"\x00\xff") == ["bin", b"\x00\xff"]
    assert "r" in (await node.call(a, "join", "r"))[0]
    assert "r" in (await node.call(b, "join", "r"))[0]

    await node.emit(a, "shout", "r", "from a")  # a's worker -> b's worker
    await node.wait(type="event", id=b, event="news", args=["from a"])
    await node.emit(b, "shout", "r", {"from": "b"})  # and back
    await node.wait(type="event", id=a, event="news", args=[{"from": "b"}])

    (stats,) = await node.call(a, "stats")
    assert owners(stats) == set(held.values())
    assert all(s["forwarded"] > 0 for s in stats), stats  # each served the other's requests
    for id in held:
        assert await node.transport(id) == "polling"


async def test_upgrade_to_websocket_whichever_worker_it_lands_on(
    serve_app: ServeApp, node_client: NodeStarter
) -> None:
    served = await serve_app(workers=2)
    node = await node_client(served.url)
    held = await connect_on_each(node, 2, prefix="u")
    for id in held:
        await node.wait(type="upgrade", id=id, transport="websocket")
    a, b = one_per_worker(held)
    await node.call(a, "join", "r")
    await node.call(b, "join", "r")
    await node.emit(a, "shout", "r", "over websocket")
    await node.wait(type="event", id=b, event="news", args=["over websocket"])
    assert await node.call(b, "echo", 5) == [5]
    for id in held:
        assert await node.transport(id) == "websocket"


@pytest.mark.parametrize("app", ["workers_app:io", "workers_app:build"])
async def test_an_instance_or_a_factory(
    serve_app: ServeApp, node_client: NodeStarter, app: str
) -> None:
    served = await serve_app(app, workers=2)
    node = await node_client(served.url)
    held = await connect_on_each(node, 2, transports=POLLING)
    a, b = one_per_worker(held)
    await node.call(b, "join", "room")
    await node.emit(a, "shout", "room", app)
    await node.wait(type="event", id=b, event="news", args=[app])

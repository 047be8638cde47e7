"""Two nodes started separately (two ``roomcast serve`` on their own ports, sharing Redis)
behind a plain round-robin TCP proxy: each new connection goes to the other node, so a
polling client's requests alternate between the nodes, and sessions still work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from integration.support import NodeClient

from .conftest import needs_node
from .workers_support import (
    REDIS_URL,
    RoundRobinProxy,
    Served,
    connect_on_each,
    one_per_worker,
    owners,
    redis_answers,
    unique_key,
)

pytestmark = [
    *needs_node,
    pytest.mark.skipif(not redis_answers(), reason="no Redis answers on 127.0.0.1:6379"),
]

ServeApp = Callable[..., Awaitable[Served]]
NodeStarter = Callable[[str], Awaitable[NodeClient]]
Proxy = Callable[[list[int]], Awaitable[RoundRobinProxy]]


async def two_nodes(
    serve_app: ServeApp, proxy: Proxy, workers: int = 1
) -> tuple[list[Served], RoundRobinProxy]:
    key = unique_key()
    nodes = [await serve_app(workers=workers, redis=REDIS_URL, key=key) for _ in range(2)]
    return nodes, await proxy([n.port for n in nodes])


async def test_polling_clients_across_two_nodes(
    serve_app: ServeApp, node_client: NodeStarter, proxy: Proxy
) -> None:
    nodes, balancer = await two_nodes(serve_app, proxy)
    node = await node_client(balancer.url)
    held = await connect_on_each(node, 2, transports=["polling"], nudge=balancer.skip)
    assert {tag.partition("-")[0] for tag in held.values()} == {n.node for n in nodes}
    a, b = one_per_worker(held)

    assert await node.call(a, "echo", "a", [1]) == ["a", [1]]
    await node.call(a, "join", "r")
    await node.call(b, "join", "r")
    await node.emit(a, "shout", "r", "from a")
    await node.wait(type="event", id=b, event="news", args=["from a"])
    await node.emit(b, "shout", "r", "from b")
    await node.wait(type="event", id=a, event="news", args=["from b"])

    (stats,) = await node.call(b, "stats")
    assert owners(stats) == set(held.values())
    assert all(s["forwarded"] > 0 for s in stats), stats
    assert balancer.connections > 2 * len(held)  # a connection per request, both ways


async def test_upgrade_across_two_nodes_of_two_workers(
    serve_app: ServeApp, node_client: NodeStarter, proxy: Proxy
) -> None:
    _, balancer = await two_nodes(serve_app, proxy, workers=2)
    node = await node_client(balancer.url)
    held = await connect_on_each(node, 4, prefix="u", nudge=balancer.skip)
    for id in held:
        await node.wait(type="upgrade", id=id, transport="websocket")
    ids = one_per_worker(held)
    for id in ids:
        await node.call(id, "join", "all")
    await node.emit(ids[0], "shout", "all", "to three workers")
    for id in ids[1:]:
        await node.wait(type="event", id=id, event="news", args=["to three workers"])
    (stats,) = await node.call(ids[-1], "stats")
    assert len(owners(stats)) == 4
    assert sum(s["piped"] for s in stats) + sum(s["forwarded"] for s in stats) > 0

"""The admin UI's protocol under ``roomcast serve --workers 2``: a UI connected to one
worker lists the sockets of both, gets the statistics of each (one ``serverId`` per
worker), and its "disconnect" reaches the clients of both."""

from __future__ import annotations

import socket as stdlib_socket
from collections.abc import Awaitable, Callable

from integration.support import NodeClient

from .conftest import needs_node
from .workers_support import Served

pytestmark = needs_node

ServeApp = Callable[..., Awaitable[Served]]
NodeClientFactory = Callable[[str], Awaitable[NodeClient]]


async def test_one_ui_sees_and_acts_on_every_worker(
    serve_app: ServeApp, node_client: NodeClientFactory
) -> None:
    served = await serve_app("admin_app:build", workers=2)
    node = await node_client(served.url)
    holders: dict[str, list[str]] = {}
    sids: dict[str, str] = {}
    for i in range(40):  # the kernel spreads connections: until both workers hold some
        sids[f"c{i}"] = (await node.connect(f"c{i}", transports=["websocket"]))["sid"]
        (me,) = await node.call(f"c{i}", "whoami")
        holders.setdefault(str(me["tag"]), []).append(f"c{i}")
        if len(holders) == 2 and i >= 3:
            break
    assert len(holders) == 2, holders
    pids = {int(str(tag).rsplit("-", 1)[1]) for tag in holders}
    assert pids == {0, 1}

    await node.connect("ui", "/admin", transports=["websocket"])
    (listed,) = (await node.wait(id="ui", type="event", event="all_sockets"))["args"]
    on_main = {s["id"] for s in listed if s["nsp"] == "/"}
    assert on_main == set(sids.values())
    assert all(s["transport"] == "websocket" for s in listed if s["nsp"] == "/")

    host = stdlib_socket.gethostname()
    servers: set[str] = set()
    while len(servers) < 2:  # each worker sends its own statistics every two seconds
        stats = await node.wait(
            id="ui",
            type="event",
            event="server_stats",
            args=lambda a: a[0]["serverId"] not in servers,
        )
        servers.add(stats["args"][0]["serverId"])
    assert all(server.startswith(f"{host}#") for server in servers)

    await node.emit("ui", "_disconnect", "/", False)  # the UI's "disconnect all" of "/"
    for client in sids:
        gone = await node.wait(id=client, type="disconnect")
        assert gone["reason"] == "io server disconnect"

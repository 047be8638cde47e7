"""Heartbeats with the official client: pings keep it alive, a frozen client times out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

import roomcast

from .support import (
    TRANSPORT_IDS,
    TRANSPORTS,
    Listener,
    NodeClient,
    ServerHarness,
    seconds,
)

pytestmark = pytest.mark.node

Serve = Callable[[roomcast.Server], Awaitable[Listener]]
SpawnNode = Callable[[Listener], Awaitable[NodeClient]]


@pytest.mark.parametrize("transports", TRANSPORTS, ids=TRANSPORT_IDS)
async def test_pings_keep_an_idle_client_connected(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    io = roomcast.Server(ping_interval=seconds(0.2), ping_timeout=seconds(1.0))
    harness = ServerHarness()
    harness.install(io)
    node = await spawn_node(await serve(io))
    sids = await node.connect_all(["a"], transports=transports)
    # five heartbeats in a row, each one answered, or the session would have ended
    await node.wait(type="ping", id="a", count=5)
    assert node.log.find(type="disconnect") == []
    assert harness.log.find(type="disconnect") == []
    assert await node.call("a", "echo", "alive") == ["alive"]
    socket = await harness.socket(sids["a"])
    assert await socket.emit_with_ack("still-there", 1, timeout=seconds(5)) == 1


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_frozen_client_is_a_ping_timeout(
    serve: Serve, spawn_node: SpawnNode, transport: str
) -> None:
    io = roomcast.Server(ping_interval=seconds(0.2), ping_timeout=seconds(0.3))
    harness = ServerHarness()
    harness.install(io)
    listener = await serve(io)
    frozen = await spawn_node(listener)
    healthy = await spawn_node(listener)
    frozen_sid = (await frozen.connect("a", transports=[transport]))["sid"]
    healthy_sids = await healthy.connect_all(["b"], transports=[transport])
    await frozen.wait(type="ping", id="a")
    frozen.freeze()
    try:
        gone = await harness.wait(type="disconnect", sid=frozen_sid)
    finally:
        frozen.thaw()
    assert gone["reason"] == "ping timeout"
    # once it runs again, the client learns that its session is gone
    client_side = await frozen.wait(type="disconnect", id="a")
    assert client_side["reason"] in ("ping timeout", "transport close", "transport error")
    # the other client kept answering its pings
    assert await healthy.call("b", "echo", 1) == [1]
    assert {s.id for s in await io.fetch_sockets()} == set(healthy_sids.values())

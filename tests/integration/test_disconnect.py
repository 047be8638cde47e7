"""Disconnections on both sides, the ``disconnecting`` hook and the payload limit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import roomcast

from .support import (
    TRANSPORT_IDS,
    TRANSPORTS,
    WAIT,
    Listener,
    NodeClient,
    ServerHarness,
    delivered,
    join,
)

pytestmark = pytest.mark.node

Serve = Callable[[roomcast.Server], Awaitable[Listener]]
SpawnNode = Callable[[Listener], Awaitable[NodeClient]]


async def start(
    serve: Serve, spawn_node: SpawnNode, **options: Any
) -> tuple[roomcast.Server, ServerHarness, Listener, NodeClient]:
    io = roomcast.Server(**options)
    harness = ServerHarness()
    harness.install(io)
    listener = await serve(io)
    node = await spawn_node(listener)
    return io, harness, listener, node


@pytest.mark.parametrize("transports", TRANSPORTS, ids=TRANSPORT_IDS)
async def test_client_disconnect(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    io, harness, _, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a", "b"], transports=transports)
    await node.disconnect("a")
    client_side = await node.wait(type="disconnect", id="a")
    assert client_side["reason"] == "io client disconnect", client_side
    server_side = await harness.wait(type="disconnect", sid=sids["a"])
    assert server_side["reason"] == "client namespace disconnect", server_side
    assert server_side["nsp"] == "/"
    # the other client is not affected
    assert await node.call("b", "echo", 1) == [1]
    assert {s.id for s in await io.fetch_sockets()} == {sids["b"]}


@pytest.mark.parametrize("transports", TRANSPORTS, ids=TRANSPORT_IDS)
async def test_server_disconnect(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    io, harness, _, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a", "b"], transports=transports)
    socket = await harness.socket(sids["a"])
    await socket.disconnect()
    client_side = await node.wait(type="disconnect", id="a")
    assert client_side["reason"] == "io server disconnect", client_side
    server_side = await harness.wait(type="disconnect", sid=sids["a"])
    assert server_side["reason"] == "server namespace disconnect", server_side
    assert await node.call("b", "echo", 1) == [1]
    assert node.log.find(type="disconnect", id="b") == []
    assert {s.id for s in await io.fetch_sockets()} == {sids["b"]}


async def test_server_disconnect_from_a_handler(serve: Serve, spawn_node: SpawnNode) -> None:
    io, harness, _, node = await start(serve, spawn_node)

    @io.on("kick-me")
    async def kick_me(socket: roomcast.Socket) -> None:
        await socket.disconnect()

    sids = await node.connect_all(["a"], transports=["websocket"])
    await node.emit("a", "kick-me")
    client_side = await node.wait(type="disconnect", id="a")
    assert client_side["reason"] == "io server disconnect", client_side
    server_side = await harness.wait(type="disconnect", sid=sids["a"])
    assert server_side["reason"] == "server namespace disconnect", server_side


async def test_server_disconnect_close_ends_the_connection(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    _, harness, _, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a"], transports=["websocket"])
    socket = await harness.socket(sids["a"])
    await socket.disconnect(close=True)
    client_side = await node.wait(type="disconnect", id="a")
    assert client_side["reason"] in ("io server disconnect", "transport close"), client_side
    await harness.wait(type="disconnect", sid=sids["a"])


async def test_killed_client_is_a_transport_close(serve: Serve, spawn_node: SpawnNode) -> None:
    io, harness, listener, doomed = await start(serve, spawn_node)
    survivor = await spawn_node(listener)
    doomed_sid = (await doomed.connect("a", transports=["websocket"]))["sid"]
    survivor_sids = await survivor.connect_all(["b"], transports=["websocket"])
    await harness.socket(doomed_sid)

    await doomed.kill()
    gone = await harness.wait(type="disconnect", sid=doomed_sid)
    assert gone["reason"] == "transport close", gone
    assert await survivor.call("b", "echo", "ok") == ["ok"]
    assert {s.id for s in await io.fetch_sockets()} == set(survivor_sids.values())


async def test_disconnecting_still_sees_rooms(serve: Serve, spawn_node: SpawnNode) -> None:
    io, harness, _, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a", "b"], transports=["websocket"])
    await join(node, "a", "r1", "r2")
    await node.disconnect("a")
    disconnecting = await harness.wait(type="disconnecting", sid=sids["a"])
    assert disconnecting["rooms"] == sorted([sids["a"], "r1", "r2"])
    assert disconnecting["reason"] == "client namespace disconnect", disconnecting
    disconnect = await harness.wait(type="disconnect", sid=sids["a"])
    assert disconnect["seq"] > disconnecting["seq"]
    # afterwards the rooms are gone
    assert await io.in_("r1").fetch_sockets() == []

    socket_b = await harness.socket(sids["b"])
    await join(node, "b", "r3")
    await socket_b.disconnect()
    disconnecting = await harness.wait(type="disconnecting", sid=sids["b"])
    assert disconnecting["rooms"] == sorted([sids["b"], "r3"])
    assert disconnecting["reason"] == "server namespace disconnect", disconnecting


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("kind", ["text", "binary"])
async def test_oversize_message_closes_only_that_client(
    serve: Serve, spawn_node: SpawnNode, transport: str, kind: str
) -> None:
    io, harness, _, node = await start(serve, spawn_node, max_http_buffer_size=1000)
    sids = await node.connect_all(["big", "small"], transports=[transport])
    # under the limit is fine
    assert await node.call("big", "echo", "x" * 500) == ["x" * 500]
    await node.emit("big", "echo", "y" * 5000 if kind == "text" else b"y" * 5000)
    client_side = await node.wait(type="disconnect", id="big")
    assert client_side["reason"] in ("transport close", "transport error"), client_side
    server_side = await harness.wait(type="disconnect", sid=sids["big"])
    reasons = ("transport close", "transport error", "parse error")
    assert server_side["reason"] in reasons, server_side
    # the other client did not notice
    assert await node.call("small", "echo", "still fine") == ["still fine"]
    await io.emit("after", 1)
    got = await delivered(node, harness, "after", {"small": sids["small"]})
    assert got == {"small": [[1]]}
    assert node.log.find(type="disconnect", id="small") == []
    assert {s.id for s in await io.fetch_sockets()} == {sids["small"]}


async def wait_for_pending_poll(io: roomcast.Server, sid: str) -> None:
    """Until the client's next long-polling GET has reached the server."""
    socket = next(s for s in await io.fetch_sockets() if s.id == sid)
    async with asyncio.timeout(WAIT):
        while not socket.conn.poll_pending:  # noqa: ASYNC110 - state of another process
            await asyncio.sleep(0.005)


async def test_killed_polling_client_is_noticed_without_waiting_for_heartbeats(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    """The pending long-poll request of a killed client closes: like Node, the server
    ends the session then (Node says "transport error"), not 45 s later on ping timeout."""
    io, harness, _, doomed = await start(serve, spawn_node)
    sid = (await doomed.connect("a", transports=["polling"]))["sid"]
    assert await doomed.call("a", "echo", 1) == [1]
    await wait_for_pending_poll(io, sid)  # killing it now closes that GET
    await doomed.kill()
    gone = await harness.wait(type="disconnect", sid=sid)
    assert gone["reason"] in ("transport close", "transport error"), gone
    assert await io.fetch_sockets() == []


@pytest.mark.parametrize("transports", TRANSPORTS, ids=TRANSPORT_IDS)
async def test_server_shutdown_disconnects_clients(
    spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    io = roomcast.Server()
    harness = ServerHarness()
    harness.install(io)
    listener = await io.listen(host="127.0.0.1", port=0)
    closed = False
    try:
        node = await spawn_node(listener)
        sids = await node.connect_all(["a", "b"], transports=transports)
        if transports is None:  # shut down an upgraded connection, not one mid-upgrade
            for id in sids:
                await node.wait(type="upgrade", id=id)
        await asyncio.wait_for(listener.aclose(), WAIT)
        closed = True
        for id, sid in sids.items():
            client_side = await node.wait(type="disconnect", id=id)
            assert client_side["reason"] in ("transport close", "io server disconnect"), client_side
            await harness.wait(type="disconnect", sid=sid)
    finally:
        if not closed:
            await asyncio.wait_for(listener.aclose(), WAIT)

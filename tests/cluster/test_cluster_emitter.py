"""Emitters: processes that hold no connection emit to a cluster's clients through Redis.

Both ways: Node's ``@socket.io/redis-emitter`` reaching clients of a roomcast server, and
``roomcast.Emitter`` reaching clients held by a Node server (and by roomcast).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import roomcast
from integration.support import WAIT, NodeClient, join

from .harness import (
    REDIS_URL,
    ClusterNode,
    NodeServer,
    needs_node,
    needs_redis,
    received,
    run_emitter,
)

pytestmark = [needs_redis, *needs_node]

StartNode = Callable[..., Awaitable[ClusterNode]]
StartNodeServer = Callable[..., Awaitable[NodeServer]]
SpawnNode = Callable[[Any], Awaitable[NodeClient]]
WS = ["websocket"]


@pytest.fixture
async def emitter(key: str) -> AsyncIterator[roomcast.Emitter]:
    async with roomcast.Emitter(REDIS_URL, key=key) as emitter:
        yield emitter


async def test_node_emitter_reaches_roomcast_clients(
    rc_node: StartNode, spawn_node: SpawnNode, key: str
) -> None:
    py = await rc_node()
    py.harness.install(py.io.of("/chat"))
    on_py = await spawn_node(py.listener)
    await on_py.connect_all(["p1", "p2", "p3"], transports=WS)
    await on_py.connect("c1", "/chat", transports=WS)
    await join(on_py, "p1", "red")
    await join(on_py, "p2", "red", "muted")
    await run_emitter(
        REDIS_URL,
        key,
        [
            {"op": "emit", "event": "all", "args": [1, {"two": 2}]},
            {"op": "emit", "rooms": ["red"], "except": ["muted"], "event": "red", "args": []},
            {"op": "emit", "nsp": "/chat", "event": "chat", "args": ["c"]},
        ],
    )
    everyone = {on_py: ["p1", "p2", "p3"]}
    assert await received(py.io, everyone, "all") == {
        "p1": [[1, {"two": 2}]],
        "p2": [[1, {"two": 2}]],
        "p3": [[1, {"two": 2}]],
    }
    assert await received(py.io, everyone, "red") == {"p1": [[]], "p2": [], "p3": []}
    await on_py.wait(type="event", id="c1", event="chat", args=["c"])


async def test_node_emitter_joins_disconnects_and_reaches_server_side_handlers(
    rc_node: StartNode, spawn_node: SpawnNode, key: str
) -> None:
    py = await rc_node()
    notes: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    py.io.on_server_side("note", lambda *args: notes.put_nowait(args))
    on_py = await spawn_node(py.listener)
    sids = await on_py.connect_all(["p1", "p2"], transports=WS)
    await run_emitter(
        REDIS_URL,
        key,
        [
            {"op": "socketsJoin", "rooms": [sids["p1"]], "join": ["vip"]},
            {"op": "emit", "rooms": ["vip"], "event": "vip", "args": []},
            {"op": "serverSideEmit", "event": "note", "args": ["from node"]},
            {"op": "disconnectSockets", "rooms": ["vip"], "close": False},
        ],
    )
    await on_py.wait(type="event", id="p1", event="vip")
    assert await asyncio.wait_for(notes.get(), WAIT) == ("from node",)
    record = await on_py.wait(type="disconnect", id="p1")
    assert record["reason"] == "io server disconnect"
    assert [s.id for s in await py.io.fetch_sockets()] == [sids["p2"]]


async def test_roomcast_emitter_reaches_node_and_roomcast_clients(
    rc_node: StartNode,
    node_server: StartNodeServer,
    spawn_node: SpawnNode,
    emitter: roomcast.Emitter,
) -> None:
    py, js = await rc_node(), await node_server()
    on_py, on_js = await spawn_node(py.listener), await spawn_node(js)
    await on_py.connect_all(["p1"], transports=WS)
    await on_js.connect_all(["j1", "j2", "j3"], transports=WS)
    await join(on_js, "j1", "red")
    await join(on_js, "j2", "red", "muted")
    await join(on_py, "p1", "red")
    await emitter.emit("all", "x", b"\x01")
    await emitter.to("red").except_("muted").emit("red", {"n": 1})
    await emitter.to(["red", "muted"]).emit("rooms")
    everyone = {on_py: ["p1"], on_js: ["j1", "j2", "j3"]}
    # The emitter's messages went out before this fence: one client of each node waits.
    await on_js.wait(type="event", id="j3", event="all")
    await on_py.wait(type="event", id="p1", event="rooms")
    await on_js.wait(type="event", id="j2", event="rooms")
    got = await received(py.io, everyone, "all")
    assert got == {id: [["x", b"\x01"]] for id in ("p1", "j1", "j2", "j3")}
    got = await received(py.io, everyone, "red")
    assert got == {"p1": [[{"n": 1}]], "j1": [[{"n": 1}]], "j2": [], "j3": []}
    got = await received(py.io, everyone, "rooms")
    assert got == {"p1": [[]], "j1": [[]], "j2": [[]], "j3": []}


async def test_roomcast_emitter_joins_leaves_disconnects_on_node(
    node_server: StartNodeServer, spawn_node: SpawnNode, emitter: roomcast.Emitter
) -> None:
    js = await node_server()
    on_js = await spawn_node(js)
    sids = await on_js.connect_all(["j1", "j2"], transports=WS)
    await emitter.in_(sids["j1"]).sockets_join(["vip", "gold"])
    await emitter.in_(sids["j1"]).sockets_leave("gold")
    await emitter.to("vip").emit("vip")
    await emitter.to("gold").emit("gold")
    await on_js.wait(type="event", id="j1", event="vip")
    rooms = {s["id"]: s["rooms"] for s in (await js.request("fetchSockets"))["sockets"]}
    assert rooms[sids["j1"]] == sorted([sids["j1"], "vip"])
    await emitter.in_("vip").disconnect_sockets()
    await on_js.wait(type="disconnect", id="j1")
    await js.wait(type="disconnect", sid=sids["j1"])
    assert on_js.events("j1", "gold") == []


async def test_roomcast_emitter_namespaces_and_server_side_emit(
    node_server: StartNodeServer,
    rc_node: StartNode,
    spawn_node: SpawnNode,
    emitter: roomcast.Emitter,
) -> None:
    js, py = await node_server(), await rc_node()
    notes: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    py.io.on_server_side("note", lambda *args: notes.put_nowait(args))
    py.harness.install(py.io.of("/chat"))
    on_py = await spawn_node(py.listener)
    await on_py.connect("c1", "/chat", transports=WS)
    await on_py.connect("root", transports=WS)
    await emitter.of("/chat").emit("chat", 1)
    await on_py.wait(type="event", id="c1", event="chat", args=[1])
    assert await received(py.io, {on_py: ["root"]}, "chat") == {"root": []}
    await emitter.server_side_emit("note", {"k": "v"})
    await js.wait(type="server_side", event="note", args=[{"k": "v"}], ack=False)
    assert await asyncio.wait_for(notes.get(), WAIT) == ({"k": "v"},)


async def test_emitter_refuses_reserved_events(emitter: roomcast.Emitter) -> None:
    with pytest.raises(ValueError, match="reserved"):
        await emitter.emit("disconnect")

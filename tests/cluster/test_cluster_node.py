"""A mixed cluster: a real Node socket.io 4.8 server with ``@socket.io/redis-adapter`` v8 and a
roomcast server share one Redis, with official ``socket.io-client`` clients on each.

The Node side is ``node/server.mjs`` (see its header); every test has its own channel key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from integration.support import WAIT, NodeClient, join
from roomcast.adapters.remote import RemoteSocket

from .harness import ClusterNode, NodeServer, needs_node, needs_redis, received

pytestmark = [needs_redis, *needs_node]

StartNode = Callable[..., Awaitable[ClusterNode]]
StartNodeServer = Callable[..., Awaitable[NodeServer]]
SpawnNode = Callable[[Any], Awaitable[NodeClient]]
WS = ["websocket"]


async def mixed(
    rc_node: StartNode, node_server: StartNodeServer, spawn_node: SpawnNode
) -> tuple[ClusterNode, NodeServer, NodeClient, NodeClient]:
    """A roomcast node and a Node node; a client driver on each."""
    py, js = await rc_node(), await node_server()
    return py, js, await spawn_node(py.listener), await spawn_node(js)


async def test_each_side_counts_the_other(rc_node: StartNode, node_server: StartNodeServer) -> None:
    py, js = await rc_node(), await node_server()
    assert await py.io.sockets.adapter.server_count() == 2
    assert (await js.request("serverCount"))["count"] == 2


async def test_room_broadcast_from_roomcast_reaches_both_sides(
    rc_node: StartNode, node_server: StartNodeServer, spawn_node: SpawnNode
) -> None:
    py, _js, on_py, on_js = await mixed(rc_node, node_server, spawn_node)
    await on_py.connect_all(["p1", "p2"], transports=WS)
    await on_js.connect_all(["j1", "j2"], transports=WS)
    await join(on_py, "p1", "red")
    await join(on_js, "j1", "red")
    await py.io.to("red").emit("news", "hello", {"n": 1}, b"\x01\x02")
    everyone = {on_py: ["p1", "p2"], on_js: ["j1", "j2"]}
    got = await received(py.io, everyone, "news")
    news = [["hello", {"n": 1}, b"\x01\x02"]]
    assert got == {"p1": news, "p2": [], "j1": news, "j2": []}


async def test_room_broadcast_from_node_reaches_both_sides(
    rc_node: StartNode, node_server: StartNodeServer, spawn_node: SpawnNode
) -> None:
    _py, js, on_py, on_js = await mixed(rc_node, node_server, spawn_node)
    await on_py.connect_all(["p1", "p2"], transports=WS)
    await on_js.connect_all(["j1", "j2"], transports=WS)
    await join(on_py, "p1", "red")
    await join(on_py, "p2", "red", "muted")
    await join(on_js, "j1", "red")
    await js.request("emit", rooms=["red"], event="news", args=["hi", b"\x00\xff"])
    await js.request("emit", rooms=["red"], event="some", args=[1], **{"except": ["muted"]})
    everyone = {on_py: ["p1", "p2"], on_js: ["j1", "j2"]}
    got = await received(js, everyone, "news")
    hi = [["hi", b"\x00\xff"]]
    assert got == {"p1": hi, "p2": hi, "j1": hi, "j2": []}
    got = await received(js, everyone, "some")
    assert got == {"p1": [[1]], "p2": [], "j1": [[1]], "j2": []}


async def test_broadcast_to_all_and_socket_ids_cross_both_ways(
    rc_node: StartNode, node_server: StartNodeServer, spawn_node: SpawnNode
) -> None:
    py, js, on_py, on_js = await mixed(rc_node, node_server, spawn_node)
    sids_py = await on_py.connect_all(["p1"], transports=WS)
    sids_js = await on_js.connect_all(["j1"], transports=WS)
    await py.io.emit("all-from-py", 1)
    await js.request("emit", event="all-from-js", args=[2])
    await py.io.to(sids_js["j1"]).emit("to-j1")
    await js.request("emit", rooms=[sids_py["p1"]], event="to-p1", args=[])
    await on_js.wait(type="event", id="j1", event="all-from-py", args=[1])
    await on_py.wait(type="event", id="p1", event="all-from-js", args=[2])
    await on_js.wait(type="event", id="j1", event="to-j1")
    await on_py.wait(type="event", id="p1", event="to-p1")


async def test_fetch_sockets_on_roomcast_returns_node_sockets(
    rc_node: StartNode, node_server: StartNodeServer, spawn_node: SpawnNode
) -> None:
    py, _js, on_py, on_js = await mixed(rc_node, node_server, spawn_node)
    sids_py = await on_py.connect_all(["p1"], transports=WS)
    sids_js = await on_js.connect_all(["j1"], transports=WS, auth={"token": "t"})
    await join(on_js, "j1", "red")
    found = await py.io.fetch_sockets()
    assert not found.partial
    assert {s.id for s in found} == {sids_py["p1"], sids_js["j1"]}
    (remote,) = [s for s in found if isinstance(s, RemoteSocket)]
    assert remote.rooms == {sids_js["j1"], "red"}
    assert remote.handshake.auth == {"token": "t"}
    assert remote.handshake.headers.get("host", "").startswith("127.0.0.1")
    await remote.emit("direct", {"x": 1})
    await on_js.wait(type="event", id="j1", event="direct", args=[{"x": 1}])
    remote.join("green")
    await py.io.to("green").emit("in-green")
    await on_js.wait(type="event", id="j1", event="in-green")
    assert [s.id for s in await py.io.in_("red").fetch_sockets()] == [sids_js["j1"]]


async def test_fetch_sockets_on_node_returns_roomcast_sockets(
    rc_node: StartNode, node_server: StartNodeServer, spawn_node: SpawnNode
) -> None:
    py, js, on_py, on_js = await mixed(rc_node, node_server, spawn_node)
    sids_py = await on_py.connect_all(["p1"], transports=WS, query={"q": "v"})
    sids_js = await on_js.connect_all(["j1"], transports=WS)
    socket = await py.harness.socket(sids_py["p1"])
    socket.data["user"] = "ann"
    await join(on_py, "p1", "red")
    result = await js.request("fetchSockets")
    by_id = {s["id"]: s for s in result["sockets"]}
    assert set(by_id) == {sids_py["p1"], sids_js["j1"]}
    mine = by_id[sids_py["p1"]]
    assert mine["rooms"] == sorted([sids_py["p1"], "red"])
    assert mine["data"] == {"user": "ann"}
    assert mine["handshake"]["query"]["q"] == "v"
    assert isinstance(mine["handshake"]["issued"], int)
    result = await js.request("fetchSockets", rooms=["red"])
    assert [s["id"] for s in result["sockets"]] == [sids_py["p1"]]
    assert (await js.request("remoteEmit", sid=sids_py["p1"], event="poke", args=[1]))["found"]
    await on_py.wait(type="event", id="p1", event="poke", args=[1])


async def test_server_side_emit_with_acks_both_ways(
    rc_node: StartNode, node_server: StartNodeServer
) -> None:
    py, js = await rc_node(), await node_server()

    @py.io.on_server_side("who")
    def who(arg: Any) -> dict[str, Any]:
        return {"node": "roomcast", "arg": arg}

    answers = await py.io.server_side_emit_with_ack("who", 5)
    assert answers == [{"node": "node", "arg": 5}]
    assert not answers.partial
    await js.wait(type="server_side", event="who", args=[5], ack=True)

    result = await js.request("serverSideEmitWithAck", event="who", args=["x"])
    assert result["type"] == "result", result
    assert result["responses"] == [{"node": "roomcast", "arg": "x"}]


async def test_server_side_emit_without_ack_both_ways(
    rc_node: StartNode, node_server: StartNodeServer
) -> None:
    py, js = await rc_node(), await node_server()
    notes: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    py.io.on_server_side("note", lambda *args: notes.put_nowait(args))
    await py.io.server_side_emit("note", 1, "two")
    await js.wait(type="server_side", event="note", args=[1, "two"], ack=False)
    await js.request("serverSideEmit", event="note", args=[{"three": 3}])
    assert await asyncio.wait_for(notes.get(), WAIT) == ({"three": 3},)


async def test_disconnect_sockets_from_roomcast_disconnects_a_node_client(
    rc_node: StartNode, node_server: StartNodeServer, spawn_node: SpawnNode
) -> None:
    py, js, on_py, on_js = await mixed(rc_node, node_server, spawn_node)
    await on_py.connect_all(["p1"], transports=WS)
    sids = await on_js.connect_all(["j1", "j2"], transports=WS)
    await join(on_js, "j1", "kick")
    await py.io.in_("kick").disconnect_sockets()
    assert (await on_js.wait(type="disconnect", id="j1"))["reason"] == "io server disconnect"
    await js.wait(type="disconnect", sid=sids["j1"], reason="server namespace disconnect")
    result = await js.request("fetchSockets")
    assert sids["j2"] in {s["id"] for s in result["sockets"]}
    assert sids["j1"] not in {s["id"] for s in result["sockets"]}


async def test_disconnect_and_join_from_node_reach_roomcast_clients(
    rc_node: StartNode, node_server: StartNodeServer, spawn_node: SpawnNode
) -> None:
    py, js, on_py, on_js = await mixed(rc_node, node_server, spawn_node)
    sids = await on_py.connect_all(["p1", "p2"], transports=WS)
    await on_js.connect_all(["j1"], transports=WS)
    await js.request("socketsJoin", rooms=[sids["p1"]], join=["vip"])
    await js.request("emit", rooms=["vip"], event="vip", args=[])
    await on_py.wait(type="event", id="p1", event="vip")
    assert "vip" in (py.io.sockets.adapter.socket_rooms(sids["p1"]) or set())
    await js.request("disconnectSockets", rooms=["vip"], close=True)
    await on_py.wait(type="disconnect", id="p1")
    assert [s.id for s in await py.io.fetch_sockets() if not isinstance(s, RemoteSocket)] == [
        sids["p2"]
    ]


@pytest.mark.parametrize("requester", ["roomcast", "node"])
async def test_emit_with_ack_gathers_clients_of_both_sides(
    rc_node: StartNode, node_server: StartNodeServer, spawn_node: SpawnNode, requester: str
) -> None:
    py, js, on_py, on_js = await mixed(rc_node, node_server, spawn_node)
    await on_py.connect("p1", transports=WS, acks={"q": {"reply": ["p1"]}})
    await on_js.connect("j1", transports=WS, acks={"q": {"reply": ["j1"]}})
    if requester == "roomcast":
        answers = await py.io.timeout(5.0).emit_with_ack("q", 1)
    else:
        result = await js.request("emitWithAck", event="q", args=[1], timeout=5000)
        assert result["type"] == "result", result
        answers = result["responses"]
    assert sorted(answers) == ["j1", "p1"]


async def test_all_rooms_both_ways(
    rc_node: StartNode, node_server: StartNodeServer, spawn_node: SpawnNode
) -> None:
    py, js, on_py, on_js = await mixed(rc_node, node_server, spawn_node)
    await on_py.connect_all(["p1"], transports=WS)
    await on_js.connect_all(["j1"], transports=WS)
    await join(on_py, "p1", "red")
    await join(on_js, "j1", "blue")
    assert {"red", "blue"} <= set(await py.io.sockets.adapter.all_rooms())
    assert {"red", "blue"} <= set((await js.request("allRooms"))["rooms"])


async def test_a_frozen_node_makes_requests_partial_not_stuck(
    rc_node: StartNode, node_server: StartNodeServer, spawn_node: SpawnNode
) -> None:
    py = await rc_node(requests_timeout=0.5)
    other = await rc_node()
    js = await node_server()
    on_py = await spawn_node(py.listener)
    sids = await on_py.connect_all(["p1"], transports=WS)
    other.io.on_server_side("who", lambda arg: "other")
    js.freeze()  # its subscription stays: it still counts, but answers nothing
    try:
        found = await asyncio.wait_for(py.io.fetch_sockets(), WAIT)
        assert found.partial
        assert found.missing == 1
        assert [s.id for s in found] == [sids["p1"]]
        answers = await asyncio.wait_for(py.io.server_side_emit_with_ack("who", 1), WAIT)
        assert answers == ["other"]
        assert answers.partial
        assert answers.missing == 1
    finally:
        js.thaw()

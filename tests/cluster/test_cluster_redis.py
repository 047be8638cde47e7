"""Two roomcast nodes sharing a Redis: every cluster operation crosses from one to the other.

Clients are the official ``socket.io-client`` (the node driver from the interop tests); each
test uses its own channel key. What a client did NOT get is proven with ``received()``: a
fence broadcast through the same node arrives after everything that node sent before.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import roomcast
from integration.support import WAIT, NodeClient, join
from roomcast.adapters.remote import RemoteSocket

from .harness import ClusterNode, needs_node, needs_redis, received

pytestmark = [needs_redis, *needs_node]

StartNode = Callable[..., Awaitable[ClusterNode]]
SpawnNode = Callable[[Any], Awaitable[NodeClient]]
WS = ["websocket"]


async def two_nodes(
    rc_node: StartNode, spawn_node: SpawnNode
) -> tuple[ClusterNode, ClusterNode, NodeClient, NodeClient]:
    a, b = await rc_node(), await rc_node()
    return a, b, await spawn_node(a.listener), await spawn_node(b.listener)


async def test_node_count_is_the_subscribers_of_the_request_channel(
    rc_node: StartNode,
) -> None:
    a = await rc_node()
    assert await a.io.sockets.adapter.server_count() == 1
    b = await rc_node()
    assert await a.io.sockets.adapter.server_count() == 2
    assert await b.io.sockets.adapter.server_count() == 2


async def test_broadcast_to_all_reaches_both_nodes(
    rc_node: StartNode, spawn_node: SpawnNode
) -> None:
    a, _b, on_a, on_b = await two_nodes(rc_node, spawn_node)
    await on_a.connect_all(["a1", "a2"], transports=WS)
    await on_b.connect_all(["b1"], transports=WS)
    await a.io.emit("news", 1, {"x": b"\x00\x01"})
    got = await received(a.io, {on_a: ["a1", "a2"], on_b: ["b1"]}, "news")
    assert got == {id: [[1, {"x": b"\x00\x01"}]] for id in ("a1", "a2", "b1")}


async def test_room_and_except_select_across_nodes(
    rc_node: StartNode, spawn_node: SpawnNode
) -> None:
    _a, b, on_a, on_b = await two_nodes(rc_node, spawn_node)
    await on_a.connect_all(["a1", "a2"], transports=WS)
    await on_b.connect_all(["b1", "b2", "b3"], transports=WS)
    await join(on_a, "a1", "red")
    await join(on_b, "b1", "red", "muted")
    await join(on_b, "b2", "red", "blue")
    await join(on_b, "b3", "blue")
    await b.io.to("red").emit("one-room", "r")
    await b.io.to(["red", "blue"]).emit("two-rooms")
    await b.io.to("red").except_("muted").emit("except")
    everyone = {on_a: ["a1", "a2"], on_b: ["b1", "b2", "b3"]}
    got = await received(b.io, everyone, "one-room")
    assert got == {"a1": [["r"]], "a2": [], "b1": [["r"]], "b2": [["r"]], "b3": []}
    got = await received(b.io, everyone, "two-rooms")
    assert got == {"a1": [[]], "a2": [], "b1": [[]], "b2": [[]], "b3": [[]]}
    got = await received(b.io, everyone, "except")
    assert got == {"a1": [[]], "a2": [], "b1": [], "b2": [[]], "b3": []}


async def test_socket_broadcast_excludes_the_sender_everywhere(
    rc_node: StartNode, spawn_node: SpawnNode
) -> None:
    a, _b, on_a, on_b = await two_nodes(rc_node, spawn_node)
    sids = await on_a.connect_all(["a1", "a2"], transports=WS)
    await on_b.connect_all(["b1"], transports=WS)
    sender = await a.harness.socket(sids["a1"])
    await sender.broadcast.emit("hello")
    got = await received(a.io, {on_a: ["a1", "a2"], on_b: ["b1"]}, "hello")
    assert got == {"a1": [], "a2": [[]], "b1": [[]]}


async def test_local_broadcast_stays_on_its_node(rc_node: StartNode, spawn_node: SpawnNode) -> None:
    a, _b, on_a, on_b = await two_nodes(rc_node, spawn_node)
    await on_a.connect_all(["a1"], transports=WS)
    await on_b.connect_all(["b1"], transports=WS)
    await a.io.local.emit("mine")
    got = await received(a.io, {on_a: ["a1"], on_b: ["b1"]}, "mine")
    assert got == {"a1": [[]], "b1": []}


async def test_fetch_sockets_returns_remote_sockets_that_act_through_their_node(
    rc_node: StartNode, spawn_node: SpawnNode
) -> None:
    a, b, on_a, on_b = await two_nodes(rc_node, spawn_node)
    sids_a = await on_a.connect_all(["a1"], transports=WS)
    sids_b = await on_b.connect_all(["b1"], transports=WS, auth={"user": "bob"}, query={"q": "1"})
    (await b.harness.socket(sids_b["b1"])).data["name"] = "bob"
    await join(on_b, "b1", "red")
    found = await a.io.fetch_sockets()
    assert not found.partial
    by_id = {s.id: s for s in found}
    assert set(by_id) == {sids_a["a1"], sids_b["b1"]}
    remote = by_id[sids_b["b1"]]
    assert isinstance(remote, RemoteSocket)
    assert remote.rooms == {sids_b["b1"], "red"}
    assert remote.data == {"name": "bob"}
    assert remote.handshake.auth == {"user": "bob"}
    assert remote.handshake.query["q"] == "1"
    assert remote.handshake.address
    assert [s.id for s in await a.io.in_("red").fetch_sockets()] == [sids_b["b1"]]

    await remote.emit("direct", 42)
    await on_b.wait(type="event", id="b1", event="direct", args=[42])
    remote.join("green")
    await a.io.to("green").emit("in-green")  # published after the join request
    await on_b.wait(type="event", id="b1", event="in-green")
    remote.leave("green")
    await a.io.to("green").emit("in-green")
    assert await received(a.io, {on_b: ["b1"]}, "in-green") == {"b1": [[]]}
    await remote.disconnect()
    record = await on_b.wait(type="disconnect", id="b1")
    assert record["reason"] == "io server disconnect"


async def test_sockets_join_and_leave_across_nodes(
    rc_node: StartNode, spawn_node: SpawnNode
) -> None:
    a, _b, on_a, on_b = await two_nodes(rc_node, spawn_node)
    await on_a.connect_all(["a1"], transports=WS)
    await on_b.connect_all(["b1", "b2"], transports=WS)
    await join(on_b, "b1", "red")
    await a.io.in_("red").sockets_join(["vip", "gold"])
    await a.io.to("vip").emit("vip")
    await a.io.in_("red").sockets_leave("gold")
    await a.io.to("gold").emit("gold")
    got = await received(a.io, {on_a: ["a1"], on_b: ["b1", "b2"]}, "vip")
    assert got == {"a1": [], "b1": [[]], "b2": []}
    got = await received(a.io, {on_a: ["a1"], on_b: ["b1", "b2"]}, "gold")
    assert got == {"a1": [], "b1": [], "b2": []}


async def test_disconnect_sockets_across_nodes(rc_node: StartNode, spawn_node: SpawnNode) -> None:
    a, b, on_a, on_b = await two_nodes(rc_node, spawn_node)
    await on_a.connect_all(["a1"], transports=WS)
    sids = await on_b.connect_all(["b1", "b2"], transports=WS)
    await join(on_b, "b2", "leaving")
    await join(on_a, "a1", "leaving")
    await a.io.in_("leaving").disconnect_sockets()
    assert (await on_b.wait(type="disconnect", id="b2"))["reason"] == "io server disconnect"
    assert (await on_a.wait(type="disconnect", id="a1"))["reason"] == "io server disconnect"
    await b.harness.wait(type="disconnect", sid=sids["b2"])
    assert [s.id for s in await a.io.fetch_sockets()] == [sids["b1"]]


async def test_server_side_emit_reaches_the_other_node_and_returns_its_answer(
    rc_node: StartNode,
) -> None:
    a, b = await rc_node(), await rc_node()
    notes: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    @b.io.on_server_side("who")
    async def who(arg: int) -> dict[str, Any]:
        return {"node": "b", "arg": arg}

    b.io.on_server_side("note", lambda *args: notes.put_nowait(args))
    answers = await a.io.server_side_emit_with_ack("who", 7)
    assert answers == [{"node": "b", "arg": 7}]
    assert not answers.partial
    await a.io.server_side_emit("note", "x", 1)
    assert await asyncio.wait_for(notes.get(), WAIT) == ("x", 1)
    assert await b.io.server_side_emit_with_ack("who", 1) == []  # a has no handler: no answer
    assert (await b.io.server_side_emit_with_ack("who", 1, timeout=0.2)).missing == 1


async def test_emit_with_ack_gathers_the_clients_of_every_node(
    rc_node: StartNode, spawn_node: SpawnNode
) -> None:
    a, _b, on_a, on_b = await two_nodes(rc_node, spawn_node)
    await on_a.connect("a1", transports=WS, acks={"q": {"reply": ["from a1"]}})
    await on_b.connect("b1", transports=WS, acks={"q": {"reply": ["from b1"]}})
    await on_b.connect("b2", transports=WS, acks={"q": {"reply": [{"b": 2}]}})
    answers = await a.io.timeout(5.0).emit_with_ack("q", 1)
    assert sorted(map(str, answers)) == sorted(["from a1", "from b1", str({"b": 2})])


async def test_emit_with_ack_times_out_with_what_arrived(
    rc_node: StartNode, spawn_node: SpawnNode
) -> None:
    a, _b, on_a, on_b = await two_nodes(rc_node, spawn_node)
    await on_a.connect("a1", transports=WS, acks={"q": {"reply": ["a1"]}})
    await on_b.connect("b1", transports=WS, acks={"q": "never"})
    with pytest.raises(roomcast.AckTimeout) as caught:
        await a.io.timeout(0.5).emit_with_ack("q")
    assert caught.value.responses == ["a1"]


async def test_all_rooms_spans_the_cluster(rc_node: StartNode, spawn_node: SpawnNode) -> None:
    a, _b, on_a, on_b = await two_nodes(rc_node, spawn_node)
    sids_a = await on_a.connect_all(["a1"], transports=WS)
    sids_b = await on_b.connect_all(["b1"], transports=WS)
    await join(on_a, "a1", "red")
    await join(on_b, "b1", "blue")
    rooms = await a.io.sockets.adapter.all_rooms()
    assert set(rooms) == {"red", "blue", sids_a["a1"], sids_b["b1"]}
    assert not rooms.partial


async def test_namespaces_are_separate(rc_node: StartNode, spawn_node: SpawnNode) -> None:
    a, b, _on_a, on_b = await two_nodes(rc_node, spawn_node)
    a.io.of("/chat")
    b.harness.install(b.io.of("/chat"))
    await on_b.connect("root", transports=WS)
    await on_b.connect("chat", "/chat", transports=WS)
    await a.io.of("/chat").emit("hi")
    await on_b.wait(type="event", id="chat", event="hi")
    assert await received(a.io.of("/chat"), {on_b: ["chat"]}, "hi") == {"chat": [[]]}
    assert await received(a.io, {on_b: ["root"]}, "hi") == {"root": []}


async def test_answers_on_the_requesters_own_channel(
    rc_node: StartNode, spawn_node: SpawnNode
) -> None:
    a = await rc_node(specific_response_channel=True)
    b = await rc_node(specific_response_channel=True)
    on_b = await spawn_node(b.listener)
    await on_b.connect("b1", transports=WS, acks={"q": {"reply": ["b1"]}})
    b.io.on_server_side("who", lambda: "b")
    assert [s.id for s in await a.io.fetch_sockets()] == list(b.harness.sockets)
    assert await a.io.server_side_emit_with_ack("who") == ["b"]
    assert await a.io.timeout(5.0).emit_with_ack("q") == ["b1"]


async def test_dynamic_namespaces_broadcast_across_nodes(
    rc_node: StartNode, spawn_node: SpawnNode
) -> None:
    a, b, on_a, on_b = await two_nodes(rc_node, spawn_node)
    for node in (a, b):
        node.harness.install(node.io.of(re.compile(r"^/team-\d+$")))
    await on_b.connect("t1", "/team-1", transports=WS)
    await on_a.connect("t1a", "/team-1", transports=WS)  # a has /team-1 now, as b does
    await a.io.of("/team-1").emit("hi", 1)
    await on_b.wait(type="event", id="t1", event="hi", args=[1])
    await on_a.wait(type="event", id="t1a", event="hi", args=[1])

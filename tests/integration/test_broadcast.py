"""Every broadcast form, with several official clients: who received and who did NOT.

"Did not receive" is proven with ``delivered()``: after the broadcast, each client gets
a unique marker through its own server socket; what arrived before the marker is all a
client will ever get from the broadcast.
"""

from __future__ import annotations

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
    seconds,
)

pytestmark = pytest.mark.node

Serve = Callable[[roomcast.Server], Awaitable[Listener]]
SpawnNode = Callable[[Listener], Awaitable[NodeClient]]
WS = ["websocket"]


async def start(
    serve: Serve, spawn_node: SpawnNode
) -> tuple[roomcast.Server, ServerHarness, NodeClient]:
    io = roomcast.Server()
    harness = ServerHarness()
    harness.install(io)
    node = await spawn_node(await serve(io))
    return io, harness, node


@pytest.mark.parametrize("transports", TRANSPORTS, ids=TRANSPORT_IDS)
async def test_io_emit_reaches_every_client_once(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    io, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a", "b", "c"], transports=transports)
    await io.emit("news", 1, {"a": 2})
    got = await delivered(node, harness, "news", sids)
    assert got == {id: [[1, {"a": 2}]] for id in sids}


async def test_io_emit_binary_to_mixed_transports(serve: Serve, spawn_node: SpawnNode) -> None:
    io, harness, node = await start(serve, spawn_node)
    sids = {
        **await node.connect_all(["ws"], transports=["websocket"]),
        **await node.connect_all(["poll"], transports=["polling"]),
        **await node.connect_all(["up"]),
    }
    payload = {"bin": b"\x00\x01\xff", "list": [b"x", 2]}
    await io.emit("blob", payload)
    got = await delivered(node, harness, "blob", sids)
    assert got == {id: [[payload]] for id in sids}


async def test_to_room(serve: Serve, spawn_node: SpawnNode) -> None:
    io, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a", "b", "c"], transports=WS)
    await join(node, "a", "r1")
    await join(node, "b", "r1")
    await io.to("r1").emit("news", "r1 only")
    await io.in_("nobody").emit("news", "empty room")
    got = await delivered(node, harness, "news", sids)
    assert got == {"a": [["r1 only"]], "b": [["r1 only"]], "c": []}
    # after leaving, b is no longer reached
    assert await node.call("b", "leave", "r1") == [[sids["b"]]]
    await io.to("r1").emit("later", "r1 again")
    got = await delivered(node, harness, "later", sids)
    assert got == {"a": [["r1 again"]], "b": [], "c": []}


async def test_to_socket_id_room(serve: Serve, spawn_node: SpawnNode) -> None:
    io, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a", "b", "c"], transports=WS)
    await io.to(sids["b"]).emit("private", "for b")
    got = await delivered(node, harness, "private", sids)
    assert got == {"a": [], "b": [["for b"]], "c": []}


async def test_to_several_rooms_delivers_once(serve: Serve, spawn_node: SpawnNode) -> None:
    io, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a", "b", "c", "d"], transports=WS)
    assert await join(node, "a", "r1") == sorted([sids["a"], "r1"])
    assert await join(node, "b", "r1", "r2") == sorted([sids["b"], "r1", "r2"])
    await join(node, "c", "r2")
    await io.to(["r1", "r2"]).emit("news", "list")
    await io.to("r1").to("r2").emit("news", "chained")
    got = await delivered(node, harness, "news", sids)
    both = [["list"], ["chained"]]
    assert got == {"a": both, "b": both, "c": both, "d": []}


async def test_except(serve: Serve, spawn_node: SpawnNode) -> None:
    io, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a", "b", "c", "d"], transports=WS)
    await join(node, "a", "r1")
    await join(node, "b", "r1", "r2")
    await join(node, "c", "r1", "r3")
    await io.in_("r1").except_("r2").emit("one", 1)
    await io.in_("r1").except_(["r2", "r3"]).emit("two", 2)
    await io.to("r1").except_(sids["a"]).emit("three", 3)
    one = await delivered(node, harness, "one", sids)
    assert one == {"a": [[1]], "b": [], "c": [[1]], "d": []}
    assert {id: node.events(id, "two") for id in sids} == {
        "a": [[2]],
        "b": [],
        "c": [],
        "d": [],
    }
    assert {id: node.events(id, "three") for id in sids} == {
        "a": [],
        "b": [[3]],
        "c": [[3]],
        "d": [],
    }


async def test_socket_to_room_excludes_sender(serve: Serve, spawn_node: SpawnNode) -> None:
    io, harness, node = await start(serve, spawn_node)

    @io.on("relay")
    async def relay(socket: roomcast.Socket, room: str, text: str) -> str:
        await socket.to(room).emit("relayed", text, socket.id)
        return "sent"

    sids = await node.connect_all(["a", "b", "c", "d"], transports=WS)
    for id in ("a", "b", "c"):
        await join(node, id, "r1")
    # the ack comes back after the handler's broadcast was written
    assert await node.call("a", "relay", "r1", "hi") == ["sent"]
    got = await delivered(node, harness, "relayed", sids)
    expected = [["hi", sids["a"]]]
    assert got == {"a": [], "b": expected, "c": expected, "d": []}


async def test_socket_broadcast_emit_reaches_everyone_but_sender(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    io, harness, node = await start(serve, spawn_node)

    @io.on("shout")
    async def shout(socket: roomcast.Socket, text: str) -> str:
        await socket.broadcast.emit("shouted", text)
        return "sent"

    sids = await node.connect_all(["a", "b", "c", "d"], transports=WS)
    await join(node, "b", "r1")  # rooms do not matter for broadcast
    assert await node.call("a", "shout", "hey") == ["sent"]
    got = await delivered(node, harness, "shouted", sids)
    assert got == {"a": [], "b": [["hey"]], "c": [["hey"]], "d": [["hey"]]}


async def test_namespaces_are_isolated(serve: Serve, spawn_node: SpawnNode) -> None:
    io = roomcast.Server()
    root, custom = ServerHarness("root"), ServerHarness("/custom")
    root.install(io)
    custom_nsp = io.of("/custom")
    custom.install(custom_nsp)
    node = await spawn_node(await serve(io))
    root_sids = await node.connect_all(["a", "b"], "/", transports=WS)
    custom_sids = await node.connect_all(["x", "y"], "/custom", transports=WS)
    for id in ("a", "x"):
        await join(node, id, "room")

    await io.emit("root-news", 1)
    await custom_nsp.emit("custom-news", 2)
    await io.to("room").emit("room-news", 3)
    await custom_nsp.to("room").emit("room-news", 4)

    root_got = await delivered(node, root, "root-news", root_sids)
    custom_got = await delivered(node, custom, "custom-news", custom_sids)
    assert root_got == {"a": [[1]], "b": [[1]]}
    assert custom_got == {"x": [[2]], "y": [[2]]}
    everyone = [*root_sids, *custom_sids]
    assert {id: node.events(id, "root-news") for id in custom_sids} == {
        "x": [],
        "y": [],
    }
    assert {id: node.events(id, "custom-news") for id in root_sids} == {
        "a": [],
        "b": [],
    }
    assert {id: node.events(id, "room-news") for id in everyone} == {
        "a": [[3]],
        "b": [],
        "x": [[4]],
        "y": [],
    }
    assert {s.id for s in await io.fetch_sockets()} == set(root_sids.values())
    assert {s.id for s in await custom_nsp.fetch_sockets()} == set(custom_sids.values())
    assert {s.id for s in await io.in_("room").fetch_sockets()} == {root_sids["a"]}


async def test_fetch_sockets(serve: Serve, spawn_node: SpawnNode) -> None:
    io, _, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a", "b", "c"], transports=WS)
    await join(node, "a", "r1")
    await join(node, "b", "r1", "r2")

    assert {s.id for s in await io.fetch_sockets()} == set(sids.values())
    r1 = await io.in_("r1").fetch_sockets()
    assert sorted(s.id for s in r1) == sorted([sids["a"], sids["b"]])
    assert len(r1) == 2
    assert [s.id for s in await io.in_("r2").fetch_sockets()] == [sids["b"]]
    assert [s.id for s in await io.in_(sids["c"]).fetch_sockets()] == [sids["c"]]
    assert await io.in_("nobody").fetch_sockets() == []
    assert [s.id for s in await io.in_("r1").except_("r2").fetch_sockets()] == [sids["a"]]


async def test_sockets_join_and_leave(serve: Serve, spawn_node: SpawnNode) -> None:
    io, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a", "b", "c"], transports=WS)
    await join(node, "a", "r1")
    await join(node, "b", "r1")

    await io.in_("r1").sockets_join("r2")
    await io.to("r2").emit("first", 1)
    first = await delivered(node, harness, "first", sids)
    assert first == {"a": [[1]], "b": [[1]], "c": []}
    assert "r2" in (await harness.socket(sids["a"])).rooms

    await io.in_(sids["a"]).sockets_leave("r2")
    await io.in_(sids["c"]).sockets_join(["r2", "r3"])
    await io.to("r2").emit("second", 2)
    await io.to("r3").emit("third", 3)
    second = await delivered(node, harness, "second", sids)
    assert second == {"a": [], "b": [[2]], "c": [[2]]}
    assert {id: node.events(id, "third") for id in sids} == {
        "a": [],
        "b": [],
        "c": [[3]],
    }
    assert "r2" not in (await harness.socket(sids["a"])).rooms


async def test_disconnect_sockets(serve: Serve, spawn_node: SpawnNode) -> None:
    io, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a", "b", "c"], transports=WS)
    await join(node, "a", "r1")
    await join(node, "b", "r1")

    await io.in_("r1").disconnect_sockets()
    for id in ("a", "b"):
        record = await node.wait(type="disconnect", id=id)
        assert record["reason"] == "io server disconnect"
        gone = await harness.wait(type="disconnect", sid=sids[id])
        assert gone["reason"] == "server namespace disconnect"
    # c is untouched
    assert await node.call("c", "echo", "alive") == ["alive"]
    await io.emit("after", 1)
    got = await delivered(node, harness, "after", {"c": sids["c"]})
    assert got == {"c": [[1]]}
    assert node.log.find(type="disconnect", id="c") == []
    assert {s.id for s in await io.fetch_sockets()} == {sids["c"]}


async def test_disconnect_sockets_close(serve: Serve, spawn_node: SpawnNode) -> None:
    io, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a", "b"], transports=WS)
    await join(node, "a", "r1")
    await io.in_("r1").disconnect_sockets(close=True)
    record = await node.wait(type="disconnect", id="a")
    assert record["reason"] in ("io server disconnect", "transport close")
    await harness.wait(type="disconnect", sid=sids["a"])
    assert await node.call("b", "echo", "alive") == ["alive"]
    assert node.log.find(type="disconnect", id="b") == []


async def test_broadcast_with_aggregated_acks(serve: Serve, spawn_node: SpawnNode) -> None:
    io, _, node = await start(serve, spawn_node)
    ids = ["a", "b", "c"]
    sids: dict[str, str] = {}
    for id in ids:
        acks = {"vote": {"reply": [f"vote-{id}"]}}
        sids.update(await node.connect_all([id], transports=WS, acks=acks))
    await join(node, "a", "r1")
    await join(node, "b", "r1")

    replies = await io.timeout(WAIT).emit_with_ack("vote", "q")
    assert sorted(replies) == ["vote-a", "vote-b", "vote-c"]
    replies = await io.to("r1").timeout(WAIT).emit_with_ack("vote", "q")
    assert sorted(replies) == ["vote-a", "vote-b"]
    # every client was asked, with the arguments
    for id in ids:
        asked = await node.wait(type="event", id=id, event="vote")
        assert asked["args"] == ["q"]
        assert asked["ack"] is True
    # nobody in the room: an empty list, at once
    assert await io.to("nobody").timeout(WAIT).emit_with_ack("vote", "q") == []


async def test_broadcast_with_acks_times_out_and_keeps_responses(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    io, _, node = await start(serve, spawn_node)
    await node.connect_all(["a"], transports=WS, acks={"vote": {"reply": ["yes-a"]}})
    await node.connect_all(["b"], transports=WS, acks={"vote": {"reply": ["yes-b"]}})
    await node.connect_all(["c"], transports=WS, acks={"vote": "never"})

    with pytest.raises(roomcast.AckTimeout) as caught:
        await io.timeout(seconds(0.5)).emit_with_ack("vote", 1)
    responses: list[Any] = list(caught.value.responses)
    assert sorted(responses) == ["yes-a", "yes-b"]
    await node.wait(type="event", id="c", event="vote")


async def test_local_and_compress_flags_still_deliver(serve: Serve, spawn_node: SpawnNode) -> None:
    io, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a", "b"], transports=WS)
    await join(node, "a", "r1")
    await io.local.emit("local", 1)
    await io.compress(False).emit("uncompressed", 2)
    await io.local.to("r1").emit("local-room", 3)
    local = await delivered(node, harness, "local", sids)
    assert local == {"a": [[1]], "b": [[1]]}
    assert {id: node.events(id, "uncompressed") for id in sids} == {
        "a": [[2]],
        "b": [[2]],
    }
    assert {id: node.events(id, "local-room") for id in sids} == {
        "a": [[3]],
        "b": [],
    }

"""The adapter contract: one test class, run over every adapter (trio's check_one_way_stream).

Whatever the adapter, a single server must behave the same: rooms, every broadcast form,
fetch_sockets, sockets_join/leave, disconnect_sockets, broadcast acks, server-side emits with
nobody else to answer. The Redis case runs only when a Redis answers on 127.0.0.1:6379, each
test with its own channel key; clients are the official ``socket.io-client``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

import roomcast
from cluster.harness import REDIS_URL, needs_node, needs_redis, unique_key
from integration.support import NodeClient, ServerHarness, delivered, join

pytestmark = needs_node

WS = ["websocket"]


@dataclass
class Subject:
    """A served roomcast server on the adapter under test, with one client driver."""

    io: roomcast.Server
    harness: ServerHarness
    node: NodeClient

    async def clients(self, *ids: str) -> dict[str, str]:
        return await self.node.connect_all(list(ids), transports=WS)

    async def got(self, event: str, sids: dict[str, str]) -> dict[str, list[list[Any]]]:
        return await delivered(self.node, self.harness, event, sids)


def memory() -> tuple[Any, Any]:
    return roomcast.MemoryAdapter, None


def redis() -> tuple[Any, Any]:
    factory = roomcast.RedisAdapter.factory(REDIS_URL, key=unique_key(), requests_timeout=2.0)
    return factory, factory


@pytest.fixture(
    params=[
        pytest.param(memory, id="MemoryAdapter"),
        pytest.param(redis, id="RedisAdapter", marks=needs_redis),
    ]
)
async def subject(
    request: pytest.FixtureRequest,
    serve: Callable[[Any], Awaitable[Any]],
    spawn_node: Callable[[Any], Awaitable[NodeClient]],
) -> AsyncIterator[Subject]:
    adapter, closer = request.param()
    io = roomcast.Server(adapter=adapter)
    harness = ServerHarness()
    harness.install(io)
    node = await spawn_node(await serve(io))
    yield Subject(io, harness, node)
    if closer is not None:
        await closer.aclose()


class TestAdapterContract:
    """What every adapter does on one server."""

    async def test_every_socket_is_in_the_room_of_its_id(self, subject: Subject) -> None:
        sids = await subject.clients("a", "b")
        await subject.io.to(sids["a"]).emit("private")
        assert await subject.got("private", sids) == {"a": [[]], "b": []}
        socket = await subject.harness.socket(sids["a"])
        assert socket.rooms == {sids["a"]}

    async def test_broadcast_to_all(self, subject: Subject) -> None:
        sids = await subject.clients("a", "b", "c")
        await subject.io.emit("news", 1, {"b": b"\x00"})
        assert await subject.got("news", sids) == {i: [[1, {"b": b"\x00"}]] for i in sids}

    async def test_rooms_reach_their_members_each_once(self, subject: Subject) -> None:
        sids = await subject.clients("a", "b", "c")
        await join(subject.node, "a", "red", "blue")
        await join(subject.node, "b", "blue")
        await subject.io.to("red").emit("red")
        await subject.io.to(["red", "blue"]).emit("both")
        assert await subject.got("red", sids) == {"a": [[]], "b": [], "c": []}
        assert await subject.got("both", sids) == {"a": [[]], "b": [[]], "c": []}

    async def test_except_removes_room_members(self, subject: Subject) -> None:
        sids = await subject.clients("a", "b", "c")
        await join(subject.node, "a", "red")
        await join(subject.node, "b", "red", "muted")
        await subject.io.except_("muted").emit("all-but")
        await subject.io.to("red").except_("muted").emit("red-but")
        assert await subject.got("all-but", sids) == {"a": [[]], "b": [], "c": [[]]}
        assert await subject.got("red-but", sids) == {"a": [[]], "b": [], "c": []}

    async def test_socket_broadcast_excludes_the_sender(self, subject: Subject) -> None:
        sids = await subject.clients("a", "b")
        sender = await subject.harness.socket(sids["a"])
        await sender.broadcast.emit("hi")
        await sender.to(sids["a"]).emit("self")
        assert await subject.got("hi", sids) == {"a": [], "b": [[]]}
        assert await subject.got("self", sids) == {"a": [], "b": []}

    async def test_local_and_volatile_still_reach_this_server(self, subject: Subject) -> None:
        sids = await subject.clients("a")
        await subject.io.local.emit("local")
        await subject.io.compress(False).emit("plain")
        assert await subject.got("local", sids) == {"a": [[]]}
        assert await subject.got("plain", sids) == {"a": [[]]}

    async def test_fetch_sockets_selects_like_a_broadcast(self, subject: Subject) -> None:
        sids = await subject.clients("a", "b", "c")
        await join(subject.node, "a", "red")
        await join(subject.node, "b", "red", "muted")
        everyone = await subject.io.fetch_sockets()
        assert {s.id for s in everyone} == set(sids.values())
        assert not everyone.partial
        assert all(isinstance(s, roomcast.Socket) for s in everyone)
        red = await subject.io.in_("red").except_("muted").fetch_sockets()
        assert [s.id for s in red] == [sids["a"]]
        assert red[0].rooms == {sids["a"], "red"}

    async def test_sockets_join_and_leave(self, subject: Subject) -> None:
        sids = await subject.clients("a", "b")
        await join(subject.node, "a", "red")
        await subject.io.in_("red").sockets_join(["vip", "gold"])
        await subject.io.in_("vip").sockets_leave("gold")
        await subject.io.to("vip").emit("vip")
        await subject.io.to("gold").emit("gold")
        assert await subject.got("vip", sids) == {"a": [[]], "b": []}
        assert await subject.got("gold", sids) == {"a": [], "b": []}
        assert (await subject.harness.socket(sids["a"])).rooms == {sids["a"], "red", "vip"}

    async def test_disconnect_sockets(self, subject: Subject) -> None:
        sids = await subject.clients("a", "b")
        await join(subject.node, "a", "bye")
        await subject.io.in_("bye").disconnect_sockets()
        record = await subject.node.wait(type="disconnect", id="a")
        assert record["reason"] == "io server disconnect"
        await subject.harness.wait(type="disconnect", sid=sids["a"])
        assert [s.id for s in await subject.io.fetch_sockets()] == [sids["b"]]
        assert "bye" not in subject.io.sockets.adapter.rooms  # empty rooms are freed

    async def test_emit_with_ack_gathers_every_answer(self, subject: Subject) -> None:
        await subject.node.connect("a", transports=WS, acks={"q": {"reply": ["A"]}})
        await subject.node.connect("b", transports=WS, acks={"q": {"reply": ["B"]}})
        assert sorted(await subject.io.timeout(5.0).emit_with_ack("q")) == ["A", "B"]

    async def test_emit_with_ack_times_out_with_what_arrived(self, subject: Subject) -> None:
        await subject.node.connect("a", transports=WS, acks={"q": {"reply": ["A"]}})
        await subject.node.connect("b", transports=WS, acks={"q": "never"})
        with pytest.raises(roomcast.AckTimeout) as caught:
            await subject.io.timeout(0.3).emit_with_ack("q")
        assert caught.value.responses == ["A"]

    async def test_alone_in_the_cluster(self, subject: Subject) -> None:
        sids = await subject.clients("a")
        await join(subject.node, "a", "red")
        adapter = subject.io.sockets.adapter
        assert await adapter.server_count() == 1
        answers = await subject.io.server_side_emit_with_ack("anyone")
        assert answers == []
        assert not answers.partial
        assert await subject.io.server_side_emit("anyone") == []
        rooms = await adapter.all_rooms()
        assert set(rooms) == {sids["a"], "red"}
        assert not rooms.partial

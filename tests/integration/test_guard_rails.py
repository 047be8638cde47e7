"""Refused events as the official socket.io-client and roomcast.Client see them, and a
flood from one client that leaves everyone else's deliveries whole."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import BaseModel, Field

import roomcast

from .support import WAIT, Listener, NodeClient, ServerHarness, base_url, delivered, seconds

pytestmark = pytest.mark.node

Serve = Callable[[roomcast.Server], Awaitable[Listener]]
SpawnNode = Callable[[Listener], Awaitable[NodeClient]]


class Say(BaseModel):
    room: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=500)


def guarded_server(**options: Any) -> tuple[roomcast.Server, ServerHarness]:
    io = roomcast.Server(**options)
    harness = ServerHarness()
    harness.install(io)

    @io.on("say", rate="1/h", burst=5)
    async def say(socket: roomcast.Socket, msg: Say) -> dict[str, bool]:
        await io.to(msg.room).emit("said", msg.text)
        return {"ok": True}

    @io.on("boom")
    def boom(socket: roomcast.Socket) -> None:
        raise RuntimeError("handler bug (expected by this test)")

    @io.on("post", max_bytes=100, max_depth=3)
    def post(socket: roomcast.Socket, *args: Any) -> int:
        return len(args)

    @io.on("admin")
    def admin(socket: roomcast.Socket) -> None:
        raise roomcast.EventRejected("unauthorized", "admins only")

    return io, harness


def error(record: dict[str, Any]) -> dict[str, Any]:
    """The error object of an ``emitWithAck`` that resolved with an error ack."""
    assert record["type"] == "ack", record
    (value,) = record["args"]
    assert isinstance(value, dict), value
    assert list(value) == ["_rc_error"], value
    found: dict[str, Any] = value["_rc_error"]
    return found


async def test_each_rejection_as_the_official_client_sees_it(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    io, _ = guarded_server()
    node = await spawn_node(await serve(io))
    await node.connect_all(["a"], transports=["websocket"])
    ok = await node.emit_with_ack("a", "say", {"room": "r", "text": "hi"})
    assert ok["args"] == [{"ok": True}]

    assert error(await node.emit_with_ack("a", "boom")) == {
        "code": "handler_error",
        "message": "the handler failed",
        "details": None,
    }
    invalid = error(await node.emit_with_ack("a", "say", {"room": "", "text": "x"}))
    assert invalid["code"] == "validation_failed"
    assert [d["loc"] for d in invalid["details"]] == [[0, "room"]]
    assert error(await node.emit_with_ack("a", "post", "x" * 200))["code"] == "too_large"
    assert error(await node.emit_with_ack("a", "post", [[[[[1]]]]]))["code"] == "too_large"
    assert error(await node.emit_with_ack("a", "admin"))["code"] == "unauthorized"
    for _ in range(3):  # the rest of the burst of 5 (the invalid one spent a token too)
        assert (await node.emit_with_ack("a", "say", {"room": "r", "text": "hi"}))["args"] == [
            {"ok": True}
        ]
    limited = error(await node.emit_with_ack("a", "say", {"room": "r", "text": "hi"}))
    assert limited["code"] == "rate_limited"
    assert limited["details"]["retry_after"] > 0
    # nobody handles it: no ack at all, the client's own timeout fires (as with Node)
    unhandled = await node.emit_with_ack("a", "nobody", timeout_ms=int(seconds(0.3) * 1000))
    assert unhandled["type"] == "ack_error"
    assert "timed out" in unhandled["message"]
    assert io.guard.counts == {
        "handler_error": 1,
        "validation_failed": 1,
        "too_large": 2,
        "unauthorized": 1,
        "rate_limited": 1,
        "no_handler": 1,
    }


async def test_a_flood_leaves_the_others_deliveries_whole(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    """One client sends 300 events without acks; twenty others each say three things.
    Each of the twenty gets all sixty of theirs and exactly the flooder's burst of five;
    the flooder is disconnected, told why, after twenty violations."""
    io, harness = guarded_server()
    node = await spawn_node(await serve(io))
    others = [f"c{i}" for i in range(20)]
    sids = await node.connect_all([*others, "flood"], transports=["websocket"])
    for id in [*others, "flood"]:
        await node.call(id, "join", "lobby")
    await node.send_many(
        {"cmd": "emit", "id": "flood", "event": "say", "args": [{"room": "lobby", "text": "x"}]}
        for _ in range(300)
    )
    said = await asyncio.gather(
        *(
            node.emit_with_ack(id, "say", {"room": "lobby", "text": f"{id} {n}"})
            for id in others
            for n in range(3)
        )
    )
    assert all(record["args"] == [{"ok": True}] for record in said)
    notice = await node.wait(type="event", id="flood", event="rc:rejected")
    assert notice["args"][0]["_rc_error"]["code"] == "too_many_violations"
    assert (await node.wait(type="disconnect", id="flood"))["reason"] == "io server disconnect"

    got = await delivered(node, harness, "said", {id: sids[id] for id in others})
    expected = sorted(f"{id} {n}" for id in others for n in range(3))
    for id in others:
        texts = [args[0] for args in got[id]]
        assert sorted(t for t in texts if t != "x") == expected, id
        assert texts.count("x") == 5, id
    assert io.guard.counts["too_many_violations"] == 1


async def test_the_python_client_raises_event_rejected(serve: Serve) -> None:
    io, _ = guarded_server(notify_rejections=True)
    listener = await serve(io)
    client = roomcast.Client(transports=("websocket",))
    notices: asyncio.Queue[Any] = asyncio.Queue()
    client.on("rc:rejected", notices.put_nowait)
    await client.connect(base_url(listener))
    try:
        assert await client.emit_with_ack("say", {"room": "r", "text": "hi"}, timeout=WAIT) == {
            "ok": True
        }
        with pytest.raises(roomcast.EventRejected) as refused:
            await client.emit_with_ack("say", {"room": "r"}, timeout=WAIT)
        assert refused.value.code == "validation_failed"
        assert refused.value.details[0]["loc"] == [0, "text"]
        with pytest.raises(roomcast.EventRejected) as refused:
            await client.emit_with_ack("boom", timeout=WAIT)
        assert (refused.value.code, refused.value.message) == (
            "handler_error",
            "the handler failed",
        )
        for _ in range(3):  # the burst is 5: the invalid one spent a token too
            await client.emit_with_ack("say", {"room": "r", "text": "hi"}, timeout=WAIT)
        with pytest.raises(roomcast.EventRejected) as refused:
            await client.emit_with_ack("say", {"room": "r", "text": "hi"}, timeout=WAIT)
        assert refused.value.code == "rate_limited"
        assert refused.value.retry_after is not None
        assert refused.value.retry_after > 0
        # no ack asked: the server tells with rc:rejected (notify_rejections)
        await client.emit("admin")
        notice = await asyncio.wait_for(notices.get(), WAIT)
        assert notice["_rc_error"]["code"] == "unauthorized"
        assert notice["_rc_error"]["event"] == "admin"
    finally:
        await client.disconnect()

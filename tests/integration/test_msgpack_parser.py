"""The msgpack parser with the official socket.io-client and the npm
``socket.io-msgpack-parser``, over WebSocket and long-polling (binary messages as ``b`` +
base64 in the payload), and with roomcast's own client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import roomcast

from .support import (
    ROOT,
    WAIT,
    Listener,
    NodeClient,
    ServerHarness,
    base_url,
    delivered,
    join,
)

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(
        not (ROOT / "node_modules" / "socket.io-msgpack-parser").is_dir(),
        reason="needs node_modules/socket.io-msgpack-parser",
    ),
]

Serve = Callable[[roomcast.Server], Awaitable[Listener]]
SpawnNode = Callable[[Listener], Awaitable[NodeClient]]

MSGPACK = {"parser": "msgpack"}
ARGS: list[Any] = [
    1,
    -2.5,
    "ünïcødé ✓ 漢字 🚀",
    {"nested": {"list": [True, False, None]}, "big": 2**40},
    [],
]
BINARY: dict[str, Any] = {"blob": bytes(range(256)), "nested": [b"", {"deep": b"\x00\xff"}]}
TRANSPORTS = pytest.mark.parametrize(
    "transports", [["websocket"], ["polling"], None], ids=["websocket", "polling", "upgrade"]
)


async def start(
    serve: Serve, spawn_node: SpawnNode, **options: Any
) -> tuple[roomcast.Server, ServerHarness, NodeClient]:
    io = roomcast.Server(parser="msgpack", **options)
    harness = ServerHarness()
    harness.install(io)
    harness.install(io.of("/admin"))
    node = await spawn_node(await serve(io))
    return io, harness, node


@TRANSPORTS
async def test_events_and_acks_both_ways(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    io, harness, node = await start(serve, spawn_node)

    @io.on("hello")
    async def hello(socket: roomcast.Socket, *args: Any) -> None:
        harness.log.add({"type": "hello", "sid": socket.id, "args": list(args)})

    sids = await node.connect_all(["a"], transports=transports, **MSGPACK)
    await node.emit("a", "hello", *ARGS)
    assert (await harness.wait(type="hello", sid=sids["a"]))["args"] == ARGS
    assert await node.call("a", "echo", *ARGS) == ARGS
    assert await node.call("a", "echo") == []

    socket = await harness.socket(sids["a"])
    await socket.emit("greet", *ARGS)
    assert (await node.wait(type="event", id="a", event="greet"))["args"] == ARGS
    assert await socket.emit_with_ack("echo", "back", 7) == ("back", 7)


@TRANSPORTS
async def test_binary_both_ways(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    io, harness, node = await start(serve, spawn_node)

    @io.on("size")
    def size(socket: roomcast.Socket, payload: dict[str, Any]) -> tuple[int, bytes]:
        return len(payload["blob"]), payload["blob"][:3]

    sids = await node.connect_all(["a"], transports=transports, **MSGPACK)
    assert await node.call("a", "size", BINARY) == [256, b"\x00\x01\x02"]
    assert await node.call("a", "echo", BINARY, b"x") == [BINARY, b"x"]
    socket = await harness.socket(sids["a"])
    await socket.emit("file", BINARY)
    assert (await node.wait(type="event", id="a", event="file"))["args"] == [BINARY]


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]], ids=["websocket", "polling"])
async def test_rooms_and_broadcasts(
    serve: Serve, spawn_node: SpawnNode, transports: list[str]
) -> None:
    io, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a", "b", "c"], transports=transports, **MSGPACK)
    await join(node, "a", "r")
    await join(node, "b", "r")
    await io.to("r").emit("news", "for r", b"\x01")
    await io.emit("all", {"n": 1})
    got = await delivered(node, harness, "news", sids)
    assert got == {"a": [["for r", b"\x01"]], "b": [["for r", b"\x01"]], "c": []}
    everyone = await delivered(node, harness, "all", sids)
    assert everyone == {k: [[{"n": 1}]] for k in sids}


async def test_namespaces(serve: Serve, spawn_node: SpawnNode) -> None:
    _, harness, node = await start(serve, spawn_node)
    record = await node.connect("adm", "/admin", transports=["websocket"], **MSGPACK)
    await harness.wait(type="connect", sid=record["sid"], nsp="/admin")
    assert await node.call("adm", "echo", b"admin") == [b"admin"]
    refused = await node.connect(
        "x", "/nope", transports=["websocket"], expect="connect_error", **MSGPACK
    )
    assert refused["message"] == "Invalid namespace"


async def test_error_acks_of_the_guard_rails(serve: Serve, spawn_node: SpawnNode) -> None:
    io, _, node = await start(serve, spawn_node)

    @io.on("post", max_bytes=100)
    def post(socket: roomcast.Socket, *args: Any) -> int:
        return len(args)

    await node.connect_all(["a"], transports=["websocket"], **MSGPACK)
    assert await node.call("a", "post", "short") == [1]
    (answer,) = await node.call("a", "post", b"x" * 500)
    assert answer["_rc_error"]["code"] == "too_large"


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]], ids=["websocket", "polling"])
async def test_recovery_offsets(serve: Serve, spawn_node: SpawnNode, transports: list[str]) -> None:
    io, harness, node = await start(serve, spawn_node, recovery=True)
    reconnect = {"reconnection": True, "reconnectionDelay": 100, "randomizationFactor": 0}
    first = await node.connect("a", transports=transports, **MSGPACK, **reconnect)
    await join(node, "a", "r")
    live = await io.to("r").emit("news", 0)
    await node.wait(type="event", id="a", event="news")
    await node.cut("a", pause=True)
    await harness.wait(type="disconnect", sid=first["sid"])
    missed = await io.to("r").emit("news", 1, b"\x02")
    await node.resume("a")
    again = await node.wait(type="connect", id="a", count=2)
    assert (again["sid"], again["recovered"]) == (first["sid"], True)
    assert node.events("a", before=again["seq"]) == [
        ["news", 0, live],
        ["news", 1, b"\x02", missed],
    ]


async def test_a_json_client_is_closed_cleanly(serve: Serve, spawn_node: SpawnNode) -> None:
    """A client with the default parser sends text: a parse error closes its connection
    (as Node's server does), and the server goes on."""
    _, _, node = await start(serve, spawn_node)
    await node.send("connect", id="json", nsp="/", opts={"transports": ["websocket"]}, acks={})
    closed = await node.wait(type="disconnect", id="json")
    assert closed["reason"] == "transport close"
    assert node.log.find(type="connect", id="json") == []
    await node.connect("ok", transports=["websocket"], **MSGPACK)


# -- roomcast's client ------------------------------------------------------------------------


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]], ids=["websocket", "polling"])
async def test_roomcast_client(serve: Serve, transports: list[str]) -> None:
    io = roomcast.Server(parser="msgpack")
    io.of("/admin")
    seen: asyncio.Queue[Any] = asyncio.Queue()

    @io.on("echo")
    def echo(socket: roomcast.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @io.on("room")
    async def room(socket: roomcast.Socket, name: str) -> None:
        socket.join(name)
        await io.to(name).emit("in", name, b"\x03")

    listener = await serve(io)
    client = roomcast.Client(parser="msgpack", transports=transports, reconnection=False)
    client.on("in", lambda *args: seen.put_nowait(args))
    await client.connect(base_url(listener), namespaces=["/", "/admin"])
    try:
        assert await client.emit_with_ack("echo", 1, b"\x00", {"k": [None]}) == (
            1,
            b"\x00",
            {"k": [None]},
        )
        await client.emit("room", "r")
        assert await asyncio.wait_for(seen.get(), WAIT) == ("r", b"\x03")
    finally:
        await client.disconnect()

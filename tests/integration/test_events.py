"""Events, acks and binary both ways with the official client, over every transport."""

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
    seconds,
)

pytestmark = pytest.mark.node

Serve = Callable[[roomcast.Server], Awaitable[Listener]]
SpawnNode = Callable[[Listener], Awaitable[NodeClient]]

UNICODE = "ünïcødé ✓ 漢字 🚀"
JSON_ARGS: list[Any] = [
    1,
    "two",
    {"three": [3.5, None, True, False], "nested": {"deep": {"list": []}}},
    [],
    UNICODE,
]
BLOB = bytes(range(256))
BINARY_PAYLOAD: dict[str, Any] = {
    "blob": BLOB,
    "nested": {"list": [b"abc", 1, {"deep": b"\x00\xff"}], "text": "t"},
    "empty": b"",
}


@pytest.fixture(params=TRANSPORTS, ids=TRANSPORT_IDS)
def transports(request: pytest.FixtureRequest) -> list[str] | None:
    value: list[str] | None = request.param
    return value


async def start(
    serve: Serve, spawn_node: SpawnNode, **options: Any
) -> tuple[roomcast.Server, ServerHarness, NodeClient]:
    io = roomcast.Server(**options)
    harness = ServerHarness()
    harness.install(io)
    listener = await serve(io)
    node = await spawn_node(listener)
    return io, harness, node


async def test_connect_over_each_transport(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    _, harness, node = await start(serve, spawn_node)
    record = await node.connect("a", transports=transports)
    await harness.wait(type="connect", sid=record["sid"], nsp="/")
    if transports is not None:
        assert record["transport"] == transports[0]
        # a round trip later the client still uses the same (only) transport
        assert await node.call("a", "echo", "x") == ["x"]
        assert await node.transport("a") == transports[0]
        assert node.log.find(type="upgrade") == []
    open_record = await node.wait(type="open", id="a")
    assert open_record["transport"] == (transports or ["polling"])[0]


async def test_polling_then_upgrade_to_websocket(serve: Serve, spawn_node: SpawnNode) -> None:
    _, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a"])
    assert (await node.wait(type="open", id="a"))["transport"] == "polling"
    upgrade = await node.wait(type="upgrade", id="a")
    assert upgrade["transport"] == "websocket"
    assert await node.transport("a") == "websocket"
    # the session survives the upgrade, both ways
    assert await node.call("a", "echo", "after upgrade") == ["after upgrade"]
    socket = await harness.socket(sids["a"])
    await socket.emit("after-upgrade", 1)
    record = await node.wait(type="event", id="a", event="after-upgrade")
    assert record["args"] == [1]
    assert await node.transport("a") == "websocket"


async def test_client_to_server_event(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    io, harness, node = await start(serve, spawn_node)

    @io.on("hello")
    async def hello(socket: roomcast.Socket, *args: Any) -> None:
        harness.log.add({"type": "hello", "sid": socket.id, "args": list(args)})

    sids = await node.connect_all(["a"], transports=transports)
    await node.emit("a", "hello", *JSON_ARGS)
    await node.emit("a", "hello")
    first = await harness.wait(type="hello", sid=sids["a"])
    assert first["args"] == JSON_ARGS
    second = await harness.wait(type="hello", sid=sids["a"], count=2)
    assert second["args"] == []


async def test_server_to_client_event(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    _, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a"], transports=transports)
    socket = await harness.socket(sids["a"])
    await socket.emit("greet", *JSON_ARGS)
    await socket.emit("nothing")
    greet = await node.wait(type="event", id="a", event="greet")
    assert greet["args"] == JSON_ARGS
    assert greet["ack"] is False
    nothing = await node.wait(type="event", id="a", event="nothing")
    assert nothing["args"] == []
    assert nothing["seq"] > greet["seq"], "events must arrive in the order sent"


async def test_client_ack_gets_handler_return_value(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    io, _, node = await start(serve, spawn_node)

    @io.on("sum")
    async def add(socket: roomcast.Socket, a: int, b: int) -> int:
        return a + b

    @io.on("pair")
    async def pair(socket: roomcast.Socket) -> tuple[str, int]:
        return ("x", 2)

    @io.on("none")
    async def none(socket: roomcast.Socket) -> None:
        return None

    await node.connect_all(["a"], transports=transports)
    # the promise API of the official client
    record = await node.emit_with_ack("a", "sum", 2, 3)
    assert (record["type"], record["args"]) == ("ack", [5])
    record = await node.emit_with_ack("a", "sum", 2, 3, timeout_ms=int(WAIT * 1000))
    assert (record["type"], record["args"]) == ("ack", [5])
    # a tuple is several ack arguments, None is none
    assert await node.call("a", "pair") == ["x", 2]
    assert await node.call("a", "none") == []
    assert await node.call("a", "echo", *JSON_ARGS) == JSON_ARGS


async def test_client_ack_timeout_when_server_never_answers(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    io, _, node = await start(serve, spawn_node)
    answered = asyncio.Event()

    @io.on("slow")
    async def slow(socket: roomcast.Socket) -> str:
        await answered.wait()
        return "late"

    await node.connect_all(["a"], transports=["websocket"])
    record = await node.emit_with_ack("a", "slow", timeout_ms=200)
    assert record["type"] == "ack_error"
    assert record["message"] == "operation has timed out"
    answered.set()
    # a late ack for an expired id is ignored and the connection stays usable
    assert await node.call("a", "echo", 1) == [1]


async def test_server_emit_with_ack(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    _, harness, node = await start(serve, spawn_node)
    acks = {"one": {"reply": [{"ok": True}]}, "zero": {"reply": []}, "two": "echo"}
    sids = await node.connect_all(["a"], transports=transports, acks=acks)
    socket = await harness.socket(sids["a"])
    assert await socket.emit_with_ack("one", 1, timeout=WAIT) == {"ok": True}
    assert await socket.emit_with_ack("zero", timeout=WAIT) is None
    assert await socket.emit_with_ack("two", 1, "b", timeout=WAIT) == (1, "b")
    record = await node.wait(type="event", id="a", event="two")
    assert record["ack"] is True
    assert record["args"] == [1, "b"]


async def test_server_emit_with_ack_times_out(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    _, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a"], transports=transports, acks={"silent": "never"})
    socket = await harness.socket(sids["a"])
    with pytest.raises(roomcast.AckTimeout):
        await socket.emit_with_ack("silent", 1, timeout=seconds(0.3))
    # the client did get the event and was asked for an ack: only the answer is missing
    record = await node.wait(type="event", id="a", event="silent")
    assert record["ack"] is True
    assert record["args"] == [1]
    assert issubclass(roomcast.AckTimeout, TimeoutError)
    # the socket is still fine
    assert await socket.emit_with_ack("echoed", 2, timeout=WAIT) == 2


async def test_server_emit_with_ack_callback(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    _, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a"], transports=transports)
    socket = await harness.socket(sids["a"])
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[tuple[Any, ...]] = loop.create_future()

    def callback(err: BaseException | None, *args: Any) -> None:
        answer.set_result((err, *args))

    await socket.emit("question", 7, "x", callback=callback)
    assert await asyncio.wait_for(answer, WAIT) == (None, 7, "x")


async def test_server_emit_with_ack_callback_gets_timeout_error(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    _, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a"], transports=["websocket"], acks={"silent": "never"})
    socket = await harness.socket(sids["a"])
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[tuple[Any, ...]] = loop.create_future()

    def callback(err: BaseException | None, *args: Any) -> None:
        answer.set_result((err, *args))

    await socket.emit("silent", callback=callback, timeout=seconds(0.3))
    err, *args = await asyncio.wait_for(answer, WAIT)
    assert isinstance(err, roomcast.AckTimeout)
    assert args == []


async def test_binary_client_to_server(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    io, harness, node = await start(serve, spawn_node)

    @io.on("upload")
    async def upload(socket: roomcast.Socket, *args: Any) -> tuple[Any, ...]:
        harness.log.add({"type": "upload", "args": list(args)})
        return args

    await node.connect_all(["a"], transports=transports)
    await node.emit("a", "upload", BINARY_PAYLOAD, b"top-level")
    record = await harness.wait(type="upload")
    payload, top = record["args"]
    assert isinstance(payload["blob"], bytes | bytearray | memoryview)
    assert bytes(payload["blob"]) == BLOB
    assert payload == BINARY_PAYLOAD
    assert bytes(top) == b"top-level"
    # BINARY_ACK back to the client carries the same buffers
    assert await node.call("a", "upload", BINARY_PAYLOAD) == [BINARY_PAYLOAD]


async def test_binary_server_to_client(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    _, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a"], transports=transports)
    socket = await harness.socket(sids["a"])
    await socket.emit("download", BINARY_PAYLOAD, b"\x01\x02")
    record = await node.wait(type="event", id="a", event="download")
    assert record["args"] == [BINARY_PAYLOAD, b"\x01\x02"]
    # and a BINARY_ACK from the client back to emit_with_ack
    answer = await socket.emit_with_ack("bounce", {"x": [b"\xfe"]}, timeout=WAIT)
    assert answer == {"x": [b"\xfe"]}


async def test_on_any_sees_every_incoming_event(serve: Serve, spawn_node: SpawnNode) -> None:
    io = roomcast.Server()
    harness = ServerHarness()

    async def on_connect(socket: roomcast.Socket) -> None:
        async def incoming(event: str, *args: Any) -> None:
            harness.log.add({"type": "any", "event": event, "args": list(args)})

        async def outgoing(event: str, *args: Any) -> None:
            harness.log.add({"type": "any_out", "event": event, "args": list(args)})

        socket.on_any(incoming)
        socket.on_any_outgoing(outgoing)

    harness.install(io, on_connect=on_connect)
    node = await spawn_node(await serve(io))
    sids = await node.connect_all(["a"], transports=["websocket"])
    await node.emit("a", "alpha", 1)  # no handler for it
    await node.emit("a", "beta", {"x": b"\x00"})
    assert await node.call("a", "echo", "e") == ["e"]  # has a handler
    assert (await harness.wait(type="any", event="alpha"))["args"] == [1]
    assert (await harness.wait(type="any", event="beta"))["args"] == [{"x": b"\x00"}]
    assert (await harness.wait(type="any", event="echo"))["args"] == ["e"]
    socket = await harness.socket(sids["a"])
    await socket.emit("gamma", 3)
    assert (await harness.wait(type="any_out", event="gamma"))["args"] == [3]
    await node.wait(type="event", id="a", event="gamma")


def _burst_item(i: int) -> list[Any]:
    """Event arguments for message ``i`` of a burst: every 7th carries a buffer."""
    return [i, bytes([i % 256]) * 3] if i % 7 == 0 else [i, f"text {i}"]


@pytest.mark.parametrize("transports", TRANSPORTS, ids=TRANSPORT_IDS)
async def test_bursts_keep_their_order_both_ways(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    """Hundreds of packets at once (batched in polling payloads, spanning the upgrade
    when there is one) arrive complete and in order, text and binary mixed."""
    io, harness, node = await start(serve, spawn_node)
    count = 300
    received: list[list[Any]] = []

    @io.on("seq")
    async def seq(socket: roomcast.Socket, *args: Any) -> None:
        received.append(list(args))
        if len(received) == count:
            harness.log.add({"type": "all-received"})

    record = await node.connect("a", transports=transports)
    socket = await harness.socket(record["sid"])
    # server -> client right after the connect, while a default client upgrades
    for i in range(count):
        await socket.emit("seq", *_burst_item(i))
    await node.send_many(
        {"cmd": "emit", "id": "a", "event": "seq", "args": _burst_item(i)} for i in range(count)
    )
    await node.wait(type="event", id="a", event="seq", count=count)
    assert node.events("a", "seq") == [_burst_item(i) for i in range(count)]
    await harness.wait(type="all-received")
    assert received == [_burst_item(i) for i in range(count)]


async def test_socket_handlers_and_middleware(serve: Serve, spawn_node: SpawnNode) -> None:
    """``socket.on`` per-socket handlers, ``socket.use`` dropping packets, ``error``."""
    io = roomcast.Server()
    harness = ServerHarness()

    async def on_connect(socket: roomcast.Socket) -> None:
        def guard(event: str, args: list[Any]) -> None:
            if event == "forbidden":
                raise PermissionError(f"{event} is not allowed")

        async def private(*args: Any) -> str:
            return f"private {args[0]}"

        def error(exc: BaseException) -> None:
            harness.log.add({"type": "error", "error": repr(exc)})

        socket.use(guard)
        socket.on("private", private)
        socket.on("error", error)

    harness.install(io, on_connect=on_connect)
    node = await spawn_node(await serve(io))
    await node.connect_all(["a"], transports=["websocket"])
    assert await node.call("a", "private", 1) == ["private 1"]
    record = await node.emit_with_ack("a", "forbidden", timeout_ms=int(seconds(0.3) * 1000))
    assert record["type"] == "ack_error"
    error = await harness.wait(type="error")
    assert "forbidden is not allowed" in error["error"]
    assert await node.call("a", "echo", "after") == ["after"]


async def test_handler_exception_does_not_break_the_connection(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    io, _, node = await start(serve, spawn_node)

    @io.on("boom")
    async def boom(socket: roomcast.Socket) -> None:
        raise RuntimeError("handler bug (expected by this test)")

    sids = await node.connect_all(["a"], transports=["websocket"])
    await node.emit("a", "boom")
    assert await node.call("a", "echo", "after") == ["after"]
    assert node.log.find(type="disconnect") == []
    assert {s.id for s in await io.fetch_sockets()} == set(sids.values())


@pytest.mark.parametrize("transports", TRANSPORTS, ids=TRANSPORT_IDS)
async def test_large_payloads_both_ways(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    """Big text and binary under max_http_buffer_size (1 MB by default) get through."""
    _, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a"], transports=transports)
    text = "é" * 100_000  # 200 kB of UTF-8
    blob = bytes(range(256)) * 1000  # 256 kB, about 341 kB of base64 over polling
    assert await node.call("a", "echo", text, {"blob": blob}) == [text, {"blob": blob}]
    socket = await harness.socket(sids["a"])
    assert await socket.emit_with_ack("bounce", text, blob, timeout=WAIT) == (text, blob)


async def test_pending_ack_fails_when_the_client_leaves(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    _, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a"], transports=["websocket"], acks={"silent": "never"})
    socket = await harness.socket(sids["a"])
    pending = asyncio.ensure_future(socket.emit_with_ack("silent"))
    await node.wait(type="event", id="a", event="silent")
    await node.disconnect("a")
    with pytest.raises(roomcast.ConnectionClosed):
        await asyncio.wait_for(pending, WAIT)


async def test_ack_asked_of_a_socket_gone_already_fails_at_once(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    """Nothing settled it: with no timeout, the emit_with_ack waited forever (found by the
    ServerSession property: an ack awaited after the close is never settled)."""
    _, harness, node = await start(serve, spawn_node)
    sids = await node.connect_all(["a"], transports=["websocket"])
    socket = await harness.socket(sids["a"])
    gone = asyncio.Event()
    socket.on("disconnect", lambda reason: gone.set())
    await node.disconnect("a")
    await asyncio.wait_for(gone.wait(), WAIT)
    with pytest.raises(roomcast.ConnectionClosed):
        await asyncio.wait_for(socket.emit_with_ack("late"), WAIT)
    outcome: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    await socket.emit("late", callback=lambda error, *args: outcome.set_result(error))
    assert isinstance(await asyncio.wait_for(outcome, WAIT), roomcast.ConnectionClosed)

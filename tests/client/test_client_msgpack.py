"""roomcast's client with ``parser="msgpack"`` against a Node socket.io@4.8 server using the
npm ``socket.io-msgpack-parser`` (``node/server.mjs`` with ``{"parser": "msgpack"}``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

import roomcast

from .client_support import HAVE_SERVER, NODE, ROOT, WAIT, NodeServer, Recorder

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(
        NODE is None
        or not HAVE_SERVER
        or not (ROOT / "node_modules" / "socket.io-msgpack-parser").is_dir(),
        reason="needs node, node_modules/socket.io and socket.io-msgpack-parser",
    ),
]

MakeClient = Callable[..., roomcast.Client]
StartNode = Callable[..., Awaitable[NodeServer]]
TWO_TRANSPORTS = pytest.mark.parametrize(
    "transports", [["websocket"], ["polling"]], ids=["websocket", "polling"]
)


@TWO_TRANSPORTS
async def test_events_acks_and_binary_both_ways(
    node_server: StartNode, make_client: MakeClient, transports: list[str]
) -> None:
    server = await node_server(parser="msgpack")
    client = make_client(transports=transports, parser="msgpack")
    recorder = Recorder()
    recorder.watch(client)

    @client.on("add")
    async def add(a: int, b: int) -> tuple[int, bytes]:
        return a + b, b"\x05"

    await client.connect(server.url)
    payload = {"text": "é", "blob": b"\x00\x01\xff", "nested": [b"a", 1, None, 2.5]}
    await client.emit("note", payload, b"raw")
    note = await server.log.wait(type="event", event="note")
    assert note["args"] == [payload, b"raw"]
    assert await client.emit_with_ack("echo", 1, b"\x02", timeout=WAIT) == (1, b"\x02")

    await server.send("emit", sid=client.sid, event="news", args=[{"n": 1}, b"\xfe\x00"])
    news = await recorder.wait(type="event", event="news")
    assert news["args"] == [{"n": 1}, b"\xfe\x00"]
    ack = await server.emit_with_ack(client.sid, "add", 2, 3)
    assert ack == {**ack, "type": "ack", "args": [5, b"\x05"]}


async def test_namespaces_and_refusal(node_server: StartNode, make_client: MakeClient) -> None:
    server = await node_server(parser="msgpack")
    client = make_client(transports=["websocket"], parser="msgpack")
    admin = client.socket("/admin")
    await client.connect(server.url, namespaces=["/", "/admin"])
    assert await admin.emit_with_ack("echo", b"admin") == b"admin"
    other = make_client(transports=["websocket"], parser="msgpack")
    with pytest.raises(roomcast.ConnectionRefused) as refused:
        await other.connect(server.url + "/private", auth={"token": "nope"})
    assert (refused.value.message, refused.value.data) == ("not authorized", {"code": 401})


async def test_connection_state_recovery(node_server: StartNode, make_client: MakeClient) -> None:
    server = await node_server(recovery=True, parser="msgpack")
    client = make_client(
        transports=["websocket"], reconnection_delay=0.2, randomization_factor=0, parser="msgpack"
    )
    recorder = Recorder()
    recorder.watch(client)
    await client.connect(server.url)
    sid = client.sid
    assert sid is not None
    await client.emit_with_ack("join", "room")
    await server.send("broadcast", room="room", event="hello", args=["before"])
    hello = await recorder.wait(type="event", event="hello")
    assert len(hello["args"]) == 2  # the server's offset, appended
    missed = [{"room": "room", "event": "missed", "args": [2, b"\x02"]}]
    await server.send("on_disconnect", broadcasts=missed)
    await server.send("drop", sid=sid)
    await recorder.wait(type="connect", count=2)
    assert client.recovered
    assert client.sid == sid
    missed_event = await recorder.wait(type="event", event="missed")
    assert missed_event["args"][:-1] == [2, b"\x02"]

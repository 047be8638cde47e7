"""roomcast's client against a real Node socket.io@4.8 server (``node/server.mjs``): each
transport, events, acks and binary both ways, refusal with data, reconnection after the
server restarts on the same port, the offline buffer, retries against a de-duplicating
handler, and connection-state recovery."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import roomcast

from .client_support import (
    HAVE_SERVER,
    NODE,
    TRANSPORT_IDS,
    TRANSPORTS,
    WAIT,
    NodeServer,
    Recorder,
    check_backoff,
    reconnection_types,
    seconds,
)

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(
        NODE is None or not HAVE_SERVER, reason="needs node and node_modules/socket.io"
    ),
]

MakeClient = Callable[..., roomcast.Client]
StartNode = Callable[..., Awaitable[NodeServer]]
DELAY = 0.1
DELAY_MAX = 0.4
BACKOFF: dict[str, Any] = {
    "reconnection_delay": DELAY,
    "reconnection_delay_max": DELAY_MAX,
    "randomization_factor": 0.0,
}


@pytest.mark.parametrize("transports", TRANSPORTS, ids=TRANSPORT_IDS)
async def test_connect_over_each_transport(
    node_server: StartNode, make_client: MakeClient, transports: list[str]
) -> None:
    server = await node_server()
    client = make_client(transports=transports)
    await client.connect(server.url, query={"from": "python"}, headers={"X-Test": "yes"})
    seen = await server.log.wait(type="connect", sid=client.sid)
    assert seen["nsp"] == "/"
    assert seen["transport"] == transports[0]
    assert seen["query"]["from"] == "python"
    assert seen["header"] == "yes"
    if len(transports) == 2:
        async with asyncio.timeout(WAIT):
            while client.transport != "websocket":
                await client.emit_with_ack("echo", None)
    else:
        assert client.transport == transports[0]
    assert await client.emit_with_ack("echo", "over", transports[-1]) == ("over", transports[-1])


@pytest.mark.parametrize("transports", TRANSPORTS, ids=TRANSPORT_IDS)
async def test_events_acks_and_binary_both_ways(
    node_server: StartNode, make_client: MakeClient, transports: list[str]
) -> None:
    server = await node_server()
    client = make_client(transports=transports)
    recorder = Recorder()
    recorder.watch(client)

    @client.on("add")
    async def add(a: int, b: int) -> tuple[int, bytes]:
        return a + b, b"\x05"

    await client.connect(server.url)
    assert client.sid is not None

    payload = {"text": "é", "blob": b"\x00\x01\xff", "nested": [b"a", 1, None]}
    await client.emit("note", payload, b"raw")
    note = await server.log.wait(type="event", event="note")
    assert note["args"] == [payload, b"raw"]
    assert note["ack"] is False
    assert await client.emit_with_ack("echo", 1, b"\x02", timeout=WAIT) == (1, b"\x02")

    await server.send("emit", sid=client.sid, event="news", args=[{"n": 1}, b"\xfe\x00"])
    news = await recorder.wait(type="event", event="news")
    assert news["args"] == [{"n": 1}, b"\xfe\x00"]
    ack = await server.emit_with_ack(client.sid, "add", 2, 3)
    assert ack == {**ack, "type": "ack", "args": [5, b"\x05"]}


async def test_namespaces_over_one_connection(
    node_server: StartNode, make_client: MakeClient
) -> None:
    server = await node_server()
    client = make_client(transports=["websocket"])
    admin = client.socket("/admin")
    await client.connect(server.url, namespaces=["/", "/admin"])
    assert await admin.emit_with_ack("echo", "admin") == "admin"
    assert await client.emit_with_ack("echo", "main") == "main"
    connects = server.log.find(type="connect")
    assert sorted(r["nsp"] for r in connects) == ["/", "/admin"]


async def test_namespace_refused_with_data(node_server: StartNode, make_client: MakeClient) -> None:
    server = await node_server()
    client = make_client(transports=["websocket"])
    recorder = Recorder()
    recorder.watch_socket(client.socket("/private"))
    with pytest.raises(roomcast.ConnectionRefused) as refused:
        await client.connect(server.url + "/private", auth={"token": "nope"})
    assert (refused.value.message, refused.value.data) == ("not authorized", {"code": 401})
    [exc] = (await recorder.wait(type="connect_error"))["args"]
    assert (exc.message, exc.data) == ("not authorized", {"code": 401})

    await client.connect(server.url + "/private", auth={"token": "secret"})
    seen = await server.log.wait(type="connect", nsp="/private")
    assert seen["auth"] == {"token": "secret"}


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]], ids=["websocket", "polling"])
async def test_reconnects_after_the_server_restarts(
    node_server: StartNode, make_client: MakeClient, transports: list[str]
) -> None:
    server = await node_server()
    client = make_client(transports=transports, **BACKOFF)
    recorder = Recorder()
    recorder.watch(client)
    await client.connect(server.url, auth=lambda: {"attempt": len(recorder.log.records)})
    await server.stop()
    dropped_at = float((await recorder.wait(type="disconnect"))["time"])
    assert recorder.log.find(type="disconnect")[0]["args"] == ["transport close"]

    for n in range(3):
        await client.emit("offline", n)  # buffered while the server is away
    await recorder.wait(type="reconnect_error", count=4)
    restarted = await node_server(port=server.port)
    await recorder.wait(type="connect", count=2)
    attempts = len(recorder.log.find(type="reconnect_attempt"))
    assert reconnection_types(recorder) == [
        "connect",
        "disconnect",
        *["reconnect_attempt", "connect_error", "reconnect_error"] * (attempts - 1),
        "reconnect_attempt",
        "reconnect",
        "connect",
    ]
    check_backoff(recorder, dropped_at, DELAY, DELAY_MAX, attempts=4)

    assert await client.emit_with_ack("echo", "back") == "back"
    offline = [r["args"] for r in restarted.log.find(type="event", event="offline")]
    assert offline == [[0], [1], [2]]
    seen = await restarted.log.wait(type="connect")
    assert seen["auth"]["attempt"] > 0  # the auth function ran again


def ack_ids(server: NodeServer, msg_id: str) -> list[int]:
    """The ack id of each delivery of the dedupe message ``msg_id``, from the wire."""
    found = []
    for record in server.log.find(type="raw"):
        if f'"id":"{msg_id}"' in record["data"]:
            match = re.match(r"2(?:/[^,]*,)?(\d+)\[", record["data"])
            assert match is not None, record
            found.append(int(match.group(1)))
    return found


async def test_retries_are_acked_exactly_once(
    node_server: StartNode, make_client: MakeClient
) -> None:
    server = await node_server()
    client = make_client(transports=["websocket"], retries=3, ack_timeout=seconds(0.2))
    await client.connect(server.url)
    assert await client.emit_with_ack("dedupe", {"id": "a", "drop": 2}) == "ok:a"
    await client.emit("dedupe", {"id": "b", "drop": 1})
    assert await client.emit_with_ack("echo", "after b") == "after b"
    assert [r["id"] for r in server.log.find(type="processed")] == ["a", "b"]
    assert len(ack_ids(server, "a")) == 3
    assert len(set(ack_ids(server, "a"))) == 1
    assert len(ack_ids(server, "b")) == 2
    assert len(set(ack_ids(server, "b"))) == 1


async def test_connection_state_recovery(node_server: StartNode, make_client: MakeClient) -> None:
    server = await node_server(recovery=True)
    client = make_client(transports=["websocket"], reconnection_delay=0.2, randomization_factor=0)
    recorder = Recorder()
    recorder.watch(client)
    await client.connect(server.url)
    sid = client.sid
    assert sid is not None
    assert not client.recovered
    assert sorted(await client.emit_with_ack("join", "room")) == sorted([sid, "room"])
    # one event first: the client then holds an offset to send back (Node needs one)
    await server.send("broadcast", room="room", event="hello", args=["before"])
    hello = await recorder.wait(type="event", event="hello")
    assert hello["args"][0] == "before"
    assert len(hello["args"]) == 2  # the server's offset, appended as socket.io does

    missed = [
        {"room": "room", "event": "missed", "args": [1]},
        {"room": "room", "event": "missed", "args": [2, b"\x02"]},
        {"room": "elsewhere", "event": "missed", "args": [3]},
    ]
    await server.send("on_disconnect", broadcasts=missed)
    await server.send("drop", sid=sid)  # the connection goes; the server keeps the session
    await recorder.wait(type="disconnect")
    await recorder.wait(type="connect", count=2)
    assert client.recovered
    assert client.sid == sid
    restored = await server.log.wait(type="connect", count=2)
    assert restored["recovered"] is True
    assert restored["sid"] == sid
    await recorder.wait(type="event", event="missed", count=2)
    assert await client.emit_with_ack("echo", "sync") == "sync"  # nothing else is coming
    got = [r["args"][:-1] for r in recorder.log.find(type="event", event="missed")]
    assert got == [[1], [2, b"\x02"]]

    # a fresh session (the server forgot it) is not a recovery
    await server.stop()
    await recorder.wait(type="disconnect", count=2)
    await node_server(port=server.port, recovery=True)
    await recorder.wait(type="connect", count=3)
    assert not client.recovered
    assert client.sid != sid


async def test_no_reconnection_after_a_server_disconnect(
    node_server: StartNode, make_client: MakeClient
) -> None:
    server = await node_server()
    client = make_client(transports=["polling", "websocket"], **BACKOFF)
    recorder = Recorder()
    recorder.watch(client)
    await client.connect(server.url)
    await server.send("disconnect", sid=client.sid)
    assert (await recorder.wait(type="disconnect"))["args"] == ["io server disconnect"]
    await asyncio.wait_for(client.wait(), WAIT)
    assert reconnection_types(recorder) == ["connect", "disconnect"]
    assert client.transport is None

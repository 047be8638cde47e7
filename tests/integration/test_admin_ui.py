"""The admin UI's protocol (``roomcast.observe.admin.instrument``), spoken to the official
socket.io-client as ``@socket.io/admin-ui``'s page speaks it: the admin namespace with
basic auth (a bcrypt hash), its events, its operations, and read-only mode."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import bcrypt
import pytest

import roomcast
from roomcast.observe.admin import BasicAuth, Mode, instrument

from .support import Listener, NodeClient

pytestmark = pytest.mark.node

Serve = Callable[[roomcast.Server], Awaitable[Listener]]
SpawnNode = Callable[[Listener], Awaitable[NodeClient]]
HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()


def served(readonly: bool = False, mode: Mode = "development") -> roomcast.Server:
    io = roomcast.Server(serve_client=False)
    io.of("/chat")
    instrument(io, auth=BasicAuth("admin", HASH), readonly=readonly, mode=mode)
    for nsp in ("/", "/admin"):  # a round trip: what was sent before it has been handled
        io.of(nsp).on("ping_me", lambda socket: "pong")
    return io


async def test_the_ui_lists_watches_and_disconnects(serve: Serve, spawn_node: SpawnNode) -> None:
    listener = await serve(served())
    node = await spawn_node(listener)
    user = (await node.connect("user", "/chat", transports=["websocket"]))["sid"]
    await node.connect("ui", "/admin", auth={"username": "admin", "password": "s3cret"})
    (session,) = (await node.wait(id="ui", type="event", event="session"))["args"]
    config = await node.wait(id="ui", type="event", event="config")
    assert "MDISCONNECT" in config["args"][0]["supportedFeatures"]
    (sockets,) = (await node.wait(id="ui", type="event", event="all_sockets"))["args"]
    listed = {(s["nsp"], s["id"]) for s in sockets}
    assert ("/chat", user) in listed
    mine = next(s for s in sockets if s["id"] == user)
    assert mine["transport"] == "websocket"
    assert mine["rooms"] == [user]
    (stats,) = (await node.wait(id="ui", type="event", event="server_stats"))["args"]
    assert stats["clientsCount"] == 2
    assert {"name": "/chat", "socketsCount": 1} in stats["namespaces"]

    later = (await node.connect("later", transports=["websocket"]))["sid"]
    connected = await node.wait(
        id="ui", type="event", event="socket_connected", args=lambda a: a[0]["id"] == later
    )
    assert connected["args"][0]["nsp"] == "/"

    await node.emit("ui", "_disconnect", "/chat", False)  # the UI's "disconnect" button
    await node.wait(id="user", type="disconnect")
    gone = await node.wait(
        id="ui", type="event", event="socket_disconnected", args=lambda a: a[1] == user
    )
    assert gone["args"][:3] == ["/chat", user, "server namespace disconnect"]

    # a reconnection presents the session id instead of the password
    await node.connect("again", "/admin", auth={"sessionId": session})


async def test_wrong_credentials_are_refused(serve: Serve, spawn_node: SpawnNode) -> None:
    listener = await serve(served())
    node = await spawn_node(listener)
    for i, auth in enumerate(
        [{"username": "admin", "password": "wrong"}, {}, {"sessionId": "forged"}]
    ):
        record = await node.connect(f"ui{i}", "/admin", auth=auth, expect="connect_error")
        assert record["message"] == "invalid credentials"


async def test_read_only_mode(serve: Serve, spawn_node: SpawnNode) -> None:
    listener = await serve(served(readonly=True))
    node = await spawn_node(listener)
    await node.connect("user", transports=["websocket"])
    await node.connect("ui", "/admin", auth={"username": "admin", "password": "s3cret"})
    config = await node.wait(id="ui", type="event", event="config")
    assert config["args"][0]["supportedFeatures"] == ["AGGREGATED_EVENTS", "ALL_EVENTS"]
    await node.emit("ui", "_disconnect", "/", False)
    await node.emit("ui", "emit", "/", None, "hello", 1)
    assert await node.call("ui", "ping_me") == ["pong"]
    assert await node.call("user", "ping_me") == ["pong"]  # still connected
    assert node.events("user", "hello") == []


async def test_rooms_upgrades_and_events_as_they_happen(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    listener = await serve(served())
    node = await spawn_node(listener)
    await node.connect("ui", "/admin", auth={"username": "admin", "password": "s3cret"})
    await node.wait(id="ui", type="event", event="all_sockets")
    user = (await node.connect("user"))["sid"]  # polling, then upgraded
    updated = await node.wait(
        id="ui", type="event", event="socket_updated", args=lambda a: a[0]["id"] == user
    )
    assert updated["args"][0] == {"id": user, "nsp": "/", "transport": "websocket"}

    await node.emit("ui", "join", "/", "lobby")  # the UI's "join" of every socket of "/"
    joined = await node.wait(
        id="ui", type="event", event="room_joined", args=lambda a: a[1] == "lobby"
    )
    assert joined["args"][:3] == ["/", "lobby", user]
    await node.emit("ui", "leave", "/", "lobby", user)  # the socket's own room as filter
    left = await node.wait(id="ui", type="event", event="room_left", args=lambda a: a[1] == "lobby")
    assert left["args"][:3] == ["/", "lobby", user]

    assert await node.call("user", "ping_me") == ["pong"]
    received = await node.wait(
        id="ui", type="event", event="event_received", args=lambda a: a[1] == user
    )
    assert received["args"][:3] == ["/", user, ["ping_me"]]
    await node.emit("ui", "emit", "/", None, "hello", {"n": 1})
    sent = await node.wait(id="ui", type="event", event="event_sent", args=lambda a: a[1] == user)
    assert sent["args"][:3] == ["/", user, ["hello", {"n": 1}]]

    stats = await node.wait(
        id="ui",
        type="event",
        event="server_stats",
        args=lambda a: any(e["type"] == "packetsIn" for e in a[0]["aggregatedEvents"]),
    )
    kinds = {e["type"] for e in stats["args"][0]["aggregatedEvents"]}
    assert {"packetsIn", "bytesIn"} <= kinds


async def test_production_mode_sends_statistics_only(serve: Serve, spawn_node: SpawnNode) -> None:
    listener = await serve(served(mode="production"))
    node = await spawn_node(listener)
    await node.connect("ui", "/admin", auth={"username": "admin", "password": "s3cret"})
    config = await node.wait(id="ui", type="event", event="config")
    assert "ALL_EVENTS" not in config["args"][0]["supportedFeatures"]
    assert "MDISCONNECT" in config["args"][0]["supportedFeatures"]
    (stats,) = (await node.wait(id="ui", type="event", event="server_stats"))["args"]
    assert any(e["type"] == "rawConnection" for e in stats["aggregatedEvents"])
    user = (await node.connect("user", transports=["websocket"]))["sid"]
    await node.call("user", "ping_me")
    await node.emit("ui", "_disconnect", "/", True)
    await node.wait(id="user", type="disconnect")
    gone = await node.wait(
        id="ui",
        type="event",
        event="server_stats",
        args=lambda a: any(e["type"] == "rawDisconnection" for e in a[0]["aggregatedEvents"]),
    )
    reasons = {e["subType"] for e in gone["args"][0]["aggregatedEvents"]}
    assert "forced close" in reasons
    assert node.events("ui", "all_sockets") == []
    assert node.events("ui", "socket_connected") == []
    assert user


def test_auth_needs_a_bcrypt_hash() -> None:
    with pytest.raises(ValueError, match="bcrypt hash"):
        BasicAuth("admin", "plain text")

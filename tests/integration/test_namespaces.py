"""Namespaces (static, dynamic, unknown), middleware and the handshake, seen by the
official client."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest

import roomcast

from .support import Listener, NodeClient, ServerHarness, delivered

pytestmark = pytest.mark.node

Serve = Callable[[roomcast.Server], Awaitable[Listener]]
SpawnNode = Callable[[Listener], Awaitable[NodeClient]]


async def test_static_namespace(serve: Serve, spawn_node: SpawnNode) -> None:
    io = roomcast.Server()
    root, custom = ServerHarness("root"), ServerHarness("/custom")
    root.install(io)
    custom.install(io.of("/custom"))
    node = await spawn_node(await serve(io))

    record = await node.connect("a", "/custom", transports=["websocket"])
    connected = await custom.wait(type="connect", sid=record["sid"])
    assert connected["nsp"] == "/custom"
    assert (await custom.socket(record["sid"])).namespace == "/custom"
    assert await node.call("a", "echo", "custom") == ["custom"]
    # the client never joined "/", so the root handlers saw nothing
    assert root.log.find(type="connect") == []

    record = await node.connect("b", "/", transports=["websocket"])
    await root.wait(type="connect", sid=record["sid"], nsp="/")


async def test_namespaces_multiplexed_on_one_connection(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    io = roomcast.Server()
    root, custom = ServerHarness("root"), ServerHarness("/custom")
    root.install(io)
    custom.install(io.of("/custom"))
    node = await spawn_node(await serve(io))
    # forceNew false: both client sockets share one Manager, i.e. one Engine.IO session
    a = await node.connect("a", "/", transports=["websocket"], forceNew=False)
    b = await node.connect("b", "/custom", transports=["websocket"], forceNew=False)
    bad = await node.connect(
        "c", "/nope", transports=["websocket"], forceNew=False, expect="connect_error"
    )
    assert bad["message"] == "Invalid namespace"
    assert a["sid"] != b["sid"]
    assert await node.call("a", "echo", "root") == ["root"]
    assert await node.call("b", "echo", "custom") == ["custom"]
    await root.wait(type="connect", sid=a["sid"])
    await custom.wait(type="connect", sid=b["sid"])
    # leaving one namespace keeps the other (and the shared connection) alive
    await node.disconnect("b")
    await custom.wait(type="disconnect", sid=b["sid"])
    assert await node.call("a", "echo", "still here") == ["still here"]
    assert node.log.find(type="disconnect", id="a") == []


async def test_dynamic_namespace_regex(serve: Serve, spawn_node: SpawnNode) -> None:
    io = roomcast.Server()
    dynamic = ServerHarness("dynamic")
    dynamic.install(io.of(re.compile(r"^/dyn-\d+$")))
    node = await spawn_node(await serve(io))

    record = await node.connect("a", "/dyn-42", transports=["websocket"])
    connected = await dynamic.wait(type="connect", sid=record["sid"])
    assert connected["nsp"] == "/dyn-42"
    assert await node.call("a", "echo", 42) == [42]
    record = await node.connect("b", "/dyn-7", transports=["polling"])
    assert (await dynamic.wait(type="connect", sid=record["sid"]))["nsp"] == "/dyn-7"

    refused = await node.connect("c", "/dyn-x", expect="connect_error")
    assert refused["message"] == "Invalid namespace"


async def test_dynamic_namespace_function(serve: Serve, spawn_node: SpawnNode) -> None:
    io = roomcast.Server()
    dynamic = ServerHarness("dynamic")
    seen: list[tuple[str, Any]] = []

    def allow(name: str, auth: Mapping[str, Any] | None) -> bool:
        seen.append((name, auth))
        return name.startswith("/fn-") and (auth or {}).get("ok") is True

    dynamic.install(io.of(allow))
    node = await spawn_node(await serve(io))

    record = await node.connect("a", "/fn-1", transports=["websocket"], auth={"ok": True})
    connected = await dynamic.wait(type="connect", sid=record["sid"])
    assert connected["nsp"] == "/fn-1"
    assert await node.call("a", "echo", "fn") == ["fn"]
    assert ("/fn-1", {"ok": True}) in seen

    refused = await node.connect("b", "/fn-2", transports=["websocket"], expect="connect_error")
    assert refused["message"] == "Invalid namespace"
    refused = await node.connect("c", "/other", auth={"ok": True}, expect="connect_error")
    assert refused["message"] == "Invalid namespace"


async def test_unknown_namespace_is_rejected(serve: Serve, spawn_node: SpawnNode) -> None:
    io = roomcast.Server()
    root = ServerHarness()
    root.install(io)
    node = await spawn_node(await serve(io))
    for transports in (["websocket"], ["polling"], None):
        name = f"x-{transports}"
        record = await node.connect(name, "/nope", transports=transports, expect="connect_error")
        assert record["message"] == "Invalid namespace"
    assert root.log.find(type="connect") == []


async def test_middleware_refuses_with_data(serve: Serve, spawn_node: SpawnNode) -> None:
    io = roomcast.Server()
    root = ServerHarness()
    calls: list[str] = []

    async def authenticate(socket: roomcast.Socket) -> None:
        calls.append(socket.id)
        if (socket.handshake.auth or {}).get("token") != "secret":
            raise roomcast.ConnectionRefused("not authorized", data={"code": 42})
        socket.data["user"] = "alice"

    io.use(authenticate)

    @io.on("whoami")
    async def whoami(socket: roomcast.Socket) -> str:
        return str(socket.data["user"])

    root.install(io)
    node = await spawn_node(await serve(io))

    for id, transports in [("ws", ["websocket"]), ("poll", ["polling"])]:
        refused = await node.connect(
            id, transports=transports, auth={"token": "wrong"}, expect="connect_error"
        )
        assert refused["message"] == "not authorized"
        assert refused["data"] == {"code": 42}
    assert root.log.find(type="connect") == []

    record = await node.connect("ok", transports=["websocket"], auth={"token": "secret"})
    await root.wait(type="connect", sid=record["sid"])
    assert await node.call("ok", "whoami") == ["alice"]
    assert len(calls) == 3


async def test_namespace_middleware_only_guards_its_namespace(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    io = roomcast.Server()
    root, admin = ServerHarness("root"), ServerHarness("/admin")
    root.install(io)
    admin_nsp = io.of("/admin")

    async def admins_only(socket: roomcast.Socket) -> None:
        raise roomcast.ConnectionRefused("admins only")

    admin_nsp.use(admins_only)
    admin.install(admin_nsp)
    node = await spawn_node(await serve(io))

    refused = await node.connect("a", "/admin", transports=["websocket"], expect="connect_error")
    assert refused["message"] == "admins only"
    assert refused["data"] is None
    record = await node.connect("b", "/", transports=["websocket"])
    await root.wait(type="connect", sid=record["sid"])
    assert admin.log.find(type="connect") == []


def _lookup(mapping: Any, key: str) -> Any:
    """``mapping[key]`` case-insensitively; one value if the mapping holds lists."""
    for k, v in mapping.items():
        if k.lower() == key.lower():
            return v[0] if isinstance(v, list) and len(v) == 1 else v
    raise KeyError(key)


@pytest.mark.parametrize("transports", [["websocket"], ["polling"], None])
async def test_handshake_auth_query_headers(
    serve: Serve, spawn_node: SpawnNode, transports: list[str] | None
) -> None:
    io = roomcast.Server()
    root = ServerHarness()
    handshakes: dict[str, Any] = {}

    async def on_connect(socket: roomcast.Socket) -> None:
        handshakes[socket.id] = socket.handshake

    root.install(io, on_connect=on_connect)
    node = await spawn_node(await serve(io))
    record = await node.connect(
        "a",
        transports=transports,
        auth={"token": "abc", "n": 1, "nested": {"k": [1, 2]}},
        query={"room": "lobby", "lang": "fr"},
        headers={"X-Roomcast-Test": "yes"},
    )
    await root.wait(type="connect", sid=record["sid"])
    handshake = handshakes[record["sid"]]
    assert handshake.auth == {"token": "abc", "n": 1, "nested": {"k": [1, 2]}}
    assert _lookup(handshake.query, "room") == "lobby"
    assert _lookup(handshake.query, "lang") == "fr"
    assert _lookup(handshake.query, "EIO") == "4"
    assert _lookup(handshake.headers, "x-roomcast-test") == "yes"
    assert "127.0.0.1" in handshake.address


async def test_handshake_without_auth_is_empty(serve: Serve, spawn_node: SpawnNode) -> None:
    io = roomcast.Server()
    root = ServerHarness()
    handshakes: dict[str, Any] = {}

    async def on_connect(socket: roomcast.Socket) -> None:
        handshakes[socket.id] = socket.handshake

    root.install(io, on_connect=on_connect)
    node = await spawn_node(await serve(io))
    record = await node.connect("a", transports=["websocket"])
    await root.wait(type="connect", sid=record["sid"])
    assert handshakes[record["sid"]].auth == {}


async def test_dynamic_parent_broadcasts_to_every_child(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    io = roomcast.Server()
    root, dynamic = ServerHarness("root"), ServerHarness("dynamic")
    root.install(io)
    parent = io.of(re.compile(r"^/dyn-\d+$"))
    dynamic.install(parent)
    node = await spawn_node(await serve(io))
    sids = {
        **await node.connect_all(["one"], "/dyn-1", transports=["websocket"]),
        **await node.connect_all(["two"], "/dyn-2", transports=["websocket"]),
    }
    root_sids = await node.connect_all(["root"], "/", transports=["websocket"])
    await parent.emit("to-children", "all")
    got = await delivered(node, dynamic, "to-children", sids)
    assert got == {"one": [["all"]], "two": [["all"]]}
    assert await delivered(node, root, "to-children", root_sids) == {"root": []}


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]])
async def test_allow_request_rejects_the_handshake(
    serve: Serve, spawn_node: SpawnNode, transports: list[str]
) -> None:
    seen: list[roomcast.HandshakeRequest] = []

    async def allow(request: roomcast.HandshakeRequest) -> bool:
        seen.append(request)
        return request.headers.get("x-let-me-in") == "please"

    io = roomcast.Server(allow_request=allow)
    root = ServerHarness()
    root.install(io)
    node = await spawn_node(await serve(io))
    refused = await node.connect("no", transports=transports, expect="connect_error")
    assert refused["message"] in ("xhr poll error", "websocket error")
    record = await node.connect("yes", transports=transports, headers={"X-Let-Me-In": "please"})
    await root.wait(type="connect", sid=record["sid"])
    assert root.log.find(type="connect", sid=lambda sid: sid != record["sid"]) == []
    assert seen

"""Refused handshakes seen by the official client, on each transport: a page from another
origin (cross-site WebSocket hijacking) and a server over its connection limits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

import roomcast

from .support import TRANSPORT_IDS, Listener, NodeClient, ServerHarness

pytestmark = pytest.mark.node

Serve = Callable[[roomcast.Server], Awaitable[Listener]]
SpawnNode = Callable[[Listener], Awaitable[NodeClient]]
EACH_TRANSPORT = pytest.mark.parametrize(
    "transports", [["websocket"], ["polling"]], ids=TRANSPORT_IDS[:2]
)


@EACH_TRANSPORT
async def test_a_page_from_another_origin_is_refused(
    serve: Serve, spawn_node: SpawnNode, transports: list[str]
) -> None:
    io = roomcast.Server(cors_allowed_origins=["https://app.example"])
    harness = ServerHarness()
    harness.install(io)
    node = await spawn_node(await serve(io))

    refused = await node.connect(
        "evil",
        transports=transports,
        headers={"Origin": "https://evil.example"},
        expect="connect_error",
    )
    await node.connect("app", transports=transports, headers={"Origin": "https://app.example"})
    await node.connect("script", transports=transports)  # no Origin: not a browser

    assert refused["message"] in ("websocket error", "xhr poll error")
    if transports == ["polling"]:
        assert refused["description"] == "403"
    assert len(harness.log.find(type="connect")) == 2


@EACH_TRANSPORT
async def test_a_full_server_refuses_the_handshake(
    serve: Serve, spawn_node: SpawnNode, transports: list[str]
) -> None:
    io = roomcast.Server(limits=roomcast.Limits(max_connections=1))
    harness = ServerHarness()
    harness.install(io)
    node = await spawn_node(await serve(io))
    await node.connect("first", transports=transports)

    refused = await node.connect("second", transports=transports, expect="connect_error")

    assert refused["message"] in ("websocket error", "xhr poll error")
    if transports == ["polling"]:
        assert refused["description"] == "503"
    assert len(io.engine.sockets) == 1
    assert await node.call("first", "echo", 1) == [1]

"""Metrics scraped from ``/metrics`` after real traffic from the official socket.io-client,
read back with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

import roomcast
from roomcast.observe.metrics import Metrics

from .support import WAIT, Listener, NodeClient, base_url

pytestmark = pytest.mark.node

Serve = Callable[[roomcast.Server], Awaitable[Listener]]
SpawnNode = Callable[[Listener], Awaitable[NodeClient]]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(url: str) -> Samples:
    """Every sample at ``url``, by name and labels."""
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def served(**options: Any) -> roomcast.Server:
    io = roomcast.Server(serve_client=False, **options)

    @io.on("join")
    def join(socket: roomcast.Socket, room: str) -> None:
        socket.join(room)

    @io.on("say")
    async def say(socket: roomcast.Socket, text: str) -> str:
        await io.to("lobby").emit("said", text)
        return "ok"

    @io.on("admin")
    def admin(socket: roomcast.Socket) -> None:
        raise roomcast.EventRejected("unauthorized", "admins only")

    @io.of("/chat").on("hello")
    def hello(socket: roomcast.Socket) -> str:
        return "hi"

    return io


async def test_metrics_after_real_traffic(serve: Serve, spawn_node: SpawnNode) -> None:
    io = served()
    metrics = Metrics(io, top_events=4, sent_bytes=True)
    left = asyncio.Event()
    io.on("disconnect", lambda socket, reason: left.set())
    listener = await serve(io)
    node = await spawn_node(listener)
    await node.connect("a", transports=["websocket"])
    await node.connect("b", transports=["polling"])
    await node.connect("c", "/chat", transports=["websocket"])
    await node.connect("x", "/nope", transports=["websocket"], expect="connect_error")
    await node.call("a", "join", "lobby")
    for text in ("one", "two", "three"):
        assert (await node.emit_with_ack("a", "say", text))["args"] == ["ok"]
    assert (await node.emit_with_ack("b", "say", "four"))["args"] == ["ok"]
    assert (await node.emit_with_ack("a", "admin"))["type"] == "ack"
    assert (await node.emit_with_ack("c", "hello"))["args"] == ["hi"]
    await scrape(base_url(listener) + "/metrics")  # counted: four names
    await node.emit("a", "spam")  # a fifth name: counted as "other"
    await node.call("a", "join", "lobby")  # after "spam": it has been handled
    await node.disconnect("b")
    await node.wait(type="disconnect", id="b")
    await asyncio.wait_for(left.wait(), WAIT)  # the server hears of it a moment later

    samples = await scrape(base_url(listener) + "/metrics")

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("roomcast_connections", namespace="/", transport="websocket") == 1
    assert value("roomcast_connections", namespace="/", transport="polling") == 0
    assert value("roomcast_connections", namespace="/chat", transport="websocket") == 1
    assert value("roomcast_engine_connections", transport="websocket") == 2  # "x" was refused
    assert value("roomcast_handshakes_total", transport="websocket") == 3
    assert value("roomcast_handshakes_total", transport="polling") == 1
    assert value("roomcast_connect_refusals_total", reason="invalid namespace") == 1
    # join (x2), say (x4), admin, hello: four names, then "spam" is "other"
    assert value("roomcast_events_received_total", event="say") == 4
    assert value("roomcast_events_received_total", event="join") == 2
    assert value("roomcast_events_received_total", event="admin") == 1
    assert value("roomcast_events_received_total", event="hello") == 1
    assert value("roomcast_events_received_total", event="other") == 1
    assert value("roomcast_acks_requested_total") == 8  # all but "spam"
    assert value("roomcast_events_sent_total", event="said") == 4  # one per broadcast
    assert value("roomcast_rejections_total", kind="unauthorized") == 1
    assert value("roomcast_disconnects_total", namespace="/", reason="client namespace disconnect")
    assert value("roomcast_rooms", namespace="/") == 1
    assert value("roomcast_adapter_up", namespace="/") == 1
    assert value("roomcast_received_bytes_total") > 100
    assert value("roomcast_sent_bytes_total") > value("roomcast_received_bytes_total")
    assert value("roomcast_write_buffer_bytes") == 0
    assert value("roomcast_slow_client_disconnects_total") == 0
    assert ("roomcast_event_loop_lag_seconds_count", ()) in samples
    assert metrics.port is None


async def test_metrics_on_their_own_port(serve: Serve, spawn_node: SpawnNode) -> None:
    io = served(recovery=True)
    metrics = Metrics(io, port=0)
    listener = await serve(io)
    assert metrics.port is not None
    assert metrics.port != listener.port
    node = await spawn_node(listener)
    await node.connect("a", transports=["websocket"])
    async with aiohttp.ClientSession() as http:
        async with http.get(base_url(listener) + "/metrics") as response:
            assert response.status == 404  # not on the server's port
    samples = await scrape(f"http://127.0.0.1:{metrics.port}/metrics")
    assert samples[("roomcast_connections", (("namespace", "/"), ("transport", "websocket")))]
    assert samples[("roomcast_store_degraded", ())] == 0
    assert ("roomcast_store_sessions_persisted_total", ()) in samples

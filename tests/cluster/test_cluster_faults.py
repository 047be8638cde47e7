"""Faults: Redis stopped and restarted under load, a full buffer, a node that stopped
answering. Each outage test runs its OWN redis-server on a free port (never the shared one).

What must hold: no crash; the adapter reconnects by itself and tells the app (BusDown,
BusUp, MessagesDropped events; log lines); a broadcast made during the outage is delivered
after it or refused with an error, never lost silently; a cluster request with a node gone
answers after its timeout with what it has, marked partial.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from integration.support import WAIT, NodeClient
from roomcast.adapters.bus import BusUnavailable

from .harness import (
    REDIS_URL,
    ClusterNode,
    PrivateRedis,
    needs_node,
    needs_redis,
    needs_redis_server,
)

pytestmark = needs_node

StartNode = Callable[..., Awaitable[ClusterNode]]
SpawnNode = Callable[[Any], Awaitable[NodeClient]]
WS = ["websocket"]
FAST = {"requests_timeout": 1.0, "reconnect_delay": (0.02, 0.3)}


@needs_redis_server
async def test_outage_under_load_loses_nothing(
    rc_node: StartNode,
    spawn_node: SpawnNode,
    private_redis: PrivateRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="roomcast.cluster")
    a = await rc_node(private_redis.url, **FAST)
    b = await rc_node(private_redis.url, **FAST)
    on_b = await spawn_node(b.listener)
    await on_b.connect("b1", transports=WS)
    sent = 0
    stop = asyncio.Event()
    milestone: tuple[int, asyncio.Event] = (0, asyncio.Event())

    async def produce() -> None:  # the load: a numbered broadcast every few ms
        nonlocal sent
        while not stop.is_set():
            await a.io.emit("seq", sent)
            sent += 1
            if sent >= milestone[0]:
                milestone[1].set()
            await asyncio.sleep(0.002)

    async def until_sent(count: int) -> None:
        nonlocal milestone
        milestone = (count, asyncio.Event())
        await asyncio.wait_for(milestone[1].wait(), WAIT)

    producer = asyncio.create_task(produce())
    try:
        await on_b.wait(type="event", id="b1", event="seq", args=[20])
        await private_redis.stop()
        await a.events.wait(type="BusDown")
        await b.events.wait(type="BusDown")
        during = sent
        await until_sent(during + 100)  # a hundred broadcasts made during the outage
        await private_redis.start()
        up = await a.events.wait(type="BusUp")
        await b.events.wait(type="BusUp")
        assert up["event"].downtime > 0
        await on_b.wait(type="event", id="b1", event="seq", args=[during + 100])
    finally:
        stop.set()
        await producer
    await on_b.wait(type="event", id="b1", event="seq", args=[sent - 1])
    got = [args[0] for args in on_b.events("b1", "seq")]
    assert sorted(set(got)) == list(range(sent)), "a broadcast was lost"
    firsts = list(dict.fromkeys(got))
    assert firsts == sorted(firsts), "out of order"
    assert "cluster bus down" in caplog.text
    assert "cluster bus back" in caplog.text
    await a.io.emit("after", 1)  # still serving
    await on_b.wait(type="event", id="b1", event="after", args=[1])


@needs_redis_server
async def test_full_buffer_refuses_with_an_error_and_keeps_what_it_took(
    rc_node: StartNode, spawn_node: SpawnNode, private_redis: PrivateRedis
) -> None:
    a = await rc_node(private_redis.url, max_buffer=5, **FAST)
    b = await rc_node(private_redis.url, **FAST)
    on_b = await spawn_node(b.listener)
    on_a = await spawn_node(a.listener)
    await on_b.connect("b1", transports=WS)
    await on_a.connect("a1", transports=WS)
    await private_redis.stop()
    await a.events.wait(type="BusDown")
    for n in range(5):
        await a.io.emit("kept", n)
    with pytest.raises(BusUnavailable, match="buffer is full"):
        await a.io.emit("refused")
    dropped = await a.events.wait(type="MessagesDropped")
    assert dropped["event"].count == 1
    await on_a.wait(type="event", id="a1", event="refused")  # local clients still got it
    await private_redis.start()
    await on_b.wait(type="event", id="b1", event="kept", args=[4])
    assert [args[0] for args in on_b.events("b1", "kept")] == [0, 1, 2, 3, 4]
    assert on_b.events("b1", "refused") == []


@needs_redis_server
async def test_requests_during_an_outage_return_local_answers_marked_partial(
    rc_node: StartNode, spawn_node: SpawnNode, private_redis: PrivateRedis
) -> None:
    a = await rc_node(private_redis.url, **FAST)
    await rc_node(private_redis.url, **FAST)
    on_a = await spawn_node(a.listener)
    sids = await on_a.connect_all(["a1"], transports=WS)
    assert await a.io.sockets.adapter.server_count() == 2
    await private_redis.stop()
    await a.events.wait(type="BusDown")
    found = await asyncio.wait_for(a.io.fetch_sockets(), WAIT)
    assert [s.id for s in found] == [sids["a1"]]
    assert found.partial
    assert found.missing == 1
    answers = await asyncio.wait_for(a.io.server_side_emit_with_ack("who"), WAIT)
    assert answers == []
    assert answers.partial
    await private_redis.start()
    await a.events.wait(type="BusUp")


@needs_redis_server
async def test_redis_down_at_startup_is_reported_then_joined(
    rc_node: StartNode, spawn_node: SpawnNode
) -> None:
    redis = PrivateRedis()  # not started yet
    a = await rc_node(redis.url, **FAST)
    await a.events.wait(type="BusDown")
    on_a = await spawn_node(a.listener)
    await on_a.connect("a1", transports=WS)
    await a.io.emit("early", 1)  # waits in the buffer
    try:
        await redis.start()
        b = await rc_node(redis.url, **FAST)
        await a.events.wait(type="BusUp")
        on_b = await spawn_node(b.listener)
        await on_b.connect("b1", transports=WS)
        await a.io.emit("late", 2)
        await on_b.wait(type="event", id="b1", event="late", args=[2])
        await on_a.wait(type="event", id="a1", event="early", args=[1])
    finally:
        await redis.stop()


@needs_redis
async def test_a_silent_node_makes_requests_partial_after_the_timeout(
    rc_node: StartNode, spawn_node: SpawnNode, key: str
) -> None:
    a = await rc_node(requests_timeout=0.3)
    b = await rc_node()
    b.io.on_server_side("who", lambda: "b")
    on_b = await spawn_node(b.listener)
    sids = await on_b.connect_all(["b1"], transports=WS)
    silent = Redis.from_url(REDIS_URL)  # subscribed like a node, answers nothing: a hung node
    pubsub = silent.pubsub()
    await pubsub.subscribe(f"{key}-request#/#")
    try:
        assert await a.io.sockets.adapter.server_count() == 3
        started = asyncio.get_running_loop().time()
        found = await asyncio.wait_for(a.io.fetch_sockets(), WAIT)
        assert asyncio.get_running_loop().time() - started >= 0.3
        assert [s.id for s in found] == [sids["b1"]]
        assert found.partial
        assert found.missing == 1
        answers = await asyncio.wait_for(a.io.server_side_emit_with_ack("who"), WAIT)
        assert answers == ["b"]
        assert answers.missing == 1
        rooms = await a.io.sockets.adapter.all_rooms()
        assert sids["b1"] in rooms
        assert rooms.partial
    finally:
        with contextlib.suppress(Exception):
            await pubsub.aclose()
        await silent.aclose()

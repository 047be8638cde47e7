"""Faults between the nodes of a cluster and their Redis: latency, connections cut, Redis
stopped. Two roomcast nodes on the Redis adapter, each reaching a private redis-server
through its own ``FaultProxy``; node A broadcasts a numbered ``seq`` at a steady pace to an
official client on node B, and the fault hits one link (or Redis) in the middle.

Used by ``test_faults_redis.py`` (short) and ``bench/faults.py redis-*`` (long).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import roomcast
from cluster.harness import ClusterNode, PrivateRedis, unique_key
from integration.support import WAIT, NodeClient, RecordLog, ServerHarness, base_url

from .proxy import FaultProxy

Fault = Literal["delay", "cut-subscriber", "cut-publisher", "cut-both", "stop"]
FAULTS: tuple[Fault, ...] = ("delay", "cut-subscriber", "cut-publisher", "cut-both", "stop")
FAST: dict[str, Any] = {"requests_timeout": 1.0, "reconnect_delay": (0.02, 0.3)}


@dataclass
class RedisFault:
    """What node B's client got of the ``sent`` broadcasts, and how the nodes reported it."""

    fault: Fault
    sent: int
    got: list[int]
    sent_during: tuple[int, int]
    """The numbers broadcast between the fault's start and its end."""
    ready_during: dict[str, int] = field(default_factory=dict)
    """``/readyz`` status of each node while the fault lasted (after it was noticed)."""
    adapter_during: dict[str, str] = field(default_factory=dict)
    """``/readyz``'s ``adapter`` of each node meanwhile: ``ok`` or ``down``."""
    ready_after: dict[str, int] = field(default_factory=dict)
    noticed_after: float | None = None
    """Seconds from the fault to the first BusDown (None: no node noticed)."""
    back_after: float | None = None
    """Seconds from the fault's end to the last BusUp."""
    sent_when_back: int = 0
    """How many had been broadcast when the last BusUp came (the fault's end: ``delay``)."""
    resumed_after: float = 0.0
    """Seconds from the fault's end to the arrival of the first broadcast made after it."""
    latency: list[float] = field(default_factory=list)
    """Seconds from ``emit`` on A to arrival at B's client, sampled while the fault lasted
    (the broadcasts that arrived; with ``delay``, those sent early enough to get it whole)."""

    def lost(self) -> list[int]:
        return sorted(set(range(self.sent)) - set(self.got))

    def duplicates(self) -> int:
        return len(self.got) - len(set(self.got))

    def in_order(self) -> bool:
        firsts = list(dict.fromkeys(self.got))
        return firsts == sorted(firsts)


async def readyz(port: int) -> tuple[int, dict[str, str]]:
    """``GET /readyz``: the status and the body."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), WAIT)
    try:
        writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = await asyncio.wait_for(reader.read(), WAIT)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def cluster_node(
    stack: contextlib.AsyncExitStack, url: str, key: str, **options: Any
) -> ClusterNode:
    """A roomcast server on the Redis adapter, listening on 127.0.0.1 (closed by ``stack``);
    its bus events recorded as in the cluster tests."""
    factory = roomcast.RedisAdapter.factory(url, key=key, **{**FAST, **options})
    stack.push_async_callback(lambda: asyncio.wait_for(factory.aclose(), WAIT))
    io = roomcast.Server(adapter=factory)
    harness = ServerHarness()
    harness.install(io)
    events = RecordLog("bus events")
    factory.add_listener(lambda event: events.add({"type": type(event).__name__, "event": event}))
    listener = await io.listen(host="127.0.0.1", port=0)
    stack.push_async_callback(lambda: asyncio.wait_for(listener.aclose(), WAIT))
    return ClusterNode(io, factory, listener, harness, events)


async def broadcast_through(
    fault: Fault,
    *,
    before: int = 100,
    duration: float = 1.0,
    after: int = 100,
    pace: float = 0.002,
    delay: float = 0.2,
    sample_every: int = 25,
) -> RedisFault:
    """A broadcasts every ``pace`` s; after ``before`` of them the fault starts and lasts
    ``duration`` s (``delay``: both proxies add ``delay`` s each way); ``after`` more are
    broadcast once the nodes are back."""
    async with contextlib.AsyncExitStack() as stack:
        redis = PrivateRedis()
        await redis.start()
        stack.push_async_callback(redis.stop)
        proxies = {}
        for name in ("a", "b"):
            proxies[name] = await FaultProxy(redis.port).start()
            stack.push_async_callback(proxies[name].aclose)
        key = unique_key()
        a = await cluster_node(stack, proxies["a"].url, key)
        b = await cluster_node(stack, proxies["b"].url, key)
        client = await NodeClient.start(base_url(b.listener))
        stack.push_async_callback(client.aclose)
        await client.connect("b1", transports=["websocket"])
        timing = (before, duration, after, pace, delay, sample_every)
        return await _run(fault, redis, proxies, a, b, client, *timing)
    raise AssertionError("unreachable")  # pragma: no cover - for the type checker


async def _run(
    fault: Fault,
    redis: PrivateRedis,
    proxies: dict[str, FaultProxy],
    a: ClusterNode,
    b: ClusterNode,
    client: NodeClient,
    before: int,
    duration: float,
    after: int,
    pace: float,
    delay: float,
    sample_every: int,
) -> RedisFault:
    loop = asyncio.get_running_loop()
    nodes = {"a": a, "b": b}
    sent = 0
    stop = asyncio.Event()
    reached: dict[int, asyncio.Event] = {}
    samples: dict[float, asyncio.Task[float]] = {}  # emitted at -> its latency

    async def arrival(n: int, at: float) -> float:
        await client.wait(within=3 * WAIT, type="event", id="b1", event="seq", args=[n])
        return loop.time() - at

    async def produce() -> None:
        nonlocal sent
        while not stop.is_set():
            at = loop.time()
            await a.io.emit("seq", sent)
            if sent % sample_every == 0:
                samples[at] = asyncio.ensure_future(arrival(sent, at))
            sent += 1
            if sent in reached:
                reached[sent].set()
            await asyncio.sleep(pace)  # the load's pace, not a wait for an outcome

    async def until_sent(count: int) -> None:
        reached.setdefault(count, asyncio.Event())
        if sent < count:
            await asyncio.wait_for(reached[count].wait(), 3 * WAIT)

    producer = asyncio.create_task(produce())
    result = RedisFault(fault, 0, [], (0, 0))
    try:
        await client.wait(type="event", id="b1", event="seq", args=[before])
        started, first = loop.time(), sent
        touched = {"cut-subscriber": "b", "cut-publisher": "a"}.get(fault, "ab")
        if fault == "delay":
            for proxy in proxies.values():
                proxy.delay = delay
        elif fault == "stop":
            await redis.stop()
        else:
            for name in touched:
                proxies[name].refusing = True
                proxies[name].cut()
        ups_before = {name: len(n.events.find(type="BusUp")) for name, n in nodes.items()}
        if fault != "delay":
            down_waits = [nodes[name].events.wait(type="BusDown") for name in touched]
            await asyncio.wait_for(asyncio.gather(*down_waits), 3 * WAIT)
            result.noticed_after = loop.time() - started
        for name, node in nodes.items():
            status, body = await readyz(node.port)
            result.ready_during[name], result.adapter_during[name] = status, body["adapter"]
        await asyncio.sleep(max(0.0, started + duration - loop.time()))  # the fault lasts
        ended, last = loop.time(), sent
        if fault == "delay":
            for proxy in proxies.values():
                proxy.delay = 0.0
        elif fault == "stop":
            await redis.start()
        else:
            for name in touched:
                proxies[name].refusing = False
        if fault != "delay":
            up_waits = [
                nodes[name].events.wait(type="BusUp", count=ups_before[name] + 1)
                for name in touched
            ]
            await asyncio.wait_for(asyncio.gather(*up_waits), 3 * WAIT)
            result.back_after = loop.time() - ended
        result.sent_when_back = sent
        for name, node in nodes.items():
            result.ready_after[name] = (await readyz(node.port))[0]
        resumed = asyncio.ensure_future(arrival(sent + 1, ended))
        await until_sent(sent + after)
        result.resumed_after = await resumed
    finally:
        stop.set()
        await producer
    total = sent
    await client.wait(within=3 * WAIT, type="event", id="b1", event="seq", args=[total - 1])
    result.sent = total
    result.got = [args[0] for args in client.events("b1", "seq")]
    result.sent_during = (first, last)
    slow = (started, ended - (2 * delay if fault == "delay" else 0.0))
    for at, sample in samples.items():
        if sample.done() and sample.exception() is None and slow[0] <= at < slow[1]:
            result.latency.append(sample.result())
        sample.cancel()
    return result

"""What Redis adds to one broadcast: the memory adapter vs the Redis adapter, same process.

    .venv/bin/python bench/redis_fanout.py                       # Redis on 127.0.0.1:6379
    .venv/bin/python bench/redis_fanout.py --redis redis://host:6379 --count 50000 --reps 5

No clients are connected: local fan-out costs the same with either adapter (the packet is
encoded once and written to each local socket), so what is left is exactly what the cluster
adds. Three figures, medians of ``--reps`` runs:

- publish: ``await io.emit(...)`` ``--count`` times, then wait until every message left for
  Redis. CPU microseconds of this process per broadcast (msgpack, the outbox, pipelined
  PUBLISHes) and broadcasts/s. The memory adapter's figure is the baseline.
- publish + receive: a second node in the same process subscribes and decodes each message
  (as a node with clients would before writing to them); CPU per broadcast for both sides.
- latency: one broadcast at a time, from ``emit`` until the other node has handled it
  (median and p99, microseconds): two hops through Redis on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import roomcast
from roomcast.adapters.cluster import ClusterAdapter, ClusterAdapterFactory
from roomcast.adapters.redis import RedisBus

PAYLOAD: dict[str, Any] = {"user": "ann", "room": "lobby", "text": "hello, world", "n": 0}


async def timed(count: int, emit: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """(CPU s, wall s) for ``count`` calls of ``emit``."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        await emit()
    return time.process_time() - cpu, time.perf_counter() - wall


async def memory_publish(count: int) -> tuple[float, float]:
    io = roomcast.Server()
    return await timed(count, lambda: io.emit("news", PAYLOAD))


def redis_node(url: str, key: str) -> tuple[roomcast.Server, ClusterAdapterFactory]:
    factory = roomcast.RedisAdapter.factory(url, key=key, max_buffer=10_000_000)
    return roomcast.Server(adapter=factory), factory


def bus_of(factory: ClusterAdapterFactory) -> RedisBus:
    bus = factory.bus
    assert isinstance(bus, RedisBus)
    return bus


async def redis_publish(url: str, count: int) -> tuple[float, float]:
    io, factory = redis_node(url, f"bench-{secrets.token_hex(4)}")
    await io.sockets.adapter.init()
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(count):
            await io.emit("news", PAYLOAD)
        await bus_of(factory).drain()
        return time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await factory.aclose()


class Counter:
    """Counts the broadcasts a receiving node's adapter handled; wakes a waiter at ``target``."""

    def __init__(self, adapter: ClusterAdapter) -> None:
        self.seen = 0
        self.target = 0
        self.reached = asyncio.Event()
        deliver = adapter.deliver

        def counting(packet: Any, opts: Any) -> int:
            self.seen += 1
            if self.seen >= self.target:
                self.reached.set()
            return deliver(packet, opts)

        adapter.deliver = counting  # type: ignore[method-assign]

    async def until(self, target: int) -> None:
        self.target = target
        if self.seen < target:
            self.reached.clear()
            await self.reached.wait()


async def redis_round_trip(url: str, count: int, probes: int) -> tuple[float, float, list[float]]:
    key = f"bench-{secrets.token_hex(4)}"
    sender, sender_factory = redis_node(url, key)
    receiver, receiver_factory = redis_node(url, key)
    try:
        await sender.sockets.adapter.init()
        adapter = receiver.sockets.adapter
        assert isinstance(adapter, ClusterAdapter)
        await adapter.init()
        counter = Counter(adapter)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(count):
            await sender.emit("news", PAYLOAD)
        await counter.until(count)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        latencies = []
        for _ in range(probes):
            start = time.perf_counter()
            await sender.emit("news", PAYLOAD)
            await counter.until(counter.seen + 1)
            latencies.append(time.perf_counter() - start)
        return cpu, wall, latencies
    finally:
        await sender_factory.aclose()
        await receiver_factory.aclose()


def us(seconds: float, count: int) -> str:
    return f"{seconds / count * 1e6:8.2f}"


async def main(args: argparse.Namespace) -> None:
    count = args.count
    rows: dict[str, list[tuple[float, float]]] = {"memory": [], "redis": [], "both": []}
    latencies: list[float] = []
    for _ in range(args.reps):  # interleaved, so drifts hit every setting alike
        rows["memory"].append(await memory_publish(count))
        rows["redis"].append(await redis_publish(args.redis, count))
        cpu, wall, probes = await redis_round_trip(args.redis, count, args.probes)
        rows["both"].append((cpu, wall))
        latencies.extend(probes)

    def med(name: str, index: int) -> float:
        return statistics.median(r[index] for r in rows[name])

    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(f"{count} broadcasts x {args.reps} runs, no clients, {loop} loop, Redis {args.redis}")
    print(f"{'':34}{'CPU us/bcast':>13}{'bcast/s':>12}")
    for label, name in (
        ("memory adapter (baseline)", "memory"),
        ("Redis adapter, publish", "redis"),
        ("Redis adapter, publish + receive", "both"),
    ):
        rate = count / med(name, 1)
        print(f"{label:34}{us(med(name, 0), count):>13}{rate:>12,.0f}")
    added = (med("redis", 0) - med("memory", 0)) / count * 1e6
    print(f"Redis adds {added:.2f} us of CPU per broadcast on the publishing node")
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"latency node to node through Redis: median {statistics.median(latencies) * 1e6:.0f} us,"
        f" p99 {p99 * 1e6:.0f} us ({len(latencies)} probes)"
    )


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--probes", type=int, default=300, help="latency probes per run")
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args()
    if not args.no_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main(args))
            return
    asyncio.run(main(args))


if __name__ == "__main__":
    run()

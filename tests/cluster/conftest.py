"""Fixtures for the cluster tests (helpers live in ``harness.py``).

``serve`` and ``spawn_node`` are the interop tests' own fixtures, imported; ``rc_node`` starts
roomcast servers on a RedisAdapter, ``node_server`` Node servers with the Redis adapter,
``private_redis`` a redis-server the test may stop and restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import roomcast
from integration.conftest import serve, spawn_node
from integration.support import WAIT, RecordLog, ServerHarness
from roomcast.adapters.cluster import ClusterAdapterFactory

from .harness import REDIS_URL, ClusterNode, NodeServer, PrivateRedis, unique_key

__all__ = ["key", "node_server", "private_redis", "rc_node", "serve", "spawn_node"]

StartNode = Callable[..., Awaitable[ClusterNode]]


@pytest.fixture
def key() -> str:
    """The test's own channel prefix."""
    return unique_key()


@pytest.fixture
async def rc_node(serve: Callable[[Any], Awaitable[Any]], key: str) -> AsyncIterator[StartNode]:
    """``node = await rc_node(url=REDIS_URL, **adapter_options)``: a served roomcast node."""
    factories: list[ClusterAdapterFactory] = []

    async def start(url: str = REDIS_URL, **options: Any) -> ClusterNode:
        options.setdefault("key", key)
        options.setdefault("requests_timeout", 2.0)
        factory = roomcast.RedisAdapter.factory(url, **options)
        factories.append(factory)
        io = roomcast.Server(adapter=factory)
        harness = ServerHarness()
        harness.install(io)
        events = RecordLog("bus events")
        factory.add_listener(
            lambda event: events.add({"type": type(event).__name__, "event": event})
        )
        return ClusterNode(io, factory, await serve(io), harness, events)

    yield start
    for factory in reversed(factories):
        await asyncio.wait_for(factory.aclose(), WAIT)


@pytest.fixture
async def node_server(key: str) -> AsyncIterator[Callable[..., Awaitable[NodeServer]]]:
    """``server = await node_server(url=REDIS_URL)``: a Node socket.io server in the cluster."""
    servers: list[NodeServer] = []

    async def start(url: str = REDIS_URL, requests_timeout: float = 2.0) -> NodeServer:
        server = await NodeServer.launch(url, key, requests_timeout)
        servers.append(server)
        return server

    yield start
    await asyncio.gather(*(s.aclose() for s in servers))


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    """A started redis-server on a free port; stopped at teardown."""
    redis = PrivateRedis()
    await redis.start()
    yield redis
    await redis.stop()

"""Fixtures for the worker tests (helpers live in ``workers_support.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from integration.conftest import serve, spawn_node
from integration.support import HAVE_CLIENT, NODE, WAIT, NodeClient

from .workers_support import RoundRobinProxy, Served, closing

__all__ = ["needs_node", "node_client", "proxy", "serve", "serve_app", "spawn_node"]

needs_node = [
    pytest.mark.node,
    pytest.mark.skipif(
        NODE is None or not HAVE_CLIENT, reason="node or node_modules/socket.io-client missing"
    ),
]


@pytest.fixture
async def serve_app() -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    """``served = await serve_app(workers=2, redis=None, ...)``: ``roomcast serve`` running;
    stopped (SIGTERM, bounded) at teardown."""
    started: list[Served] = []

    async def start(*args: Any, **kwargs: Any) -> Served:
        served = await Served.start(*args, **kwargs)
        started.append(served)
        return served

    yield start
    await asyncio.gather(*(closing(s) for s in started))


@pytest.fixture
async def node_client(
    serve_app: Any, proxy: Any
) -> AsyncIterator[Callable[[str], Awaitable[NodeClient]]]:
    """``node = await node_client(url)``: the official client's driver; ended at teardown,
    before the servers and proxies it talks to."""
    clients: list[NodeClient] = []

    async def start(url: str) -> NodeClient:
        client = await NodeClient.start(url)
        clients.append(client)
        return client

    yield start
    await asyncio.wait_for(asyncio.gather(*(c.aclose() for c in clients)), WAIT)


@pytest.fixture
async def proxy() -> AsyncIterator[Callable[[list[int]], Awaitable[RoundRobinProxy]]]:
    """``p = await proxy([port1, port2])``: a round-robin TCP proxy; closed at teardown."""
    proxies: list[RoundRobinProxy] = []

    async def start(backends: list[int]) -> RoundRobinProxy:
        started = await RoundRobinProxy(backends).start()
        proxies.append(started)
        return started

    yield start
    await closing(*proxies)

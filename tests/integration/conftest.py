"""Fixtures for the interop tests (helpers live in ``support.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from .support import HAVE_CLIENT, NODE, WAIT, Listener, NodeClient, base_url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the ``node`` tests only when node or the npm client is missing."""
    if NODE is not None and HAVE_CLIENT:
        return
    why = "node is not on PATH" if NODE is None else "node_modules/socket.io-client is missing"
    for item in items:
        if item.get_closest_marker("node") is not None:
            item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Any], Awaitable[Listener]]]:
    """``listener = await serve(io)``: 127.0.0.1, a free port; closed at teardown."""
    listeners: list[Listener] = []

    async def start(io: Any) -> Listener:
        listener = await io.listen(host="127.0.0.1", port=0)
        listeners.append(listener)
        assert isinstance(listener.port, int)
        assert listener.port > 0
        return listener

    yield start
    for listener in reversed(listeners):
        await asyncio.wait_for(listener.aclose(), WAIT)


@pytest.fixture
async def spawn_node() -> AsyncIterator[Callable[[Listener], Awaitable[NodeClient]]]:
    """``node = await spawn_node(listener)``: a node driver; ended at teardown."""
    clients: list[NodeClient] = []

    async def start(listener: Listener) -> NodeClient:
        client = await NodeClient.start(base_url(listener))
        clients.append(client)
        return client

    yield start
    await asyncio.gather(*(c.aclose() for c in clients))

"""Fixtures for the server I/O tests: real servers on 127.0.0.1 with a free port, raw clients.

``net`` opens raw clients (closed at teardown); ``serve`` starts anything with ``listen``;
``start_sio(**server_options)`` starts a Socket.IO server whose ``echo`` event acks its
arguments and whose handlers record connects and disconnect reasons in a ``ServerLog``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from server_wire import WAIT, Net, ServerLog, SioHarness, install_echo

import roomcast


@pytest.fixture
async def net() -> AsyncIterator[Net]:
    async with aiohttp.ClientSession() as http:
        clients = Net(http)
        try:
            yield clients
        finally:
            await clients.aclose()


@pytest.fixture
async def serve(net: Net) -> AsyncIterator[Callable[[Any], Awaitable[Any]]]:
    """``listener = await serve(io)``: 127.0.0.1, port 0; closed at teardown (before ``net``)."""
    listeners: list[Any] = []

    async def start(hosting: Any) -> Any:
        listener = await hosting.listen(host="127.0.0.1", port=0)
        listeners.append(listener)
        assert listener.port > 0
        return listener

    yield start
    for listener in reversed(listeners):
        await asyncio.wait_for(listener.aclose(), WAIT)


@pytest.fixture
def start_sio(
    serve: Callable[[Any], Awaitable[Any]], net: Net
) -> Callable[..., Awaitable[SioHarness]]:
    async def start(**options: Any) -> SioHarness:
        io = roomcast.Server(**options)
        log = ServerLog()
        install_echo(io, log)
        listener = await serve(io)
        return SioHarness(io, listener, log, net)

    return start

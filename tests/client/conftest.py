"""Fixtures for the client tests (helpers live in ``client_support.py``).

``host``: a roomcast server on 127.0.0.1 with a free port (``restart()`` stops it and starts
a new one on the same port). ``make_client(**options)``: clients disconnected at teardown,
after which no task of roomcast's client may be left. ``node_server(**options)``: a Node
socket.io@4.8 server process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import roomcast

from .client_support import WAIT, NodeServer, RoomcastPeer

CLIENT_SOURCES = str(Path(roomcast.__file__).resolve().parent / "client")


class RoomcastHost:
    """A roomcast server that can be stopped and started again on the same port."""

    def __init__(self, peer: RoomcastPeer) -> None:
        self.peer = peer
        self.io: roomcast.Server | None = None
        self.listener: Any = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.io = self.peer.build()
        self.listener = await self.io.listen(host="127.0.0.1", port=self.port)
        self.port = self.listener.port

    async def stop(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            await asyncio.wait_for(listener.aclose(), WAIT)

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@pytest.fixture
async def host() -> AsyncIterator[RoomcastHost]:
    """A started roomcast server with the ``RoomcastPeer`` handlers."""
    served = RoomcastHost(RoomcastPeer(ping_interval=1.0, ping_timeout=1.0))
    await served.start()
    yield served
    served.peer.release()
    await served.stop()


def client_tasks() -> list[asyncio.Task[Any]]:
    """The tasks still running code of roomcast's client."""
    found = []
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        code = getattr(coro, "cr_code", None)
        if not task.done() and code is not None and code.co_filename.startswith(CLIENT_SOURCES):
            found.append(task)
    return found


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., roomcast.Client]]:
    """``client = make_client(**options)``; every client is disconnected at teardown."""
    clients: list[roomcast.Client] = []

    def make(**options: Any) -> roomcast.Client:
        client = roomcast.Client(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await asyncio.wait_for(client.disconnect(), WAIT)
    assert client_tasks() == []


@pytest.fixture
async def node_server() -> AsyncIterator[Callable[..., Awaitable[NodeServer]]]:
    """``server = await node_server(port=0, **options)``; ended at teardown."""
    servers: list[NodeServer] = []

    async def start(port: int = 0, **options: Any) -> NodeServer:
        server = await NodeServer.start(port, **options)
        servers.append(server)
        return server

    yield start
    await asyncio.gather(*(s.aclose() for s in servers))

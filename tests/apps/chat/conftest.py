"""Fixtures of the chat service's tests: a server per test in an empty folder of its own,
on each store (SQLite in the folder; PostgreSQL in a schema of its own). A test module
runs its tests on several workers too by overriding ``worker_args``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from integration.support import NodeClient

from .support import NOTIFY_TOKEN, Api, ChatServer, Tabs, needs_postgres, postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=needs_postgres)])
async def store_args(request: pytest.FixtureRequest) -> AsyncIterator[list[str]]:
    """The options that choose the store (none: the embedded default)."""
    if request.param == "sqlite":
        yield []
        return
    async with postgres_schema() as url:
        yield ["--store", url]


@pytest.fixture
def worker_args() -> list[str]:
    """The options that choose the worker processes (none: one)."""
    return []


@pytest.fixture
async def server(
    tmp_path: Path, store_args: list[str], worker_args: list[str]
) -> AsyncIterator[ChatServer]:
    folder = tmp_path / "run"
    folder.mkdir()
    args = ["--notify-token", NOTIFY_TOKEN, *store_args, *worker_args]
    chat = await ChatServer(folder, args).start()
    yield chat
    await chat.stop()


@pytest.fixture
async def api(server: ChatServer) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(http, server)


@pytest.fixture
async def tabs(server: ChatServer) -> AsyncIterator[Tabs]:
    node = await NodeClient.start(server.url)
    yield Tabs(node)
    await node.aclose()

"""Fixtures for the store tests: a fake wall clock, and stores of every kind made fresh per
test (SQLite in ``tmp_path``; Redis on 127.0.0.1:6379 with a stream and session prefix of
the test's own, deleted afterwards)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cluster.harness import REDIS_URL, needs_redis, unique_key
from roomcast.store import MemoryStore, SqliteStore, Store

WAIT = 5.0


class Clock:
    """A wall clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Maker:
    """Makes stores of one kind; closes them (and cleans Redis) at the end of the test."""

    kind: str
    tmp_path: Path
    clock: Clock = field(default_factory=Clock)
    made: list[Store] = field(default_factory=list)
    key: str = field(default_factory=unique_key)

    async def __call__(self, **options: Any) -> Store:
        options.setdefault("clock", self.clock)
        store: Store
        if self.kind == "memory":
            store = MemoryStore(**options)
        elif self.kind == "sqlite":
            store = SqliteStore(self.tmp_path / "store.db", **options)
        else:
            from roomcast.store.redis import RedisStore

            options.setdefault("approximate", False)
            store = RedisStore(
                REDIS_URL, stream=self.key, session_prefix=f"{self.key}:session:", **options
            )
        await store.start()
        self.made.append(store)
        return store

    def future_offset(self, offset: str) -> str:
        """A well-formed offset that this store has not given yet (a forged one)."""
        if self.kind == "redis":
            ms, _, _ = offset.partition("-")
            return f"{int(ms) + 10**7}-0"
        return str(int(offset) + 1000)

    async def session_gone(self, pid: str) -> None:
        """Wait out the session's remaining lifetime on Redis's own clock (``PTTL``): a
        deadline in Redis's time, which the fake clock cannot move."""
        if self.kind != "redis":
            return
        from redis.asyncio import Redis

        client = Redis.from_url(REDIS_URL)
        try:
            remaining = await client.pttl(f"{self.key}:session:{pid}")
            if remaining > 0:
                await asyncio.sleep(remaining / 1000 + 0.005)
        finally:
            await client.aclose()

    async def cleanup(self) -> None:
        for store in self.made:
            await store.aclose()
        if self.kind == "redis":
            from redis.asyncio import Redis

            client = Redis.from_url(REDIS_URL)
            keys = [key async for key in client.scan_iter(match=f"{self.key}*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("redis", id="redis", marks=needs_redis),
    ]
)
async def make(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Maker]:
    maker = Maker(request.param, tmp_path)
    yield maker
    await maker.cleanup()

"""Soak, short form: connect/disconnect cycles leave nothing behind in the server.

The server runs in its own process (``soak_app.py``, uvloop as ``io.run`` serves), so its
RSS and file descriptors are its own; the clients are roomcast's asyncio client in the
test. One cycle: connect, join a room (acked), emit ``say`` with an ack (the server
broadcasts it to the room), receive that broadcast, disconnect. Cycles rotate over
WebSocket, long-polling and polling-then-upgrade, eight at a time, over eight rooms shared
by the clients in flight.

After a warm-up of 3,500 cycles (what fills once: the native server's cache of parsed
request URLs, 4,096 of them, each polling session's URL its own), the server's figures
are taken once it holds no session; after 1,500 more cycles, the test waits (with a
timeout) until they come back: the same descriptors, the same asyncio tasks, the same
number of objects of every roomcast class (sessions, sockets, protocols, links), no room
and no socket entry left, and RSS within 5% of its level after the warm-up. The long
form, with its figures, is ``bench/soak.py`` (docs/RELIABILITY.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import roomcast
from integration.support import WAIT, seconds

APP = Path(__file__).resolve().parent / "soak_app.py"
WARMUP = 3500
CYCLES = 1500
CONCURRENCY = 8
ROOMS = 8
MODES: dict[str, tuple[str, ...]] = {
    "websocket": ("websocket",),
    "polling": ("polling",),
    "upgrade": ("polling", "websocket"),
}
SETTLE = seconds(20.0)
"""How long the server may take to let go of the last connections (a closing WebSocket's
transport lives on until its client closes, five seconds at most)."""


@dataclass(frozen=True)
class Figures:
    rss_kib: int
    fds: int
    stats: dict[str, Any]

    @property
    def quiet(self) -> bool:
        """No session, socket, room or socket entry is held."""
        keys = ("engine_sessions", "sockets", "rooms", "socket_rooms")
        return all(self.stats[key] == 0 for key in keys)

    def same_as(self, other: Figures) -> bool:
        return (
            self.fds == other.fds
            and self.stats["tasks"] == other.stats["tasks"]
            and self.stats["roomcast_objects"] == other.stats["roomcast_objects"]
        )


class SoakServer:
    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"

    @classmethod
    async def start(cls) -> SoakServer:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(APP), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), WAIT)
        return cls(proc, int(json.loads(line)["port"]))

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        (line,) = (row for row in status.splitlines() if row.startswith("VmRSS:"))
        return int(line.split()[1])

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    async def figures(self, http: aiohttp.ClientSession) -> Figures:
        async with http.get(f"{self.url}/soak/stats") as response:
            assert response.status == 200
            stats = await response.json()
        # read after the answer: the stats connection is kept alive, counted every time
        return Figures(self.rss_kib(), self.fds(), stats)

    async def settled(self, http: aiohttp.ClientSession, like: Figures | None = None) -> Figures:
        """The figures once the server holds no session (and, given ``like``, once its
        descriptors, tasks and objects are back to those); the last ones after ``SETTLE``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE
        while True:
            figures = await self.figures(http)
            if figures.quiet and (like is None or figures.same_as(like)):
                return figures
            if loop.time() > deadline:
                return figures
            await asyncio.sleep(0.05)  # another look at a process that is not ours

    async def aclose(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), WAIT)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


@pytest.fixture
async def soak_server() -> AsyncIterator[SoakServer]:
    server = await SoakServer.start()
    try:
        yield server
    finally:
        await server.aclose()


async def cycle(url: str, mode: str, room: str, token: str) -> None:
    """Connect, join ``room``, have ``token`` broadcast to it, hear it, disconnect."""
    client = roomcast.Client(reconnection=False, transports=MODES[mode], timeout=WAIT)
    heard: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def said(value: str) -> None:
        if value == token and not heard.done():
            heard.set_result(None)

    client.on("said", said)
    try:
        await client.connect(url)
        assert await client.emit_with_ack("join", room, timeout=WAIT) == room
        assert await client.emit_with_ack("say", room, token, timeout=WAIT) == token
        await asyncio.wait_for(heard, WAIT)
    finally:
        await client.disconnect()


async def run_cycles(url: str, numbers: range) -> None:
    """Cycles ``numbers``, ``CONCURRENCY`` at a time; the first failure fails them all."""
    queue = iter(numbers)

    async def worker() -> None:
        for n in queue:
            await cycle(url, list(MODES)[n % len(MODES)], f"room-{n % ROOMS}", f"token-{n}")

    async with asyncio.TaskGroup() as group:
        for _ in range(CONCURRENCY):
            group.create_task(worker())


async def test_connect_disconnect_cycles_leave_nothing_behind(soak_server: SoakServer) -> None:
    async with aiohttp.ClientSession() as http:
        await run_cycles(soak_server.url, range(WARMUP))
        before = await soak_server.settled(http)
        assert before.quiet, before.stats

        await run_cycles(soak_server.url, range(WARMUP, WARMUP + CYCLES))
        after = await soak_server.settled(http, like=before)

    assert after.quiet, after.stats
    assert after.fds == before.fds
    assert after.stats["tasks"] == before.stats["tasks"]
    grown = {
        name: (before.stats["roomcast_objects"].get(name, 0), count)
        for name, count in after.stats["roomcast_objects"].items()
        if count != before.stats["roomcast_objects"].get(name, 0)
    }
    assert not grown, f"roomcast objects (before, after) that did not come back: {grown}"
    assert abs(after.rss_kib - before.rss_kib) <= 0.05 * before.rss_kib, (
        before.rss_kib,
        after.rss_kib,
    )

"""Fault: the SQLite store cannot be written for a while, under a steady broadcast with
recovery on, official clients in the room.

- ``full``: the store's folder is a tmpfs of ``size`` bytes, filled up by another file
  (needs root and ``mount``); freed again by deleting that file.
- ``read-only``: the database, its WAL and its folder made immutable (``chattr +i``, which
  binds root too; needs root and chattr); writable again with ``chattr -i``. A read-only
  remount is not possible while the server holds the files open for writing.

What the server is expected to do (``server/recovery.py``, "Faults"): keep delivering live
broadcasts (without an offset: they cannot be replayed), keep every connection, log the
failure once and its end once, report ``"store": "down"`` on ``/readyz`` meanwhile, and
use the store again by itself once it can be written.

Used by ``test_faults_store.py`` (short) and ``bench/faults.py store-*`` (long).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import roomcast
from integration.support import WAIT, NodeClient, base_url
from roomcast.store import SqliteStore

from .redis_faults import readyz

Kind = Literal["full", "read-only"]
ROOM = "room"
CHATTR = shutil.which("chattr")
MOUNT = shutil.which("mount")
RECEIVERS = ["r0", "r1", "r2"]


def can_mount() -> bool:
    return MOUNT is not None and os.geteuid() == 0


def can_chattr() -> bool:
    return CHATTR is not None and os.geteuid() == 0


@contextlib.contextmanager
def tmpfs(path: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes mounted on ``path`` (unmounted, lazily, afterwards)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> int:
    """Write ``path`` until the disk is full; the bytes written."""
    written = 0
    chunk = b"\0" * 4096
    with path.open("wb", buffering=0) as file:
        while True:
            try:
                written += file.write(chunk) or 0
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return written


def chattr(flag: str, *paths: Path) -> None:
    assert CHATTR is not None
    existing = [str(p) for p in paths if p.exists()]
    subprocess.run([CHATTR, flag, *existing], check=True)


class Captured(logging.Handler):
    """Every log record at WARNING and above (roomcast's, asyncio's: a task that failed)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def captured() -> Iterator[Captured]:
    handler = Captured()
    logger = logging.getLogger()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level or logging.WARNING, logging.WARNING))
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@dataclass
class StoreFault:
    """What the clients and the server's log and ``/readyz`` showed."""

    kind: Kind
    sent: int = 0
    unstored: int = 0
    """Broadcasts sent without an offset (the store failed for them)."""
    window: tuple[int, int] = (0, 0)
    """The numbers broadcast from the fault's start to its end."""
    received: dict[str, list[int]] = field(default_factory=dict)
    disconnects: int = 0
    warnings: list[str] = field(default_factory=list)
    tracebacks: int = 0
    ready_during: tuple[int, str] = (0, "")
    ready_after: tuple[int, str] = (0, "")
    failed_after: float = 0.0
    """Seconds from the fault to the first broadcast the store refused."""
    stored_again_after: float = 0.0
    """Seconds from the fix to the first broadcast stored again."""
    fresh_during: bool | None = None
    """A client cut and back while the store failed: whether it started a fresh session."""
    recovered_after: bool | None = None
    """A client cut after the fix, broadcasts made while it was away: ``socket.recovered``."""
    replayed_after: list[int] = field(default_factory=list)
    """What that client got of the broadcasts made while it was away."""
    missed_while_away: list[int] = field(default_factory=list)

    def lost(self, id: str) -> list[int]:
        return sorted(set(range(self.sent)) - set(self.received[id]))


@contextlib.asynccontextmanager
async def failing(kind: Kind, folder: Path, db: Path) -> AsyncIterator[None]:
    """The store at ``db`` (in ``folder``) cannot be written inside the block."""
    if kind == "full":
        filler = folder / "filler"
        fill(filler)
        try:
            yield
        finally:
            filler.unlink()
    else:
        files = (db, db.with_name(db.name + "-wal"), folder)
        chattr("+i", *files)
        try:
            yield
        finally:
            chattr("-i", *files)


async def store_fails(
    kind: Kind,
    tmp: Path,
    *,
    before: int = 50,
    duration: float = 1.0,
    after: int = 50,
    pace: float = 0.005,
    size: int = 16 << 20,
) -> StoreFault:
    """Broadcast ``n`` to the room every ``pace`` s; after ``before``, the store fails for
    ``duration`` s (at least until it refused one broadcast), then ``after`` more."""
    with contextlib.ExitStack() as mounts:
        folder = mounts.enter_context(tmpfs(tmp / "disk", size)) if kind == "full" else tmp
        db = folder / "store.db"
        io = roomcast.Server(
            recovery=roomcast.Recovery(max_disconnection_duration=60.0),
            store=SqliteStore(db, busy_timeout=1.0),
        )
        async with contextlib.AsyncExitStack() as stack:
            listener = await io.listen(host="127.0.0.1", port=0)
            stack.push_async_callback(lambda: asyncio.wait_for(listener.aclose(), WAIT))
            node = await NodeClient.start(base_url(listener))
            stack.push_async_callback(node.aclose)
            with captured() as log:
                result = await _run(
                    kind, io, node, listener.port, folder, db, before, duration, after, pace
                )
            result.warnings = [r.getMessage() for r in log.records]
            result.tracebacks = sum(1 for r in log.records if r.exc_info)
            return result
    raise AssertionError("unreachable")  # pragma: no cover - for the type checker


async def _run(
    kind: Kind,
    io: roomcast.Server,
    node: NodeClient,
    port: int,
    folder: Path,
    db: Path,
    before: int,
    duration: float,
    after: int,
    pace: float,
) -> StoreFault:
    loop = asyncio.get_running_loop()
    reconnect: dict[str, Any] = {
        "reconnection": True,
        "reconnectionDelay": 50,
        "reconnectionDelayMax": 200,
    }

    @io.on("join")
    def join(socket: roomcast.Socket, room: str) -> None:
        socket.join(room)

    await node.connect_all([*RECEIVERS, "away"], transports=["websocket"], **reconnect)
    for id in [*RECEIVERS, "away"]:
        await node.call(id, "join", ROOM)
    result = StoreFault(kind)
    stored: list[bool] = []
    changed = asyncio.Event()

    async def broadcast(count: int) -> None:
        for _ in range(count):
            offset = await io.to(ROOM).emit("n", len(stored))
            stored.append(offset is not None)
            changed.set()
            await asyncio.sleep(pace)  # the load's pace, not a wait for an outcome

    async def until(predicate: Any) -> None:
        async with asyncio.timeout(3 * WAIT):
            while not predicate():
                changed.clear()
                await asyncio.gather(broadcast(1), changed.wait())

    await broadcast(before)
    assert all(stored), "the store failed before the fault"
    async with failing(kind, folder, db):
        started, first = loop.time(), len(stored)
        await until(lambda: not stored[-1])
        result.failed_after = loop.time() - started
        status, body = await readyz(port)
        result.ready_during = (status, body["store"])
        await node.cut("away")  # recovery is degraded: it comes back, to a fresh session
        record = await node.wait(type="connect", id="away", count=2)
        result.fresh_during = not record["recovered"]
        await node.call("away", "join", ROOM)
        await broadcast(max(0, round((started + duration - loop.time()) / pace)))
    fixed, last = loop.time(), len(stored)
    await until(lambda: stored[-1])
    result.stored_again_after = loop.time() - fixed
    status, body = await readyz(port)
    result.ready_after = (status, body["store"])
    await broadcast(after // 2)
    await node.cut("away", pause=True)
    await node.wait(type="disconnect", id="away", count=2)
    away_from = len(stored)
    await broadcast(after - after // 2)
    away_to = len(stored)
    await node.resume("away")
    record = await node.wait(type="connect", id="away", count=3)
    result.recovered_after = bool(record["recovered"])
    await broadcast(1)
    for id in [*RECEIVERS, "away"]:
        await node.wait(type="event", id=id, event="n", args=lambda a: a[0] == len(stored) - 1)
    away = {args[0] for args in node.events("away", "n")}
    result.replayed_after = sorted(n for n in away if away_from <= n < away_to)
    result.missed_while_away = sorted(set(range(away_from, away_to)) - away)
    result.sent = len(stored)
    result.unstored = stored.count(False)
    result.window = (first, last)
    result.received = {id: [args[0] for args in node.events(id, "n")] for id in RECEIVERS}
    result.disconnects = len(node.log.find(type="disconnect", id=lambda i: i in RECEIVERS))
    return result

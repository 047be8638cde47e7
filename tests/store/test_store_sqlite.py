"""What only the SQLite store does: group commit, durability through SIGKILL, a damaged
file, a file that cannot be written for a while, several processes on one file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from roomcast.exceptions import StoreCorrupt, StoreUnavailable
from roomcast.store import SessionRecord, SqliteStore

WAIT = 10.0
CHATTR = shutil.which("chattr")


async def started(path: Path, **options: object) -> SqliteStore:
    store = SqliteStore(path, **options)  # type: ignore[arg-type]
    await store.start()
    return store


async def test_appends_of_one_tick_share_one_commit(tmp_path: Path) -> None:
    store = await started(tmp_path / "s.db")
    try:
        before = store.statistics().commits
        given = await asyncio.gather(*(store.append("/", ["n", i], ["r"]) for i in range(100)))
        assert store.statistics().commits == before + 1
        assert [int(o) for o in given] == list(range(int(given[0]), int(given[0]) + 100))
        await store.append("/", ["alone"])
        assert store.statistics().commits == before + 2
    finally:
        await store.aclose()


async def test_writes_during_a_commit_gather_into_the_next(tmp_path: Path) -> None:
    store = await started(tmp_path / "s.db")
    try:
        before = store.statistics().commits
        first = asyncio.gather(*(store.append("/", ["a", i]) for i in range(10)))
        await asyncio.sleep(0)  # the first batch is now with the writer thread
        second = [store.append("/", ["b", i]) for i in range(10)]
        second_done = asyncio.gather(*second)
        await asyncio.gather(first, second_done)
        assert store.statistics().commits - before <= 3
        assert store.statistics().appends == 20
    finally:
        await store.aclose()


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from roomcast.store import SqliteStore

    async def main():
        store = SqliteStore(sys.argv[1])
        await store.start()
        i = 0
        while True:
            offsets = await asyncio.gather(*(store.append("/", ["n", i + k]) for k in range(7)))
            i += 7
            print(" ".join(offsets), flush=True)

    asyncio.run(main())
    """
)


async def test_every_offset_given_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WRITER, str(path), stdout=asyncio.subprocess.PIPE
    )
    printed: list[str] = []
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(WAIT):
            while len(printed) < 300:
                line = await proc.stdout.readline()
                assert line, "the writer ended early"
                printed += line.decode().split()
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    store = await started(path)
    try:
        entries = await store.read_since("/", "0")
        assert entries is not None
        kept = {entry.offset for entry in entries}
        assert set(printed) <= kept
    finally:
        await store.aclose()


async def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not a database\n" * 400)
    store = SqliteStore(path)
    with pytest.raises(StoreCorrupt) as caught:
        await store.start()
    assert caught.value.path == str(path)
    await store.aclose()


async def test_damaged_pages(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = await started(path)
    for i in range(20):
        await asyncio.gather(*(store.append("/", ["n", "x" * 200], [f"r{i}"]) for _ in range(20)))
    await store.aclose()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = path.stat().st_size
    with path.open("r+b") as file:
        for page in range(2, size // 4096):
            file.seek(page * 4096 + 8)
            file.write(os.urandom(64))
    store = SqliteStore(path)
    with pytest.raises(StoreCorrupt):
        await store.start()
    await store.aclose()


@contextlib.contextmanager
def unwritable(*paths: Path) -> Iterator[None]:
    """Make ``paths`` impossible to write, even for root (``chattr +i``), for a while.

    The ``-shm`` file is left alone: SQLite maps it, and a write fault there kills the
    process (SIGBUS) rather than failing a call."""
    existing = [str(p) for p in paths if p.exists()]
    subprocess.run([CHATTR, "+i", *existing], check=True)
    try:
        yield
    finally:
        subprocess.run([CHATTR, "-i", *existing], check=True)


needs_chattr = pytest.mark.skipif(
    CHATTR is None or os.geteuid() != 0, reason="needs root and chattr to make a file immutable"
)


@needs_chattr
async def test_unwritable_file_then_recovery(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = await started(path)
    try:
        first = await store.append("/", ["kept"])
        with unwritable(path, path.with_name("s.db-wal"), tmp_path):
            for _ in range(2):  # the open connection fails, then so does a new one
                with pytest.raises(StoreUnavailable):
                    await store.append("/", ["lost"])
            assert store.statistics().failures == 2
        after = await store.append("/", ["after"])  # no restart: it comes back by itself
        assert datas_since(await store.read_since("/", first)) == [["after"]]
        assert int(after) > int(first)
    finally:
        await store.aclose()


@needs_chattr
async def test_start_on_an_unwritable_file(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = await started(path)
    await store.aclose()
    store = SqliteStore(path)
    try:
        with unwritable(path, tmp_path):
            with pytest.raises(StoreUnavailable):
                await store.start()
            with pytest.raises(StoreUnavailable):
                await store.append("/", ["lost"])
        assert await store.append("/", ["after"])
    finally:
        await store.aclose()


def datas_since(entries: object) -> list[object]:
    assert isinstance(entries, list)
    return [entry.data for entry in entries]


async def test_two_stores_on_one_file_share_offsets_and_sessions(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    one, two = await started(path), await started(path)
    try:
        start = await one.append("/", ["start"])
        a = await asyncio.gather(*(one.append("/", ["one", i]) for i in range(5)))
        b = await asyncio.gather(*(two.append("/", ["two", i]) for i in range(5)))
        assert len(set(a) | set(b)) == 10
        entries = await two.read_since("/", start)
        assert entries is not None
        assert [e.offset for e in entries] == [*a, *b]
        await one.persist_session(SessionRecord("p", "s", "/", frozenset({"x"})), ttl=60)
        restored = await two.restore_session("/", "p", start)
        assert restored is not None
        assert restored.session.sid == "s"
    finally:
        await one.aclose()
        await two.aclose()


async def test_reopened_file_keeps_offsets_moving_forward(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = await started(path, retention=None)
    last = (await asyncio.gather(*(store.append("/", [i]) for i in range(5))))[-1]
    await store.aclose()
    store = await started(path)
    try:
        assert int(await store.append("/", ["again"])) > int(last)
    finally:
        await store.aclose()

"""The stores' expiry sweeps across a wall-clock step back: the sweep runs at most once per
``trim_interval``, counted on the store's wall clock; after a step back of hours it must
not wait those hours to run again (entries and sessions that expired meanwhile would stay
on disk, or in Redis, until the clock caught up)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from roomcast.store import Retention, SessionRecord, SqliteStore

HOURS = 3 * 3600.0


class WallClock:
    """A wall clock the test steps (the store's ``clock`` option)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rows(path: Path, now: float) -> tuple[int, int]:
    """Expired entries and sessions still in the file."""
    with sqlite3.connect(path) as conn:
        entries = conn.execute("SELECT count(*) FROM entries WHERE expires <= ?", (now,))
        sessions = conn.execute("SELECT count(*) FROM sessions WHERE expires <= ?", (now,))
        found = (entries.fetchone()[0], sessions.fetchone()[0])
    conn.close()
    return found


async def test_sqlite_sweeps_expired_entries_after_the_clock_stepped_back(
    tmp_path: Path,
) -> None:
    clock = WallClock(1_800_000_000.0)
    path = tmp_path / "s.db"
    store = SqliteStore(path, retention=Retention(max_age=10.0), trim_interval=1.0, clock=clock)
    await store.start()
    try:
        await store.append("/", ["before the step"], ["r"])  # a sweep ran: its time noted
        clock.now -= HOURS  # NTP or an operator steps the clock back
        await store.append("/", ["after"], ["r"])
        await store.persist_session(SessionRecord("pid", "sid", "/", frozenset(), {}), 5.0)
        clock.now += 60.0  # a minute later: both have expired
        await store.append("/", ["a minute later"], ["r"])  # a write batch: the sweep is due
        assert rows(path, clock.now) == (0, 0)
        assert [e.data for e in await store.history("/", "r")] == [
            ["before the step"],  # its expiry, in the old time, is 3 hours away now
            ["a minute later"],
        ]
    finally:
        await store.aclose()

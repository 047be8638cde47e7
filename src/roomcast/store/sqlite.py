"""The SQLite store: durable recovery and history in one file, nothing to install.

```python
store = SqliteStore("var/roomcast.db")          # or from_url("sqlite:///var/roomcast.db")
```

How it writes. One dedicated writer thread owns the writing connection, so the event loop
never waits on the disk. Every write made during one event-loop tick (appends, persisted and
taken sessions) is queued and committed in ONE transaction (group commit); while a commit is
on disk, the next writes gather into the following batch. An ``append`` returns its offset
only after its batch committed: with ``synchronous="full"`` (the default) the entry then
survives a crash of the process or of the machine; ``"normal"`` keeps it through a crash
of the process only, for a cheaper commit. Reads (``read_since``, ``history``) use a second
connection on a reader thread and see a consistent snapshot (WAL mode).

Several processes (``--workers N``) may open the same file: writes take turns through
SQLite's lock (``busy_timeout``), and offsets are the rows' ids (``AUTOINCREMENT``: never
reused, even after trimming), so they mean the same thing in every process.

Layout: ``entries`` (id = offset, namespace, rooms, data as JSON text plus base64 bytes,
time, expiry), ``entry_rooms`` (namespace, room, id: the index behind ``history``),
``sessions`` (pid, namespace, record, expiry) and ``meta`` (the id below which the
whole-store retention has trimmed). Trimming runs inside the write batches: the count limit
on every batch (a range delete on the primary key), expiries at most once per
``trim_interval``.

Failures: a read-only file, a full disk or a lock held past ``busy_timeout`` raise
``StoreUnavailable``; the connection is dropped and the next call opens a new one, so the
store comes back by itself once the cause is gone. A file that is not a database or fails
SQLite's ``quick_check`` at start-up raises ``StoreCorrupt``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

from ..exceptions import StoreCorrupt, StoreError, StoreUnavailable
from . import codec
from .base import SessionRecord, Store, StreamEntry, parse_sequence
from .batch import GroupCommit

_T = TypeVar("_T")
_Op = Callable[[sqlite3.Connection], Any]

SCHEMA_VERSION: Final = 1
_CORRUPT_CODES: Final = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_SYNCHRONOUS: Final = ("off", "normal", "full", "extra")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    nsp TEXT NOT NULL,
    rooms TEXT NOT NULL,
    except_rooms TEXT NOT NULL,
    data TEXT NOT NULL,
    bins TEXT,
    time REAL NOT NULL,
    expires REAL
);
CREATE INDEX IF NOT EXISTS entries_by_namespace ON entries (nsp, id);
CREATE INDEX IF NOT EXISTS entries_by_expiry ON entries (expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS entry_rooms (
    nsp TEXT NOT NULL,
    room TEXT NOT NULL,
    id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    PRIMARY KEY (nsp, room, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entry_rooms_by_id ON entry_rooms (id);
CREATE TABLE IF NOT EXISTS sessions (
    pid TEXT PRIMARY KEY,
    nsp TEXT NOT NULL,
    record TEXT NOT NULL,
    bins TEXT,
    expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('floor', 0);
"""

_COLUMNS: Final = "e.id, e.nsp, e.rooms, e.except_rooms, e.data, e.bins, e.time"


def _entry(row: tuple[Any, ...]) -> StreamEntry:
    id_, nsp, rooms, except_rooms, data, bins, time = row
    return StreamEntry(
        str(id_),
        nsp,
        frozenset(json.loads(rooms)),
        frozenset(json.loads(except_rooms)),
        codec.load(data, bins),
        time,
    )


def _failure(exc: sqlite3.Error, path: str) -> StoreError:
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in _CORRUPT_CODES:
        return StoreCorrupt(f"the SQLite store {path!r} is damaged: {exc}", path)
    return StoreUnavailable(f"the SQLite store {path!r} cannot be used: {exc}")


class _Connection:
    """One connection owned by one thread: opened on first use, dropped after a failure so
    the next call starts afresh (a file made writable again, a disk with room again)."""

    def __init__(self, open_: Callable[[], sqlite3.Connection], path: str) -> None:
        self._open = open_
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        try:
            if self._conn is None:
                self._conn = self._open()
            return work(self._conn)
        except sqlite3.Error as exc:
            self.close()
            raise _failure(exc, self._path) from exc

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                if conn.in_transaction:
                    conn.rollback()
            except sqlite3.Error:
                pass
            conn.close()


class SqliteStore(Store):
    """Streams and sessions in a SQLite file (see the module docstring).

    Args:
        path: the database file (created with its directory's permissions when missing).
        synchronous: SQLite's ``synchronous`` in WAL mode: ``"full"`` (durable through a
            power loss) or ``"normal"`` (through a crash of the process only).
        busy_timeout: seconds a write waits for another process's transaction.
        trim_interval: seconds between two sweeps of expired entries and sessions.
        **options: ``retention``, ``rooms``, ``clock`` (see ``Store``).
    """

    durable = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "full",
        busy_timeout: float = 5.0,
        trim_interval: float = 1.0,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if synchronous not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}")
        self.path = os.fspath(path)
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.trim_interval = trim_interval
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="roomcast-sqlite-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="roomcast-sqlite-reader")
        self._write_conn = _Connection(self._open_writer, self.path)
        self._read_conn = _Connection(self._open_reader, self.path)
        self._batches: GroupCommit[_Op, Any] = GroupCommit(self._write_batch)
        self._last_sweep = float("-inf")
        self._floor = 0  # writer thread only: the floor this process last wrote

    # -- connections --------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        return conn

    def _open_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")  # idempotent
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_reader(self) -> sqlite3.Connection:
        conn = self._connect()
        conn.execute("PRAGMA query_only = 1")
        return conn

    async def start(self) -> None:
        await self._write(self._check)

    def _check(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("PRAGMA quick_check(1)").fetchone()
        if row is None or row[0] != "ok":
            raise StoreCorrupt(f"the SQLite store {self.path!r} is damaged: {row}", self.path)

    async def aclose(self) -> None:
        await self._batches.drain()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self._write_conn.close)
        await loop.run_in_executor(self._reader, self._read_conn.close)
        self._writer.shutdown(wait=False)
        self._reader.shutdown(wait=False)

    # -- group commit -------------------------------------------------------------------------

    def _write(self, op: Callable[[sqlite3.Connection], _T]) -> asyncio.Future[_T]:
        """Queue ``op`` for the next batch: it runs inside that batch's transaction and the
        future resolves once the transaction committed."""
        return self._batches.submit(op)

    async def _write_batch(self, ops: list[_Op]) -> list[Any]:
        def run(conn: sqlite3.Connection) -> list[Any]:
            conn.execute("BEGIN IMMEDIATE")
            try:
                results = [op(conn) for op in ops]
                self._trim_now(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
            return results

        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._writer, self._write_conn.run, run)
        except StoreError:
            self._count("failures", len(ops))
            raise
        self._count("commits")
        return results

    async def _read(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        def snapshot(conn: sqlite3.Connection) -> _T:
            conn.execute("BEGIN")
            try:
                return work(conn)
            finally:
                conn.execute("COMMIT")

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._reader, self._read_conn.run, snapshot)
        except StoreUnavailable:
            self._count("failures")
            raise

    # -- the stream ---------------------------------------------------------------------------

    async def append(
        self,
        namespace: str,
        data: list[Any],
        rooms: Iterable[str] = (),
        except_rooms: Iterable[str] = (),
    ) -> str:
        targets = sorted(set(rooms))
        text, bins = codec.dump(data)
        now = self.clock()
        row = (
            namespace,
            json.dumps(targets),
            json.dumps(sorted(set(except_rooms))),
            text,
            bins,
            now,
            self.rules.expiry(targets, now),
        )
        limits = self.rules.room_limits(targets)

        def insert(conn: sqlite3.Connection) -> str:
            cursor = conn.execute(
                "INSERT INTO entries (nsp, rooms, except_rooms, data, bins, time, expires)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            id_ = cursor.lastrowid
            if targets:
                conn.executemany(
                    "INSERT INTO entry_rooms VALUES (?, ?, ?)",
                    [(namespace, room, id_) for room in targets],
                )
            for room, limit in limits:
                conn.execute(
                    "DELETE FROM entries WHERE id IN (SELECT id FROM entry_rooms"
                    " WHERE nsp = ? AND room = ? ORDER BY id DESC LIMIT -1 OFFSET ?)",
                    (namespace, room, limit),
                )
            return str(id_)

        offset = await self._write(insert)
        self._count("appends")
        return offset

    def _trim_now(self, conn: sqlite3.Connection) -> None:
        """Retention, inside a write batch: the count on every batch, expiries at most once
        per ``trim_interval``."""
        limit = self.rules.default.max_count
        if limit is not None:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'entries'").fetchone()
            cut = (row[0] if row else 0) - limit
            if cut > self._floor:
                conn.execute("DELETE FROM entries WHERE id <= ?", (cut,))
                conn.execute("UPDATE meta SET value = max(value, ?) WHERE key = 'floor'", (cut,))
                self._floor = cut
        now = self.clock()
        if not 0 <= now - self._last_sweep < self.trim_interval:  # due, or the clock stepped back
            self._last_sweep = now
            conn.execute("DELETE FROM entries WHERE expires <= ?", (now,))
            conn.execute("DELETE FROM sessions WHERE expires <= ?", (now,))

    async def trim(self) -> None:
        self._last_sweep = float("-inf")
        await self._write(lambda conn: None)

    async def head(self) -> str | None:
        def read(conn: sqlite3.Connection) -> str:
            last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'entries'").fetchone()
            return str(last[0] if last else 0)

        return await self._read(read)

    async def read_since(self, namespace: str, offset: str) -> list[StreamEntry] | None:
        seq = parse_sequence(offset)
        if seq is None:
            return None
        now = self.clock()

        def read(conn: sqlite3.Connection) -> list[StreamEntry] | None:
            floor = conn.execute("SELECT value FROM meta WHERE key = 'floor'").fetchone()
            last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'entries'").fetchone()
            if seq < (floor[0] if floor else 0) or seq > (last[0] if last else 0):
                return None
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM entries e WHERE e.nsp = ? AND e.id > ?"
                " AND (e.expires IS NULL OR e.expires > ?) ORDER BY e.id",
                (namespace, seq, now),
            )
            return [_entry(row) for row in rows]

        return await self._read(read)

    async def history(
        self,
        namespace: str,
        room: str,
        *,
        limit: int = 50,
        before: str | None = None,
        after: str | None = None,
    ) -> list[StreamEntry]:
        low = 0 if after is None else parse_sequence(after)
        high = (1 << 62) if before is None else parse_sequence(before)
        if low is None or high is None or limit <= 0:
            return []
        order = "ASC" if after is not None else "DESC"
        query = (
            f"SELECT {_COLUMNS} FROM entry_rooms r JOIN entries e ON e.id = r.id"
            " WHERE r.nsp = ? AND r.room = ? AND r.id > ? AND r.id < ?"
            f" AND (e.expires IS NULL OR e.expires > ?) ORDER BY r.id {order} LIMIT ?"
        )
        args = (namespace, room, low, high, self.clock(), limit)

        def read(conn: sqlite3.Connection) -> list[StreamEntry]:
            return [_entry(row) for row in conn.execute(query, args)]

        found = await self._read(read)
        return found if after is not None else found[::-1]

    # -- sessions -----------------------------------------------------------------------------

    async def persist_session(self, record: SessionRecord, ttl: float) -> None:
        text, bins = codec.dump(
            {
                "sid": record.sid,
                "rooms": sorted(record.rooms),
                "data": record.data,
                "extra": dict(record.extra),
            }
        )
        row = (record.pid, record.namespace, text, bins, self.clock() + ttl)
        await self._write(
            lambda conn: conn.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?)", row)
        )
        self._count("sessions_persisted")

    async def take_session(self, pid: str) -> SessionRecord | None:
        def take(conn: sqlite3.Connection) -> tuple[Any, ...] | None:
            cursor = conn.execute(
                "DELETE FROM sessions WHERE pid = ? RETURNING nsp, record, bins, expires", (pid,)
            )
            row: tuple[Any, ...] | None = cursor.fetchone()
            cursor.fetchall()
            return row

        row = await self._write(take)
        if row is None or row[3] <= self.clock():
            return None
        fields = codec.load(row[1], row[2])
        return SessionRecord(
            pid, fields["sid"], row[0], frozenset(fields["rooms"]), fields["data"], fields["extra"]
        )

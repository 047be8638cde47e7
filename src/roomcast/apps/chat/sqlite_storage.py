"""``ChatStorage`` in one SQLite file (the embedded default, nothing to install).

One thread owns the connection, so the event loop never waits on the disk; each call is one
transaction. Several worker processes may open the same file (WAL mode; writers take turns
through SQLite's lock, waiting up to ``busy_timeout``).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

from .storage import (
    ChatStorage,
    Membership,
    Message,
    NameTaken,
    Notification,
    Posted,
    Room,
    RoomKind,
    User,
    direct_name,
)

_T = TypeVar("_T")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rooms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    kind TEXT NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users (id)
);
CREATE TABLE IF NOT EXISTS members (
    room_id INTEGER NOT NULL REFERENCES rooms (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    last_read INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_by_user ON members (user_id);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id INTEGER NOT NULL REFERENCES rooms (id),
    author_id INTEGER NOT NULL REFERENCES users (id),
    text TEXT NOT NULL,
    time REAL NOT NULL,
    edited REAL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_by_room ON messages (room_id, id);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    url TEXT,
    time REAL NOT NULL,
    read INTEGER NOT NULL DEFAULT 0,
    key TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS notifications_by_user ON notifications (user_id, id);
"""
MIGRATIONS: Final = (
    _SCHEMA,  # to version 1
    # 2: the senders' keys of messages (a message sent again is stored once)
    "ALTER TABLE messages ADD COLUMN key TEXT;"
    "CREATE UNIQUE INDEX messages_by_key ON messages (author_id, key) WHERE key IS NOT NULL;",
)
SCHEMA_VERSION: Final = len(MIGRATIONS)

_UNREAD: Final = """
SELECT count(*) FROM messages
WHERE room_id = :room AND id > :last_read AND deleted = 0 AND author_id != :user
"""
_ROOM: Final = """
SELECT r.id, r.name, r.kind, (SELECT count(*) FROM members m WHERE m.room_id = r.id)
FROM rooms r
"""
_MESSAGE: Final = """
SELECT m.id, m.room_id, m.author_id, u.name, m.text, m.time, m.edited, m.deleted
FROM messages m JOIN users u ON u.id = m.author_id
"""
_NOTIFICATION: Final = "SELECT id, user_id, title, body, url, time, read FROM notifications"


def _room(row: Any) -> Room:
    return Room(row[0], row[1], RoomKind(row[2]), row[3])


def _message(row: Any) -> Message:
    return Message(row[0], row[1], User(row[2], row[3]), row[4], row[5], row[6], bool(row[7]))


def _notification(row: Any) -> Notification:
    return Notification(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]))


class SqliteChatStorage(ChatStorage):
    """The chat's data in the SQLite file ``path`` (made, with its folder, when missing)."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        self.busy_timeout = busy_timeout
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="chat-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    async def initialize(self) -> None:
        def create() -> None:
            self._open().close()

        await asyncio.get_running_loop().run_in_executor(self._thread, create)

    # -- the connection, on its own thread

    def _open(self) -> sqlite3.Connection:
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            steps = "".join(MIGRATIONS[version:])
            conn.executescript(
                f"BEGIN IMMEDIATE;{steps}PRAGMA user_version={SCHEMA_VERSION};COMMIT;"
            )
        return conn

    def _transaction(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._conn is None:
            self._conn = self._open()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._transaction, work)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True

        def close() -> None:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

        await asyncio.get_running_loop().run_in_executor(self._thread, close)
        self._thread.shutdown(wait=True)

    # -- users and sessions

    async def create_user(self, name: str, password_hash: str) -> User:
        def work(conn: sqlite3.Connection) -> User:
            try:
                cursor = conn.execute(
                    "INSERT INTO users (name, password, created) VALUES (?, ?, ?)",
                    (name, password_hash, time.time()),
                )
            except sqlite3.IntegrityError:
                raise NameTaken(name) from None
            assert cursor.lastrowid is not None
            return User(cursor.lastrowid, name)

        return await self._run(work)

    async def login_record(self, name: str) -> tuple[User, str] | None:
        def work(conn: sqlite3.Connection) -> tuple[User, str] | None:
            row = conn.execute(
                "SELECT id, name, password FROM users WHERE name = ?", (name,)
            ).fetchone()
            return None if row is None else (User(row[0], row[1]), row[2])

        return await self._run(work)

    async def user(self, user_id: int) -> User | None:
        return await self._run(lambda conn: _user(conn, "id", user_id))

    async def user_by_name(self, name: str) -> User | None:
        return await self._run(lambda conn: _user(conn, "name", name))

    async def start_session(self, session_id: str, user_id: int, expires: float) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sessions WHERE expires < ?", (time.time(),))
            conn.execute(
                "INSERT INTO sessions (id, user_id, expires) VALUES (?, ?, ?)",
                (session_id, user_id, expires),
            )

        await self._run(work)

    async def session_user(self, session_id: str, now: float) -> int | None:
        def work(conn: sqlite3.Connection) -> int | None:
            row = conn.execute(
                "SELECT user_id FROM sessions WHERE id = ? AND expires >= ?", (session_id, now)
            ).fetchone()
            return None if row is None else int(row[0])

        return await self._run(work)

    async def end_session(self, session_id: str) -> None:
        await self._run(
            lambda conn: conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        )

    # -- rooms and memberships

    async def create_room(self, name: str, kind: RoomKind, creator_id: int) -> Room:
        def work(conn: sqlite3.Connection) -> Room:
            try:
                cursor = conn.execute(
                    "INSERT INTO rooms (name, kind, created_by) VALUES (?, ?, ?)",
                    (name, kind.value, creator_id),
                )
            except sqlite3.IntegrityError:
                raise NameTaken(name) from None
            assert cursor.lastrowid is not None
            conn.execute(
                "INSERT INTO members (room_id, user_id) VALUES (?, ?)",
                (cursor.lastrowid, creator_id),
            )
            return Room(cursor.lastrowid, name, kind, 1)

        return await self._run(work)

    async def room(self, room_id: int) -> Room | None:
        def work(conn: sqlite3.Connection) -> Room | None:
            row = conn.execute(_ROOM + " WHERE r.id = ?", (room_id,)).fetchone()
            return None if row is None else _room(row)

        return await self._run(work)

    async def public_rooms(self) -> list[Room]:
        def work(conn: sqlite3.Connection) -> list[Room]:
            rows = conn.execute(_ROOM + " WHERE r.kind = 'public' ORDER BY r.name").fetchall()
            return [_room(row) for row in rows]

        return await self._run(work)

    async def direct_room(self, user_id: int, other_id: int) -> Room:
        name = direct_name(user_id, other_id)

        def work(conn: sqlite3.Connection) -> Room:
            row = conn.execute(_ROOM + " WHERE r.name = ?", (name,)).fetchone()
            if row is not None:
                return _room(row)
            cursor = conn.execute(
                "INSERT INTO rooms (name, kind, created_by) VALUES (?, 'direct', ?)",
                (name, user_id),
            )
            assert cursor.lastrowid is not None
            conn.executemany(
                "INSERT OR IGNORE INTO members (room_id, user_id) VALUES (?, ?)",
                [(cursor.lastrowid, user_id), (cursor.lastrowid, other_id)],
            )
            return Room(cursor.lastrowid, name, RoomKind.DIRECT, len({user_id, other_id}))

        return await self._run(work)

    async def memberships(self, user_id: int) -> list[Membership]:
        def work(conn: sqlite3.Connection) -> list[Membership]:
            rows = conn.execute(
                _ROOM + " JOIN members me ON me.room_id = r.id AND me.user_id = ? ORDER BY r.name",
                (user_id,),
            ).fetchall()
            return [_membership(conn, _room(row), user_id) for row in rows]

        return await self._run(work)

    async def membership(self, room_id: int, user_id: int) -> Membership | None:
        def work(conn: sqlite3.Connection) -> Membership | None:
            row = conn.execute(
                _ROOM + " JOIN members me ON me.room_id = r.id AND me.user_id = ? WHERE r.id = ?",
                (user_id, room_id),
            ).fetchone()
            return None if row is None else _membership(conn, _room(row), user_id)

        return await self._run(work)

    async def add_member(self, room_id: int, user_id: int) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO members (room_id, user_id, last_read) "
                "SELECT ?, ?, coalesce(max(id), 0) FROM messages WHERE room_id = ?",
                (room_id, user_id, room_id),
            )
            return cursor.rowcount == 1

        return await self._run(work)

    async def remove_member(self, room_id: int, user_id: int) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "DELETE FROM members WHERE room_id = ? AND user_id = ?", (room_id, user_id)
            )
            return cursor.rowcount == 1

        return await self._run(work)

    async def member_ids(self, room_id: int) -> list[int]:
        def work(conn: sqlite3.Connection) -> list[int]:
            rows = conn.execute(
                "SELECT user_id FROM members WHERE room_id = ? ORDER BY user_id", (room_id,)
            ).fetchall()
            return [int(row[0]) for row in rows]

        return await self._run(work)

    # -- messages

    async def post_message(
        self, room_id: int, author_id: int, text: str, now: float, *, key: str | None = None
    ) -> Posted | None:
        def work(conn: sqlite3.Connection) -> Posted | None:
            if key is not None:  # (the transaction holds the write lock: no other sender)
                row = conn.execute(
                    _MESSAGE + " WHERE m.author_id = ? AND m.key = ?", (author_id, key)
                ).fetchone()
                if row is not None:
                    return Posted(_message(row), new=False)
            cursor = conn.execute(
                "INSERT INTO messages (room_id, author_id, text, time, key) "
                "SELECT ?, ?, ?, ?, ? FROM members WHERE room_id = ? AND user_id = ?",
                (room_id, author_id, text, now, key, room_id, author_id),
            )
            if cursor.rowcount != 1 or cursor.lastrowid is None:
                return None  # not a member
            conn.execute(
                "UPDATE members SET last_read = ? WHERE room_id = ? AND user_id = ?",
                (cursor.lastrowid, room_id, author_id),
            )
            row = conn.execute(_MESSAGE + " WHERE m.id = ?", (cursor.lastrowid,)).fetchone()
            return Posted(_message(row), new=True)

        return await self._run(work)

    async def messages(self, ids: Iterable[int]) -> dict[int, Message]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}

        def work(conn: sqlite3.Connection) -> dict[int, Message]:
            marks = ",".join("?" * len(wanted))
            rows = conn.execute(_MESSAGE + f" WHERE m.id IN ({marks})", wanted).fetchall()
            return {row[0]: _message(row) for row in rows}

        return await self._run(work)

    async def edit_message(self, message_id: int, text: str, now: float) -> Message | None:
        def work(conn: sqlite3.Connection) -> Message | None:
            conn.execute(
                "UPDATE messages SET text = ?, edited = ? WHERE id = ? AND deleted = 0",
                (text, now, message_id),
            )
            row = conn.execute(_MESSAGE + " WHERE m.id = ?", (message_id,)).fetchone()
            return None if row is None else _message(row)

        return await self._run(work)

    async def delete_message(self, message_id: int) -> Message | None:
        def work(conn: sqlite3.Connection) -> Message | None:
            conn.execute("UPDATE messages SET text = '', deleted = 1 WHERE id = ?", (message_id,))
            row = conn.execute(_MESSAGE + " WHERE m.id = ?", (message_id,)).fetchone()
            return None if row is None else _message(row)

        return await self._run(work)

    async def mark_read(self, room_id: int, user_id: int, message_id: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            conn.execute(
                "UPDATE members SET last_read = max(last_read, ?) "
                "WHERE room_id = ? AND user_id = ?",
                (message_id, room_id, user_id),
            )
            row = conn.execute(
                "SELECT last_read FROM members WHERE room_id = ? AND user_id = ?",
                (room_id, user_id),
            ).fetchone()
            return 0 if row is None else _unread(conn, room_id, user_id, row[0])

        return await self._run(work)

    # -- notifications

    async def add_notification(
        self,
        user_id: int,
        title: str,
        body: str,
        url: str | None,
        now: float,
        *,
        key: str | None = None,
    ) -> Notification | None:
        def work(conn: sqlite3.Connection) -> Notification | None:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO notifications (user_id, title, body, url, time, key) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, title, body, url, now, key),
            )
            if cursor.rowcount != 1 or cursor.lastrowid is None:
                return None
            return Notification(cursor.lastrowid, user_id, title, body, url, now, False)

        return await self._run(work)

    async def notifications(
        self, user_id: int, *, limit: int, before: int | None = None
    ) -> list[Notification]:
        def work(conn: sqlite3.Connection) -> list[Notification]:
            rows = conn.execute(
                _NOTIFICATION + " WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
                (user_id, before if before is not None else 2**62, limit),
            ).fetchall()
            return [_notification(row) for row in rows]

        return await self._run(work)

    async def unread_notifications(self, user_id: int) -> int:
        return await self._run(lambda conn: _unread_notifications(conn, user_id))

    async def mark_notifications_read(self, user_id: int, ids: Sequence[int] | None) -> int:
        def work(conn: sqlite3.Connection) -> int:
            if ids is None:
                conn.execute("UPDATE notifications SET read = 1 WHERE user_id = ?", (user_id,))
            else:
                conn.executemany(
                    "UPDATE notifications SET read = 1 WHERE user_id = ? AND id = ?",
                    [(user_id, i) for i in ids],
                )
            return _unread_notifications(conn, user_id)

        return await self._run(work)


def _user(conn: sqlite3.Connection, column: str, value: object) -> User | None:
    row = conn.execute(f"SELECT id, name FROM users WHERE {column} = ?", (value,)).fetchone()
    return None if row is None else User(row[0], row[1])


def _unread(conn: sqlite3.Connection, room_id: int, user_id: int, last_read: int) -> int:
    row = conn.execute(_UNREAD, {"room": room_id, "last_read": last_read, "user": user_id})
    return int(row.fetchone()[0])


def _unread_notifications(conn: sqlite3.Connection, user_id: int) -> int:
    row = conn.execute(
        "SELECT count(*) FROM notifications WHERE user_id = ? AND read = 0", (user_id,)
    ).fetchone()
    return int(row[0])


def _membership(conn: sqlite3.Connection, room: Room, user_id: int) -> Membership:
    (last_read,) = conn.execute(
        "SELECT last_read FROM members WHERE room_id = ? AND user_id = ?", (room.id, user_id)
    ).fetchone()
    peer = None
    if room.kind is RoomKind.DIRECT:
        row = conn.execute(
            "SELECT u.id, u.name FROM members m JOIN users u ON u.id = m.user_id "
            "WHERE m.room_id = ? AND m.user_id != ?",
            (room.id, user_id),
        ).fetchone()
        peer = User(row[0], row[1]) if row is not None else User(user_id, "")
    return Membership(room, _unread(conn, room.id, user_id, last_read), last_read, peer)

"""``ChatStorage`` in PostgreSQL (``roomcast chat --store postgresql://...``), with asyncpg.

The same tables as the SQLite storage; every call is one transaction on a pooled
connection, and sending a message (the busiest call) one statement: one round trip to the
server. Connections go back to the pool as they are (the service changes no session
setting, so asyncpg's reset query would be one more round trip for nothing). Query
parameters of the URL that are not connection options become server settings
(``?search_path=chat`` puts the tables in schema ``chat``). Names are unique
case-insensitively (a unique index on ``lower(name)``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final, TypeVar

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - installed with the postgres extra
    raise ImportError(
        "the PostgreSQL store needs asyncpg: pip install 'roomcast[chat,postgres]'"
    ) from exc

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
Connection = Any  # asyncpg.Connection (untyped)

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS users (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    password TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_by_name ON users (lower(name));
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    expires DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS rooms (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES users (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS rooms_by_name ON rooms (lower(name));
CREATE TABLE IF NOT EXISTS members (
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    last_read BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX IF NOT EXISTS members_by_user ON members (user_id);
CREATE TABLE IF NOT EXISTS messages (
    id BIGSERIAL PRIMARY KEY,
    room_id BIGINT NOT NULL REFERENCES rooms (id),
    author_id BIGINT NOT NULL REFERENCES users (id),
    text TEXT NOT NULL,
    time DOUBLE PRECISION NOT NULL,
    edited DOUBLE PRECISION,
    deleted BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX IF NOT EXISTS messages_by_room ON messages (room_id, id);
CREATE TABLE IF NOT EXISTS notifications (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    url TEXT,
    time DOUBLE PRECISION NOT NULL,
    read BOOLEAN NOT NULL DEFAULT FALSE,
    key TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS notifications_by_user ON notifications (user_id, id);
ALTER TABLE messages ADD COLUMN IF NOT EXISTS key TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_key ON messages (author_id, key)
    WHERE key IS NOT NULL;
"""
_LOCK: Final = 0x726F6F6D63617374  # an advisory lock: one process makes the tables

_ROOM: Final = """
SELECT r.id, r.name, r.kind, (SELECT count(*) FROM members m WHERE m.room_id = r.id)
FROM rooms r
"""
_MESSAGE: Final = """
SELECT m.id, m.room_id, m.author_id, u.name, m.text, m.time, m.edited, m.deleted
FROM messages m JOIN users u ON u.id = m.author_id
"""
_POST: Final = """
WITH member AS (
    SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2
), inserted AS (
    INSERT INTO messages (room_id, author_id, text, time, key)
    SELECT $1, $2, $3, $4, $5 FROM member
    ON CONFLICT (author_id, key) WHERE key IS NOT NULL DO NOTHING
    RETURNING id, room_id, author_id, text, time, edited, deleted
), marked AS (
    UPDATE members SET last_read = inserted.id FROM inserted
    WHERE members.room_id = $1 AND members.user_id = $2
)
SELECT i.id, i.room_id, i.author_id, u.name, i.text, i.time, i.edited, i.deleted, TRUE
FROM inserted i JOIN users u ON u.id = i.author_id
UNION ALL
SELECT m.id, m.room_id, m.author_id, u.name, m.text, m.time, m.edited, m.deleted, FALSE
FROM messages m JOIN users u ON u.id = m.author_id
WHERE m.author_id = $2 AND m.key = $5::text
"""
_NOTIFICATION: Final = "SELECT id, user_id, title, body, url, time, read FROM notifications"
_UNREAD: Final = """
SELECT count(*) FROM messages
WHERE room_id = $1 AND id > $2 AND NOT deleted AND author_id != $3
"""


def _room(row: Any) -> Room:
    return Room(row[0], row[1], RoomKind(row[2]), row[3])


def _message(row: Any) -> Message:
    return Message(row[0], row[1], User(row[2], row[3]), row[4], row[5], row[6], row[7])


def _notification(row: Any) -> Notification:
    return Notification(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


class PostgresChatStorage(ChatStorage):
    """The chat's data in the PostgreSQL database at ``dsn``."""

    def __init__(self, dsn: str, *, max_connections: int = 10) -> None:
        self.dsn = dsn
        self.max_connections = max_connections
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def initialize(self) -> None:
        """Make the tables (once, whichever process comes first)."""
        conn = await asyncpg.connect(self.dsn)
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
                await conn.execute(_SCHEMA)
        finally:
            await conn.close()

    async def _connections(self) -> Any:
        """The pool (asyncpg.Pool), made on first use."""
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self.dsn, min_size=1, max_size=self.max_connections, reset=_keep_as_is
                )
        return self._pool

    async def _run(self, work: Callable[[Connection], Awaitable[_T]]) -> _T:
        pool = self._pool or await self._connections()
        async with pool.acquire() as conn, conn.transaction():
            return await work(conn)

    async def _fetch(self, query: str, *args: object) -> list[Any]:
        """The rows of one statement (a transaction by itself: no BEGIN, no COMMIT)."""
        pool = self._pool or await self._connections()
        async with pool.acquire() as conn:
            rows: list[Any] = await conn.fetch(query, *args)
            return rows

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # -- users and sessions

    async def create_user(self, name: str, password_hash: str) -> User:
        async def work(conn: Connection) -> User:
            try:
                user_id = await conn.fetchval(
                    "INSERT INTO users (name, password, created) "
                    "VALUES ($1, $2, extract(epoch FROM now())) RETURNING id",
                    name,
                    password_hash,
                )
            except asyncpg.UniqueViolationError:
                raise NameTaken(name) from None
            return User(user_id, name)

        return await self._run(work)

    async def login_record(self, name: str) -> tuple[User, str] | None:
        async def work(conn: Connection) -> tuple[User, str] | None:
            row = await conn.fetchrow(
                "SELECT id, name, password FROM users WHERE lower(name) = lower($1)", name
            )
            return None if row is None else (User(row[0], row[1]), row[2])

        return await self._run(work)

    async def user(self, user_id: int) -> User | None:
        return await self._run(lambda conn: _user(conn, "id = $1", user_id))

    async def user_by_name(self, name: str) -> User | None:
        return await self._run(lambda conn: _user(conn, "lower(name) = lower($1)", name))

    async def start_session(self, session_id: str, user_id: int, expires: float) -> None:
        async def work(conn: Connection) -> None:
            await conn.execute("DELETE FROM sessions WHERE expires < extract(epoch FROM now())")
            await conn.execute(
                "INSERT INTO sessions (id, user_id, expires) VALUES ($1, $2, $3)",
                session_id,
                user_id,
                expires,
            )

        await self._run(work)

    async def session_user(self, session_id: str, now: float) -> int | None:
        async def work(conn: Connection) -> int | None:
            value = await conn.fetchval(
                "SELECT user_id FROM sessions WHERE id = $1 AND expires >= $2", session_id, now
            )
            return None if value is None else int(value)

        return await self._run(work)

    async def end_session(self, session_id: str) -> None:
        async def work(conn: Connection) -> None:
            await conn.execute("DELETE FROM sessions WHERE id = $1", session_id)

        await self._run(work)

    # -- rooms and memberships

    async def create_room(self, name: str, kind: RoomKind, creator_id: int) -> Room:
        async def work(conn: Connection) -> Room:
            try:
                room_id = await conn.fetchval(
                    "INSERT INTO rooms (name, kind, created_by) VALUES ($1, $2, $3) RETURNING id",
                    name,
                    kind.value,
                    creator_id,
                )
            except asyncpg.UniqueViolationError:
                raise NameTaken(name) from None
            await conn.execute(
                "INSERT INTO members (room_id, user_id) VALUES ($1, $2)", room_id, creator_id
            )
            return Room(room_id, name, kind, 1)

        return await self._run(work)

    async def room(self, room_id: int) -> Room | None:
        async def work(conn: Connection) -> Room | None:
            row = await conn.fetchrow(_ROOM + " WHERE r.id = $1", room_id)
            return None if row is None else _room(row)

        return await self._run(work)

    async def public_rooms(self) -> list[Room]:
        async def work(conn: Connection) -> list[Room]:
            rows = await conn.fetch(_ROOM + " WHERE r.kind = 'public' ORDER BY lower(r.name)")
            return [_room(row) for row in rows]

        return await self._run(work)

    async def direct_room(self, user_id: int, other_id: int) -> Room:
        name = direct_name(user_id, other_id)

        async def work(conn: Connection) -> Room:
            room_id = await conn.fetchval(
                "INSERT INTO rooms (name, kind, created_by) VALUES ($1, 'direct', $2) "
                "ON CONFLICT DO NOTHING RETURNING id",
                name,
                user_id,
            )
            if room_id is not None:
                await conn.executemany(
                    "INSERT INTO members (room_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    [(room_id, user_id), (room_id, other_id)],
                )
            row = await conn.fetchrow(_ROOM + " WHERE lower(r.name) = lower($1)", name)
            return _room(row)

        return await self._run(work)

    async def memberships(self, user_id: int) -> list[Membership]:
        async def work(conn: Connection) -> list[Membership]:
            rows = await conn.fetch(
                _ROOM + " JOIN members me ON me.room_id = r.id AND me.user_id = $1 "
                "ORDER BY lower(r.name)",
                user_id,
            )
            return [await _membership(conn, _room(row), user_id) for row in rows]

        return await self._run(work)

    async def membership(self, room_id: int, user_id: int) -> Membership | None:
        async def work(conn: Connection) -> Membership | None:
            row = await conn.fetchrow(
                _ROOM + " JOIN members me ON me.room_id = r.id AND me.user_id = $1 WHERE r.id = $2",
                user_id,
                room_id,
            )
            return None if row is None else await _membership(conn, _room(row), user_id)

        return await self._run(work)

    async def add_member(self, room_id: int, user_id: int) -> bool:
        async def work(conn: Connection) -> bool:
            status = await conn.execute(
                "INSERT INTO members (room_id, user_id, last_read) "
                "SELECT $1, $2, coalesce(max(id), 0) FROM messages WHERE room_id = $1 "
                "ON CONFLICT DO NOTHING",
                room_id,
                user_id,
            )
            return bool(status == "INSERT 0 1")

        return await self._run(work)

    async def remove_member(self, room_id: int, user_id: int) -> bool:
        async def work(conn: Connection) -> bool:
            status = await conn.execute(
                "DELETE FROM members WHERE room_id = $1 AND user_id = $2", room_id, user_id
            )
            return bool(status == "DELETE 1")

        return await self._run(work)

    async def member_ids(self, room_id: int) -> list[int]:
        async def work(conn: Connection) -> list[int]:
            rows = await conn.fetch(
                "SELECT user_id FROM members WHERE room_id = $1 ORDER BY user_id", room_id
            )
            return [int(row[0]) for row in rows]

        return await self._run(work)

    # -- messages

    async def post_message(
        self, room_id: int, author_id: int, text: str, now: float, *, key: str | None = None
    ) -> Posted | None:
        rows = await self._fetch(_POST, room_id, author_id, text, now, key)
        if not rows and key is not None:
            # the same key sent at the same moment: the other statement stored it (this one
            # waited for it, but reads what was there when it started)
            rows = await self._fetch(
                _MESSAGE + " WHERE m.author_id = $1 AND m.key = $2", author_id, key
            )
            return Posted(_message(rows[0]), new=False) if rows else None
        return Posted(_message(rows[0]), new=bool(rows[0][8])) if rows else None

    async def messages(self, ids: Iterable[int]) -> dict[int, Message]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}

        async def work(conn: Connection) -> dict[int, Message]:
            rows = await conn.fetch(_MESSAGE + " WHERE m.id = ANY($1::bigint[])", wanted)
            return {row[0]: _message(row) for row in rows}

        return await self._run(work)

    async def edit_message(self, message_id: int, text: str, now: float) -> Message | None:
        async def work(conn: Connection) -> Message | None:
            await conn.execute(
                "UPDATE messages SET text = $1, edited = $2 WHERE id = $3 AND NOT deleted",
                text,
                now,
                message_id,
            )
            row = await conn.fetchrow(_MESSAGE + " WHERE m.id = $1", message_id)
            return None if row is None else _message(row)

        return await self._run(work)

    async def delete_message(self, message_id: int) -> Message | None:
        async def work(conn: Connection) -> Message | None:
            await conn.execute(
                "UPDATE messages SET text = '', deleted = TRUE WHERE id = $1", message_id
            )
            row = await conn.fetchrow(_MESSAGE + " WHERE m.id = $1", message_id)
            return None if row is None else _message(row)

        return await self._run(work)

    async def mark_read(self, room_id: int, user_id: int, message_id: int) -> int:
        async def work(conn: Connection) -> int:
            last_read = await conn.fetchval(
                "UPDATE members SET last_read = greatest(last_read, $1) "
                "WHERE room_id = $2 AND user_id = $3 RETURNING last_read",
                message_id,
                room_id,
                user_id,
            )
            if last_read is None:
                return 0
            return int(await conn.fetchval(_UNREAD, room_id, last_read, user_id))

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
        async def work(conn: Connection) -> Notification | None:
            note_id = await conn.fetchval(
                "INSERT INTO notifications (user_id, title, body, url, time, key) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
                user_id,
                title,
                body,
                url,
                now,
                key,
            )
            if note_id is None:
                return None
            return Notification(note_id, user_id, title, body, url, now, False)

        return await self._run(work)

    async def notifications(
        self, user_id: int, *, limit: int, before: int | None = None
    ) -> list[Notification]:
        async def work(conn: Connection) -> list[Notification]:
            rows = await conn.fetch(
                _NOTIFICATION + " WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                user_id,
                before if before is not None else 2**62,
                limit,
            )
            return [_notification(row) for row in rows]

        return await self._run(work)

    async def unread_notifications(self, user_id: int) -> int:
        return await self._run(lambda conn: _unread_notifications(conn, user_id))

    async def mark_notifications_read(self, user_id: int, ids: Sequence[int] | None) -> int:
        async def work(conn: Connection) -> int:
            if ids is None:
                await conn.execute(
                    "UPDATE notifications SET read = TRUE WHERE user_id = $1", user_id
                )
            else:
                await conn.execute(
                    "UPDATE notifications SET read = TRUE WHERE user_id = $1 "
                    "AND id = ANY($2::bigint[])",
                    user_id,
                    list(ids),
                )
            return await _unread_notifications(conn, user_id)

        return await self._run(work)


async def _keep_as_is(conn: Connection) -> None:
    """A connection given back to the pool needs no reset (see the module's docstring)."""


async def _user(conn: Connection, where: str, value: object) -> User | None:
    row = await conn.fetchrow(f"SELECT id, name FROM users WHERE {where}", value)
    return None if row is None else User(row[0], row[1])


async def _unread_notifications(conn: Connection, user_id: int) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM notifications WHERE user_id = $1 AND NOT read", user_id
        )
    )


async def _membership(conn: Connection, room: Room, user_id: int) -> Membership:
    last_read = await conn.fetchval(
        "SELECT last_read FROM members WHERE room_id = $1 AND user_id = $2", room.id, user_id
    )
    peer = None
    if room.kind is RoomKind.DIRECT:
        row = await conn.fetchrow(
            "SELECT u.id, u.name FROM members m JOIN users u ON u.id = m.user_id "
            "WHERE m.room_id = $1 AND m.user_id != $2",
            room.id,
            user_id,
        )
        peer = User(row[0], row[1]) if row is not None else User(user_id, "")
    unread = int(await conn.fetchval(_UNREAD, room.id, last_read, user_id))
    return Membership(room, unread, int(last_read), peer)

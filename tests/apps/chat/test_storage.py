"""The chat's storage, one contract for each implementation: SQLite (a real file) and
PostgreSQL (the real server on 127.0.0.1:5432, a schema of its own per test)."""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from roomcast.apps.chat.sqlite_storage import MIGRATIONS, SqliteChatStorage
from roomcast.apps.chat.storage import ChatStorage, Message, NameTaken, Posted, RoomKind, User

from .support import POSTGRES, needs_postgres

Factory = Callable[[], ChatStorage]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=needs_postgres)])
async def open_storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    """Opens the storage (the same data each time); everything opened is closed after."""
    opened: list[ChatStorage] = []
    if request.param == "sqlite":
        path = tmp_path / "data" / "chat.db"

        def make() -> ChatStorage:
            return SqliteChatStorage(path)

    else:
        import asyncpg

        from roomcast.apps.chat.postgres_storage import PostgresChatStorage

        schema = f"chat_{secrets.token_hex(4)}"  # a fresh schema, dropped after
        admin = await asyncpg.connect(POSTGRES)
        await admin.execute(f"CREATE SCHEMA {schema}")

        def make() -> ChatStorage:
            return PostgresChatStorage(f"{POSTGRES}?search_path={schema}")

    def start() -> ChatStorage:
        storage = make()
        opened.append(storage)
        return storage

    yield start
    for storage in opened:
        await storage.aclose()
    if request.param == "postgres":
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


@pytest.fixture
async def storage(open_storage: Factory) -> ChatStorage:
    storage = open_storage()
    await storage.initialize()
    return storage


async def test_names_are_unique_whatever_their_case(storage: ChatStorage) -> None:
    ada = await storage.create_user("Ada", "hash")
    with pytest.raises(NameTaken):
        await storage.create_user("ada", "other")
    assert await storage.login_record("ADA") == (ada, "hash")
    assert await storage.user_by_name("ada") == ada
    assert await storage.user(ada.id) == ada
    assert await storage.login_record("bob") is None


async def test_a_session_lives_until_ended_or_expired(storage: ChatStorage) -> None:
    ada = await storage.create_user("ada", "hash")
    now = time.time()
    await storage.start_session("s1", ada.id, expires=now + 100)
    await storage.start_session("s2", ada.id, expires=now + 100)
    assert await storage.session_user("s1", now=now) == ada.id
    assert await storage.session_user("s1", now=now + 101) is None
    await storage.end_session("s1")
    assert await storage.session_user("s1", now=now) is None
    assert await storage.session_user("s2", now=now) == ada.id


async def test_rooms_members_and_direct_rooms(storage: ChatStorage) -> None:
    ada = await storage.create_user("ada", "h")
    bob = await storage.create_user("bob", "h")
    lobby = await storage.create_room("lobby", RoomKind.PUBLIC, ada.id)
    secret = await storage.create_room("secret", RoomKind.PRIVATE, ada.id)
    with pytest.raises(NameTaken):
        await storage.create_room("Lobby", RoomKind.PUBLIC, bob.id)
    assert await storage.add_member(lobby.id, bob.id) is True
    assert await storage.add_member(lobby.id, bob.id) is False
    assert [(r.name, r.members) for r in await storage.public_rooms()] == [("lobby", 2)]
    direct = await storage.direct_room(bob.id, ada.id)
    assert await storage.direct_room(ada.id, bob.id) == direct
    assert direct.kind is RoomKind.DIRECT
    mine = await storage.memberships(ada.id)
    assert sorted(m.room.name for m in mine) == sorted(["lobby", "secret", direct.name])
    (dm,) = [m for m in mine if m.room.kind is RoomKind.DIRECT]
    assert dm.peer == bob
    assert await storage.member_ids(secret.id) == [ada.id]
    assert await storage.remove_member(lobby.id, bob.id) is True
    assert await storage.membership(lobby.id, bob.id) is None


async def test_unread_counts_follow_messages_edits_deletes_and_reads(
    storage: ChatStorage,
) -> None:
    ada = await storage.create_user("ada", "h")
    bob = await storage.create_user("bob", "h")
    room = await storage.create_room("lobby", RoomKind.PUBLIC, ada.id)
    await post(storage, room.id, ada.id, "before bob", now=1.0)
    await storage.add_member(room.id, bob.id)  # what came before counts as read
    first = await post(storage, room.id, ada.id, "one", now=2.0)
    second = await post(storage, room.id, ada.id, "two", now=3.0)
    await post(storage, room.id, bob.id, "mine", now=4.0)
    assert first.author == User(ada.id, "ada")
    membership = await storage.membership(room.id, bob.id)
    assert membership is not None
    assert membership.unread == 0  # bob's own message moved his marker past them
    assert (await storage.membership(room.id, ada.id)).unread == 1  # type: ignore[union-attr]
    third = await post(storage, room.id, ada.id, "three", now=5.0)
    edited = await storage.edit_message(second.id, "two!", now=6.0)
    assert edited is not None
    assert (edited.text, edited.edited) == ("two!", 6.0)
    assert (await storage.membership(room.id, bob.id)).unread == 1  # type: ignore[union-attr]
    deleted = await storage.delete_message(third.id)
    assert deleted is not None
    assert deleted.deleted
    assert deleted.text == ""
    assert await storage.edit_message(third.id, "back", now=7.0) == deleted
    assert (await storage.membership(room.id, bob.id)).unread == 0  # type: ignore[union-attr]
    got = await storage.messages([first.id, third.id, 999])
    assert sorted(got) == [first.id, third.id]
    assert await storage.mark_read(room.id, ada.id, third.id) == 0


async def test_notifications_are_kept_and_marked_read(storage: ChatStorage) -> None:
    ada = await storage.create_user("ada", "h")
    bob = await storage.create_user("bob", "h")
    one = await storage.add_notification(ada.id, "t1", "b1", None, now=1.0)
    two = await storage.add_notification(ada.id, "t2", "b2", "https://x.example/", now=2.0)
    assert one is not None
    assert two is not None
    await storage.add_notification(bob.id, "t", "b", None, now=3.0)
    assert [n.id for n in await storage.notifications(ada.id, limit=10)] == [two.id, one.id]
    assert [n.id for n in await storage.notifications(ada.id, limit=10, before=two.id)] == [one.id]
    assert await storage.unread_notifications(ada.id) == 2
    assert await storage.mark_notifications_read(ada.id, [one.id]) == 1
    assert await storage.mark_notifications_read(bob.id, [two.id]) == 1  # not bob's
    assert await storage.mark_notifications_read(ada.id, None) == 0


async def test_the_data_outlives_the_connection(open_storage: Factory) -> None:
    first = open_storage()
    await first.initialize()
    ada = await first.create_user("ada", "h")
    room = await first.create_room("lobby", RoomKind.PUBLIC, ada.id)
    kept = await post(first, room.id, ada.id, "kept", now=1.0)
    await first.aclose()
    again = open_storage()
    await again.initialize()  # the tables are there: nothing happens
    assert await again.user_by_name("ada") == ada
    assert [r.name for r in await again.public_rooms()] == ["lobby"]
    assert await again.messages([kept.id]) == {kept.id: kept}


async def test_a_keyed_message_is_stored_once_and_only_by_members(storage: ChatStorage) -> None:
    ada = await storage.create_user("ada", "h")
    bob = await storage.create_user("bob", "h")
    room = await storage.create_room("lobby", RoomKind.PUBLIC, ada.id)
    first = await storage.post_message(room.id, ada.id, "hi", now=1.0, key="k1")
    assert first is not None
    assert first.new
    again = await storage.post_message(room.id, ada.id, "hi", now=2.0, key="k1")
    assert again == Posted(first.message, new=False)  # nothing stored: the first one
    assert await storage.post_message(room.id, bob.id, "hi", now=3.0, key="k1") is None
    await storage.add_member(room.id, bob.id)
    bobs = await storage.post_message(room.id, bob.id, "hi", now=4.0, key="k1")  # his own key
    assert bobs is not None
    assert bobs.new
    unkeyed = [await post(storage, room.id, ada.id, "same", now=5.0) for _ in range(2)]
    assert unkeyed[0].id != unkeyed[1].id  # without a key, each is stored
    assert (await storage.membership(room.id, bob.id)).unread == 2  # type: ignore[union-attr]


async def test_an_older_sqlite_file_gets_the_message_keys(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    with sqlite3.connect(path) as conn:  # a file made by the first version
        conn.executescript(MIGRATIONS[0] + "PRAGMA user_version=1;")
        conn.execute("INSERT INTO users (name, password, created) VALUES ('ada', 'h', 0)")
        conn.execute("INSERT INTO rooms (name, kind, created_by) VALUES ('lobby', 'public', 1)")
        conn.execute("INSERT INTO members (room_id, user_id) VALUES (1, 1)")
        conn.execute(
            "INSERT INTO messages (room_id, author_id, text, time) VALUES (1, 1, 'old', 0)"
        )
    conn.close()
    storage = SqliteChatStorage(path)
    try:
        await storage.initialize()
        assert [m.text for m in (await storage.messages([1])).values()] == ["old"]
        first = await storage.post_message(1, 1, "new", now=1.0, key="k")
        assert first is not None
        assert await storage.post_message(1, 1, "new", now=2.0, key="k") == Posted(
            first.message, new=False
        )
    finally:
        await storage.aclose()


async def post(
    storage: ChatStorage, room_id: int, author_id: int, text: str, now: float
) -> Message:
    """Post a message of a member (no key)."""
    posted = await storage.post_message(room_id, author_id, text, now)
    assert posted is not None
    assert posted.new
    return posted.message


async def test_a_keyed_notification_is_kept_once(storage: ChatStorage) -> None:
    ada = await storage.create_user("ada", "h")
    first = await storage.add_notification(ada.id, "t", "b", None, now=1.0, key="k1")
    assert first is not None
    assert await storage.add_notification(ada.id, "t", "b", None, now=2.0, key="k1") is None
    assert await storage.unread_notifications(ada.id) == 1

"""The Socket.IO rooms the service uses, and what is computed from them: who is online
in a room, who is typing, a room's history page.

- ``room-<id>``: the sockets of a chat room's members (every tab of every member);
- ``user-<id>``: every tab of one user (notifications, their own room list);
- ``session-<id>``: the tabs of one login session (disconnected at logout).
"""

from __future__ import annotations

import asyncio
from typing import Any

import roomcast

from .models import message_json
from .storage import ChatStorage, Message, User


def room_key(room_id: int) -> str:
    return f"room-{room_id}"


def user_key(user_id: int) -> str:
    return f"user-{user_id}"


def session_key(session_id: str) -> str:
    return f"session-{session_id}"


async def online(io: roomcast.Server, room_id: int) -> list[dict[str, Any]]:
    """The users with at least one tab in the room, on any worker or node, by name."""
    sockets = await io.in_(room_key(room_id)).fetch_sockets()
    users = {s.data["user_id"]: s.data["name"] for s in sockets if "user_id" in s.data}
    return sorted(
        ({"id": i, "name": n} for i, n in users.items()), key=lambda u: str(u["name"]).lower()
    )


async def announce_presence(io: roomcast.Server, room_id: int) -> None:
    """Tell the room who is online in it (``presence``)."""
    users = await online(io, room_id)
    await io.to(room_key(room_id)).volatile.emit("presence", {"room": room_id, "online": users})


class Typing:
    """Who is typing where. A ``typing`` true is passed on to the room and expires after
    ``ttl`` seconds unless repeated: then the room is told ``typing`` false, so a tab that
    closed mid-word does not leave its user typing for ever."""

    def __init__(self, io: roomcast.Server, ttl: float = 5.0) -> None:
        self.io = io
        self.ttl = ttl
        self._expiries: dict[tuple[int, int], asyncio.TimerHandle] = {}

    async def update(self, room_id: int, user: User, typing: bool) -> None:
        expiry = self._expiries.pop((room_id, user.id), None)
        if expiry is not None:
            expiry.cancel()
        if typing:
            loop = asyncio.get_running_loop()
            self._expiries[(room_id, user.id)] = loop.call_later(
                self.ttl, self._expire, room_id, user
            )
        if typing or expiry is not None:
            await self._send(room_id, user, typing)

    async def stop_all(self, user: User) -> None:
        """The user stops typing everywhere (their last tab left)."""
        for room_id, user_id in list(self._expiries):
            if user_id == user.id:
                await self.update(room_id, user, False)

    def _expire(self, room_id: int, user: User) -> None:
        self._expiries.pop((room_id, user.id), None)
        self.io.spawn(self._send(room_id, user, False))

    async def _send(self, room_id: int, user: User, typing: bool) -> None:
        state = {"room": room_id, "user": user.public(), "typing": typing}
        await (
            self.io.to(room_key(room_id)).except_(user_key(user.id)).volatile.emit("typing", state)
        )

    def aclose(self) -> None:
        for expiry in self._expiries.values():
            expiry.cancel()
        self._expiries.clear()


async def history_page(
    io: roomcast.Server, storage: ChatStorage, room_id: int, *, before: str | None, limit: int
) -> dict[str, Any]:
    """Up to ``limit`` messages of the room older than offset ``before`` (None: the
    newest), oldest first, as they are now (edited, deleted), each with its ``offset``;
    ``before`` to ask for the page above, ``more`` false once the top is reached.

    The order and the offsets are the room's history in roomcast's store (the same offsets
    as the live ``message`` events), the content is the storage's.
    """
    found: list[tuple[str, int]] = []  # (offset, message id), newest first
    seen: set[int] = set()
    cursor, more = before, True
    operator = io.in_(room_key(room_id))
    while more and len(found) < limit:
        entries = await operator.history(limit=limit, before=cursor)
        more = len(entries) == limit
        for entry in reversed(entries):
            cursor = entry.offset
            message_id = _message_id(entry)
            if message_id is not None and message_id not in seen:  # a message shown once
                seen.add(message_id)
                found.append((entry.offset, message_id))
                if len(found) == limit:
                    break
        if not entries:
            break
    rows = await storage.messages(message_id for _, message_id in found)
    messages = [
        {**message_json(rows[message_id]), "offset": offset}
        for offset, message_id in reversed(found)
        if message_id in rows and rows[message_id].room_id == room_id
    ]
    return {"messages": messages, "before": cursor if more else None, "more": more}


async def sent_offset(io: roomcast.Server, message: Message, *, page: int = 100) -> str | None:
    """The offset of the ``message`` event of a stored message, looked for in the room's
    history from the newest, down to older messages; None when it was never sent."""
    operator = io.in_(room_key(message.room_id))
    cursor: str | None = None
    while True:
        entries = await operator.history(limit=page, before=cursor)
        older = False
        for entry in reversed(entries):
            message_id = _message_id(entry)
            if message_id == message.id:
                return entry.offset
            older = older or (message_id is not None and message_id < message.id)
        if older or len(entries) < page:  # (the page read to its end: a message sent at
            return None  # the same moment may have come in the history just before it)
        cursor = entries[0].offset


def _message_id(entry: roomcast.HistoryEntry) -> int | None:
    if entry.event != "message" or not entry.args or not isinstance(entry.args[0], dict):
        return None
    value = entry.args[0].get("id")
    return value if isinstance(value, int) else None

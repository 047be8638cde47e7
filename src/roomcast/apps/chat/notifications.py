"""Live notifications: stored, then sent to every tab of their user (room ``user-<id>``).

A user offline gets them at the next login: ``me`` and ``notifications`` report the unread
ones. Another process reaches the tabs with ``roomcast.Emitter`` (with ``--redis``):
``await emitter.to(f"user-{id}").emit("notification", {...})`` (delivered, not stored).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import roomcast

from .models import notification_json
from .rooms import user_key
from .storage import ChatStorage, Notification, User


class Notifier:
    def __init__(self, io: roomcast.Server, storage: ChatStorage) -> None:
        self.io = io
        self.storage = storage

    async def notify(self, user: User, title: str, body: str, url: str | None) -> Notification:
        """Store a notification for ``user`` and send it to each of their tabs
        (``notification``, with the unread count)."""
        note = await self.storage.add_notification(user.id, title, body, url, time.time())
        unread = await self.storage.unread_notifications(user.id)
        await self.io.to(user_key(user.id)).emit(
            "notification", {**notification_json(note), "unread": unread}
        )
        return note

    async def page(self, user: User, *, before: int | None, limit: int) -> dict[str, Any]:
        notes = await self.storage.notifications(user.id, limit=limit, before=before)
        return {
            "items": [notification_json(n) for n in notes],
            "unread": await self.storage.unread_notifications(user.id),
        }

    async def mark_read(self, user: User, ids: Sequence[int] | None) -> int:
        """Mark them read and tell every tab of the user (``notifications-read``)."""
        unread = await self.storage.mark_notifications_read(user.id, ids)
        await self.io.to(user_key(user.id)).emit(
            "notifications-read", {"ids": None if ids is None else list(ids), "unread": unread}
        )
        return unread

"""Live notifications: stored, then sent to every tab of their user (room ``user-<id>``).

A user offline gets them at the next login: ``me`` and ``notifications`` report the unread
ones. Another process reaches the service through ``roomcast.Emitter`` (with ``--redis``):
``await emitter.server_side_emit("notify", {"key": ..., "user": ..., "title": ...})`` is
stored once (by ``key``, whichever servers receive it) and delivered;
``await emitter.to(f"user-{id}").emit("notification", {...})`` is delivered, not stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

import roomcast

from .models import EmittedNotification, notification_json
from .rooms import user_key
from .storage import ChatStorage, Notification, User

logger = logging.getLogger("roomcast.chat")


class Notifier:
    def __init__(self, io: roomcast.Server, storage: ChatStorage) -> None:
        self.io = io
        self.storage = storage

    async def notify(
        self, user: User, title: str, body: str, url: str | None, *, key: str | None = None
    ) -> Notification | None:
        """Store a notification for ``user`` and send it to each of their tabs
        (``notification``, with the unread count); None when ``key`` was seen already."""
        note = await self.storage.add_notification(user.id, title, body, url, time.time(), key=key)
        if note is None:
            return None
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

    async def from_emitter(self, payload: Any = None, *_: Any) -> None:
        """The ``notify`` server-side event (``Emitter.server_side_emit``)."""
        try:
            note = EmittedNotification.model_validate(payload)
        except ValidationError as exc:
            logger.warning("a notify event from an emitter was refused: %s", exc)
            return
        ref = note.user
        user = await (
            self.storage.user(ref) if isinstance(ref, int) else self.storage.user_by_name(ref)
        )
        if user is None:
            logger.warning("a notify event from an emitter names no user: %r", ref)
            return
        await self.notify(user, note.title, note.body, note.url, key=note.key)

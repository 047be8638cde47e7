"""The shapes of what clients send (validated with pydantic before any handler runs) and
the JSON of what they are sent back."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .storage import Membership, Message, Notification, Room, RoomKind

NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
ROOM_PATTERN = r"^[A-Za-z0-9_.-][A-Za-z0-9_. -]*$"
MAX_TEXT = 4000
MAX_PAGE = 100

UserName = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=NAME_PATTERN)]
RoomName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=ROOM_PATTERN),
]
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]
Id = Annotated[int, Field(ge=1)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- HTTP bodies


class Credentials(Strict):
    name: UserName
    password: Annotated[str, StringConstraints(min_length=8, max_length=200)]


class NotifyRequest(Strict):
    user: Id | UserName
    """The user's id or name."""
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(max_length=2000)] = ""
    url: Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://")] | None = None


class EmittedNotification(NotifyRequest):
    """A notification sent by another process with ``Emitter.server_side_emit("notify",
    ...)``: every server receives it, the ``key`` keeps it once."""

    key: Annotated[str, StringConstraints(min_length=1, max_length=200)]


# -- events


class NewRoom(Strict):
    name: RoomName
    private: bool = False


class RoomRef(Strict):
    room: Id


class HistoryRequest(Strict):
    room: Id
    before: str | None = None
    """The ``before`` of the previous page: older messages than those."""
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 50


class NewMessage(Strict):
    room: Id
    text: Text
    key: Key | None = None
    """The sender's name for this message: sent again with the same key (after a lost
    answer), it is stored and broadcast once."""


class MessageEdit(Strict):
    id: Id
    text: Text


class MessageRef(Strict):
    id: Id


class ReadMarker(Strict):
    room: Id
    id: Id
    """The newest message read."""


class TypingState(Strict):
    room: Id
    typing: bool = True


class Invitation(Strict):
    room: Id
    user: UserName


class DirectRequest(Strict):
    user: UserName


class NotificationsRequest(Strict):
    before: Id | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 20


class NotificationsRead(Strict):
    ids: list[Id] | None = None
    """These notifications; None: all of them."""


# -- what is sent


def ms(seconds: float | None) -> int | None:
    """Epoch seconds as JavaScript counts time (milliseconds)."""
    return None if seconds is None else int(seconds * 1000)


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "room": message.room_id,
        "author": message.author.public(),
        "text": message.text,
        "time": ms(message.time),
        "edited": ms(message.edited),
        "deleted": message.deleted,
    }


def room_json(room: Room) -> dict[str, Any]:
    return {"id": room.id, "name": room.name, "kind": room.kind.value, "members": room.members}


def membership_json(membership: Membership) -> dict[str, Any]:
    room = room_json(membership.room)
    if membership.room.kind is RoomKind.DIRECT and membership.peer is not None:
        room["name"] = membership.peer.name
        room["peer"] = membership.peer.public()
    return {**room, "unread": membership.unread, "last_read": membership.last_read}


def notification_json(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.id,
        "title": notification.title,
        "body": notification.body,
        "url": notification.url,
        "time": ms(notification.time),
        "read": notification.read,
    }

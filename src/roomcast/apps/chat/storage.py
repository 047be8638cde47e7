"""What the chat service keeps, behind one small typed interface (``ChatStorage``).

Users (with their password hashes and login sessions), rooms (public, private, direct),
memberships (with each member's read marker), messages (edited and deleted in place) and
notifications. ``SqliteChatStorage`` is the embedded implementation; another database
implements the same class.

Ids are integers given by the database; times are epoch seconds. Names are unique
(``NameTaken``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class RoomKind(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    DIRECT = "direct"


class NameTaken(Exception):
    """A user or room with that name exists already."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the name {name!r} is taken")
        self.name = name


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str

    def public(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True, slots=True)
class Room:
    id: int
    name: str
    kind: RoomKind
    members: int
    """How many members it has (when it was read)."""


@dataclass(frozen=True, slots=True)
class Membership:
    """A room seen by one of its members."""

    room: Room
    unread: int
    """Messages of others after the member's read marker, deleted ones not counted."""
    last_read: int
    """The id of the last message the member has read (0: none)."""
    peer: User | None
    """In a direct room: the other member."""


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    room_id: int
    author: User
    text: str
    time: float
    edited: float | None
    deleted: bool


@dataclass(frozen=True, slots=True)
class Posted:
    """What ``post_message`` did."""

    message: Message
    new: bool
    """False: the author had sent this key already, and ``message`` is the message stored
    then (nothing was stored now)."""


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    user_id: int
    title: str
    body: str
    url: str | None
    time: float
    read: bool


def direct_name(user_id: int, other_id: int) -> str:
    """The internal name of a direct room (room names chosen by users cannot hold '@')."""
    low, high = sorted((user_id, other_id))
    return f"@{low}:{high}"


class ChatStorage(ABC):
    """The chat service's data. Every method may block on the database; none blocks the
    event loop."""

    @abstractmethod
    async def initialize(self) -> None:
        """Make the tables now (before the workers start: a database out of reach or
        damaged stops the start here)."""

    # -- users and sessions

    @abstractmethod
    async def create_user(self, name: str, password_hash: str) -> User:
        """A new user; raises ``NameTaken`` (names compare case-insensitively)."""

    @abstractmethod
    async def login_record(self, name: str) -> tuple[User, str] | None:
        """The user called ``name`` and their password hash, if any."""

    @abstractmethod
    async def user(self, user_id: int) -> User | None: ...

    @abstractmethod
    async def user_by_name(self, name: str) -> User | None: ...

    @abstractmethod
    async def start_session(self, session_id: str, user_id: int, expires: float) -> None:
        """Remember a login session (a token's ``jti``) until ``expires``."""

    @abstractmethod
    async def session_user(self, session_id: str, now: float) -> int | None:
        """The user of a live session; None once ended or expired."""

    @abstractmethod
    async def end_session(self, session_id: str) -> None:
        """Log out: the session's token is refused from now on."""

    # -- rooms and memberships

    @abstractmethod
    async def create_room(self, name: str, kind: RoomKind, creator_id: int) -> Room:
        """A new public or private room with its creator as first member; ``NameTaken``."""

    @abstractmethod
    async def room(self, room_id: int) -> Room | None: ...

    @abstractmethod
    async def public_rooms(self) -> list[Room]:
        """Every public room with its member count, by name."""

    @abstractmethod
    async def direct_room(self, user_id: int, other_id: int) -> Room:
        """The direct room of two users (made, with both as members, the first time)."""

    @abstractmethod
    async def memberships(self, user_id: int) -> list[Membership]:
        """The rooms ``user_id`` is a member of, with unread counts, by name."""

    @abstractmethod
    async def membership(self, room_id: int, user_id: int) -> Membership | None: ...

    @abstractmethod
    async def add_member(self, room_id: int, user_id: int) -> bool:
        """Make ``user_id`` a member (everything already sent counts as read); False when
        it was one already."""

    @abstractmethod
    async def remove_member(self, room_id: int, user_id: int) -> bool:
        """False when it was not a member."""

    @abstractmethod
    async def member_ids(self, room_id: int) -> list[int]: ...

    # -- messages

    @abstractmethod
    async def post_message(
        self, room_id: int, author_id: int, text: str, now: float, *, key: str | None = None
    ) -> Posted | None:
        """Store a message of a member of the room, who has read everything up to it: one
        transaction (with PostgreSQL, one statement). None when ``author_id`` is not a
        member. A ``key`` (the sender's name for the message) makes a send idempotent: when
        the author sent that key before, nothing is stored and the message stored then is
        returned (``new`` false)."""

    @abstractmethod
    async def messages(self, ids: Iterable[int]) -> dict[int, Message]:
        """The messages of ``ids`` that exist (deleted ones too), by id."""

    @abstractmethod
    async def edit_message(self, message_id: int, text: str, now: float) -> Message | None:
        """Change a message's text (not a deleted one's); None when there is none."""

    @abstractmethod
    async def delete_message(self, message_id: int) -> Message | None:
        """Delete a message (its text is erased); None when there is none."""

    @abstractmethod
    async def mark_read(self, room_id: int, user_id: int, message_id: int) -> int:
        """Move the member's read marker forward to ``message_id``; the unread count after."""

    # -- notifications

    @abstractmethod
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
        """Store a notification; None when one with that ``key`` was stored already (a
        notification that several servers received, kept once)."""

    @abstractmethod
    async def notifications(
        self, user_id: int, *, limit: int, before: int | None = None
    ) -> list[Notification]:
        """The newest ``limit`` notifications (older than id ``before``), newest first."""

    @abstractmethod
    async def unread_notifications(self, user_id: int) -> int: ...

    @abstractmethod
    async def mark_notifications_read(self, user_id: int, ids: Sequence[int] | None) -> int:
        """Mark these (None: all) of the user's notifications read; the unread count after."""

    # -- life

    @abstractmethod
    async def aclose(self) -> None:
        """Close the database connections."""

"""The Socket.IO events of the chat (see docs/chat-protocol.md for the contract).

Every event that asks for an ack gets its answer, or the one error shape of roomcast
(``{"_rc_error": {"code", "message", "details"}}``): ``validation_failed`` (the models),
``rate_limited``, ``not_found``, ``forbidden``, ``name_taken``.
"""

from __future__ import annotations

import time
from typing import Any

import roomcast

from .accounts import Accounts
from .errors import NAME_TAKEN, VALIDATION_FAILED, forbidden, not_found
from .models import (
    DirectRequest,
    HistoryRequest,
    Invitation,
    MessageEdit,
    MessageRef,
    NewMessage,
    NewRoom,
    NotificationsRead,
    NotificationsRequest,
    ReadMarker,
    RoomRef,
    TypingState,
    membership_json,
    message_json,
    room_json,
)
from .notifications import Notifier
from .rooms import (
    Typing,
    announce_presence,
    history_page,
    online,
    room_key,
    sent_offset,
    session_key,
    user_key,
)
from .storage import ChatStorage, Membership, NameTaken, Room, RoomKind, User

HISTORY_ON_JOIN = 50


def _text(text: str) -> str:
    """A message's text without the spaces around it; refused when nothing is left."""
    text = text.strip()
    if not text:
        raise roomcast.EventRejected(VALIDATION_FAILED, "the message is empty")
    return text


def user_of(socket: roomcast.Socket) -> User:
    """The user a socket was authenticated as (by the session middleware)."""
    return User(int(socket.data["user_id"]), str(socket.data["name"]))


class ChatEvents:
    """The handlers, over the service's storage; ``register`` puts them on ``io``."""

    def __init__(
        self,
        io: roomcast.Server,
        storage: ChatStorage,
        accounts: Accounts,
        notifier: Notifier,
        typing: Typing,
    ) -> None:
        self.io = io
        self.storage = storage
        self.accounts = accounts
        self.notifier = notifier
        self.typing = typing

    def register(self) -> None:
        """The middleware (after ``jwt_auth``) and the handlers."""
        io = self.io
        io.use(self.live_session)
        io.on("connection")(self.connection)
        io.on("disconnect")(self.disconnect)
        io.on("me")(self.me)
        io.on("rooms")(self.rooms)
        io.on("create-room", rate="1/s", burst=5)(self.create_room)
        io.on("join-room", rate="5/s", burst=10)(self.join_room)
        io.on("leave-room")(self.leave_room)
        io.on("invite", rate="2/s", burst=10)(self.invite)
        io.on("direct", rate="2/s", burst=10)(self.direct)
        io.on("history", rate="10/s", burst=20)(self.history)
        io.on("send-message", rate="5/s", burst=10)(self.send_message)
        io.on("edit-message", rate="5/s", burst=10)(self.edit_message)
        io.on("delete-message", rate="5/s", burst=10)(self.delete_message)
        io.on("mark-read")(self.mark_read)
        io.on("typing", rate="4/s", burst=8)(self.typing_event)
        io.on("notifications")(self.notifications)
        io.on("notifications-read")(self.notifications_read)

    # -- life of a tab

    async def live_session(self, socket: roomcast.Socket) -> None:
        """Refuse a logged-out session's token (valid as its signature may be), and find
        the rooms the tab joins once connected."""
        found = await self.accounts.session_user(socket.data["jwt"])
        if found is None:
            raise roomcast.ConnectionRefused("the session has ended", {"code": "session_ended"})
        user, session = found
        memberships = await self.storage.memberships(user.id)
        rooms = [user_key(user.id), session_key(session)]
        rooms += [room_key(m.room.id) for m in memberships]
        socket.data.update(user_id=user.id, name=user.name, session=session, joining=rooms)

    def connection(self, socket: roomcast.Socket) -> None:
        """Join the user's rooms at once, before any event of the tab is handled (a
        recovered socket has them back already), then tell each room."""
        rooms = socket.data.pop("joining", None)
        if rooms is not None:
            socket.join(rooms)
        joined = sorted(int(r.removeprefix("room-")) for r in socket.rooms if r.startswith("room-"))
        self.io.spawn(self._announce(joined))

    async def _announce(self, room_ids: list[int]) -> None:
        for room_id in room_ids:
            await announce_presence(self.io, room_id)

    async def disconnect(self, socket: roomcast.Socket, reason: str) -> None:
        user = user_of(socket)
        if not await self.io.in_(user_key(user.id)).fetch_sockets():
            await self.typing.stop_all(user)
        for membership in await self.storage.memberships(user.id):
            await announce_presence(self.io, membership.room.id)

    async def me(self, socket: roomcast.Socket) -> dict[str, Any]:
        """Who this is, their rooms (unread counts), the public rooms, unread notifications."""
        user = user_of(socket)
        return {
            "user": user.public(),
            **await self.rooms(socket),
            "notifications": {"unread": await self.storage.unread_notifications(user.id)},
        }

    # -- rooms

    async def rooms(self, socket: roomcast.Socket) -> dict[str, Any]:
        memberships = await self.storage.memberships(user_of(socket).id)
        public = await self.storage.public_rooms()
        return {
            "rooms": [membership_json(m) for m in memberships],
            "public": [room_json(r) for r in public],
        }

    async def create_room(self, socket: roomcast.Socket, new: NewRoom) -> dict[str, Any]:
        user = user_of(socket)
        kind = RoomKind.PRIVATE if new.private else RoomKind.PUBLIC
        try:
            room = await self.storage.create_room(new.name, kind, user.id)
        except NameTaken:
            raise roomcast.EventRejected(NAME_TAKEN, "a room has that name already") from None
        return await self._admit(room.id, user)

    async def join_room(self, socket: roomcast.Socket, ref: RoomRef) -> dict[str, Any]:
        """Become a member of a public room (a member already: open it); the room, its
        newest messages and who is online."""
        user = user_of(socket)
        membership = await self.storage.membership(ref.room, user.id)
        if membership is None:
            room = await self.storage.room(ref.room)
            if room is None:
                raise not_found("room")
            if room.kind is not RoomKind.PUBLIC:
                raise forbidden("this room is by invitation")
            await self.storage.add_member(room.id, user.id)
            await self._admit(room.id, user)
            membership = await self._membership(room.id, user)
        if room_key(ref.room) not in socket.rooms:  # joined meanwhile by another tab
            socket.join(room_key(ref.room))
        page = await history_page(
            self.io, self.storage, ref.room, before=None, limit=HISTORY_ON_JOIN
        )
        return {
            "room": membership_json(membership),
            "history": page,
            "online": await online(self.io, ref.room),
        }

    async def leave_room(self, socket: roomcast.Socket, ref: RoomRef) -> dict[str, Any]:
        user = user_of(socket)
        membership = await self._membership(ref.room, user)
        if membership.room.kind is RoomKind.DIRECT:
            raise forbidden("a direct conversation cannot be left")
        await self.storage.remove_member(ref.room, user.id)
        await self.typing.update(ref.room, user, False)
        await self.io.in_(user_key(user.id)).sockets_leave(room_key(ref.room))
        await self.io.to(user_key(user.id)).emit("room-removed", {"room": ref.room})
        await self._public_changed(await self.storage.room(ref.room))
        await announce_presence(self.io, ref.room)
        return {"ok": True}

    async def invite(self, socket: roomcast.Socket, invitation: Invitation) -> dict[str, Any]:
        """Make another user a member of a room the inviter is in."""
        inviter = user_of(socket)
        membership = await self._membership(invitation.room, inviter)
        if membership.room.kind is RoomKind.DIRECT:
            raise forbidden("a direct conversation has two members")
        guest = await self.storage.user_by_name(invitation.user)
        if guest is None:
            raise not_found("user")
        if await self.storage.add_member(invitation.room, guest.id):
            await self._admit(invitation.room, guest)
        return {"ok": True, "user": guest.public()}

    async def direct(self, socket: roomcast.Socket, request: DirectRequest) -> dict[str, Any]:
        """The direct conversation with another user (made the first time)."""
        user = user_of(socket)
        other = await self.storage.user_by_name(request.user)
        if other is None:
            raise not_found("user")
        if other.id == user.id:
            raise forbidden("a direct conversation is with someone else")
        room = await self.storage.direct_room(user.id, other.id)
        await self._admit(room.id, other)
        return await self._admit(room.id, user)

    async def _admit(self, room_id: int, user: User) -> dict[str, Any]:
        """Put every tab of a member in the room, tell them (``room-added``) and the room."""
        await self.io.in_(user_key(user.id)).sockets_join(room_key(room_id))
        membership = await self._membership(room_id, user)
        entry = membership_json(membership)
        await self.io.to(user_key(user.id)).emit("room-added", entry)
        await self._public_changed(membership.room)
        await announce_presence(self.io, room_id)
        return entry

    async def _public_changed(self, room: Room | None) -> None:
        """Tell everyone a public room was made or its member count changed."""
        if room is not None and room.kind is RoomKind.PUBLIC:
            await self.io.emit("public-room", room_json(room))

    async def _membership(self, room_id: int, user: User) -> Membership:
        membership = await self.storage.membership(room_id, user.id)
        if membership is None:
            if await self.storage.room(room_id) is None:
                raise not_found("room")
            raise forbidden("not a member of this room")
        return membership

    # -- messages

    async def history(self, socket: roomcast.Socket, request: HistoryRequest) -> dict[str, Any]:
        await self._membership(request.room, user_of(socket))
        return await history_page(
            self.io, self.storage, request.room, before=request.before, limit=request.limit
        )

    async def send_message(self, socket: roomcast.Socket, new: NewMessage) -> dict[str, Any]:
        """Store, then broadcast ``message`` to the room; acked with its id and offset.

        A message sent again with its key is answered as the first time, and not stored
        or broadcast again (unless the first broadcast never happened: the server stopped
        in between)."""
        user = user_of(socket)
        text = _text(new.text)
        posted = await self.storage.post_message(new.room, user.id, text, time.time(), key=new.key)
        if posted is None:
            await self._membership(new.room, user)  # not_found, or forbidden
            raise forbidden("not a member of this room")
        message = posted.message
        offset = None if posted.new else await sent_offset(self.io, message)
        if offset is None and not message.deleted:
            await self.typing.update(message.room_id, user, False)
            offset = await self.io.to(room_key(message.room_id)).emit(
                "message", message_json(message)
            )
        return {"id": message.id, "offset": offset, "time": message_json(message)["time"]}

    async def edit_message(self, socket: roomcast.Socket, edit: MessageEdit) -> dict[str, Any]:
        user = user_of(socket)
        text = _text(edit.text)
        await self._own_message(edit.id, user)
        message = await self.storage.edit_message(edit.id, text, time.time())
        assert message is not None
        await self.io.to(room_key(message.room_id)).emit("message-edited", message_json(message))
        return message_json(message)

    async def delete_message(self, socket: roomcast.Socket, ref: MessageRef) -> dict[str, Any]:
        user = user_of(socket)
        await self._own_message(ref.id, user)
        message = await self.storage.delete_message(ref.id)
        assert message is not None
        await self.io.to(room_key(message.room_id)).emit(
            "message-deleted", {"id": message.id, "room": message.room_id}
        )
        return {"ok": True}

    async def _own_message(self, message_id: int, user: User) -> None:
        message = (await self.storage.messages([message_id])).get(message_id)
        if message is None or message.deleted:
            raise not_found("message")
        if message.author.id != user.id:
            raise forbidden("only its author may change a message")

    async def mark_read(self, socket: roomcast.Socket, marker: ReadMarker) -> dict[str, Any]:
        """Move the read marker; every tab of the user is told (``room-read``)."""
        user = user_of(socket)
        await self._membership(marker.room, user)
        unread = await self.storage.mark_read(marker.room, user.id, marker.id)
        state = {"room": marker.room, "unread": unread, "last_read": marker.id}
        await self.io.to(user_key(user.id)).emit("room-read", state)
        return {"unread": unread}

    async def typing_event(self, socket: roomcast.Socket, state: TypingState) -> None:
        if room_key(state.room) in socket.rooms:  # else not a member: nothing to tell
            await self.typing.update(state.room, user_of(socket), state.typing)

    # -- notifications

    async def notifications(
        self, socket: roomcast.Socket, request: NotificationsRequest
    ) -> dict[str, Any]:
        return await self.notifier.page(user_of(socket), before=request.before, limit=request.limit)

    async def notifications_read(
        self, socket: roomcast.Socket, request: NotificationsRead
    ) -> dict[str, Any]:
        return {"unread": await self.notifier.mark_read(user_of(socket), request.ids)}

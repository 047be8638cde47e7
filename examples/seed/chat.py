"""The seed's chat handlers: join a room (with its history), send a message (validated,
stored, rate-limited), typing. Run with ``roomcast serve examples/seed/chat.py:io``
(``roomcast chat`` is the full service)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

import roomcast


class NewMessage(BaseModel):
    room: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=4000)


io = roomcast.Server(recovery=True, store="sqlite:///chat-history.db")


@io.on("join-room")
async def join_room(socket: roomcast.Socket, room: str) -> list[dict[str, Any]]:
    socket.join(room)
    page = await io.in_(room).history(limit=50)  # older ones: before=page[0].offset
    return [{"offset": e.offset, **e.args[0]} for e in page if e.event == "message"]


@io.on("send-message", rate="5/s", burst=10)
async def send_message(socket: roomcast.Socket, msg: NewMessage) -> dict[str, Any]:
    if msg.room not in socket.rooms:
        raise roomcast.EventRejected("forbidden", "join the room first")
    offset = await io.to(msg.room).emit("message", {"from": socket.id, **msg.model_dump()})
    return {"offset": offset}


@io.on("typing", rate="4/s")
async def typing(socket: roomcast.Socket, room: str) -> None:
    if room in socket.rooms:
        await socket.to(room).volatile.emit("typing", {"room": room, "from": socket.id})

"""The app of the rolling-restart recovery test (``recovery_workers_app:build``, served with
``--store``): recovery on; ``join`` (room) -> rooms; ``publish`` ({room, n}) broadcasts
``message`` with it to the room and acks its offset once stored."""

from __future__ import annotations

from typing import Any

import roomcast


def build() -> roomcast.Server:
    io = roomcast.Server(recovery=roomcast.Recovery(max_disconnection_duration=60.0))

    @io.on("join")
    def join(socket: roomcast.Socket, room: str) -> list[str]:
        socket.join(room)
        return sorted(socket.rooms)

    @io.on("publish")
    async def publish(socket: roomcast.Socket, message: dict[str, Any]) -> str | None:
        return await io.to(message["room"]).emit("message", message)

    return io

"""The app of the worker-kill test, served with ``roomcast serve <this file>:build --store
URL``: recovery on; ``whoami`` -> the worker holding the session (tag, pid); ``join`` (room)
-> rooms; ``publish`` ({room, n}) broadcasts ``message`` with it to the room and acks its
offset once stored (None: the store failed, the broadcast went out unrecoverable)."""

from __future__ import annotations

import os
from typing import Any

import roomcast
from roomcast.cluster.routing import Router


def build() -> roomcast.Server:
    io = roomcast.Server(recovery=roomcast.Recovery(max_disconnection_duration=60.0))

    @io.on("whoami")
    def whoami(socket: roomcast.Socket) -> dict[str, Any]:
        router = io.engine.router
        assert isinstance(router, Router)
        return {"tag": router.tag, "pid": os.getpid()}

    @io.on("join")
    def join(socket: roomcast.Socket, room: str) -> list[str]:
        socket.join(room)
        return sorted(socket.rooms)

    @io.on("publish")
    async def publish(socket: roomcast.Socket, message: dict[str, Any]) -> str | None:
        return await io.to(message["room"]).emit("message", message)

    return io

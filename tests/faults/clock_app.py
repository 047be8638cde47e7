"""The server of the clock-jump test: ``python clock_app.py PORT``, store from
``$ROOMCAST_STORE``; heartbeats every 0.5 s (timeout 1 s), recovery on (120 s).

Handlers: ``join`` (room); ``publish`` ({room, n}) broadcasts ``message`` and acks its
offset; ``now`` -> the server's wall clock (``time.time()``); ``history`` (room) -> the
room's stored ``n``s and offsets, oldest first."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import roomcast


def build(store: str) -> roomcast.Server:
    io = roomcast.Server(
        ping_interval=0.5,
        ping_timeout=1.0,
        recovery=roomcast.Recovery(max_disconnection_duration=120.0),
        store=store,
    )

    @io.on("join")
    def join(socket: roomcast.Socket, room: str) -> None:
        socket.join(room)

    @io.on("publish")
    async def publish(socket: roomcast.Socket, message: dict[str, Any]) -> str | None:
        return await io.to(message["room"]).emit("message", message)

    @io.on("now")
    def now(socket: roomcast.Socket) -> float:
        return time.time()

    @io.on("history")
    async def history(socket: roomcast.Socket, room: str) -> list[list[Any]]:
        entries = await io.to(room).history(limit=1000)
        return [[entry.args[0]["n"], entry.offset] for entry in entries]

    return io


if __name__ == "__main__":
    build(os.environ["ROOMCAST_STORE"]).run("127.0.0.1", int(sys.argv[1]))

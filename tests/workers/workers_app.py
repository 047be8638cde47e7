"""The app the worker tests serve with ``roomcast serve workers_app:build``.

Handlers: ``whoami`` -> the worker holding the session (tag, pid); ``join`` (room) -> rooms;
``shout`` (room, data): ``socket.to(room).emit("news", data)``; ``echo`` (*args) -> args;
``stats`` -> what the router of every worker did (gathered with a server-side emit).
"""

from __future__ import annotations

import os
from typing import Any

import roomcast
from roomcast.cluster.routing import Router


def build() -> roomcast.Server:
    """A fresh server (called in each worker)."""
    io = roomcast.Server(ping_interval=5.0, ping_timeout=5.0)

    def local_stats() -> dict[str, Any]:
        router = io.engine.router
        assert isinstance(router, Router)
        stats = router.stats
        return {
            "tag": router.tag,
            "pid": os.getpid(),
            "forwarded": stats.forwarded,
            "piped": stats.piped,
        }

    @io.on_server_side("stats")
    def stats_here() -> dict[str, Any]:
        return local_stats()

    @io.on("stats")
    async def stats(socket: roomcast.Socket) -> list[dict[str, Any]]:
        others = await io.server_side_emit_with_ack("stats", timeout=5.0)
        return sorted([local_stats(), *others], key=lambda s: str(s["tag"]))

    @io.on("whoami")
    def whoami(socket: roomcast.Socket) -> dict[str, Any]:
        return local_stats()

    @io.on("join")
    def join(socket: roomcast.Socket, room: str) -> list[str]:
        socket.join(room)
        return sorted(socket.rooms)

    @io.on("shout")
    async def shout(socket: roomcast.Socket, room: str, data: Any) -> None:
        await socket.to(room).emit("news", data)

    @io.on("echo")
    def echo(socket: roomcast.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    return io


io = build()
"""The same app as an instance (``workers_app:io``): each worker gets a copy by fork."""


def broken() -> roomcast.Server:
    """A factory that fails in the worker (the supervisor must give up, not loop)."""
    raise RuntimeError("broken on purpose")


not_a_server = 42

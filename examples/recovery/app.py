"""Connection-state recovery that survives restarts: `python examples/recovery/app.py PORT`.

The store comes from ``$ROOMCAST_STORE`` (default ``sqlite:///roomcast-recovery.db`` in the
working directory; ``memory://`` or ``redis://127.0.0.1:6379/0`` also work); recovery is on
with ``max_disconnection_duration`` 120 s. On namespace ``/``:

- ``join`` (room): joins it, acks ``{"rooms": [...]}`` (the socket's rooms);
- ``publish`` (``{"room": r, "text": t}``): broadcasts ``message`` with that object to the
  room, acks ``{"offset": ...}`` once it is stored;
- ``whoami``: acks ``{"id": socket.id, "rooms": [...], "recovered": bool}``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import roomcast


def build(store: str) -> roomcast.Server:
    io = roomcast.Server(
        cors_allowed_origins="*",
        recovery=roomcast.Recovery(max_disconnection_duration=120.0),
        store=store,
    )

    def rooms_of(socket: roomcast.Socket) -> list[str]:
        return sorted(socket.rooms)

    @io.on("join")
    def join(socket: roomcast.Socket, room: str) -> dict[str, Any]:
        socket.join(room)
        return {"rooms": rooms_of(socket)}

    @io.on("publish")
    async def publish(socket: roomcast.Socket, message: dict[str, Any]) -> dict[str, Any]:
        offset = await io.to(message["room"]).emit("message", message)
        return {"offset": offset}

    @io.on("whoami")
    def whoami(socket: roomcast.Socket) -> dict[str, Any]:
        return {"id": socket.id, "rooms": rooms_of(socket), "recovered": socket.recovered}

    return io


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    store = os.environ.get("ROOMCAST_STORE", "sqlite:///roomcast-recovery.db")
    build(store).run("127.0.0.1", port)


if __name__ == "__main__":
    main()

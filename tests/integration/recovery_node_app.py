"""One node of a recovery cluster for the tests: ``python recovery_node_app.py PORT``.

The handlers of ``examples/recovery/app.py`` (``join``, ``publish``, ``whoami``) on a server
whose store is ``$ROOMCAST_STORE`` and, when ``$ROOMCAST_ADAPTER_KEY`` is set, whose adapter
is a ``RedisAdapter`` on 127.0.0.1:6379 with that channel prefix: two such processes share
the sessions and the stream (and, with the adapter, the broadcasts).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import roomcast


def build(store: str, key: str | None) -> roomcast.Server:
    options: dict[str, Any] = {}
    if key:
        options["adapter"] = roomcast.RedisAdapter.factory(
            "redis://127.0.0.1:6379", key=key, requests_timeout=2.0
        )
    io = roomcast.Server(
        recovery=roomcast.Recovery(max_disconnection_duration=120.0), store=store, **options
    )

    @io.on("join")
    def join(socket: roomcast.Socket, room: str) -> dict[str, Any]:
        socket.join(room)
        return {"rooms": sorted(socket.rooms)}

    @io.on("publish")
    async def publish(socket: roomcast.Socket, message: dict[str, Any]) -> dict[str, Any]:
        return {"offset": await io.to(message["room"]).emit("message", message)}

    @io.on("whoami")
    def whoami(socket: roomcast.Socket) -> dict[str, Any]:
        return {"id": socket.id, "rooms": sorted(socket.rooms), "recovered": socket.recovered}

    return io


async def main() -> None:
    io = build(os.environ["ROOMCAST_STORE"], os.environ.get("ROOMCAST_ADAPTER_KEY"))
    listener = await io.listen("127.0.0.1", int(sys.argv[1]))  # adapters and store started
    try:
        await asyncio.Event().wait()
    finally:
        await listener.aclose()


if __name__ == "__main__":
    asyncio.run(main())

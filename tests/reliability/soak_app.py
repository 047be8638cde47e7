"""The server of the soak test, run in its own process: ``python soak_app.py`` prints
``{"port": N}`` once it listens on 127.0.0.1 and serves until its stdin closes.

``join(room)`` joins and acks the room; ``say(room, token)`` broadcasts ``said`` to the room
and acks the token. ``GET /soak/stats`` answers what the test compares before and after:
asyncio tasks, the sessions, sockets, rooms and per-socket entries the server holds, and,
after a ``gc.collect()``, how many objects of each roomcast class are alive.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections import Counter

import roomcast

io = roomcast.Server(serve_client=False)


def join(socket: roomcast.Socket, room: str) -> str:
    socket.join(room)
    return room


async def say(socket: roomcast.Socket, room: str, token: str) -> str:
    await io.to(room).emit("said", token)
    return token


async def stats(request: roomcast.HttpRequest) -> roomcast.HttpResponse:
    main = io.of("/")
    gc.collect()
    classes = Counter(
        type(o).__qualname__
        for o in gc.get_objects()
        if str(type(o).__module__).startswith("roomcast.")
    )
    return roomcast.json_response(
        {
            "tasks": len(asyncio.all_tasks()),
            "engine_sessions": len(io.engine.sockets),
            "sockets": len(main.sockets),
            "rooms": len(main.adapter.rooms),
            "socket_rooms": len(main.adapter.sids),
            "roomcast_objects": dict(sorted(classes.items())),
        }
    )


io.on("join", join)
io.on("say", say)
io.route("/soak/stats", stats)


async def main() -> None:
    listener = await io.listen("127.0.0.1", 0)
    print(json.dumps({"port": listener.port}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await listener.aclose()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:  # as io.run: uvloop when installed
        asyncio.run(main())
    else:
        uvloop.run(main())

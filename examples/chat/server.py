"""A small chat: rooms, a user list per room and private messages, with a web page on ``/``.

Run it, then open http://127.0.0.1:3000 in two browser tabs::

    python examples/chat/server.py --port 3000 [--host 127.0.0.1]
    roomcast serve examples/chat/server.py:io --port 3000 [--workers 4]

The page (``static/``) loads the official browser client from ``/socket.io/socket.io.js``,
which roomcast serves from the ``socket.io-client`` npm package.

Events from the page:
    ``join-room`` room: leave the previous room (if any), join this one.
    ``chat-message`` {room, message}: everyone in the room gets ``new-message``.
    ``private-message`` {to: socket id, message}: only that socket gets ``private-message``.
Events to the page:
    ``new-message`` {room, message, name, time}, ``notice`` {room, text, time},
    ``users`` {room, users: [{id, name}]}, ``private-message`` {from, name, message}.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from aiohttp import web

import roomcast

STATIC = Path(__file__).resolve().parent / "static"
logger = logging.getLogger("chat")

io = roomcast.Server(cors_allowed_origins="*")
io.static("/static/", STATIC)  # the page's assets...
io.static("/", STATIC)  # ...and the page at "/", under `roomcast serve` and aiohttp alike


def now_ms() -> int:
    """The time as JavaScript counts it: milliseconds since the epoch."""
    return int(time.time() * 1000)


async def send_users(room: str) -> None:
    """Tell everyone in ``room`` who is there."""
    sockets = await io.in_(room).fetch_sockets()
    users = sorted(
        ({"id": s.id, "name": s.data["name"]} for s in sockets), key=lambda u: u["name"].lower()
    )
    await io.to(room).emit("users", {"room": room, "users": users})


async def notice(room: str, text: str) -> None:
    """A system line in the room's message list."""
    await io.to(room).emit("notice", {"room": room, "text": text, "time": now_ms()})


@io.use
async def require_name(socket: roomcast.Socket) -> None:
    """Refuse connections without a name; the page shows the message of its connect_error."""
    name = str(socket.handshake.auth.get("name") or "").strip()
    if not name:
        raise roomcast.ConnectionRefused("name required", data={"field": "name"})
    socket.data["name"] = name


@io.on("connection")
async def connection(socket: roomcast.Socket) -> None:
    logger.info("%s connected as %r", socket.id, socket.data["name"])


@io.on("join-room")
async def join_room(socket: roomcast.Socket, room: str) -> None:
    room = str(room).strip()
    previous = socket.data.get("room")
    if not room or room == previous:
        return
    name = socket.data["name"]
    if previous is not None:
        socket.leave(previous)
        await notice(previous, f"{name} left {previous}")
        await send_users(previous)
    socket.join(room)
    socket.data["room"] = room
    await notice(room, f"{name} joined {room}")
    await send_users(room)


@io.on("chat-message")
async def chat_message(socket: roomcast.Socket, data: dict[str, Any]) -> None:
    if data.get("room") not in socket.rooms:
        return  # only members may talk in a room
    data["name"] = socket.handshake.auth.get("name")
    data["time"] = now_ms()
    await io.to(data["room"]).emit("new-message", data)


@io.on("private-message")
async def private_message(socket: roomcast.Socket, msg: dict[str, Any]) -> None:
    await io.to(msg["to"]).emit(
        "private-message",
        {"from": socket.id, "name": socket.data["name"], "message": msg["message"]},
    )


@io.on("disconnect")
async def disconnect(socket: roomcast.Socket, reason: str) -> None:
    logger.info("%s (%r) disconnected: %s", socket.id, socket.data.get("name"), reason)
    room = socket.data.get("room")
    if room is not None:
        await notice(room, f"{socket.data['name']} left {room}")
        await send_users(room)


def make_app() -> web.Application:
    app = web.Application()
    io.attach(app)  # Socket.IO on /socket.io/, the browser client at /socket.io/socket.io.js
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logger.info("chat on http://%s:%s/", args.host, args.port)
    web.run_app(make_app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()

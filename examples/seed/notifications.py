"""The seed's live notifications: each user has a room, ``user-<id>``, that any part of the
system reaches. Run with ``ROOMCAST_JWT_SECRET=... NOTIFY_TOKEN=... roomcast serve
examples/seed/notifications.py:io`` (``roomcast chat`` is the full service)."""

from __future__ import annotations

import os

import roomcast

io = roomcast.Server()
io.use(roomcast.jwt_auth(secret=os.environ["ROOMCAST_JWT_SECRET"]))  # socket.data["user"]


@io.on("connection")
def connected(socket: roomcast.Socket) -> None:
    socket.join(f"user-{socket.data['user']}")  # every tab of this user


@io.route("/api/notify", methods=["POST"])
async def notify(request: roomcast.HttpRequest) -> roomcast.HttpResponse:
    if request.bearer_token() != os.environ["NOTIFY_TOKEN"]:
        error = {"code": "unauthorized", "message": "a notify token is required", "details": None}
        return roomcast.json_response({"_rc_error": error}, status=401)
    note = request.json()
    await io.to(f"user-{note['user']}").emit("notification", note)
    return roomcast.json_response({"ok": True}, status=201)

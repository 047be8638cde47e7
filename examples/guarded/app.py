"""Guard rails on every event: `python examples/guarded/app.py PORT`.

``$ROOMCAST_JWT_SECRET`` (required): the HS256 secret of the clients' JWTs, read from the
handshake's ``auth.token``, an ``Authorization: Bearer`` header or a ``token`` cookie;
a client without a valid one is refused with ``connect_error`` whose ``data`` is
``{"code": "token_missing" | "token_invalid" | "token_expired"}`` (``roomcast.jwt_auth``;
a token that expires while connected disconnects its socket with that reason).
``$ROOMCAST_ORIGINS``: the allowed origins, comma-separated (default: any). On namespace ``/``:

- ``say`` (``{"room": 1-64 characters, "text": 1-500 characters}``): at most 5 per second
  per socket, in bursts of up to 5; joins the room, broadcasts ``message``
  (``{"room", "text", "from": sub}``) to it, acks ``{"ok": true}``;
- ``boom``: its handler raises (the client gets the error ack ``handler_error``);
- ``whoami``: acks the ``sub`` claim of the client's token.

A refused event is acked ``{"_rc_error": {"code", "message", "details"}}``: see the
README's "Safe by default".
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from pydantic import BaseModel, Field

import roomcast


class Say(BaseModel):
    """The ``say`` event's argument."""

    room: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=500)


# -- the app


def build(secret: str, origins: str | list[str] = "*") -> roomcast.Server:
    io = roomcast.Server(cors_allowed_origins=origins)
    # the token from auth.token, an Authorization: Bearer header or the "token" cookie;
    # its claims in socket.data["jwt"], its sub in socket.data["user"]
    io.use(roomcast.jwt_auth(secret=secret, algorithms=["HS256"], require=()))

    @io.on("say", rate="5/s", burst=5)
    async def say(socket: roomcast.Socket, msg: Say) -> dict[str, bool]:
        socket.join(msg.room)
        sender = socket.data.get("user")
        await io.to(msg.room).emit("message", {"room": msg.room, "text": msg.text, "from": sender})
        return {"ok": True}

    @io.on("boom")
    def boom(socket: roomcast.Socket) -> None:
        raise RuntimeError("boom: this handler always fails")

    @io.on("whoami")
    def whoami(socket: roomcast.Socket) -> Any:
        return socket.data.get("user")

    return io


def create() -> roomcast.Server:
    """The app as configured by the environment (``roomcast serve`` and ``roomcast schema
    examples.guarded.app:create``)."""
    secret = os.environ.get("ROOMCAST_JWT_SECRET", "")
    if not secret:
        raise RuntimeError("set ROOMCAST_JWT_SECRET (the HS256 secret)")
    return build(secret, origins_from_env())


def origins_from_env() -> str | list[str]:
    listed = [o.strip() for o in os.environ.get("ROOMCAST_ORIGINS", "").split(",") if o.strip()]
    return listed or "*"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int, nargs="?", default=None)
    parser.add_argument("--port", dest="port_option", type=int, default=None)
    parser.add_argument("--host", default="localhost", help="localhost: 127.0.0.1 and ::1")
    args = parser.parse_args(argv)
    secret = os.environ.get("ROOMCAST_JWT_SECRET", "")
    if not secret:
        print("guarded: set ROOMCAST_JWT_SECRET (the HS256 secret)", file=sys.stderr)
        return 2
    port = args.port if args.port is not None else args.port_option
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    build(secret, origins_from_env()).run(args.host, 3000 if port is None else port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

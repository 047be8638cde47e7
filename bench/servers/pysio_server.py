"""The benchmark's python-socketio server (aiohttp, uvloop like roomcast): the same handlers."""

from __future__ import annotations

import argparse

import uvloop
from aiohttp import web

import socketio  # type: ignore[import-untyped]

ROOM = "bench"


def build() -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp")

    @sio.event
    async def join(sid: str, room: str) -> None:
        await sio.enter_room(sid, room)

    @sio.event
    async def fan(sid: str, data: str) -> None:
        await sio.emit("m", data, room=ROOM)

    @sio.event
    async def echo(sid: str, data: str) -> str:
        return data

    app = web.Application()
    sio.attach(app)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args, _ = parser.parse_known_args()  # roomcast's --echo modes: the plain echo here
    web.run_app(
        build(),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()

"""The Socket.IO server the Socket.IO protocol test suite expects, on /socket.io/."""

from __future__ import annotations

import argparse
from typing import Any

import roomcast


def build() -> roomcast.Server:
    io = roomcast.Server(ping_interval=0.3, ping_timeout=0.2, max_http_buffer_size=1_000_000)

    for namespace in (io.of("/"), io.of("/custom")):

        @namespace.on("connection")
        async def connected(socket: roomcast.Socket) -> None:
            await socket.emit("auth", socket.handshake.auth)

        @namespace.on("message")
        async def message(socket: roomcast.Socket, *args: Any) -> None:
            await socket.emit("message-back", *args)

        @namespace.on("message-with-ack")
        def message_with_ack(socket: roomcast.Socket, *args: Any) -> tuple[Any, ...]:
            return args

    return io


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args()
    build().run(args.host, args.port)


if __name__ == "__main__":
    main()

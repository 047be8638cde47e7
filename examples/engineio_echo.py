"""A plain Engine.IO echo server on /engine.io/ (what the Engine.IO protocol test suite expects)."""

from __future__ import annotations

import argparse

import roomcast


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args()

    eio = roomcast.EngineServer(
        path="/engine.io/",
        ping_interval=0.3,
        ping_timeout=0.2,
        max_http_buffer_size=1_000_000,
    )

    @eio.on("message")
    def echo(conn: roomcast.EngineSocket, data: str | bytes) -> None:
        conn.send(data)

    eio.run(args.host, args.port)


if __name__ == "__main__":
    main()

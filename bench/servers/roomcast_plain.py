"""The benchmark's roomcast server with plain WebSocket endpoints (no Socket.IO client in use).

- ``/echo``: each message goes back to its sender as it came. ``--echo hook`` (the default)
  serves it with ``on_message`` and ``send_nowait`` (no task per client); ``--echo iter``
  with the handler of README.md (``async for message in ws: await ws.send(message)``).
- ``/fan``: each message goes to every other client of ``/fan`` (``broadcast(exclude=ws)``,
  the frame built once), as ``/chat`` in examples/plain_ws.py.

Compression off and pings at the endpoint's default (20 s), as Node's ``ws`` server in
servers/ws_server.mjs (which sends none).
"""

from __future__ import annotations

import argparse

import roomcast

ECHO_STYLES = ("hook", "iter")


def build(echo_style: str = "hook") -> roomcast.Server:
    io = roomcast.Server(serve_client=False)

    if echo_style == "iter":

        @io.websocket("/echo")
        async def echo_iter(ws: roomcast.WebSocket) -> None:
            async for message in ws:
                await ws.send(message)

    else:
        echo = io.websocket("/echo")

        @echo.on_message
        def echo_hook(ws: roomcast.WebSocket, message: str | bytes) -> None:
            ws.send_nowait(message)

    fan = io.websocket("/fan")

    @fan.on_message
    def relay(ws: roomcast.WebSocket, message: str | bytes) -> None:
        fan.broadcast(message, exclude=ws)

    return io


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--echo", choices=ECHO_STYLES, default="hook", help="how /echo is served")
    args = parser.parse_args()
    build(args.echo).run("127.0.0.1", args.port)


if __name__ == "__main__":
    main()

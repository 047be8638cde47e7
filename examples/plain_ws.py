"""Plain WebSocket endpoints and Socket.IO on one port.

    python examples/plain_ws.py PORT [--certfile FILE --keyfile FILE] [--host HOST]

- ``/echo``: every message comes back as it came (text as text, binary as binary);
- ``/chat``: every message goes to every other client of ``/chat``;
- Socket.IO (``/socket.io/``): the event ``echo`` acks its argument.

With ``--certfile`` and ``--keyfile`` the same is served over TLS (``wss://``, ``https://``).
permessage-deflate is on everywhere (for clients that offer it): messages of 1 KiB or more
are compressed, a ``/chat`` message once for all its recipients.
"""

from __future__ import annotations

import argparse
import sys

import roomcast


def build() -> roomcast.Server:
    io = roomcast.Server(cors_allowed_origins="*", per_message_deflate=True)

    @io.on("echo")
    def echo(socket: roomcast.Socket, data: object = None) -> object:
        return data

    @io.websocket("/echo", per_message_deflate=True)
    async def echo_endpoint(ws: roomcast.WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    chat = io.websocket("/chat", max_message_size=1024 * 1024, per_message_deflate=True)

    @chat.on_message
    def relay(ws: roomcast.WebSocket, message: str | bytes) -> None:
        chat.broadcast(message, exclude=ws)

    return io


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default=None, help="default: every interface")
    parser.add_argument("--certfile", default=None, help="TLS certificate chain (PEM)")
    parser.add_argument("--keyfile", default=None, help="its private key (PEM)")
    args = parser.parse_args(argv)
    if (args.certfile is None) != (args.keyfile is None):
        parser.error("--certfile and --keyfile go together")
    try:
        build().run(args.host, args.port, certfile=args.certfile, keyfile=args.keyfile)
    except ValueError as exc:  # a certificate or key that cannot be loaded
        print(f"plain_ws.py: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the port is taken
        print(f"plain_ws.py: cannot listen on port {args.port}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark's roomcast server: the same three handlers as the two peers.

``--recovery`` turns on connection-state recovery (``max_disconnection_duration`` 120 s, as
the Node server's ``--recovery``) and ``--store URL`` picks the store (``memory://``,
``sqlite:///path``, ``redis://...?stream=NAME``; with ``--recovery`` and no ``--store``:
memory). With either, SIGTERM shuts the server down gracefully (clients disconnected with
"server shutting down", their sessions written, the store closed); without, SIGTERM ends
the process at once, as before.
``--echo validated``: ``echo`` takes a pydantic model (``{"text": str}``) and acks it back;
``--echo limited``: ``echo`` has a rate limit per socket (too high to refuse anything: what
is measured is the bucket's cost). The peers serve their plain echo in both cases.
``--metrics``: Prometheus metrics on, at ``/metrics``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import linecache
import signal
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import Any

import roomcast

ROOM = "bench"
ECHO_MODES = ("plain", "validated", "limited")


def build(
    max_write_buffer: int,
    deflate: bool | roomcast.PerMessageDeflate = False,
    recovery: bool = False,
    store: str | None = None,
    echo_mode: str = "plain",
    metrics: bool = False,
) -> roomcast.Server:
    options: dict[str, Any] = {}  # only what is asked for: --at runs older revisions too
    if deflate:
        options["per_message_deflate"] = deflate
    if recovery:
        options["recovery"] = roomcast.Recovery(max_disconnection_duration=120)
    if store is not None:
        options["store"] = store
    io = roomcast.Server(serve_client=False, max_write_buffer=max_write_buffer, **options)

    if metrics:
        from roomcast.observe.metrics import Metrics  # only here: the extra is optional

        Metrics(io)

    @io.on("join")
    def join(socket: roomcast.Socket, room: str) -> None:
        socket.join(room)

    @io.on("fan")
    async def fan(socket: roomcast.Socket, data: str) -> None:
        await io.to(ROOM).emit("m", data)

    if echo_mode == "validated":
        from pydantic import BaseModel  # only here: the other modes run without it

        class EchoMessage(BaseModel):
            text: str

        @io.on("echo")
        def echo_model(socket: roomcast.Socket, data: EchoMessage) -> EchoMessage:
            return data

    elif echo_mode == "limited":

        @io.on("echo", rate="1000000/s", burst=1_000_000)
        def echo_limited(socket: roomcast.Socket, data: Any) -> Any:
            return data

    else:

        @io.on("echo")
        def echo(socket: roomcast.Socket, data: Any) -> Any:  # Any: nothing to validate
            return data

    return io


def trace_memory(out: Path) -> None:
    """On SIGUSR1, write what was allocated since start-up, by source line, to ``out``."""
    tracemalloc.start(1)
    base = tracemalloc.take_snapshot()

    def dump(signum: int, frame: FrameType | None) -> None:
        stats = tracemalloc.take_snapshot().compare_to(base, "lineno")
        lines = [
            f"{s.size_diff} {s.count_diff} {s.traceback[0]} | "
            + linecache.getline(s.traceback[0].filename, s.traceback[0].lineno).strip()
            for s in stats[:60]
        ]
        total = sum(s.size_diff for s in stats)
        out.write_text(f"total {total}\n" + "\n".join(lines) + "\n")

    signal.signal(signal.SIGUSR1, dump)


def serve_until_sigterm(io: roomcast.Server, port: int) -> None:
    """Serve; on SIGTERM or SIGINT stop accepting, then close gracefully."""

    async def serve() -> None:
        listener = await io.listen("127.0.0.1", port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        listener.server.close()  # no new connection while the others are closed
        await io.aclose()  # "server shutting down": sessions written, store closed
        with contextlib.suppress(Exception):
            await listener.aclose()

    try:
        import uvloop
    except ImportError:
        asyncio.run(serve())
    else:
        uvloop.run(serve())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-write-buffer", type=int, default=16 * 2**20)
    parser.add_argument("--tracemalloc", type=Path, default=None, help="SIGUSR1 dumps here")
    parser.add_argument("--deflate", action="store_true", help="permessage-deflate on")
    parser.add_argument(
        "--deflate-takeover", action="store_true", help="... with context takeover both ways"
    )
    parser.add_argument("--recovery", action="store_true", help="connection-state recovery")
    parser.add_argument("--store", default=None, help="memory://, sqlite:///path, redis://...")
    parser.add_argument("--echo", choices=ECHO_MODES, default="plain", help="the echo handler")
    parser.add_argument("--metrics", action="store_true", help="Prometheus metrics at /metrics")
    args = parser.parse_args()
    deflate: bool | roomcast.PerMessageDeflate = args.deflate
    if args.deflate_takeover:
        deflate = roomcast.PerMessageDeflate(
            server_no_context_takeover=False, client_no_context_takeover=False
        )
    io = build(args.max_write_buffer, deflate, args.recovery, args.store, args.echo, args.metrics)
    if args.tracemalloc is not None:
        trace_memory(args.tracemalloc)
    if args.recovery or args.store:
        serve_until_sigterm(io, args.port)
    else:
        io.run("127.0.0.1", args.port)


if __name__ == "__main__":
    main()

"""The benchmark's roomcast server: the same three handlers as the two peers."""

from __future__ import annotations

import argparse
import linecache
import signal
import tracemalloc
from pathlib import Path
from types import FrameType

import roomcast

ROOM = "bench"


def build(
    max_write_buffer: int, deflate: bool | roomcast.PerMessageDeflate = False
) -> roomcast.Server:
    io = roomcast.Server(
        serve_client=False, max_write_buffer=max_write_buffer, per_message_deflate=deflate
    )

    @io.on("join")
    def join(socket: roomcast.Socket, room: str) -> None:
        socket.join(room)

    @io.on("fan")
    async def fan(socket: roomcast.Socket, data: str) -> None:
        await io.to(ROOM).emit("m", data)

    @io.on("echo")
    def echo(socket: roomcast.Socket, data: str) -> str:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-write-buffer", type=int, default=16 * 2**20)
    parser.add_argument("--tracemalloc", type=Path, default=None, help="SIGUSR1 dumps here")
    parser.add_argument("--deflate", action="store_true", help="permessage-deflate on")
    parser.add_argument(
        "--deflate-takeover", action="store_true", help="... with context takeover both ways"
    )
    args = parser.parse_args()
    deflate: bool | roomcast.PerMessageDeflate = args.deflate
    if args.deflate_takeover:
        deflate = roomcast.PerMessageDeflate(
            server_no_context_takeover=False, client_no_context_takeover=False
        )
    io = build(args.max_write_buffer, deflate)
    if args.tracemalloc is not None:
        trace_memory(args.tracemalloc)
    io.run("127.0.0.1", args.port)


if __name__ == "__main__":
    main()

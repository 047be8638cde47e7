"""Probes from outside, one abusive client (or many) against a running server, a bystander
checking that everyone else is still served. The figures of docs/RELIABILITY.md.

    .venv/bin/python bench/probes.py slow-reader   # a client that stops reading
    .venv/bin/python bench/probes.py slowloris     # 300 request heads, a byte every 100 ms
    .venv/bin/python bench/probes.py big-frame     # one 10 MB WebSocket frame
    .venv/bin/python bench/probes.py kill-supervisor   # roomcast serve --workers 2, kill -9
    (the flood: bench/flood.py)

The server runs in its own process (``--serve``: a ``roomcast.Server`` on uvloop that
broadcasts ``tick`` with a 64 KiB payload to room ``watch`` every 10 ms, and echoes);
the probe reads its open file descriptors from ``/proc``. Each probe prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from flood import ROOM, UPGRADE, Peer, masked, open_peer

BENCH = Path(__file__).resolve().parent


def serve(max_write_buffer: int, header_timeout: float | None) -> None:
    import uvloop

    import roomcast

    io = roomcast.Server(serve_client=False, max_write_buffer=max_write_buffer)

    @io.on("join")
    def join(socket: roomcast.Socket, room: str) -> None:
        socket.join(room)

    @io.on("echo")
    def echo(socket: roomcast.Socket, data: Any) -> Any:
        return data

    async def tick() -> None:
        payload = "x" * 65_536
        while True:
            await asyncio.sleep(0.01)
            await io.to(ROOM).emit("tick", payload)

    async def main() -> None:
        options: dict[str, Any] = {}
        if header_timeout is not None:  # older revisions have no such option
            options["header_timeout"] = header_timeout
        listener = await io.listen("127.0.0.1", 0, **options)
        ticker = asyncio.ensure_future(tick())
        print(json.dumps({"port": listener.port}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        ticker.cancel()

    uvloop.run(main())


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Server:
    def __init__(self, *options: str) -> None:
        command = [sys.executable, __file__, "--serve", *options]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.port = int(json.loads(self.proc.stdout.readline())["port"])

    def fds(self) -> int:
        return open_fds(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


async def bystander_echo(peer: Peer) -> float:
    """Seconds for one echo ack through ``peer``."""
    peer.acked = asyncio.get_running_loop().create_future()
    started = time.monotonic()
    peer.send('421["echo","ping"]')
    await asyncio.wait_for(peer.acked, 30)
    return time.monotonic() - started


async def slow_reader(args: argparse.Namespace) -> dict[str, Any]:
    """A client with a 4 KiB receive window that never reads, in a room that gets 6.4 MB/s."""
    server = Server("--max-write-buffer", str(args.max_write_buffer))
    try:
        reader = await open_peer(server.port, record=True)
        reader.send(f'42["join","{ROOM}"]')
        baseline = server.fds()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(UPGRADE)
        await asyncio.sleep(0.2)
        sock.sendall(masked("40") + masked(f'42["join","{ROOM}"]'))
        connected = time.monotonic()
        released = None
        while time.monotonic() - connected < args.seconds:
            await asyncio.sleep(0.05)
            if released is None and server.fds() <= baseline:
                released = time.monotonic() - connected
        ticks = len(reader.arrivals)
        sock.setblocking(False)
        outcome = "still open"
        try:
            while sock.recv(1 << 20):
                pass
        except ConnectionResetError:
            outcome = "reset"
        except BlockingIOError:
            outcome = "still open"
        else:
            outcome = "closed (end of stream)"
        sock.close()
        return {
            "probe": "slow-reader",
            "max_write_buffer": args.max_write_buffer,
            "server_fd_released_after_s": None if released is None else round(released, 2),
            "stalled_client_sees": outcome,
            "watched_for_s": args.seconds,
            "reader_ticks": ticks,
            "reader_ticks_expected_about": round(args.seconds * 100),
        }
    finally:
        server.stop()


async def slowloris(args: argparse.Namespace) -> dict[str, Any]:
    """``--connections`` clients send a request head a byte every ``--pace`` seconds."""
    options = [] if args.header_timeout is None else ["--header-timeout", str(args.header_timeout)]
    server = Server(*options)
    try:
        bystander = await open_peer(server.port, record=True)
        head = (
            b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"y" * 40) for i in range(40))
            + b"\r\n"
        )
        conns = []
        for _ in range(args.connections):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            conns.append((reader, writer))
        started = time.monotonic()
        answers: list[bytes] = []
        closed_at: list[float] = []

        async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            async def listen() -> None:
                data = await reader.read()
                answers.append(data[:12])
                closed_at.append(time.monotonic() - started)

            listening = asyncio.ensure_future(listen())
            for byte in head:
                if listening.done():
                    return
                try:
                    writer.write(bytes((byte,)))
                except ConnectionError:
                    return
                await asyncio.sleep(args.pace)
            await listening

        trickling = [asyncio.ensure_future(trickle(r, w)) for r, w in conns]
        echoes = []
        while time.monotonic() - started < args.seconds:
            echoes.append(await bystander_echo(bystander))
            await asyncio.sleep(0.1)
        still_open = sum(1 for task in trickling if not task.done())
        for task in trickling:
            task.cancel()
        for _, writer in conns:
            writer.transport.abort()
        return {
            "probe": "slowloris",
            "connections": args.connections,
            "header_timeout": args.header_timeout,
            "still_open_after_s": [args.seconds, still_open],
            "closed_after_s": {
                "first": round(min(closed_at), 2) if closed_at else None,
                "last": round(max(closed_at), 2) if closed_at else None,
            },
            "answered_408": sum(1 for a in answers if a.startswith(b"HTTP/1.1 408")),
            "bystander_echo_ms_max": round(1000 * max(echoes), 1),
        }
    finally:
        server.stop()


async def big_frame(args: argparse.Namespace) -> dict[str, Any]:
    """One client sends a 10 MB text frame (the limit: max_http_buffer_size, 1 MB)."""
    server = Server()
    try:
        bystander = await open_peer(server.port, record=True)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: cm9vbWNhc3QtYmlnLWtleQ==\r\n\r\n"
        )
        await reader.readuntil(b"\r\n\r\n")
        payload = b"4" + b"x" * 10_000_000
        started = time.monotonic()
        writer.write(struct.pack("!BBQ", 0x81, 0xFF, len(payload)) + b"\0\0\0\0" + payload)
        code = None
        while code is None:
            first, second = await asyncio.wait_for(reader.readexactly(2), 10)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
            body = await reader.readexactly(length)
            if first & 0x0F == 0x8:
                code = struct.unpack("!H", body[:2])[0]
        closed_after = time.monotonic() - started
        writer.transport.abort()
        return {
            "probe": "big-frame",
            "close_code": code,
            "closed_after_ms": round(1000 * closed_after, 1),
            "bystander_echo_ms": round(1000 * await bystander_echo(bystander), 1),
        }
    finally:
        server.stop()


def running(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def children_of(pid: int) -> set[int]:
    return {
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    }


async def kill_supervisor(args: argparse.Namespace) -> dict[str, Any]:
    """``roomcast serve --workers 2``, then SIGKILL to the supervisor: do the workers end?"""
    app = BENCH.parent / "examples" / "chat" / "server.py"
    command = [
        sys.executable,
        "-m",
        "roomcast",
        "serve",
        f"{app}:io",
        "--port",
        "0",
        "--workers",
        "2",
    ]
    proc = await asyncio.create_subprocess_exec(*command, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    while b"serving http" not in await proc.stderr.readline():
        pass
    children = children_of(proc.pid)
    proc.kill()
    await proc.wait()
    killed = time.monotonic()
    alive = set(children)
    while alive and time.monotonic() - killed < 10:
        alive = {pid for pid in alive if running(pid)}
        await asyncio.sleep(0.01)
    return {
        "probe": "kill-supervisor",
        "workers_and_hub": len(children),
        "still_running_after_s": [round(time.monotonic() - killed, 2), len(alive)],
    }


PROBES = {
    "slow-reader": slow_reader,
    "slowloris": slowloris,
    "big-frame": big_frame,
    "kill-supervisor": kill_supervisor,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("probe", nargs="?", choices=sorted(PROBES))
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--pace", type=float, default=0.1)
    parser.add_argument("--header-timeout", type=float, default=None)
    parser.add_argument("--max-write-buffer", type=int, default=1 << 20)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.max_write_buffer, args.header_timeout)
        return
    if args.probe is None:
        parser.error("which probe?")
    import uvloop

    print(json.dumps(uvloop.run(PROBES[args.probe](args)), indent=1))


if __name__ == "__main__":
    main()

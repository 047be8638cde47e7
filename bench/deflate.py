"""permessage-deflate side by side: roomcast and Node's socket.io 4.8, both with it on.

    .venv/bin/python bench/deflate.py [--servers roomcast,node] [--receivers 200]
        [--broadcasts 200] [--rate 50] [--idle 1000] [--json out.json]

``run.py``'s scenario ``deflate`` calls ``measure_running`` on the servers it starts, beside
the other scenarios (figures in results/ and RESULTS.md); run alone, this script starts the
servers itself. Each server (``servers/``, with ``--deflate``) runs on core 0 (``taskset``,
when there is one), this script's clients on the others, in one uvloop loop, speaking
Engine.IO / Socket.IO over raw sockets and offering
``permessage-deflate; client_max_window_bits`` as browsers do.

- fan-out: ``--receivers`` clients in room ``bench``; one sender emits ``fan`` with a 2 KB
  JSON-like payload (different each time, as chat or notification messages are) at
  ``--rate`` broadcasts/s. Figures: server CPU (user + system, from ``/proc``) per
  delivery, and bytes on the wire per delivery (the frame as received, header included),
  beside the payload's own size.
- idle: ``--idle`` more connections, each of which sends one compressed message and
  receives one compressed broadcast (so a server that makes its zlib contexts lazily has
  made them), then waits: the server's RSS growth per connection, in KiB.

``--servers roomcast-takeover`` is roomcast with context takeover both ways (a deflate
context per connection, compressed per recipient: Node's way). ``--plain`` adds the same
figures with compression off.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu room user "
    "message joined left typing online offline status update notification price order"
).split()
TICK = os.sysconf("SC_CLK_TCK")


def payload(seq: int, rng: random.Random, size: int = 2000) -> str:
    """A JSON text of about ``size`` bytes, like a batch of chat or notification items."""
    items: list[str] = []
    while sum(map(len, items)) < size - 60:
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))
        items.append(
            json.dumps({"id": rng.randint(10**5, 10**6), "user": rng.choice(WORDS), "text": words})
        )
    return json.dumps({"seq": seq, "sent": time.time(), "items": [json.loads(i) for i in items]})


def masked(first: int, data: bytes) -> bytes:
    """A masked client frame."""
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    mask = os.urandom(4)
    body = bytes(b ^ mask[i & 3] for i, b in enumerate(data))
    return head + mask + body


def compress(data: bytes) -> bytes:
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH))[:-4]


@dataclass
class Client:
    """One Socket.IO client over a raw WebSocket; counts what it receives."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    deflate: bool
    frames: int = 0
    wire_bytes: int = 0
    compressed: int = 0
    waiters: list[tuple[bytes, asyncio.Future[bytes]]] = field(default_factory=list)
    counting: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0

    @classmethod
    async def connect(cls, port: int, offer: bool = True) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if offer:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert b" 101 " in head.split(b"\r\n")[0], head
        client = cls(reader, writer, b"permessage-deflate" in head)
        await client.read_frame()  # OPEN
        client.send_text(b"40")
        await client.read_frame()  # CONNECT answer
        return client

    def send_text(self, data: bytes, *, compressed: bool = False) -> None:
        if compressed and self.deflate:
            self.writer.write(masked(0xC1, compress(data)))
        else:
            self.writer.write(masked(0x81, data))

    async def read_frame(self) -> tuple[int, bytes]:
        head = await self.reader.readexactly(2)
        n = head[1] & 0x7F
        extra = b""
        if n == 126:
            extra = await self.reader.readexactly(2)
            (n,) = struct.unpack("!H", extra)
        elif n == 127:
            extra = await self.reader.readexactly(8)
            (n,) = struct.unpack("!Q", extra)
        body = await self.reader.readexactly(n)
        if self.counting:
            self.frames += 1
            self.wire_bytes += 2 + len(extra) + n
            self.compressed += bool(head[0] & 0x40)
            if self.frames >= self.expected:
                self.done.set()
        return head[0], body

    async def ack(self, packet: bytes) -> None:
        """Send an EVENT with ack id 1 and wait for any frame (its ack)."""
        self.send_text(packet)
        await self.read_frame()

    async def drain_forever(self) -> None:
        try:
            while True:
                first, body = await self.read_frame()
                if first & 0x0F == 0x1 and body == b"2":  # Engine.IO ping
                    self.send_text(b"3")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    def close(self) -> None:
        self.writer.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(kind: str, port: int, deflate: bool) -> subprocess.Popen[bytes]:
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") and os.cpu_count() != 1 else []
    flag = ["--deflate"] if deflate else []
    if kind == "roomcast-takeover" and deflate:
        flag = ["--deflate-takeover"]
    if kind == "node":
        cmd = ["node", str(BENCH / "servers" / "node_server.mjs"), "--port", str(port), *flag]
    else:
        script = str(BENCH / "servers" / "roomcast_server.py")
        cmd = [sys.executable, script, "--port", str(port), *flag]
    return subprocess.Popen([*pin, *cmd], cwd=ROOT)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def fanout(port: int, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    receivers = [await Client.connect(port) for _ in range(args.receivers)]
    for client in receivers:
        await client.ack(b'420["join","bench"]')
    sender = await Client.connect(port)
    rng = random.Random(7)
    texts = [payload(i, rng) for i in range(args.broadcasts)]
    for client in receivers:
        client.counting, client.expected = True, args.broadcasts
    readers = [asyncio.create_task(c.drain_forever()) for c in receivers]
    cpu0, t0, own0 = cpu_seconds(pid), time.monotonic(), time.process_time()
    for i, text in enumerate(texts):
        sender.send_text(b'42["fan",' + json.dumps(text).encode() + b"]")
        await asyncio.sleep(max(0.0, t0 + (i + 1) / args.rate - time.monotonic()))
    await asyncio.wait_for(asyncio.gather(*(c.done.wait() for c in receivers)), 60)
    cpu = cpu_seconds(pid) - cpu0
    wall, own = time.monotonic() - t0, time.process_time() - own0
    deliveries = sum(c.frames for c in receivers)
    for task in readers:
        task.cancel()
    for client in [*receivers, sender]:
        client.close()
    packet = sum(len(b'42["m",' + json.dumps(t).encode() + b"]") for t in texts) / len(texts)
    return {
        "deliveries": deliveries,
        "negotiated": all(c.deflate for c in receivers),
        "compressed_share": sum(c.compressed for c in receivers) / max(1, deliveries),
        "cpu_us_per_delivery": round(cpu / deliveries * 1e6, 2),
        "wire_bytes_per_delivery": round(sum(c.wire_bytes for c in receivers) / deliveries, 1),
        "packet_bytes": round(packet, 1),
        "server_cpu_pct": round(100 * cpu / wall, 1),
        "loadgen_cpu_pct": round(100 * own / wall, 1),
    }


async def idle(port: int, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    await asyncio.sleep(1.0)
    before = rss_kib(pid)
    big = json.dumps(payload(0, random.Random(1))).encode()
    clients = []
    for _ in range(args.idle):
        client = await Client.connect(port)
        await client.ack(b'421["join","bench"]')
        client.send_text(b'42["echo",' + big + b"]", compressed=True)  # one message in
        clients.append(client)
    for client in clients:
        client.counting, client.expected = True, 1
    readers = [asyncio.create_task(c.drain_forever()) for c in clients]
    sender = await Client.connect(port)
    sender.send_text(b'42["fan",' + big + b"]")  # one compressed broadcast out to each
    await asyncio.wait_for(asyncio.gather(*(c.done.wait() for c in clients)), 60)
    await asyncio.sleep(3.0)
    after = rss_kib(pid)
    for task in readers:
        task.cancel()
    for client in [*clients, sender]:
        client.close()
    return {"connections": args.idle, "kib_per_connection": round((after - before) / args.idle, 2)}


async def measure(kind: str, deflate: bool, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    proc = start_server(kind, port, deflate)
    try:
        await wait_listening(port)
        result = {"server": kind, "deflate": deflate, **await fanout(port, proc.pid, args)}
        if args.idle:
            result["idle"] = await idle(port, proc.pid, args)
        return result
    finally:
        proc.terminate()
        proc.wait(10)


def measure_running(
    port: int,
    pid: int,
    *,
    receivers: int = 200,
    broadcasts: int = 200,
    rate: float = 50.0,
    idle_connections: int = 1000,
) -> dict[str, Any]:
    """Both parts against a server already listening on ``port`` (process ``pid``), in a
    loop of its own (uvloop when installed): the figures, with ``ok``."""
    args = argparse.Namespace(
        receivers=receivers, broadcasts=broadcasts, rate=rate, idle=idle_connections
    )

    async def both() -> dict[str, Any]:
        await wait_listening(port)
        result = await fanout(port, pid, args)
        if idle_connections:
            result["idle"] = await idle(port, pid, args)
        return result

    try:
        import uvloop
    except ImportError:
        result = asyncio.run(both())
    else:
        result = uvloop.run(both())
    return {"ok": True, **result}


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for kind in args.servers.split(","):
        for deflate in [True, False] if args.plain else [True]:
            result = await measure(kind, deflate, args)
            print(json.dumps(result), flush=True)
            results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="roomcast,node")
    parser.add_argument("--receivers", type=int, default=200)
    parser.add_argument("--broadcasts", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0, help="broadcasts per second")
    parser.add_argument("--idle", type=int, default=1000, help="0: skip the idle part")
    parser.add_argument("--plain", action="store_true", help="also measure without deflate")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        results = asyncio.run(main_async(args))
    else:
        results = uvloop.run(main_async(args))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

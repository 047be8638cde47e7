"""CPU per connection, with and without the guards: handshake limits and JWT auth.

    .venv/bin/python bench/connect_cost.py [--connections 3000] [--rounds 3]

Each connection is a real ``HttpProtocol`` of the native server on the fake transport of
``micro.py`` (nothing leaves the process): WebSocket upgrade, Engine.IO open, Socket.IO
CONNECT (with a token where JWT is on), its answer, then the TCP connection is lost.
Connections come in batches of 100 per loop tick. The figure is CPU µs per connection
(median of ``--rounds``), user-space work only: no kernel, no real sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from micro import UPGRADE, FakeTransport, client_frame, ticks  # noqa: E402

SECRET = "bench-secret-" + "0123456789abcdef" * 4


def server(limits: bool, auth: bool) -> Any:
    import roomcast

    options: dict[str, Any] = {}
    if limits:  # counted and checked, generous enough that none is refused
        options["limits"] = roomcast.Limits(
            max_connections=1_000_000,
            max_connections_per_ip=1_000_000,
            connection_rate_per_ip="1000000/s",
            burst=1_000_000,
        )
    io = roomcast.Server(**options)
    if auth:
        io.use(roomcast.jwt_auth(secret=SECRET))
    return io


def connect_frame(auth: bool) -> bytes:
    if not auth:
        return client_frame("40")
    import jwt

    token = jwt.encode({"sub": "bench", "exp": int(time.time()) + 3600}, SECRET)
    return client_frame("40" + json.dumps({"token": token}))


async def round_(io: Any, frame: bytes, count: int) -> float:
    from roomcast.transports.native import HttpProtocol

    routes = io.routes()
    start = time.process_time()
    for base in range(0, count, 100):
        batch = []
        for i in range(base, min(count, base + 100)):
            proto = HttpProtocol(routes, set())
            transport = FakeTransport(10000 + i)
            proto.connection_made(transport)
            proto.data_received(UPGRADE)
            batch.append((proto, transport))
        await ticks()
        for proto, _ in batch:
            proto.data_received(frame)
        await ticks(5)
        for proto, transport in batch:
            if b'40{"sid"' not in transport.log:
                raise RuntimeError(f"no CONNECT answer: {bytes(transport.log[-200:])!r}")
            proto.connection_lost(None)
        await ticks()
    return (time.process_time() - start) / count * 1e6


async def main_async(count: int, rounds: int) -> dict[str, float]:
    results: dict[str, float] = {}
    for name, limits, auth in (
        ("plain", False, False),
        ("limits", True, False),
        ("jwt HS256", False, True),
        ("limits + jwt", True, True),
    ):
        io = server(limits, auth)
        frame = connect_frame(auth)
        await round_(io, frame, 200)  # warm up
        results[name] = statistics.median([await round_(io, frame, count) for _ in range(rounds)])
        if limits:
            assert io.engine.limiter.total == 0, "every connection was counted out again"
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    results = runner(main_async(args.connections, args.rounds))
    plain = results["plain"]
    for name, micros in results.items():
        print(f"{name:14} {micros:7.1f} µs CPU per connection  ({micros / plain:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

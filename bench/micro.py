"""roomcast's own Python cost per message, with no sockets and no kernel: a deterministic view.

    .venv/bin/python bench/micro.py [--profile] [--at REV]
    .venv/bin/python bench/micro.py --instructions [--at REV]   # callgrind, deterministic
    .venv/bin/python bench/micro.py --instructions --echo validated|limited
    .venv/bin/python bench/micro.py --instructions --metrics   # with Prometheus metrics on
    .venv/bin/python bench/micro.py --instructions --polling   # per long-polling round trip

Connections are real ``HttpProtocol`` objects of the native server on a fake transport that
only counts bytes, inside a running uvloop loop: the upgrade, Engine.IO open and Socket.IO
CONNECT happen as over a socket, then client frames are fed to ``data_received`` directly.
What is measured is the user-space work roomcast does per message (the server's figure
minus its system calls and the event loop's polling): echo with acks (50 connections, one
frame each, then one loop tick), and fan-out to 1000 receivers, one broadcast per tick or 32
per tick (the cork). ``--echo validated`` acks a pydantic model (``{"text": ...}``) and
``--echo limited`` spends a rate-limit token per event (see ``servers/roomcast_server.py``).
``--profile`` adds cProfile's calls per message and the top functions
(cProfile slows small calls, so read its shares, not its times).

``--polling`` measures HTTP long-polling instead (50 clients, each with a GET connection and a
POST connection, as bench/load's ``PollClient``): one round trip is a POST of one echo EVENT
and the GET whose answer carries the ack, in two orders: ``posted`` (the POST first, then
the GET finds the ack queued: what the load generator's clients mostly do) and ``waiting``
(the GET waits, a loop tick passes, then the POST's ack ends it: a long poll proper).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import re
import struct
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
UPGRADE = (
    b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: cm9vbWNhc3QtYmVuY2gtaw==\r\n\r\n"
)
PAYLOAD = "|1|123456789012|" + "x" * 84
ECHO_MODE = "plain"
METRICS = False


def build_server() -> Any:
    """The bench server with the echo of ``ECHO_MODE`` (older commits: the plain one)."""
    sys.path.insert(0, str(BENCH / "servers"))
    from roomcast_server import build  # type: ignore[import-not-found]

    if METRICS:
        return build(16 * 2**20, echo_mode=ECHO_MODE, metrics=True)
    if ECHO_MODE == "plain":
        return build(16 * 2**20)
    return build(16 * 2**20, echo_mode=ECHO_MODE)


def echo_frame(ack_id: int) -> bytes:
    """A client's echo EVENT asking for ack ``ack_id`` (an object for ``validated``)."""
    if ECHO_MODE == "validated":
        return client_frame(f'42{ack_id}["echo",{{"text":"{PAYLOAD}"}}]')
    return client_frame(f'42{ack_id}["echo","{PAYLOAD}"]')


def client_frame(text: str) -> bytes:
    """A masked client text frame."""
    data = text.encode()
    n = len(data)
    head = struct.pack("!BB", 0x81, 0x80 | n) if n < 126 else struct.pack("!BBH", 0x81, 254, n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(data))


class FakeTransport:
    """Accepts writes and counts them; nothing leaves the process."""

    def __init__(self, port: int) -> None:
        self.written = 0
        self.writes = 0
        self.log = bytearray()
        self.keep = True
        self._port = port
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)
        self.writes += 1
        if self.keep:
            self.log += data

    def writelines(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True

    def abort(self) -> None:
        self._closing = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (16384, 65536)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_reading(self) -> bool:
        return True

    def can_write_eof(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return ("127.0.0.1", self._port)
        if name == "sockname":
            return ("127.0.0.1", 3000)
        return default


def served(io: Any) -> Any:
    """What ``HttpProtocol`` serves: the server's route table (its engine before there was
    one, for ``--at`` older commits)."""
    routes = getattr(io, "routes", None)
    return routes() if callable(routes) else io.engine


async def ticks(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def connect(engine: Any, protocol_class: Any, count: int) -> list[tuple[Any, FakeTransport]]:
    """``count`` Socket.IO connections, each joined to the main namespace."""
    conns = []
    for i in range(count):
        try:
            proto = protocol_class(engine, set())
        except TypeError:
            proto = protocol_class(engine)
        transport = FakeTransport(10000 + i)
        proto.connection_made(transport)
        proto.data_received(UPGRADE)
        conns.append((proto, transport))
        if i % 100 == 99:
            await ticks()
    await ticks()
    for proto, _ in conns:
        proto.data_received(client_frame("40"))
    await ticks(5)
    missing = sum(1 for _, t in conns if b'40{"sid"' not in t.log)
    if missing:
        raise RuntimeError(f"{missing} of {count} connections did not join the namespace")
    for _, transport in conns:
        transport.keep = False
    return conns


async def measure(
    step: Callable[[], Awaitable[int]], seconds: float, profile: cProfile.Profile | None
) -> tuple[float, int]:
    """Run ``step`` (returns messages handled) for ``seconds``; CPU µs per message."""
    done = 0
    if profile is not None:
        profile.enable()
    start_cpu = time.process_time()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        done += await step()
    cpu = time.process_time() - start_cpu
    if profile is not None:
        profile.disable()
    return cpu / done * 1e6, done


def top(profile: cProfile.Profile, messages: int, k: int = 14) -> list[dict[str, Any]]:
    stats = pstats.Stats(profile)
    rows = []
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    for (filename, line, name), (_, ncalls, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename.split("/src/")[-1].split("site-packages/")[-1]
        rows.append(
            {
                "function": f"{name} ({where}:{line})",
                "calls_per_msg": ncalls / messages,
                "share": 100 * tottime / total,
            }
        )
    rows.sort(key=lambda r: -r["share"])
    return rows[:k]


async def run(seconds: float, with_profile: bool) -> dict[str, Any]:
    from roomcast.transports.native import HttpProtocol

    io = build_server()
    engine = served(io)
    results: dict[str, Any] = {}

    echo_conns = await connect(engine, HttpProtocol, 50)
    frames = [echo_frame(i) for i in range(1, 50)]

    async def echo_step() -> int:
        for (proto, _), frame in zip(echo_conns, frames, strict=False):
            proto.data_received(frame)
        await asyncio.sleep(0)
        return len(frames)

    results["echo"] = await scenario(echo_step, seconds, with_profile, echo_conns)

    receivers = await connect(engine, HttpProtocol, 1000)
    join = client_frame('421["join","bench"]')
    for proto, _ in receivers:
        proto.data_received(join)
    await ticks(5)
    (sender, _), *_ = await connect(engine, HttpProtocol, 1)
    fan = client_frame(f'42["fan","{PAYLOAD}"]')

    def fan_step(per_tick: int) -> Callable[[], Awaitable[int]]:
        burst = fan * per_tick

        async def step() -> int:
            sender.data_received(burst)
            await ticks(2)  # the handler's task, then the cork's flush
            return per_tick * len(receivers)

        return step

    for per_tick in (1, 32):
        key = f"fanout1000-{per_tick}-per-tick"
        results[key] = await scenario(fan_step(per_tick), seconds, with_profile, receivers)
    for proto, transport in [*echo_conns, *receivers]:
        transport.close()
        proto.connection_lost(None)
    return results


async def scenario(
    step: Callable[[], Awaitable[int]],
    seconds: float,
    with_profile: bool,
    conns: list[tuple[Any, FakeTransport]],
) -> dict[str, Any]:
    for _ in range(20):
        await step()  # warm-up
    writes0 = sum(t.writes for _, t in conns)
    us, done = await measure(step, seconds, None)
    writes = sum(t.writes for _, t in conns) - writes0
    result: dict[str, Any] = {"cpu_us_per_msg": us, "messages": done}
    result["writes_per_msg"] = writes / max(1, done)
    if with_profile:
        profile = cProfile.Profile()
        _, pdone = await measure(step, min(seconds, 2.0), profile)
        result["profile"] = top(profile, pdone)
    return result


ECHO_CONNECTIONS = 50
POLL_CLIENTS = 50
POLL_PATH = "/socket.io/?EIO=4&transport=polling"
POLL_ORDERS = ("posted", "waiting")


def poll_get(target: str) -> bytes:
    """A polling GET as ``PollClient`` sends it."""
    return f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n\r\n".encode()


def poll_post(target: str, body: str) -> bytes:
    """A polling POST as ``PollClient`` sends it."""
    data = body.encode()
    return (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n"
        f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode() + data


class PollConnections:
    """One long-polling client: its GET and POST connections and their requests."""

    def __init__(self, engine: Any, protocol_class: Any, port: int) -> None:
        self.get, self.get_transport = open_http(engine, protocol_class, port)
        self.post, self.post_transport = open_http(engine, protocol_class, port + 1)
        self.target = ""
        self.next_get = b""
        self.next_post = b""

    def opened(self, ack_id: int) -> None:
        """The handshake's answer is in: the sid's requests from now on."""
        log = bytes(self.get_transport.log)
        found = re.search(rb'0\{"sid":"([^"]+)"', log)
        if found is None:
            raise RuntimeError(f"no polling handshake in {log[-300:]!r}")
        self.target = f"{POLL_PATH}&sid={found[1].decode()}"
        self.next_get = poll_get(self.target)
        self.next_post = poll_post(self.target, f'42{ack_id}["echo","{PAYLOAD}"]')


def open_http(engine: Any, protocol_class: Any, port: int) -> tuple[Any, FakeTransport]:
    try:
        proto = protocol_class(engine, set())
    except TypeError:
        proto = protocol_class(engine)
    transport = FakeTransport(port)
    proto.connection_made(transport)
    return proto, transport


async def poll_connect(engine: Any, protocol_class: Any, count: int) -> list[PollConnections]:
    """``count`` polling clients, handshaken and joined to the main namespace."""
    clients = [PollConnections(engine, protocol_class, 20000 + 2 * i) for i in range(count)]
    for client in clients:
        client.get.data_received(poll_get(POLL_PATH))
    await ticks()
    for i, client in enumerate(clients, 1):
        client.opened(i)
        client.post.data_received(poll_post(client.target, "40"))
        client.get.data_received(client.next_get)
    await ticks(5)
    missing = sum(1 for c in clients if b'40{"sid"' not in c.get_transport.log)
    if missing:
        raise RuntimeError(f"{missing} of {count} polling clients did not join the namespace")
    return clients


def poll_step(clients: list[PollConnections], order: str) -> Callable[[], Awaitable[int]]:
    """One round trip of every client in ``order`` (see the module docstring)."""

    async def posted() -> int:
        for client in clients:
            client.post.data_received(client.next_post)
            client.get.data_received(client.next_get)
        await ticks(2)
        return len(clients)

    async def waiting() -> int:
        for client in clients:
            client.get.data_received(client.next_get)
        await ticks(2)
        for client in clients:
            client.post.data_received(client.next_post)
        await ticks(2)
        return len(clients)

    return posted if order == "posted" else waiting


async def poll_checked(order: str) -> list[PollConnections]:
    """Polling clients whose round trips in ``order`` are checked to carry their acks."""
    from roomcast.transports.native import HttpProtocol

    clients = await poll_connect(served(build_server()), HttpProtocol, POLL_CLIENTS)
    step = poll_step(clients, order)
    for client in clients:
        client.get_transport.log.clear()
    await step()
    for i, client in enumerate(clients, 1):
        log = bytes(client.get_transport.log)
        if not log.startswith(b"HTTP/1.1 200") or f"43{i}[".encode() not in log:
            raise RuntimeError(f"no ack in a polling answer ({order}): {log[-300:]!r}")
    for client in clients:
        client.get_transport.keep = client.post_transport.keep = False
    return clients


async def poll_steps(order: str, steps: int) -> None:
    """The polling round trips for ``steps`` steps, untimed (for callgrind)."""
    step = poll_step(await poll_checked(order), order)
    for _ in range(steps):
        await step()


async def poll_run(seconds: float, with_profile: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for order in POLL_ORDERS:
        clients = await poll_checked(order)
        conns = [(c.get, c.get_transport) for c in clients]
        conns += [(c.post, c.post_transport) for c in clients]
        results[f"polling-{order}"] = await scenario(
            poll_step(clients, order), seconds, with_profile, conns
        )
    return results


async def echo_steps(steps: int) -> None:
    """The echo scenario for ``steps`` loop ticks of 49 acks, untimed (for callgrind)."""
    from roomcast.transports.native import HttpProtocol

    conns = await connect(served(build_server()), HttpProtocol, ECHO_CONNECTIONS)
    frames = [echo_frame(i) for i in range(1, ECHO_CONNECTIONS)]
    for _ in range(steps):
        for (proto, _), frame in zip(conns, frames, strict=False):
            proto.data_received(frame)
        await asyncio.sleep(0)


def instructions_per_ack() -> float:
    """Instructions per echo ack under callgrind: two lengths of the echo scenario, the
    difference (start-up and connection set-up cancel out). Needs valgrind."""
    counts = [
        callgrind_total(
            "--echo-steps", str(steps), "--echo", ECHO_MODE, *(["--metrics"] if METRICS else [])
        )
        for steps in (100, 300)
    ]
    return (counts[1] - counts[0]) / (200 * (ECHO_CONNECTIONS - 1))


def instructions_per_round_trip(order: str) -> float:
    """Instructions per polling round trip under callgrind, the same way."""
    counts = [
        callgrind_total("--poll-steps", str(steps), "--poll-order", order) for steps in (20, 60)
    ]
    return (counts[1] - counts[0]) / (40 * POLL_CLIENTS)


def callgrind_total(*args: str) -> int:
    """Instructions this script runs with ``args``, under callgrind."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no callgrind total in: {done.stderr[-500:]}")
    return int(found[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--at", default=None, help="measure roomcast as committed at REV")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="instructions per echo ack under callgrind (deterministic; needs valgrind)",
    )
    parser.add_argument("--echo-steps", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--echo",
        choices=("plain", "validated", "limited"),
        default="plain",
        help="the echo handler: plain, a pydantic model, or a rate limit",
    )
    parser.add_argument("--metrics", action="store_true", help="Prometheus metrics on")
    parser.add_argument(
        "--polling",
        action="store_true",
        help="HTTP long-polling round trips (a POST of one message, the GET with its ack)",
    )
    parser.add_argument("--poll-steps", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--poll-order", choices=POLL_ORDERS, default="posted", help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    global ECHO_MODE, METRICS
    ECHO_MODE, METRICS = args.echo, args.metrics
    if args.at is not None and "ROOMCAST_MICRO_CHILD" not in os.environ:
        from run import export_source  # type: ignore[import-not-found]

        src, _ = export_source(args.at)
        env = dict(os.environ, PYTHONPATH=str(src), ROOMCAST_MICRO_CHILD="1")
        return subprocess.run(
            [sys.executable, __file__, *(argv or sys.argv[1:])], env=env
        ).returncode
    import uvloop

    if args.echo_steps:
        uvloop.run(echo_steps(args.echo_steps))
        return 0
    if args.poll_steps:
        uvloop.run(poll_steps(args.poll_order, args.poll_steps))
        return 0
    if args.instructions and args.polling:
        for order in POLL_ORDERS:
            count = instructions_per_round_trip(order)
            print(f"polling ({order}): {count:,.0f} instructions per round trip")
        return 0
    if args.instructions:
        print(f"echo: {instructions_per_ack():,.0f} instructions per ack")
        return 0
    if args.polling:
        results = uvloop.run(poll_run(args.seconds, args.profile))
    else:
        results = uvloop.run(run(args.seconds, args.profile))
    if args.json:
        print(json.dumps(results))
        return 0
    for key, r in results.items():
        print(
            f"{key}: {r['cpu_us_per_msg']:.2f} µs of CPU per message, "
            f"{r['writes_per_msg']:.3f} writes per message ({r['messages']:,} messages)"
        )
        for row in r.get("profile", []):
            print(
                f"    {row['share']:5.1f}%  {row['calls_per_msg']:6.2f} calls/msg"
                f"  {row['function']}"
            )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    raise SystemExit(main())

"""Soak: connect/disconnect cycles against one server, its memory, descriptors and tasks
sampled as they go. Does anything grow with the number of connections served?

    .venv/bin/python bench/soak.py                      # 10,000 cycles
    .venv/bin/python bench/soak.py --seconds 3600 --every 5000   # the hour form
    .venv/bin/python bench/soak.py --cycles 2000 --every 100 --concurrency 16
    .venv/bin/python bench/soak.py --trace              # + tracemalloc's growth by line

One cycle is what a short-lived client does: connect, join a room (acked), emit an event
with an ack that the server broadcasts to the room, receive that broadcast, disconnect.
Cycles rotate over WebSocket, HTTP long-polling and polling-then-upgrade, from roomcast's
asyncio client; with node and ``socket.io-client`` installed, ``--node`` of them (a
fraction, 0.1 by default) from the official client instead, over WebSocket and polling.
Sixteen rooms are shared by the clients in flight, so rooms are made and dropped all the
time.

The server runs in its own process (``--serve``: a ``roomcast.Server`` listening with
``io.listen`` on uvloop, as ``io.run`` serves). Every ``--every`` cycles the clients stop,
the bench waits until the server holds no session (and ``--settle`` seconds more), and
samples the server: RSS (``/proc/PID/status`` VmRSS, after a ``gc.collect()`` in the
server), open file descriptors (``/proc/PID/fd``), and, through an HTTP route of the
bench's server app (``/soak/stats``): asyncio tasks, objects tracked by gc, objects of
each roomcast class, the native server's URL cache and the loop's ``TimerHandle``s. A last
sample comes after ``--idle`` seconds without clients (80: past the 75 s keep-alive wait,
the longest timer a connection leaves). The first ``--warmup`` cycles fill what is filled
once (allocator arenas, bounded caches); the verdict compares every later sample with the
one after them.

Growth or plateau: RSS at 25/50/75/100% of the cycles after warm-up, and a least-squares
slope over the second half, in KiB per 1,000 cycles. A leak grows at a steady rate per
cycle, so its slope over the second half is about its slope over the first; a cache that
warms up stops. Printed as a table; the whole run is written to
``bench/results/soak-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import gc
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
ROOMS = 16
MODES = ("websocket", "polling", "upgrade")
TRANSPORTS: dict[str, tuple[str, ...]] = {
    "websocket": ("websocket",),
    "polling": ("polling",),
    "upgrade": ("polling", "websocket"),
}
WAIT = 20.0  # seconds any one step of a cycle may take


# -- the server ------------------------------------------------------------------------------


def serve(trace: bool) -> None:
    """The server process: prints its port, serves until its stdin closes."""
    import roomcast
    from roomcast.transports.native import _cached_target  # the URL cache, to watch it fill

    if trace:
        tracemalloc.start(12)
    io = roomcast.Server(serve_client=False, cors_allowed_origins="*")
    marked: list[tracemalloc.Snapshot] = []

    def join(socket: roomcast.Socket, room: str) -> str:
        socket.join(room)
        return room

    async def say(socket: roomcast.Socket, room: str, token: str) -> str:
        await io.to(room).emit("said", token)
        return token

    async def stats(request: roomcast.HttpRequest) -> roomcast.HttpResponse:
        figures: dict[str, Any] = {
            "tasks": len(asyncio.all_tasks()),
            "engine_sessions": len(io.engine.sockets),
            "sockets": len(io.of("/").sockets),
            "rooms": len(io.of("/").adapter.rooms),
            "url_cache": _cached_target.cache_info().currsize,
        }
        if request.query.get("collect") == "1":
            gc.collect()
            objects = gc.get_objects()
            mine = Counter(
                type(o).__qualname__
                for o in objects
                if str(type(o).__module__).startswith("roomcast.")
            )
            figures.update(
                gc_objects=len(objects),
                roomcast_objects=dict(sorted(mine.items())),
                timer_handles=sum(1 for o in objects if type(o).__name__ == "TimerHandle"),
            )
            del objects
        if trace:
            figures["traced_kib"] = round(tracemalloc.get_traced_memory()[0] / 1024)
        return roomcast.json_response(figures)

    async def types(request: roomcast.HttpRequest) -> roomcast.HttpResponse:
        gc.collect()
        counts = Counter(type(o).__qualname__ for o in gc.get_objects())
        return roomcast.json_response(dict(counts.most_common(int(request.query.get("n", "40")))))

    async def trace_diff(request: roomcast.HttpRequest) -> roomcast.HttpResponse:
        """``?mark=1``: keep a snapshot; otherwise what grew since it, by line."""
        if not trace:
            return roomcast.json_response({"error": "start the bench with --trace"}, 400)
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        if request.query.get("mark") == "1" or not marked:
            marked[:] = [snapshot]
            return roomcast.json_response({"marked": True})
        top = snapshot.compare_to(marked[0], "traceback")[: int(request.query.get("n", "15"))]
        return roomcast.json_response(
            [
                {
                    "kib": round(stat.size_diff / 1024, 1),
                    "count": stat.count_diff,
                    "where": [f"{f.filename}:{f.lineno}" for f in stat.traceback][-6:],
                }
                for stat in top
            ]
        )

    io.on("join", join)
    io.on("say", say)
    io.route("/soak/stats", stats)
    io.route("/soak/types", types)
    io.route("/soak/trace", trace_diff)

    async def main() -> None:
        listener = await io.listen("127.0.0.1", 0)
        print(json.dumps({"port": listener.port}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await listener.aclose()

    try:
        import uvloop
    except ImportError:  # as io.run: uvloop when installed
        asyncio.run(main())
    else:
        uvloop.run(main())


class ServerProcess:
    def __init__(self, trace: bool) -> None:
        command = [sys.executable, __file__, "--serve", *(["--trace"] if trace else [])]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.port = int(json.loads(self.proc.stdout.readline())["port"])
        self.url = f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the clients -----------------------------------------------------------------------------


@dataclass
class Tally:
    done: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


async def python_cycle(url: str, mode: str, room: str, token: str) -> None:
    """One cycle with roomcast's client."""
    import roomcast

    client = roomcast.Client(reconnection=False, transports=TRANSPORTS[mode], timeout=WAIT)
    heard = asyncio.get_running_loop().create_future()

    def said(value: str) -> None:
        if value == token and not heard.done():
            heard.set_result(None)

    client.on("said", said)
    try:
        await client.connect(url)
        if await client.emit_with_ack("join", room, timeout=WAIT) != room:
            raise AssertionError("join: wrong ack")
        if await client.emit_with_ack("say", room, token, timeout=WAIT) != token:
            raise AssertionError("say: wrong ack")
        await asyncio.wait_for(heard, WAIT)
    finally:
        await client.disconnect()


NODE_DRIVER = r"""
// Reads {"url", "cycles": [[transport, room, token], ...], "concurrency"} lines on stdin;
// runs each cycle with socket.io-client; answers {"done": n, "errors": {...}} per line.
import readline from "node:readline";
import { io } from "socket.io-client";
const WAIT = 20000;
function cycle(url, transport, room, token) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { forceNew: true, reconnection: false, transports: [transport],
                             timeout: WAIT });
    const timer = setTimeout(() => { socket.disconnect(); reject(new Error("timeout")); }, WAIT);
    const fail = (err) => { clearTimeout(timer); socket.disconnect(); reject(err); };
    socket.on("connect_error", fail);
    socket.on("said", (value) => {
      if (value === token) { clearTimeout(timer); socket.disconnect(); resolve(); }
    });
    socket.on("connect", async () => {
      try {
        const joined = await socket.timeout(WAIT).emitWithAck("join", room);
        if (joined !== room) throw new Error("join");
        const said = await socket.timeout(WAIT).emitWithAck("say", room, token);
        if (said !== token) throw new Error("say");
      } catch (err) { fail(err); }
    });
  });
}
for await (const line of readline.createInterface({ input: process.stdin })) {
  const job = JSON.parse(line);
  const errors = {};
  let done = 0;
  const queue = job.cycles.slice();
  async function worker() {
    while (queue.length) {
      const [transport, room, token] = queue.shift();
      try { await cycle(job.url, transport, room, token); done += 1; }
      catch (err) { errors[err.message] = (errors[err.message] || 0) + 1; }
    }
  }
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  process.stdout.write(JSON.stringify({ done, errors }) + "\n");
}
"""


class NodeDriver:
    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None

    @staticmethod
    def available() -> bool:
        return (
            shutil.which("node") is not None
            and (ROOT / "node_modules" / "socket.io-client").is_dir()
        )

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "node",
            "--input-type=module",
            "-e",
            NODE_DRIVER,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )

    async def run(self, url: str, cycles: list[tuple[str, str, str]], concurrency: int) -> Tally:
        proc = self.proc
        assert proc is not None
        assert proc.stdin is not None
        assert proc.stdout is not None
        job = {"url": url, "cycles": cycles, "concurrency": concurrency}
        proc.stdin.write(json.dumps(job).encode() + b"\n")
        await proc.stdin.drain()
        answer = json.loads(await proc.stdout.readline())
        tally = Tally()
        tally.done["node"] = answer["done"]
        tally.errors.update({f"node: {k}": v for k, v in answer["errors"].items()})
        return tally

    async def aclose(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
            await self.proc.wait()


async def run_batch(
    url: str,
    first: int,
    count: int,
    concurrency: int,
    node: NodeDriver | None,
    node_share: float,
) -> Tally:
    """Cycles ``first`` to ``first + count - 1``: ``node_share`` of them from node."""
    tally = Tally()
    numbers = list(range(first, first + count))
    by_node: list[tuple[str, str, str]] = []
    if node is not None and node_share > 0:
        step = max(1, round(1 / node_share))
        picked = [n for n in numbers if n % step == 0]
        by_node = [
            (("websocket", "polling")[n // step % 2], f"r{n % ROOMS}", f"t{n}") for n in picked
        ]
        numbers = [n for n in numbers if n % step != 0]
    queue = iter(numbers)

    async def worker() -> None:
        for n in queue:
            mode = MODES[n % len(MODES)]
            try:
                await python_cycle(url, mode, f"r{n % ROOMS}", f"t{n}")
            except Exception as exc:  # counted, the soak goes on
                tally.errors[f"{mode}: {type(exc).__name__}: {exc}"[:120]] += 1
            else:
                tally.done[mode] += 1

    jobs: list[Any] = [worker() for _ in range(max(1, concurrency - (1 if by_node else 0)))]
    if by_node:
        assert node is not None
        jobs.append(node.run(url, by_node, max(1, concurrency // 4)))
    results = await asyncio.gather(*jobs)
    for result in results:
        if isinstance(result, Tally):
            tally.done.update(result.done)
            tally.errors.update(result.errors)
    return tally


# -- sampling --------------------------------------------------------------------------------


async def server_stats(http: Any, url: str, collect: bool) -> dict[str, Any]:
    async with http.get(f"{url}/soak/stats", params={"collect": "1" if collect else "0"}) as r:
        stats: dict[str, Any] = await r.json()
        return stats


async def sample(
    http: Any, server: ServerProcess, cycles: int, started: float, settle: float
) -> dict[str, Any]:
    """Wait until the server holds no session and ``settle`` seconds more (a closing
    connection's last timer, 5 s, holds its transport), then read its figures."""
    deadline = time.monotonic() + 30
    while True:
        stats = await server_stats(http, server.url, collect=False)
        if stats["engine_sessions"] == 0 and stats["sockets"] == 0:
            break
        if time.monotonic() > deadline:
            stats["not_quiet"] = True
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(settle)
    stats = await server_stats(http, server.url, collect=True)
    return {
        "cycles": cycles,
        "seconds": round(time.monotonic() - started, 1),
        "rss_kib": server.rss_kib(),
        "fds": server.fds(),
        **stats,
    }


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def verdict(samples: list[dict[str, Any]], warmup: int) -> dict[str, Any]:
    """Growth or plateau, from the samples taken after the warm-up."""
    after = [s for s in samples if s["cycles"] >= warmup]
    base = after[0]
    span = after[-1]["cycles"] - base["cycles"]
    quarters = {}
    for q in (25, 50, 75, 100):
        at = base["cycles"] + span * q / 100
        quarters[f"{q}%"] = min(after, key=lambda s: abs(s["cycles"] - at))["rss_kib"]
    half = [s for s in after if s["cycles"] >= base["cycles"] + span / 2]
    first_half = [s for s in after if s["cycles"] <= base["cycles"] + span / 2]
    per_1k_second = 1000 * slope([(s["cycles"], s["rss_kib"]) for s in half])
    per_1k_first = 1000 * slope([(s["cycles"], s["rss_kib"]) for s in first_half])
    rss = [s["rss_kib"] for s in after]
    second_half_growth = per_1k_second * (span / 2) / 1000
    return {
        "base_cycles": base["cycles"],
        "rss_kib_after_warmup": base["rss_kib"],
        "rss_kib_at": quarters,
        "rss_kib_min_max": [min(rss), max(rss)],
        "rss_end_vs_warmup_pct": round(100 * (after[-1]["rss_kib"] / base["rss_kib"] - 1), 2),
        "slope_kib_per_1k_cycles_first_half": round(per_1k_first, 1),
        "slope_kib_per_1k_cycles_second_half": round(per_1k_second, 1),
        "fds_min_max": [min(s["fds"] for s in after), max(s["fds"] for s in after)],
        "tasks_min_max": [min(s["tasks"] for s in after), max(s["tasks"] for s in after)],
        "gc_objects_min_max": [
            min(s["gc_objects"] for s in after),
            max(s["gc_objects"] for s in after),
        ],
        # per-connection objects (sessions, sockets, protocols, links): none may pile up
        "roomcast_objects_grew": {
            name: [base["roomcast_objects"].get(name, 0), count]
            for name, count in after[-1]["roomcast_objects"].items()
            if count > base["roomcast_objects"].get(name, 0)
        },
        # a plateau: the second half grows by less than 1% of RSS (or 256 KiB)
        "rss": ("plateau" if second_half_growth <= max(256, base["rss_kib"] / 100) else "grows"),
    }


def table(samples: list[dict[str, Any]]) -> str:
    lines = [
        "| cycles | s | RSS KiB | fds | tasks | gc objects | roomcast objects "
        "| URL cache | loop timers |",
        "|" + "---:|" * 9,
    ]
    for s in samples:
        lines.append(
            f"| {s['cycles']} | {s['seconds']} | {s['rss_kib']} | {s['fds']} | {s['tasks']} "
            f"| {s['gc_objects']} | {sum(s['roomcast_objects'].values())} | {s['url_cache']} "
            f"| {s['timer_handles']} |"
        )
    return "\n".join(lines)


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    server = ServerProcess(args.trace)
    node = NodeDriver() if args.node > 0 and NodeDriver.available() else None
    if node is not None:
        await node.start()
    tally = Tally()
    samples: list[dict[str, Any]] = []
    traces: list[Any] = []
    marked = False
    idle: dict[str, Any] | None = None
    started = time.monotonic()
    try:
        async with aiohttp.ClientSession() as http:
            samples.append(await sample(http, server, 0, started, args.settle))
            done = 0
            for _ in itertools.count():
                if args.seconds is not None:
                    if time.monotonic() - started >= args.seconds:
                        break
                elif done >= args.cycles:
                    break
                count = (
                    args.every if args.seconds is not None else min(args.every, args.cycles - done)
                )
                batch = await run_batch(server.url, done, count, args.concurrency, node, args.node)
                tally.done.update(batch.done)
                tally.errors.update(batch.errors)
                done += count
                samples.append(await sample(http, server, done, started, args.settle))
                if args.trace and done >= args.warmup and not marked:
                    marked = True
                    async with http.get(f"{server.url}/soak/trace", params={"mark": "1"}):
                        pass
                last = samples[-1]
                print(
                    f"{done:>7} cycles {last['seconds']:>7.1f} s  RSS {last['rss_kib']} KiB  "
                    f"fds {last['fds']}  tasks {last['tasks']}  objects {last['gc_objects']}",
                    file=sys.stderr,
                    flush=True,
                )
            if args.idle:  # every timer a connection left behind has fired by then
                await asyncio.sleep(args.idle)
                idle = await sample(http, server, done, started, 0)
            if args.trace:
                async with http.get(f"{server.url}/soak/trace") as r:
                    traces = await r.json()
            async with http.get(f"{server.url}/soak/types", params={"n": "25"}) as r:
                types = await r.json()
    finally:
        if node is not None:
            await node.aclose()
        server.stop()
    warmup = min(args.warmup, samples[-1]["cycles"] // 2)
    return {
        "probe": "soak",
        "started": START.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cycles": samples[-1]["cycles"],
        "seconds": samples[-1]["seconds"],
        "concurrency": args.concurrency,
        "warmup_cycles": warmup,
        "node_share": args.node if node is not None else 0,
        "done": dict(tally.done),
        "errors": dict(tally.errors),
        "loadavg": os.getloadavg(),
        "verdict": verdict(samples, warmup),
        "samples": samples,
        "after_idle": idle,
        "top_types_at_end": types,
        "tracemalloc_growth_since_warmup": traces,
    }


START = datetime.datetime.now(datetime.UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=None, help="run until then instead")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--every", type=int, default=500, help="cycles between samples")
    parser.add_argument("--warmup", type=int, default=4000)
    parser.add_argument("--node", type=float, default=0.1, help="share of cycles from node")
    parser.add_argument("--settle", type=float, default=6.0, help="seconds idle before a sample")
    parser.add_argument(
        "--idle", type=float, default=80.0, help="seconds idle before a last sample"
    )
    parser.add_argument("--trace", action="store_true", help="tracemalloc in the server")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.trace)
        return
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(soak(args))
    else:
        result = uvloop.run(soak(args))
    print(table(result["samples"] + ([result["after_idle"]] if result["after_idle"] else [])))
    print(
        json.dumps(
            {k: result[k] for k in ("cycles", "seconds", "done", "errors", "verdict")}, indent=1
        )
    )
    args.out.mkdir(exist_ok=True)
    path = args.out / f"soak-{START.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()

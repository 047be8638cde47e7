"""Fan-out with several workers: deliveries/s of one room broadcast, 1 worker vs 2 workers.

    .venv/bin/python bench/workers_fanout.py                  # 1 vs 2 workers, local hub
    .venv/bin/python bench/workers_fanout.py --redis redis://127.0.0.1:6379   # and over Redis

Each setting starts ``roomcast serve workers_fanout:build --workers W`` (this file is also
the app), pins worker ``i`` to core ``i``, and runs the ``fanout`` scenario of
``bench/load/loadgen.mjs`` against the shared port: ``--n`` WebSocket clients (the kernel
spreads them over the workers) join one room, one more client sends, and every broadcast
reaches all of them, through the local hub (or Redis) for the other worker's clients. The
figure is the loadgen's saturation rate (deliveries/s received), with the CPU the server
processes (workers and hub) used in that window: in % of one core, and per delivery. The
loadgen keeps ``--window`` broadcasts in flight and runs where the scheduler puts it (or on
``--loadgen-core``): on a machine without cores to spare it competes with the workers, so
the 2-worker rate is a floor there, and the CPU per delivery says what a core buys.
Medians of ``--reps`` runs, settings interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import roomcast

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOADGEN = BENCH / "load" / "loadgen.mjs"
ROOM = "bench"
_SERVING = re.compile(r"serving http://[^:]+:(\d+) ")
_STARTED = re.compile(r"started (worker (\d+)|the hub) \(pid (\d+)\)")


def build() -> roomcast.Server:
    """The app: the same handlers as bench/servers/roomcast_server.py."""
    io = roomcast.Server(serve_client=False)

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


class Served:
    """``roomcast serve`` running this app: port, worker pids; ``stop()``."""

    def __init__(self, workers: int, redis: str | None, deadline: float) -> None:
        argv = [sys.executable, "-m", "roomcast", "serve", "workers_fanout:build"]
        argv += ["--workers", str(workers), "--port", "0", "--log-level", "debug"]
        if redis:
            argv += ["--redis", redis, "--redis-key", f"bench-{secrets.token_hex(4)}"]
        self.proc = subprocess.Popen(argv, cwd=BENCH, stderr=subprocess.PIPE, text=True)
        self.pids: dict[int, int] = {}  # worker index -> pid
        self.hub = 0
        self.port = 0
        assert self.proc.stderr is not None
        end = time.monotonic() + deadline
        while not self.port:
            line = self.proc.stderr.readline()
            if not line or time.monotonic() > end:
                self.stop()
                raise RuntimeError("roomcast serve did not start")
            if started := _STARTED.search(line):
                if started.group(2) is None:
                    self.hub = int(started.group(3))
                else:
                    self.pids[int(started.group(2))] = int(started.group(3))
            if serving := _SERVING.search(line):
                self.port = int(serving.group(1))
        # keep reading stderr so that the workers never block on a full pipe
        self._drain = subprocess.Popen(["cat"], stdin=self.proc.stderr, stdout=subprocess.DEVNULL)

    def pin(self, cores: list[int]) -> None:
        for index, pid in self.pids.items():
            os.sched_setaffinity(pid, {cores[index % len(cores)]})

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the workers and the hub."""
        total = 0.0
        for pid in [*self.pids.values(), *([self.hub] if self.hub else [])]:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if hasattr(self, "_drain"):
            self._drain.wait(5)


def run_once(args: argparse.Namespace, workers: int, redis: str | None) -> dict[str, Any]:
    """One setting, once: the loadgen's saturation figure, and the CPU the server processes
    (workers and hub) used during that same window."""
    served = Served(workers, redis, 30.0)
    try:
        served.pin(list(range(min(workers, os.cpu_count() or 1))))
        argv = ["node", str(LOADGEN), "fanout", "--port", str(served.port)]
        argv += ["--server-pid", str(served.pids[0]), "--n", str(args.n), "--announce", "1"]
        argv += ["--measure", str(args.measure), "--latency", "1", "--warm", "1.5"]
        argv += ["--size", "100", "--deadline", "120", "--window", str(args.window)]
        if args.loadgen_core >= 0:
            argv = ["taskset", "-c", str(args.loadgen_core), *argv]
        loadgen = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert loadgen.stderr is not None
        for line in loadgen.stderr:
            if line.startswith("phase:saturation"):
                break
        cpu0, wall0 = served.cpu_seconds(), time.monotonic()
        time.sleep(args.measure)
        cpu = served.cpu_seconds() - cpu0
        wall = time.monotonic() - wall0
        out, err = loadgen.communicate(timeout=180)
    finally:
        served.stop()
    if loadgen.returncode != 0:
        raise RuntimeError(f"loadgen failed: {err[-2000:]}")
    saturation = json.loads(out.strip().splitlines()[-1])["saturation"]
    return {
        "per_s": saturation["per_s"],
        "server_cpu_pct": 100 * cpu / wall,
        "server_us_per_delivery": 1e6 * cpu / wall / saturation["per_s"],
        "loadgen_cpu_pct": saturation["loadgen_cpu_pct"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="clients in the room (1000)")
    parser.add_argument("--measure", type=float, default=5.0, help="seconds measured (5)")
    parser.add_argument("--reps", type=int, default=3, help="runs per setting (3)")
    parser.add_argument("--window", type=int, default=512, help="broadcasts in flight (512)")
    parser.add_argument("--loadgen-core", type=int, default=-1, help="pin the loadgen (no)")
    parser.add_argument("--redis", help="also 2 workers over this Redis")
    args = parser.parse_args()
    settings: list[tuple[str, int, str | None]] = [("1 worker", 1, None)]
    settings.append(("2 workers, local hub", 2, None))
    if args.redis:
        settings.append(("2 workers, Redis", 2, args.redis))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in settings}
    for rep in range(args.reps):
        for name, workers, redis in settings:
            run = run_once(args, workers, redis)
            runs[name].append(run)
            print(f"rep {rep + 1} {name}: {run}", file=sys.stderr)
    base = statistics.median(r["per_s"] for r in runs["1 worker"])
    print(f"fan-out to {args.n} WebSocket clients, {os.cpu_count()} cores, medians of {args.reps}")
    print(
        "| setting | deliveries/s | vs 1 worker | server CPU % | µs CPU/delivery | loadgen CPU % |"
    )
    print("|---|---|---|---|---|---|")
    for name, results in runs.items():
        per_s = statistics.median(r["per_s"] for r in results)
        cpu = statistics.median(r["server_cpu_pct"] for r in results)
        us = statistics.median(r["server_us_per_delivery"] for r in results)
        loadgen_cpu = statistics.median(r["loadgen_cpu_pct"] for r in results)
        print(
            f"| {name} | {per_s:,.0f} | {per_s / base:.2f} | {cpu:.0f} | {us:.2f} "
            f"| {loadgen_cpu:.0f} |"
        )


if __name__ == "__main__":
    main()

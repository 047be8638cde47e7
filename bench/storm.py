"""A thousand clients connect at once while twenty others watch a steady broadcast: how
long the thousand take, and what the twenty still get meanwhile.

    .venv/bin/python bench/storm.py                      # 1000 at once, WebSocket
    .venv/bin/python bench/storm.py --clients 3000 --receivers 20

Three processes, as in bench/flood.py (whose server and raw client this uses): the server
(``taskset -c 0`` when there are two cores or more, uvloop) broadcasting ``tick`` to the
receivers' room ``--tick-rate`` times a second; the receivers; the storm (on the other
core), which opens ``--clients`` WebSocket connections at the same moment, each doing the
Engine.IO handshake and a Socket.IO CONNECT, then joining a room of its own, holds them
``--hold`` seconds and closes them all.

Printed: the storm's time until every client was connected (and each client's connect
time, p50/p99/max); the receivers' median rate, slowest rate and longest gap before and
during the storm; the server's RSS before, at the peak, and after the storm left. The bar
(docs/RELIABILITY.md): during the storm the receivers keep at least half of their rate
and no gap exceeds 200 ms, and every client of the storm is connected.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from flood import ROOM, close_all, open_peer, phase, rss_kib, run_delay, server_figures


def storm(port: int, clients: int, hold: float) -> None:
    """Connect ``clients`` at once; print their connect times; close them after ``hold``."""

    async def one(started: float) -> float | None:
        try:
            peer = await open_peer(port, record=False)
        except (OSError, TimeoutError):
            return None
        took = time.monotonic() - started
        peer.send(f'42["join","storm-{id(peer)}"]')
        peers.append(peer)
        return took

    async def main() -> None:
        started = time.monotonic()
        times = await asyncio.gather(*(one(started) for _ in range(clients)))
        done = time.monotonic() - started
        ok = sorted(t for t in times if t is not None)
        await asyncio.sleep(hold)
        for peer in peers:
            if peer.transport is not None:
                peer.transport.close()
        report = {
            "clients": clients,
            "connected": len(ok),
            "all_connected_after_s": round(done, 3),
            "connect_p50_ms": round(1000 * statistics.median(ok), 1) if ok else None,
            "connect_p99_ms": round(1000 * ok[int(len(ok) * 0.99) - 1], 1) if ok else None,
            "connect_max_ms": round(1000 * ok[-1], 1) if ok else None,
        }
        print(json.dumps(report), flush=True)

    peers: list[Any] = []
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, clients + 256)), hard))
    import uvloop

    uvloop.run(main())


async def measure(args: argparse.Namespace, port: int, server_pid: int) -> dict[str, Any]:
    peers = [await open_peer(port, record=True) for _ in range(args.receivers)]
    for peer in peers:
        peer.send(f'42["join","{ROOM}"]')
    await asyncio.sleep(1.0)  # joined, ticks flowing
    rss_before = rss_kib(server_pid)
    waited = run_delay(server_pid)
    t0 = time.monotonic()
    await asyncio.sleep(args.baseline)
    t1 = time.monotonic()
    command = [sys.executable, __file__, "--storm", str(port)]
    command += ["--clients", str(args.clients), "--hold", str(args.hold)]
    if (os.cpu_count() or 1) >= 2:
        command = ["taskset", "-c", "1", *command]
    t2 = time.monotonic()
    stormer = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE)
    rss_peak = rss_before
    assert stormer.stdout is not None
    line = asyncio.ensure_future(stormer.stdout.readline())
    while True:
        try:
            out = await asyncio.wait_for(asyncio.shield(line), 0.25)
            break
        except TimeoutError:
            rss_peak = max(rss_peak, rss_kib(server_pid))
    t3 = time.monotonic()  # every client of the storm connected (or refused) and held
    await stormer.wait()
    waited = run_delay(server_pid) - waited
    report = json.loads(out)
    await asyncio.sleep(2.0)  # the storm's connections closed
    result = {
        "receivers": args.receivers,
        "tick_rate": args.tick_rate,
        "storm": report,
        "before": phase(peers, t0, t1),
        "during": phase(peers, t2, t3),
        **server_figures(server_pid, waited, rss_before, rss_peak),
    }
    close_all(peers)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--receivers", type=int, default=20)
    parser.add_argument("--tick-rate", type=float, default=1000.0)
    parser.add_argument("--baseline", type=float, default=3.0)
    parser.add_argument("--hold", type=float, default=1.0)
    parser.add_argument("--storm", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.storm is not None:
        storm(args.storm, args.clients, args.hold)
        return
    bench = os.path.dirname(os.path.abspath(__file__))
    command = [sys.executable, os.path.join(bench, "flood.py"), "--serve", "--handler", "none"]
    command += ["--tick-rate", str(args.tick_rate)]
    if (os.cpu_count() or 1) >= 2:
        command = ["taskset", "-c", "0", *command]
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = json.loads(server.stdout.readline())["port"]
        if (os.cpu_count() or 1) >= 2:
            os.sched_setaffinity(0, {1})
        import uvloop

        result = uvloop.run(measure(args, port, server.pid))
        print(json.dumps(result, indent=1))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()

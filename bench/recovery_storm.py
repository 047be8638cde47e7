"""A reconnect storm: N clients with recovery on recover at once after a server restart.

    .venv/bin/python bench/recovery_storm.py                  # every case, 1000 clients
    .venv/bin/python bench/recovery_storm.py --case sqlite+kill --n 200

For each case (store ``sqlite`` or ``redis``; stop ``term``, a graceful SIGTERM, or
``kill``, kill -9): a roomcast server (bench/servers/roomcast_server.py ``--recovery
--store``) on core 0 and bench/load/storm.mjs on core 1. The N clients connect, join room
``bench`` and receive 10 broadcasts (each notes the last offset); the server is stopped
and started again on the same port and store; a fresh sender broadcasts 10 more (missed by
all); then all N reconnect at once with ``40{"pid","offset"}``. Figures: how many got their
old sid back and when (all, p50, p99 from the first attempt), how many were replayed the 10
missed broadcasts, how long the server was down, and what a session costs: its stored bytes,
the store's growth per client, the server's RSS per client. ``bench/run.py --only storm``
runs it as part of a benchmark run (results in bench/results/, rendered in RESULTS.md).
Node's recovery keeps its sessions in the process, so it has no counterpart here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from run import (  # noqa: E402
    LOAD_CORE,
    REDIS_URL,
    ROOMCAST,
    SERVER_CORE,
    file_bytes,
    free_port,
    raise_fd_limit,
    redis_client,
    redis_delete,
    wait_port,
)

STORM_CASES = ("sqlite+term", "sqlite+kill", "redis+term", "redis+kill")
MISSED = 10


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Store:
    """A fresh SQLite file or Redis stream and session prefix; its size; its removal."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        if kind == "sqlite":
            self.tmp = Path(tempfile.mkdtemp(prefix="roomcast-storm-"))
            self.db = self.tmp / "storm.db"
            self.url = f"sqlite:///{self.db}"
        else:
            uid = uuid.uuid4().hex[:12]
            self.stream, self.prefix = f"roomcast-storm-{uid}", f"roomcast-storm-{uid}:session:"
            self.url = f"{REDIS_URL}?stream={self.stream}&session_prefix={self.prefix}"
            self.redis = redis_client()

    def size(self) -> int:
        """SQLite: the file and its WAL; Redis: the stream and the session keys."""
        if self.kind == "sqlite":
            return file_bytes(self.db)
        return self.stream_bytes() + sum(self.session_sizes())

    def stream_bytes(self) -> int:
        return int(self.redis.memory_usage(self.stream) or 0)

    def session_sizes(self) -> list[int]:
        if self.kind == "sqlite":
            conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
            try:
                rows = conn.execute(
                    "SELECT length(pid) + length(nsp) + length(record)"
                    " + coalesce(length(bins), 0) + 8 FROM sessions"
                ).fetchall()
            finally:
                conn.close()
            return [int(r[0]) for r in rows]
        keys = list(self.redis.scan_iter(match=self.prefix + "*", count=1000))
        return [int(self.redis.memory_usage(k) or 0) for k in keys]

    def sessions_in_room(self, room: str) -> int:
        """How many stored sessions have ``room`` among their rooms (the live records of
        sockets that joined it, when the write of the join went through)."""
        if self.kind == "sqlite":
            conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
            try:
                rows = conn.execute("SELECT record FROM sessions").fetchall()
            finally:
                conn.close()
            return sum(1 for (text,) in rows if room in json.loads(text).get("rooms", ()))
        import base64

        import msgpack

        count = 0
        for key in self.redis.scan_iter(match=self.prefix + "*", count=1000):
            raw = self.redis.get(key)
            if raw and room in msgpack.unpackb(base64.b64decode(raw), raw=False).get("rooms", ()):
                count += 1
        return count

    def remove(self) -> None:
        if self.kind == "sqlite":
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            redis_delete(self.redis, self.stream, self.prefix)
            self.redis.close()


@contextlib.contextmanager
def roomcast(port: int, store: str, log: Any) -> Iterator[subprocess.Popen[bytes]]:
    argv = ["taskset", "-c", SERVER_CORE, *ROOMCAST, "--port", str(port), "--recovery"]
    proc = subprocess.Popen([*argv, "--store", store], cwd=ROOT, stdout=log, stderr=log)
    try:
        wait_port(port, proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def ask(proc: subprocess.Popen[str], command: str, seconds: float) -> dict[str, Any]:
    """Send one command to storm.mjs and read its JSON answer."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"storm.mjs exited during {command!r}")
            if line.startswith("{"):
                answer: dict[str, Any] = json.loads(line)
                if "error" in answer:
                    raise RuntimeError(f"storm.mjs {command}: {answer['error'][:300]}")
                return answer
    raise RuntimeError(f"storm.mjs did not answer {command!r} in {seconds}s")


def measure(case: str, n: int = 1000) -> dict[str, Any]:
    kind, stop = case.split("+")
    store = Store(kind)
    port = free_port()
    (BENCH / "out").mkdir(exist_ok=True)
    log = (BENCH / "out" / "server-storm.log").open("ab")
    argv = ["taskset", "-c", LOAD_CORE, "node", str(BENCH / "load/storm.mjs")]
    argv += ["--port", str(port), "--n", str(n), "--missed", str(MISSED)]
    client = subprocess.Popen(
        argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    result: dict[str, Any] = {"case": case, "n": n}
    try:
        with roomcast(port, store.url, log) as first:
            time.sleep(0.5)  # store opened, loop idle: the baselines
            rss0, size0 = rss(first.pid), store.size()
            ready = ask(client, "start", 120)
            if ready["connected"] != n or ready["with_offset"] != n:
                raise RuntimeError(f"setup incomplete: {ready}")
            time.sleep(1.0)  # the live sessions' records written
            sizes = store.session_sizes()
            result.update(
                rss_per_client=(rss(first.pid) - rss0) / n,
                store_growth_per_client=(store.size() - size0) / n,
                sessions_stored=len(sizes),
                sessions_in_room=store.sessions_in_room("bench"),
                session_bytes=sum(sizes) / max(1, len(sizes)),
            )
            stopped = time.monotonic()
            first.send_signal(signal.SIGTERM if stop == "term" else signal.SIGKILL)
            first.wait(30)
            result["stop_ms"] = (time.monotonic() - stopped) * 1000
        if kind == "sqlite" or stop == "term":
            result["sessions_after_stop"] = len(store.session_sizes())
            result["sessions_in_room_after_stop"] = store.sessions_in_room("bench")
        with roomcast(port, store.url, log) as second:
            result["down_ms"] = (time.monotonic() - stopped) * 1000
            ask(client, "missed", 60)
            answer = ask(client, "storm", 90)
            result.update({k: v for k, v in answer.items() if k != "phase"})
            result["rss_after_storm_per_client"] = (rss(second.pid) - rss0) / n
        result["ok"] = answer["recovered"] == n
        if not result["ok"]:
            result["error"] = f"{answer['recovered']} of {n} recovered"
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(5)
        log.close()
        store.remove()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", action="append", choices=STORM_CASES, help="default: all")
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    raise_fd_limit()
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {int(LOAD_CORE)})
    for case in args.case or STORM_CASES:
        try:
            result = measure(case, args.n)
        except (RuntimeError, OSError) as exc:
            result = {"case": case, "ok": False, "error": str(exc)}
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

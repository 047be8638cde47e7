"""Run every benchmark scenario against roomcast, python-socketio and Node's socket.io
(plain WebSocket endpoints: against Node's ``ws``).

    .venv/bin/python bench/run.py            # the full run (~20 min), then bench/RESULTS.md
    .venv/bin/python bench/run.py --quick    # a short smoke run into bench/out/

Each server runs alone on core 0 (``taskset -c 0``), fresh for every scenario and repetition;
the Node load generator (bench/load/loadgen.mjs) runs on core 1, as do this script and py-spy.
Repetitions are interleaved (scenario by scenario, server by server) so that background load
touches all three alike. A full run stores its raw figures in bench/results/run-*.json and
renders bench/RESULTS.md from every run stored there (see bench/report.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
SERVER_CORE = "0"
LOAD_CORE = "1"

sys.path.insert(0, str(BENCH))
from report import render, summarize_profile  # noqa: E402


@dataclass(frozen=True)
class Peer:
    name: str
    argv: tuple[str, ...]
    python: bool
    store: str | None = None
    """"sqlite" or "redis": a fresh file or stream for each start, passed as ``--store``."""


ROOMCAST = (PY, str(BENCH / "servers/roomcast_server.py"))
NODE = ("node", str(BENCH / "servers/node_server.mjs"))
PEERS = (
    Peer("roomcast", ROOMCAST, True),
    Peer("python-socketio", (PY, str(BENCH / "servers/pysio_server.py")), True),
    Peer("socket.io", NODE, False),
)

# Connection-state recovery (issue 10): roomcast with each store beside Node's in-memory
# recovery; python-socketio has no connection-state recovery, so it is not in this set.
RECOVERY_PEERS = (
    Peer("roomcast", ROOMCAST, True),
    Peer("roomcast+memory", (*ROOMCAST, "--recovery", "--store", "memory://"), True),
    Peer("roomcast+sqlite", (*ROOMCAST, "--recovery"), True, store="sqlite"),
    Peer("roomcast+redis", (*ROOMCAST, "--recovery"), True, store="redis"),
    Peer("socket.io", NODE, False),
    Peer("socket.io+recovery", (*NODE, "--recovery"), False),
)

# Plain WebSocket endpoints (issue 12): roomcast's /echo and /fan beside Node's ws 8 serving
# the same paths; python-socketio has no plain endpoint. "roomcast-iter" serves /echo with
# README.md's ``async for`` handler (a task per client), "roomcast" with ``on_message``.
ROOMCAST_PLAIN = (PY, str(BENCH / "servers/roomcast_plain.py"))
WS_NODE = Peer("ws", ("node", str(BENCH / "servers/ws_server.mjs")), False)
PLAIN_FANOUT_PEERS = (Peer("roomcast", ROOMCAST_PLAIN, True), WS_NODE)
PLAIN_ECHO_PEERS = (
    Peer("roomcast", ROOMCAST_PLAIN, True),
    Peer("roomcast-iter", (*ROOMCAST_PLAIN, "--echo", "iter"), True),
    WS_NODE,
)

# permessage-deflate on (issue 12; bench/deflate.py's clients): roomcast (no context takeover,
# a broadcast compressed once), roomcast with context takeover both ways (Node's way: a
# context per connection) and Node's socket.io with ``perMessageDeflate``.
DEFLATE_PEERS = (
    Peer("roomcast", (*ROOMCAST, "--deflate"), True),
    Peer("roomcast-takeover", (*ROOMCAST, "--deflate-takeover"), True),
    Peer("socket.io", (*NODE, "--deflate"), False),
)

# Prometheus metrics on vs off (issue 14: the cost of ``Metrics(io)``, goal <= 3%), beside
# Node's socket.io (which has no built-in metrics).
METRICS_PEERS = (
    Peer("roomcast", ROOMCAST, True),
    Peer("roomcast+metrics", (*ROOMCAST, "--metrics"), True),
    Peer("socket.io", NODE, False),
)

REDIS_URL = "redis://127.0.0.1:6379/0"

Driver = Callable[[int, int], dict[str, Any]]
"""Measures a running server in this process, given its (port, pid), instead of loadgen.mjs."""


@dataclass(frozen=True)
class Scenario:
    key: str
    loadgen: tuple[str, ...]
    timeout: float
    server_args: tuple[str, ...] = field(default=())
    peers: tuple[Peer, ...] = PEERS
    driver: Driver | None = None


def deflate_sizes(quick: bool) -> dict[str, int]:
    """bench/deflate.py's sizes: receivers of the fan-out, broadcasts, idle connections."""
    if quick:
        return {"receivers": 100, "broadcasts": 100, "idle_connections": 300}
    return {"receivers": 200, "broadcasts": 200, "idle_connections": 1000}


def deflate_driver(quick: bool) -> Driver:
    """bench/deflate.py's fan-out and idle parts, its clients in this process (core 1)."""

    def drive(port: int, pid: int) -> dict[str, Any]:
        from deflate import measure_running

        try:
            return measure_running(port, pid, **deflate_sizes(quick))
        except (AssertionError, EOFError, OSError, TimeoutError) as exc:  # refused, cut, late
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    return drive


def scenarios(quick: bool) -> list[Scenario]:
    m = "2" if quick else "5"
    # 20 s at a fixed rate: 200 broadcasts to 1000 clients. Over 50 (5 s), the 1% slowest
    # deliveries all came from the one or two slowest broadcasts, so p99 measured whatever
    # else the machine did in that moment rather than the server.
    lat = "2" if quick else "20"
    slow = "8" if quick else "30"
    return [
        Scenario("fanout100", ("fanout", "--n", "100", "--measure", m, "--latency", lat), 120),
        Scenario("fanout1000", ("fanout", "--n", "1000", "--measure", m, "--latency", lat), 180),
        Scenario("echo", ("echo", "--n", "50", "--measure", m), 90),
        # roomcast's echo with its guard rails on (the peers serve their plain echo):
        # arguments validated into a pydantic model, or a rate limit per socket
        Scenario(
            "echo-validated",
            ("echo", "--n", "50", "--measure", m, "--object", "1"),
            90,
            ("--echo", "validated"),
        ),
        Scenario("echo-limited", ("echo", "--n", "50", "--measure", m), 90, ("--echo", "limited")),
        Scenario("idle", ("idle", "--n", "2000" if quick else "10000"), 240),
        # an echo over long-polling: a POST carries `echo` with an ack id, the waiting GET
        # brings the ack back, and the client posts the next one
        Scenario("polling", ("polling", "--n", "200", "--measure", m), 120),
        # issue 12: plain WebSocket endpoints beside Node's ws 8
        Scenario(
            "plain-echo",
            ("echo", "--plain", "1", "--n", "50", "--measure", m),
            90,
            peers=PLAIN_ECHO_PEERS,
        ),
        Scenario(
            "plain-fanout1000",
            ("fanout", "--plain", "1", "--n", "1000", "--measure", m, "--latency", lat),
            180,
            peers=PLAIN_FANOUT_PEERS,
        ),
        # issue 12: Socket.IO fan-out and idle connections with permessage-deflate on
        Scenario(
            "deflate",
            ("deflate.py", *(f"{k}={v}" for k, v in deflate_sizes(quick).items())),
            180,
            peers=DEFLATE_PEERS,
            driver=deflate_driver(quick),
        ),
        Scenario(
            "slow",
            ("slow", "--n", "1000", "--size", "1000", "--measure", m, "--slow", slow),
            240,
        ),
        # issue 14: fan-out and echo with Prometheus metrics off and on (the same loads as
        # fanout1000 and echo, beside Node)
        Scenario(
            "metrics-fanout1000",
            ("fanout", "--n", "1000", "--measure", m, "--latency", "2" if quick else "5"),
            180,
            peers=METRICS_PEERS,
        ),
        Scenario("metrics-echo", ("echo", "--n", "50", "--measure", m), 90, peers=METRICS_PEERS),
        # fanout1000 with recovery off / each store, beside Node with and without; a shorter
        # fixed-rate phase (5 s: 50 broadcasts of 1000) keeps six servers per repetition short
        Scenario(
            "recovery",
            ("fanout", "--n", "1000", "--measure", m, "--latency", "2" if quick else "5"),
            180,
            peers=RECOVERY_PEERS,
        ),
    ]


# -- processes ---------------------------------------------------------------------------


def raise_fd_limit() -> int:
    """``ulimit -n`` as high as this process may go (10,000 idle clients need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in (65536, hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
            return want
    return soft


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server not listening on {port} after {seconds}s")


ROOMCAST_SRC: Path | None = None
"""Where the roomcast server imports roomcast from (``--at``); None: the working tree."""


def export_source(rev: str) -> tuple[Path, str]:
    """``src/`` as committed at ``rev``, unpacked under bench/out/ (the tree may be mid-edit)."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", rev],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dest = BENCH / "out" / f"src-{commit}"
    if not dest.exists():
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, "src"], capture_output=True, check=True
        ).stdout
        dest.mkdir(parents=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src", commit


@contextlib.contextmanager
def server(peer: Peer, extra: tuple[str, ...] = ()) -> Iterator[tuple[int, int]]:
    """A fresh server on core 0: yields (port, pid); stops it afterwards."""
    port = free_port()
    log = (BENCH / "out" / f"server-{peer.name}.log").open("ab")
    argv = ["taskset", "-c", SERVER_CORE, *peer.argv, "--port", str(port), *extra]
    env = dict(os.environ)
    if peer.python and peer.name.startswith("roomcast") and ROOMCAST_SRC is not None:
        env["PYTHONPATH"] = str(ROOMCAST_SRC)
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=log, env=env)
    try:
        wait_port(port, proc)
        time.sleep(0.3)  # imports done, loop idle: the memory baseline
        yield port, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def loadgen_argv(scenario: Scenario, port: int, pid: int, *more: str) -> list[str]:
    return [
        "taskset",
        "-c",
        LOAD_CORE,
        "node",
        str(BENCH / "load/loadgen.mjs"),
        *scenario.loadgen,
        "--port",
        str(port),
        "--server-pid",
        str(pid),
        "--clk-tck",
        str(os.sysconf("SC_CLK_TCK")),
        "--deadline",
        str(int(scenario.timeout)),
        *more,
    ]


def run_loadgen(
    scenario: Scenario, port: int, pid: int, more: tuple[str, ...] = ()
) -> dict[str, Any]:
    argv = loadgen_argv(scenario, port, pid, *more)
    try:
        done = subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=scenario.timeout + 30
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "load generator timed out"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"ok": False, "error": f"exit {done.returncode}: {done.stderr[-500:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# -- stores (recovery) --------------------------------------------------------------------


def redis_client() -> Any:
    import redis  # the redis extra

    return redis.Redis.from_url(REDIS_URL, decode_responses=True)


def redis_delete(client: Any, stream: str, prefix: str) -> None:
    """Remove one run's stream and session keys (SCAN, never KEYS: the Redis is shared)."""
    client.delete(stream)
    batch = list(client.scan_iter(match=prefix + "*", count=1000))
    for i in range(0, len(batch), 500):
        client.delete(*batch[i : i + 500])


def file_bytes(db: Path) -> int:
    """A SQLite database's size on disk: the file, its WAL and shared memory."""
    return sum(
        p.stat().st_size
        for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"))
        if p.exists()
    )


@contextlib.contextmanager
def store_for(peer: Peer) -> Iterator[tuple[tuple[str, ...], int, dict[str, Any]]]:
    """The store a peer needs, fresh: yields (server args, the store's own pid or 0, a dict
    filled with what the store held at the end); removes it afterwards."""
    facts: dict[str, Any] = {}
    if peer.store == "sqlite":
        tmp = Path(tempfile.mkdtemp(prefix="roomcast-bench-"))
        db = tmp / "bench.db"
        try:
            yield ("--store", f"sqlite:///{db}"), 0, facts
            facts["sqlite_bytes"] = file_bytes(db)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    elif peer.store == "redis":
        uid = uuid.uuid4().hex[:12]
        stream, prefix = f"roomcast-bench-{uid}", f"roomcast-bench-{uid}:session:"
        url = f"{REDIS_URL}?stream={stream}&session_prefix={prefix}"
        client = redis_client()
        pid = int(client.info("server")["process_id"])
        try:
            yield ("--store", url), pid, facts
            facts["redis_stream_length"] = client.xlen(stream)
            facts["redis_stream_bytes"] = client.memory_usage(stream)
        finally:
            redis_delete(client, stream, prefix)
            client.close()
    else:
        yield (), 0, facts


# -- the run -----------------------------------------------------------------------------


def command_output(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine() -> dict[str, Any]:
    lscpu = command_output(["lscpu"])
    model = next(
        (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line),
        "?",
    )

    def npm_version(name: str) -> str:
        with contextlib.suppress(OSError, ValueError):
            package = json.loads((ROOT / "node_modules" / name / "package.json").read_text())
            return str(package["version"])
        return "?"

    def py_version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": command_output(["node", "--version"]),
        "roomcast": py_version("roomcast"),
        "python-socketio": py_version("python-socketio"),
        "python-engineio": py_version("python-engineio"),
        "aiohttp": py_version("aiohttp"),
        "uvloop": py_version("uvloop"),
        "orjson": py_version("orjson"),
        "socket.io": npm_version("socket.io"),
        "ws": npm_version("ws"),
        "commit": command_output(["git", "-C", str(ROOT), "describe", "--always", "--dirty"]),
    }


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def run_all(reps: int, quick: bool, only: set[str] | None) -> dict[str, Any]:
    chosen = [s for s in scenarios(quick) if only is None or s.key in only]
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        s.key: {p.name: [] for p in s.peers} for s in chosen
    }
    storm: dict[str, list[dict[str, Any]]] = {}
    for rep in range(reps):
        for scenario in chosen:
            for peer in scenario.peers:
                started = time.monotonic()
                try:
                    with store_for(peer) as (store_args, store_pid, facts):
                        extra = (*scenario.server_args, *store_args)
                        with server(peer, extra) as (port, pid):
                            more = ("--store-pid", str(store_pid)) if store_pid else ()
                            if scenario.driver is not None:
                                result = scenario.driver(port, pid)
                            else:
                                result = run_loadgen(scenario, port, pid, more)
                        if facts:
                            result["store"] = facts
                except (RuntimeError, OSError, ImportError, TimeoutError) as exc:
                    result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                results[scenario.key][peer.name].append(result)
                status = "ok" if result.get("ok") else f"FAILED {result.get('error', '')[:200]}"
                print(
                    f"rep {rep + 1}/{reps} {scenario.key:<16} {peer.name:<18}"
                    f" {time.monotonic() - started:5.1f}s {status}",
                    flush=True,
                )
        if only is not None and "storm" in only:
            storm_rep(storm, rep, reps, quick)
    found: dict[str, Any] = {"scenarios": {s.key: list(s.loadgen) for s in chosen}}
    found["results"] = results
    if storm:
        found["storm"] = storm
    return found


def storm_rep(storm: dict[str, list[dict[str, Any]]], rep: int, reps: int, quick: bool) -> None:
    """One repetition of bench/recovery_storm.py: each store, each way to stop the server."""
    from recovery_storm import STORM_CASES, measure

    for case in STORM_CASES:
        started = time.monotonic()
        try:
            result = measure(case, n=200 if quick else 1000)
        except (RuntimeError, OSError, ImportError) as exc:
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        storm.setdefault(case, []).append(result)
        status = "ok" if result.get("ok") else f"FAILED {str(result.get('error', ''))[:200]}"
        print(
            f"rep {rep + 1}/{reps} storm       {case:<18} {time.monotonic() - started:5.1f}s"
            f" {status}",
            flush=True,
        )


# -- profiles of roomcast ------------------------------------------------------------------


def wait_marker(proc: subprocess.Popen[str], marker: str, seconds: float) -> bool:
    """Read the load generator's stderr until it prints ``marker`` (its phase changes)."""
    assert proc.stderr is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            line = proc.stderr.readline()
            if marker in line:
                return True
            if not line and proc.poll() is not None:
                return False
    return False


def profile(
    key: str,
    loadgen: tuple[str, ...],
    marker: str,
    out: Path,
    native: bool = False,
    seconds: int = 5,
    svg: Path | None = None,
    peer: Peer = PEERS[0],
) -> dict[str, Any]:
    """Sample roomcast (``peer``: the Socket.IO server unless told) with py-spy while the
    load generator is in phase.

    By default without stopping the process (``--nonblocking``, Python frames only: a C
    call's time goes to the Python function that made it). ``native`` adds C frames but
    needs ptrace stops, which over-count time in system calls.
    """
    pyspy = shutil.which("py-spy", path=str(Path(PY).parent)) or shutil.which("py-spy")
    if pyspy is None:
        return {"error": "py-spy is not installed (pip install py-spy)"}
    scenario = Scenario(key, loadgen, 120)
    raw = out / f"profile-{key}.txt"
    with server(peer) as (port, pid):
        argv = loadgen_argv(scenario, port, pid, "--announce", "1")
        lg = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            if not wait_marker(lg, marker, 90):
                return {"error": f"the load generator never reached {marker}"}
            spy = [pyspy, "record", "--pid", str(pid), "--duration", str(seconds)]
            spy += ["--rate", "250", "--native" if native else "--nonblocking"]
            spy += ["--format", "raw", "-o", str(raw)]
            subprocess.run(
                ["taskset", "-c", LOAD_CORE, *spy], capture_output=True, timeout=seconds + 30
            )
            if svg is not None:
                spy = [pyspy, "record", "--pid", str(pid), "--duration", "3", "--rate", "250"]
                spy += ["--nonblocking", "--format", "flamegraph", "-o", str(svg)]
                subprocess.run(["taskset", "-c", LOAD_CORE, *spy], capture_output=True, timeout=40)
        finally:
            with contextlib.suppress(subprocess.TimeoutExpired):
                lg.wait(120)
            if lg.poll() is None:
                lg.kill()
    if not raw.exists():
        return {"error": "py-spy wrote nothing"}
    return summarize_profile(raw.read_text(), seconds * 250, native)


def memory_breakdown(out: Path, n: int) -> dict[str, Any]:
    """tracemalloc's view of ``n`` idle roomcast connections: where the bytes are."""
    scenario = Scenario("idle", ("idle", "--n", str(n), "--hold", "6"), 120)
    dump = out / "tracemalloc-idle.txt"
    dump.unlink(missing_ok=True)
    with server(PEERS[0], ("--tracemalloc", str(dump))) as (port, pid):
        argv = loadgen_argv(scenario, port, pid, "--announce", "1")
        lg = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            if wait_marker(lg, "phase:held", 90):
                os.kill(pid, signal.SIGUSR1)
                deadline = time.monotonic() + 20
                while not dump.exists() and time.monotonic() < deadline:
                    time.sleep(0.2)
        finally:
            with contextlib.suppress(subprocess.TimeoutExpired):
                lg.wait(60)
            if lg.poll() is None:
                lg.kill()
    if not dump.exists():
        return {"error": "no tracemalloc dump"}
    lines = dump.read_text().splitlines()
    return {"n": n, "lines": lines[:40]}


def micro(at: str | None) -> dict[str, Any]:
    """bench/micro.py: roomcast's Python cost per message without sockets (core 0)."""
    argv = ["taskset", "-c", SERVER_CORE, PY, str(BENCH / "micro.py"), "--json", "--profile"]
    argv += ["--at", at] if at else []
    try:
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        return {"error": f"micro.py failed: {exc}"}
    return result


def profiles(out: Path, quick: bool) -> dict[str, Any]:
    m = "12" if quick else "16"
    found: dict[str, Any] = {}
    found["fanout1000"] = profile(
        "fanout1000",
        ("fanout", "--n", "1000", "--measure", m, "--latency", "1"),
        "phase:saturation",
        out,
        svg=(out if quick else BENCH) / "profile-fanout.svg",
    )
    found["fanout1000-fixed-rate"] = profile(
        "fanout1000-fixed-rate",
        ("fanout", "--n", "1000", "--measure", "1", "--latency", m),
        "phase:latency",
        out,
    )
    found["fanout1000-native"] = profile(
        "fanout1000-native",
        ("fanout", "--n", "1000", "--measure", m, "--latency", "1"),
        "phase:saturation",
        out,
        native=True,
    )
    echo = ("echo", "--n", "50", "--measure", m)
    found["echo"] = profile("echo", echo, "phase:measure", out)
    found["echo-native"] = profile("echo-native", echo, "phase:measure", out, native=True)
    found["idle"] = profile("idle", ("idle", "--n", "10000"), "phase:connect", out, seconds=2)
    found["polling"] = profile(
        "polling", ("polling", "--n", "200", "--measure", m), "phase:measure", out
    )
    plain_echo = ("echo", "--plain", "1", "--n", "50", "--measure", m)
    found["plain-echo"] = profile(
        "plain-echo", plain_echo, "phase:measure", out, peer=PLAIN_ECHO_PEERS[0]
    )
    found["plain-echo-native"] = profile(
        "plain-echo-native",
        plain_echo,
        "phase:measure",
        out,
        native=True,
        peer=PLAIN_ECHO_PEERS[0],
    )
    found["memory"] = memory_breakdown(out, 2000)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short phases, into bench/out/")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3, quick 1)")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated scenario keys (storm: bench/recovery_storm.py, only when named)",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profiles")
    parser.add_argument(
        "--at", default=None, help="measure roomcast as committed at this revision (git archive)"
    )
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.quick else 3)
    only = set(args.only.split(",")) if args.only else None

    for tool in ("taskset", "node"):
        if shutil.which(tool) is None:
            print(f"bench needs {tool}", file=sys.stderr)
            return 2
    if not (ROOT / "node_modules/socket.io").exists():
        print("bench needs the npm packages: npm install", file=sys.stderr)
        return 2
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    fd_limit = raise_fd_limit()
    global ROOMCAST_SRC
    measured = None
    if args.at is not None:
        ROOMCAST_SRC, measured = export_source(args.at)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {int(LOAD_CORE)})

    started = datetime.now(UTC)
    run: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "reps": reps,
        "command": " ".join([".venv/bin/python", "bench/run.py", *(argv or sys.argv[1:])]),
        "machine": machine() | ({"commit": measured} if measured else {}),
        "fd_limit": fd_limit,
        "loadavg_start": loadavg(),
    }
    t0 = time.monotonic()
    run.update(run_all(reps, args.quick, only))
    run["profiles"] = {} if args.no_profile else profiles(out, args.quick)
    if not args.no_profile:
        run["micro"] = micro(args.at)
    run["loadavg_end"] = loadavg()
    run["minutes"] = round((time.monotonic() - t0) / 60, 1)

    store = out if args.quick else BENCH / "results"
    store.mkdir(exist_ok=True)
    name = f"run-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    (store / name).write_text(json.dumps(run, indent=1) + "\n")
    runs = [json.loads(p.read_text()) for p in sorted(store.glob("run-*.json"))]
    target = store / "RESULTS.md" if args.quick else BENCH / "RESULTS.md"
    target.write_text(render(runs))
    print(f"wrote {store / name} and {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fault probes: the figures of docs/RELIABILITY.md, "Faults". Each runs the scenario that
the short test of tests/faults/ runs, longer or bigger, and prints one JSON object.

    .venv/bin/python bench/faults.py worker-kill              # kill -9 of a worker, --workers 2
    .venv/bin/python bench/faults.py redis delay              # 200 ms each way to Redis
    .venv/bin/python bench/faults.py redis cut-subscriber     # the receiving node's link reset
    .venv/bin/python bench/faults.py redis cut-publisher      # the broadcasting node's link reset
    .venv/bin/python bench/faults.py redis cut-both
    .venv/bin/python bench/faults.py redis stop               # Redis stopped, then started
    .venv/bin/python bench/faults.py store full               # SQLite on a full tmpfs (root)
    .venv/bin/python bench/faults.py store read-only          # SQLite files chattr +i (root)
    .venv/bin/python bench/faults.py clock 3                  # the wall clock 3 h forward
    .venv/bin/python bench/faults.py clock -3                 # ... and back (libfaketime)

Needs node and the npm packages (make setup), redis-server on PATH for ``redis``,
libfaketime (apt install faketime) for ``clock``. The scenarios live in tests/faults/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from faults.clock_jump import jump_clock  # noqa: E402
from faults.redis_faults import FAULTS, broadcast_through  # noqa: E402
from faults.store_faults import store_fails  # noqa: E402
from faults.worker_kill import kill_a_worker  # noqa: E402


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 1)


def spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"min": None, "median": None, "max": None}
    return {
        "min": ms(min(values)),
        "median": ms(statistics.median(values)),
        "max": ms(max(values)),
    }


async def worker_kill(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    seen = await kill_a_worker(
        f"sqlite:///{tmp / 'faults.db'}",
        per_worker=args.clients,
        before=args.before,
        after=args.after,
        pace=args.pace,
    )
    return {
        "probe": "worker-kill",
        "workers": 2,
        "receivers": len(seen.received),
        "on_the_killed_worker": len(seen.victims),
        "exit_status": seen.exit_code,
        "worker_serving_again_ms": ms(seen.restarted_after),
        "clients_back_ms": spread(list(seen.reconnected_after.values())),
        "recovered": sum(seen.recovered.values()),
        "acknowledged": len(seen.acked),
        "acknowledged_while_they_were_away": seen.acked_while_down,
        "acknowledged_missed": sum(len(v) for v in seen.missing().values()),
        "duplicates": seen.duplicates(),
        "out_of_order": len(seen.out_of_order()),
    }


async def redis(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    seen = await broadcast_through(
        args.fault, before=args.before, duration=args.seconds, after=args.after, pace=args.pace
    )
    lost = seen.lost()
    return {
        "probe": f"redis {args.fault}",
        "fault_s": args.seconds,
        "broadcasts": seen.sent,
        "during_the_fault": seen.sent_during[1] - seen.sent_during[0],
        "lost": len(lost),
        "lost_range": [lost[0], lost[-1]] if lost else None,
        "broadcast_by_the_time_it_was_back": seen.sent_when_back,
        "duplicates": seen.duplicates(),
        "in_order": seen.in_order(),
        "noticed_ms": ms(seen.noticed_after),
        "bus_back_ms": ms(seen.back_after),
        "delivering_again_ms": ms(seen.resumed_after),
        "latency_during_ms": spread(seen.latency),
        "readyz_during": seen.ready_during,
        "readyz_after": seen.ready_after,
    }


async def store(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    seen = await store_fails(
        args.kind,
        tmp,
        before=args.before,
        duration=args.seconds,
        after=args.after,
        pace=args.pace,
    )
    return {
        "probe": f"store {args.kind}",
        "fault_s": args.seconds,
        "broadcasts": seen.sent,
        "sent_without_offset": seen.unstored,
        "live_lost": {id: len(seen.lost(id)) for id in seen.received},
        "disconnects": seen.disconnects,
        "failing_after_ms": ms(seen.failed_after),
        "storing_again_after_ms": ms(seen.stored_again_after),
        "readyz_during": seen.ready_during,
        "readyz_after": seen.ready_after,
        "log_lines": seen.warnings,
        "tracebacks": seen.tracebacks,
        "client_back_during_fault_fresh_session": seen.fresh_during,
        "client_away_after_fix_recovered": seen.recovered_after,
        "its_missed_replayed": len(seen.replayed_after),
        "its_missed_lost": len(seen.missed_while_away),
    }


async def clock(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    seen = await jump_clock(args.hours, tmp, before=args.before, after=args.after)
    return {
        "probe": f"clock {args.hours:+g} h",
        "server_time_moved_s": round(seen.jumped),
        "broadcasts": seen.sent,
        "offsets_increasing": seen.offsets == sorted(set(seen.offsets)),
        "receivers_got_all_in_order": all(
            got == list(range(seen.sent)) for id, got in seen.received.items() if id != "away"
        ),
        "heartbeats_after": seen.pings_after,
        "disconnects": seen.disconnects,
        "history_whole": seen.history == list(range(len(seen.history))),
        "away_across_the_jump_recovered": seen.recovered,
        "away_missed": len(seen.missed),
        "tracebacks": seen.output.count("Traceback"),
    }


PROBES = {"worker-kill": worker_kill, "redis": redis, "store": store, "clock": clock}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="probe", required=True)
    kill = sub.add_parser("worker-kill")
    kill.add_argument("--clients", type=int, default=10, help="receivers per worker")
    kill.add_argument("--before", type=int, default=50)
    kill.add_argument("--after", type=int, default=200)
    kill.add_argument("--pace", type=float, default=0.005)
    bus = sub.add_parser("redis")
    bus.add_argument("fault", choices=FAULTS)
    bus.add_argument("--seconds", type=float, default=3.0)
    bus.add_argument("--before", type=int, default=200)
    bus.add_argument("--after", type=int, default=500)
    bus.add_argument("--pace", type=float, default=0.002)
    disk = sub.add_parser("store")
    disk.add_argument("kind", choices=["full", "read-only"])
    disk.add_argument("--seconds", type=float, default=3.0)
    disk.add_argument("--before", type=int, default=100)
    disk.add_argument("--after", type=int, default=200)
    disk.add_argument("--pace", type=float, default=0.005)
    time = sub.add_parser("clock")
    time.add_argument("hours", type=float)
    time.add_argument("--before", type=int, default=50)
    time.add_argument("--after", type=int, default=50)
    args = parser.parse_args()
    import uvloop

    with tempfile.TemporaryDirectory(prefix="rc-faults-") as tmp:
        result = uvloop.run(PROBES[args.probe](args, Path(tmp)))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

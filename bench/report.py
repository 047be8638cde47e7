"""Turn stored benchmark runs (bench/results/run-*.json) into bench/RESULTS.md.

.venv/bin/python bench/report.py      # re-render RESULTS.md from the stored runs
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RC, PYSIO, NODE = "roomcast", "python-socketio", "socket.io"
LOADGEN_LIMIT = 90.0  # % of its core: past it the generator may be the bottleneck


@dataclass(frozen=True)
class Metric:
    label: str
    scenario: str
    get: Callable[[dict[str, Any]], float | None]
    fmt: str = "{:,.0f}"
    higher_is_better: bool = True
    ratio: bool = True
    total: bool = False  # sum over the repetitions instead of the median


def _at(*path: str, scale: float = 1.0) -> Callable[[dict[str, Any]], float | None]:
    def get(result: dict[str, Any]) -> float | None:
        value: Any = result
        for key in path:
            if not isinstance(value, dict) or value.get(key) is None:
                return None
            value = value[key]
        return float(value) * scale

    return get


def _fanout(n: int) -> list[Metric]:
    key = f"fanout{n}"
    return [
        Metric(f"**fan-out N={n}**: deliveries/s at saturation", key, _at("saturation", "per_s")),
        Metric(
            "  server CPU µs per delivery (saturation)",
            key,
            _at("saturation", "server_cpu_us_per_msg"),
            "{:.2f}",
            False,
        ),
        Metric(
            "  of which kernel (sys) µs",
            key,
            _at("saturation", "server_sys_us_per_msg"),
            "{:.2f}",
            False,
        ),
        Metric(
            "  p50 latency, ms (fixed 10k deliveries/s)",
            key,
            _at("latency", "p50_ms"),
            "{:.2f}",
            False,
        ),
        Metric(
            "  p99 latency, ms (fixed 10k deliveries/s)",
            key,
            _at("latency", "p99_ms"),
            "{:.2f}",
            False,
        ),
        Metric(
            "  first delivery of a broadcast, median ms (fixed rate)",
            key,
            _at("latency", "first_delivery_p50_ms"),
            "{:.2f}",
            False,
        ),
        Metric(
            "  last delivery of a broadcast, median ms (fixed rate)",
            key,
            _at("latency", "last_delivery_p50_ms"),
            "{:.2f}",
            False,
        ),
        Metric(
            "  server CPU µs per delivery (fixed rate)",
            key,
            _at("latency", "server_cpu_us_per_msg"),
            "{:.2f}",
            False,
        ),
    ]


METRICS: list[Metric] = [
    *_fanout(100),
    *_fanout(1000),
    Metric("**echo with acks**, 50 clients: acks/s", "echo", _at("per_s")),
    Metric("  server CPU µs per ack", "echo", _at("server_cpu_us_per_msg"), "{:.2f}", False),
    Metric("  of which kernel (sys) µs", "echo", _at("server_sys_us_per_msg"), "{:.2f}", False),
    Metric("  p50 latency, ms", "echo", _at("p50_ms"), "{:.2f}", False),
    Metric("  p99 latency, ms", "echo", _at("p99_ms"), "{:.2f}", False),
    Metric(
        "**echo, validated** (roomcast: a pydantic model; peers: plain): acks/s",
        "echo-validated",
        _at("per_s"),
    ),
    Metric(
        "  server CPU µs per ack",
        "echo-validated",
        _at("server_cpu_us_per_msg"),
        "{:.2f}",
        False,
    ),
    Metric(
        "**echo, rate-limited** (roomcast: a bucket per socket; peers: plain): acks/s",
        "echo-limited",
        _at("per_s"),
    ),
    Metric(
        "  server CPU µs per ack", "echo-limited", _at("server_cpu_us_per_msg"), "{:.2f}", False
    ),
    Metric("**idle connections**: connected", "idle", _at("connected"), ratio=False),
    Metric("  connects/s", "idle", _at("connects_per_s")),
    Metric(
        "  server CPU µs per connect", "idle", _at("server_cpu_us_per_connect"), "{:.0f}", False
    ),
    Metric("  of which kernel (sys) µs", "idle", _at("server_sys_us_per_connect"), "{:.0f}", False),
    Metric(
        "  server RSS KiB per connection",
        "idle",
        _at("bytes_per_conn", scale=1 / 1024),
        "{:.1f}",
        False,
    ),
    Metric("**polling**, 200 clients: messages/s", "polling", _at("per_s")),
    Metric("  server CPU µs per message", "polling", _at("server_cpu_us_per_msg"), "{:.1f}", False),
    Metric("  of which kernel (sys) µs", "polling", _at("server_sys_us_per_msg"), "{:.1f}", False),
    Metric("  p50 latency, ms", "polling", _at("p50_ms"), "{:.2f}", False),
    Metric("  p99 latency, ms", "polling", _at("p99_ms"), "{:.2f}", False),
    Metric(
        "**slow client** among 1000: others' deliveries/s, all reading",
        "slow",
        _at("baseline", "per_s"),
    ),
    Metric("  others' deliveries/s, one not reading (30 s)", "slow", _at("slow", "per_s")),
    Metric("  others' rate, slow ÷ all reading", "slow", _at("others_rate_ratio"), "{:.3f}"),
    Metric("  same, last 10 s only", "slow", _at("others_tail_rate_ratio"), "{:.3f}"),
    Metric(
        "  server CPU µs per delivery, all reading",
        "slow",
        _at("baseline", "server_cpu_us_per_msg"),
        "{:.2f}",
        False,
    ),
    Metric(
        "  server CPU µs per delivery, one not reading",
        "slow",
        _at("slow", "server_cpu_us_per_msg"),
        "{:.2f}",
        False,
    ),
    Metric(
        "  server RSS MiB at the start of the 30 s",
        "slow",
        _at("rss_start", scale=2**-20),
        "{:.1f}",
        False,
    ),
    Metric(
        "  server RSS MiB at the end of the 30 s",
        "slow",
        _at("rss_end", scale=2**-20),
        "{:.1f}",
        False,
    ),
    Metric(
        "  server RSS MiB, max over the 30 s",
        "slow",
        _at("rss_max", scale=2**-20),
        "{:.1f}",
        False,
    ),
    Metric(
        "  slow client disconnected by the server (of reps)",
        "slow",
        lambda r: 1.0 if r.get("slow_client_disconnected") else 0.0,
        "{:.0f}",
        ratio=False,
        total=True,
    ),
]


def results_of(run: dict[str, Any], scenario: str, peer: str) -> list[dict[str, Any]]:
    reps = run.get("results", {}).get(scenario, {}).get(peer, [])
    return [r for r in reps if r.get("ok")]


def median(run: dict[str, Any], metric: Metric, peer: str) -> float | None:
    values = [v for r in results_of(run, metric.scenario, peer) if (v := metric.get(r)) is not None]
    if not values:
        return None
    if metric.total:
        return sum(values)
    return float(statistics.median(values))


def loadgen_max(run: dict[str, Any], scenario: str, peer: str) -> float:
    worst = 0.0
    for r in results_of(run, scenario, peer):
        for part in (r, r.get("saturation"), r.get("latency"), r.get("baseline"), r.get("slow")):
            if isinstance(part, dict) and isinstance(part.get("loadgen_cpu_pct"), int | float):
                worst = max(worst, float(part["loadgen_cpu_pct"]))
    return worst


def server_cpu(run: dict[str, Any], scenario: str, peer: str) -> float | None:
    values = []
    for r in results_of(run, scenario, peer):
        part = r.get("saturation", r) if scenario.startswith("fanout") else r
        if scenario == "slow":
            part = r.get("slow", {})
        if isinstance(part.get("server_cpu_pct"), int | float):
            values.append(float(part["server_cpu_pct"]))
    return float(statistics.median(values)) if values else None


def _fmt(metric: Metric, value: float | None) -> str:
    return "—" if value is None else metric.fmt.format(value)


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}x"


def table(run: dict[str, Any]) -> list[str]:
    out = [
        f"| scenario, figure (median of {run['reps']}) | {RC} | {PYSIO} | {NODE} "
        f"| {RC} ÷ {NODE} | {RC} ÷ {PYSIO} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for metric in METRICS:
        if metric.scenario not in run.get("results", {}):
            continue
        values = {p: median(run, metric, p) for p in (RC, PYSIO, NODE)}
        if all(v is None for v in values.values()):
            continue  # a figure this run did not record
        arrow = "" if metric.higher_is_better else " ↓"
        ratios = ("", "")
        if metric.ratio:
            ratios = (_ratio(values[RC], values[NODE]), _ratio(values[RC], values[PYSIO]))
        out.append(
            f"| {metric.label}{arrow} | {_fmt(metric, values[RC])} | {_fmt(metric, values[PYSIO])}"
            f" | {_fmt(metric, values[NODE])} | {ratios[0]} | {ratios[1]} |"
        )
    return out


def _three_peers(run: dict[str, Any], key: str) -> bool:
    """Whether a scenario ran the three usual peers (not a set of its own, as recovery)."""
    return all(p in run["results"][key] for p in (RC, PYSIO, NODE))


def load_table(run: dict[str, Any]) -> list[str]:
    out = [
        "| scenario | server CPU % (roomcast / python-socketio / socket.io)"
        " | load generator CPU %, worst rep (same order) | failed reps |",
        "|---|---|---|---|",
    ]
    for key in run.get("results", {}):
        if not _three_peers(run, key):
            continue
        cpu = " / ".join(
            "—" if (v := server_cpu(run, key, p)) is None else f"{v:.0f}" for p in (RC, PYSIO, NODE)
        )
        lg = []
        for p in (RC, PYSIO, NODE):
            worst = loadgen_max(run, key, p)
            lg.append(f"**{worst:.0f} ⚠**" if worst > LOADGEN_LIMIT else f"{worst:.0f}")
        failed = sum(
            1 for p in (RC, PYSIO, NODE) for r in run["results"][key][p] if not r.get("ok")
        )
        out.append(f"| {key} | {cpu} | {' / '.join(lg)} | {failed} |")
    return out


def _value(run: dict[str, Any], label_start: str, peer: str) -> float | None:
    for metric in METRICS:
        if metric.label.startswith(label_start):
            return median(run, metric, peer)
    return None


def per_cpu_at(run: dict[str, Any], scenario: str, label: str, peer: str) -> str:
    for metric in METRICS:
        if metric.scenario == scenario and metric.label == label:
            a, b = median(run, metric, RC), median(run, metric, peer)
            if a and b is not None:
                return f"; per server CPU-second {b / a:.2f}x"
    return ""


def targets(run: dict[str, Any]) -> list[tuple[str, bool | None, str]]:
    """Each target of issue 3: (what, met?, the figures)."""

    def ratio(label: str, peer: str) -> float | None:
        a, b = _value(run, label, RC), _value(run, label, peer)
        return None if a is None or b is None or b == 0 else a / b

    found: list[tuple[str, bool | None, str]] = []

    def per_cpu(label: str, peer: str) -> str:
        """The same ratio per server CPU-second: the peer's CPU per message over ours."""
        a, b = _value(run, label, RC), _value(run, label, peer)
        return "" if a is None or b is None or a == 0 else f"; per server CPU-second {b / a:.2f}x"

    def check(what: str, value: float | None, ok: Callable[[float], bool], shown: str) -> None:
        if value is None:
            found.append((what, None, "not measured in this run"))
        else:
            found.append((what, ok(value), shown.format(value)))

    for n in (100, 1000):
        label = f"**fan-out N={n}**"
        cpu = "  server CPU µs per delivery (saturation)"
        for peer, want in ((NODE, 1.5), (PYSIO, 6.0)):
            check(
                f"fan-out N={n} ≥ {want:g}x {peer}",
                ratio(label, peer),
                lambda v, want=want: v >= want,
                "{:.2f}x" + per_cpu_at(run, f"fanout{n}", cpu, peer),
            )
    check(
        "echo acks/s ≥ 1.5x socket.io",
        ratio("**echo", NODE),
        lambda v: v >= 1.5,
        "{:.2f}x" + per_cpu("  server CPU µs per ack", NODE),
    )
    check(
        "RSS per idle connection ≤ 0.75x socket.io",
        ratio("  server RSS KiB", NODE),
        lambda v: v <= 0.75,
        "{:.2f}x",
    )
    check(
        "connects/s ≥ socket.io",
        ratio("  connects/s", NODE),
        lambda v: v >= 1.0,
        "{:.2f}x" + per_cpu("  server CPU µs per connect", NODE),
    )
    for n in (100, 1000):
        found_p99 = None
        for metric in METRICS:
            if metric.scenario == f"fanout{n}" and "p99" in metric.label:
                a, b = median(run, metric, RC), median(run, metric, NODE)
                found_p99 = None if a is None or b is None or b == 0 else a / b
        check(
            f"p99 latency at a fixed rate, N={n}, ≤ socket.io",
            found_p99,
            lambda v: v <= 1.0,
            "{:.2f}x",
        )
    slow_ratio = _value(run, "  others' rate, slow", RC)
    tail = _value(run, "  same, last 10 s", RC)
    cpu_all = _value(run, "  server CPU µs per delivery, all", RC)
    cpu_slow = _value(run, "  server CPU µs per delivery, one", RC)
    detail = "others at {:.3f} of their rate"
    if tail is not None and cpu_all and cpu_slow:
        detail += f" ({tail:.3f} in the last 10 s; CPU per delivery x{cpu_slow / cpu_all:.2f})"
    check("a slow client lowers the others' rate by ≤ 5%", slow_ratio, lambda v: v >= 0.95, detail)
    growth = None
    reps = results_of(run, "slow", RC)
    if reps:
        growth = statistics.median((r["rss_max"] - r["rss_start"]) / 2**20 for r in reps)
    check(
        "server memory bounded with a slow client (RSS growth ≤ 32 MiB in 30 s)",
        growth,
        lambda v: v <= 32,
        "+{:.1f} MiB",
    )
    return found


# -- connection-state recovery (issue 10) -----------------------------------------------

REC_OFF, REC_SQLITE, NODE_REC = "roomcast", "roomcast+sqlite", "socket.io+recovery"

RECOVERY_METRICS: list[Metric] = [
    Metric("deliveries/s at saturation", "recovery", _at("saturation", "per_s")),
    Metric(
        "server CPU µs per delivery (saturation)",
        "recovery",
        _at("saturation", "server_cpu_us_per_msg"),
        "{:.2f}",
        False,
    ),
    Metric(
        "  of which kernel (sys) µs",
        "recovery",
        _at("saturation", "server_sys_us_per_msg"),
        "{:.2f}",
        False,
    ),
    Metric(
        "  plus redis-server CPU µs per delivery",
        "recovery",
        _at("saturation", "store_cpu_us_per_msg"),
        "{:.2f}",
        False,
    ),
    Metric("server CPU % (saturation)", "recovery", _at("saturation", "server_cpu_pct"), "{:.0f}"),
    Metric(
        "p50 latency, ms (fixed 10k deliveries/s)",
        "recovery",
        _at("latency", "p50_ms"),
        "{:.2f}",
        False,
    ),
    Metric(
        "p99 latency, ms (fixed 10k deliveries/s)",
        "recovery",
        _at("latency", "p99_ms"),
        "{:.2f}",
        False,
    ),
    Metric(
        "server CPU µs per delivery (fixed rate)",
        "recovery",
        _at("latency", "server_cpu_us_per_msg"),
        "{:.2f}",
        False,
    ),
    Metric(
        "load generator CPU %, saturation",
        "recovery",
        _at("saturation", "loadgen_cpu_pct"),
        "{:.0f}",
        False,
    ),
]


def recovery_md(run: dict[str, Any]) -> list[str]:
    """The recovery scenario: fan-out to 1000 with each store, beside Node's recovery."""
    found = run.get("results", {}).get("recovery")
    if not found:
        return []
    peers = list(found)
    out = [
        "### Connection-state recovery: fan-out N=1000 with each store (issue 10)",
        "",
        "Recoverable broadcasts are stored before they are sent and carry their offset; "
        "`roomcast` and `socket.io` have recovery off. Node's recovery keeps its packets in "
        "the process (the default adapter); python-socketio has no recovery. "
        f"Median of {run['reps']}; failed repetitions: "
        + ", ".join(f"{p} {sum(1 for r in found[p] if not r.get('ok'))}" for p in peers)
        + ".",
        "",
        "| figure | " + " | ".join(peers) + " |",
        "|---|" + "---:|" * len(peers),
    ]
    for metric in RECOVERY_METRICS:
        values = [median(run, metric, p) for p in peers]
        if all(v is None for v in values):
            continue
        arrow = "" if metric.higher_is_better else " ↓"
        out.append(
            f"| {metric.label}{arrow} | " + " | ".join(_fmt(metric, v) for v in values) + " |"
        )
    rate, cpu = RECOVERY_METRICS[0], RECOVERY_METRICS[1]
    out += [
        "",
        "| deliveries/s, ratio | " + " | ".join(peers) + " |",
        "|---|" + "---:|" * len(peers),
    ]
    for base in (REC_OFF, NODE_REC, "socket.io"):
        if base not in peers:
            continue
        b = median(run, rate, base)
        out.append(
            f"| ÷ {base} | " + " | ".join(_ratio(median(run, rate, p), b) for p in peers) + " |"
        )
    b = median(run, cpu, NODE_REC)
    if b is not None:
        out.append(
            f"| {NODE_REC}'s CPU µs per delivery ÷ this one's (per CPU-second) | "
            + " | ".join(_ratio(b, median(run, cpu, p)) for p in peers)
            + " |"
        )
    out += ["", "| target (issue 10) | met | figure |", "|---|---|---|"]

    def target(what: str, a: str, b: str, want: float) -> None:
        x, y = median(run, rate, a), median(run, rate, b)
        if x is None or y is None or y == 0:
            out.append(f"| {what} | — | not measured |")
            return
        v = x / y
        extra = ""
        ca, cb = median(run, cpu, a), median(run, cpu, b)
        if ca and cb:
            extra = f"; per server CPU-second {cb / ca:.2f}x"
        out.append(f"| {what} | {'yes' if v >= want else '**no**'} | {v:.2f}x{extra} |")

    target(f"{REC_SQLITE} ≥ 1.5x {NODE_REC} (deliveries/s)", REC_SQLITE, NODE_REC, 1.5)
    target(f"{REC_SQLITE} ≥ 0.8x {REC_OFF} (≤ 20% below)", REC_SQLITE, REC_OFF, 0.8)
    out.append("")
    return out


# -- Prometheus metrics on vs off (issue 14) ---------------------------------------------

METRICS_ON = "roomcast+metrics"
METRICS_COST: list[tuple[Metric, Metric]] = [
    (
        Metric("fan-out N=1000: deliveries/s", "metrics-fanout1000", _at("saturation", "per_s")),
        Metric(
            "  server CPU µs per delivery",
            "metrics-fanout1000",
            _at("saturation", "server_cpu_us_per_msg"),
            "{:.3f}",
            False,
        ),
    ),
    (
        Metric("echo, 50 clients: acks/s", "metrics-echo", _at("per_s")),
        Metric(
            "  server CPU µs per ack", "metrics-echo", _at("server_cpu_us_per_msg"), "{:.2f}", False
        ),
    ),
]


def metrics_md(run: dict[str, Any]) -> list[str]:
    """Fan-out and echo with metrics off and on: the cost of counting, beside Node."""
    if not any(run.get("results", {}).get(rate.scenario) for rate, _ in METRICS_COST):
        return []
    peers = ["roomcast", METRICS_ON, "socket.io"]
    out = [
        "### Prometheus metrics on vs off (issue 14)",
        "",
        "`roomcast+metrics` serves `Metrics(io)` at `/metrics` (counts kept where the server "
        "parses and encodes; nobody scrapes during the run). The cost is the server CPU per "
        f"message with metrics on over off, minus one; goal ≤ 3%. Median of {run['reps']}.",
        "",
        "| figure | " + " | ".join(peers) + " | metrics' cost |",
        "|---|" + "---:|" * (len(peers) + 1),
    ]
    for rate, cpu in METRICS_COST:
        for metric in (rate, cpu):
            values = [median(run, metric, p) for p in peers]
            off, on = values[0], values[1]
            cost = "—"
            if off and on:
                change = (on / off - 1) if not metric.higher_is_better else (off / on - 1)
                cost = f"{change * 100:+.1f}%"
            arrow = "" if metric.higher_is_better else " ↓"
            out.append(
                f"| {metric.label}{arrow} | "
                + " | ".join(_fmt(metric, v) for v in values)
                + f" | {cost} |"
            )
    out.append("")
    return out


# -- plain endpoints, long-polling echo, permessage-deflate (issue 12) ---------------------

WS, RC_ITER, RC_TAKEOVER = "ws", "roomcast-iter", "roomcast-takeover"


def _cpu(scenario: str, *path: str, label: str = "  server CPU µs per delivery") -> Metric:
    return Metric(label, scenario, _at(*path, "server_cpu_us_per_msg"), "{:.2f}", False)


PLAIN_ECHO_METRICS: list[Metric] = [
    Metric("**plain echo**, 50 clients: round trips/s", "plain-echo", _at("per_s")),
    _cpu("plain-echo", label="  server CPU µs per round trip"),
    Metric(
        "  of which kernel (sys) µs", "plain-echo", _at("server_sys_us_per_msg"), "{:.2f}", False
    ),
    Metric("  p50 round trip, ms", "plain-echo", _at("p50_ms"), "{:.2f}", False),
    Metric("  p99 round trip, ms", "plain-echo", _at("p99_ms"), "{:.2f}", False),
    Metric("  server CPU %", "plain-echo", _at("server_cpu_pct"), "{:.0f}", ratio=False),
]

PLAIN_FANOUT_METRICS: list[Metric] = [
    Metric(
        "**plain broadcast to 1000**: deliveries/s at saturation",
        "plain-fanout1000",
        _at("saturation", "per_s"),
    ),
    _cpu("plain-fanout1000", "saturation", label="  server CPU µs per delivery (saturation)"),
    Metric(
        "  of which kernel (sys) µs",
        "plain-fanout1000",
        _at("saturation", "server_sys_us_per_msg"),
        "{:.2f}",
        False,
    ),
    Metric(
        "  server CPU % (saturation)",
        "plain-fanout1000",
        _at("saturation", "server_cpu_pct"),
        "{:.0f}",
        ratio=False,
    ),
    Metric(
        "  p50 latency, ms (fixed 10k deliveries/s)",
        "plain-fanout1000",
        _at("latency", "p50_ms"),
        "{:.2f}",
        False,
    ),
    Metric(
        "  p99 latency, ms (fixed 10k deliveries/s)",
        "plain-fanout1000",
        _at("latency", "p99_ms"),
        "{:.2f}",
        False,
    ),
    Metric(
        "  last delivery of a broadcast, median ms (fixed rate)",
        "plain-fanout1000",
        _at("latency", "last_delivery_p50_ms"),
        "{:.2f}",
        False,
    ),
]

POLLING_METRICS: list[Metric] = [
    Metric("**long-polling echo**, 200 clients: acks/s", "polling", _at("per_s")),
    _cpu("polling", label="  server CPU µs per ack"),
    Metric("  of which kernel (sys) µs", "polling", _at("server_sys_us_per_msg"), "{:.1f}", False),
    Metric("  p50 round trip, ms", "polling", _at("p50_ms"), "{:.2f}", False),
    Metric("  p99 round trip, ms", "polling", _at("p99_ms"), "{:.2f}", False),
    Metric("  server CPU %", "polling", _at("server_cpu_pct"), "{:.0f}", ratio=False),
]

DEFLATE_METRICS: list[Metric] = [
    Metric(
        "**fan-out with permessage-deflate**: server CPU µs per delivery",
        "deflate",
        _at("cpu_us_per_delivery"),
        "{:.2f}",
        False,
    ),
    Metric(
        "  bytes on the wire per delivery (frame with its header)",
        "deflate",
        _at("wire_bytes_per_delivery"),
        "{:,.0f}",
        False,
    ),
    Metric("  the packet's own bytes", "deflate", _at("packet_bytes"), "{:,.0f}", ratio=False),
    Metric(
        "  deliveries compressed, %",
        "deflate",
        _at("compressed_share", scale=100),
        "{:.0f}",
        ratio=False,
    ),
    Metric("  server CPU %", "deflate", _at("server_cpu_pct"), "{:.0f}", ratio=False),
    Metric(
        "**idle connections with permessage-deflate**: server RSS KiB per connection",
        "deflate",
        _at("idle", "kib_per_connection"),
        "{:.1f}",
        False,
    ),
]


def peer_table(
    run: dict[str, Any], metrics: list[Metric], peers: tuple[str, ...], base: str
) -> list[str]:
    """One row per figure, one column per peer, then each other peer's ratio to ``base``."""
    others = [p for p in peers if p != base]
    out = [
        f"| figure (median of {run['reps']}) | "
        + " | ".join(peers)
        + "".join(f" | {p} ÷ {base}" for p in others)
        + " |",
        "|---|" + "---:|" * (len(peers) + len(others)),
    ]
    for metric in metrics:
        values = {p: median(run, metric, p) for p in peers}
        if all(v is None for v in values.values()):
            continue
        arrow = "" if metric.higher_is_better else " ↓"
        cells = [_fmt(metric, values[p]) for p in peers]
        cells += [_ratio(values[p], values[base]) if metric.ratio else "" for p in others]
        out.append(f"| {metric.label}{arrow} | " + " | ".join(cells) + " |")
    key = metrics[0].scenario
    blank = " |" * len(others)
    loadgen = [loadgen_max(run, key, p) for p in peers]
    shown = [f"**{w:.0f} ⚠**" if w > LOADGEN_LIMIT else f"{w:.0f}" for w in loadgen]
    out.append("| load generator CPU %, worst rep | " + " | ".join(shown) + " |" + blank)
    failed = [sum(not r.get("ok") for r in run["results"][key].get(p, [])) for p in peers]
    out.append("| failed reps | " + " | ".join(map(str, failed)) + " |" + blank)
    return out


def issue12_targets(run: dict[str, Any]) -> list[tuple[str, bool | None, str]]:
    """The goals of issue 12: (what, met?, the figure and the same ratio per CPU-second)."""
    found: list[tuple[str, bool | None, str]] = []

    def goal(what: str, rate: Metric, cpu: Metric, peer: str, want: float) -> None:
        a, b = median(run, rate, RC), median(run, rate, peer)
        if a is None or b is None or b == 0:
            found.append((what, None, "not measured in this run"))
            return
        shown = f"{a / b:.2f}x"
        ca, cb = median(run, cpu, RC), median(run, cpu, peer)
        if ca and cb is not None:
            shown += f"; per server CPU-second {cb / ca:.2f}x"
        found.append((what, a / b >= want, shown))

    goal(
        "plain echo round trips/s ≥ 1.5x ws",
        PLAIN_ECHO_METRICS[0],
        PLAIN_ECHO_METRICS[1],
        WS,
        1.5,
    )
    goal(
        "plain broadcast to 1000, deliveries/s ≥ 2x ws",
        PLAIN_FANOUT_METRICS[0],
        PLAIN_FANOUT_METRICS[1],
        WS,
        2.0,
    )
    goal(
        "long-polling echo acks/s ≥ 1.5x socket.io",
        POLLING_METRICS[0],
        POLLING_METRICS[1],
        NODE,
        1.5,
    )
    return found


def issue12_md(run: dict[str, Any]) -> list[str]:
    results = run.get("results", {})
    keys = ("plain-echo", "plain-fanout1000", "polling", "deflate")
    if not any(k in results for k in keys):
        return []
    out = ["### Plain endpoints, long-polling echo, permessage-deflate (issue 12)", ""]
    if "plain-echo" in results:
        out += [
            f"Plain WebSocket echo (`/echo`): {RC} serves it with `on_message` and "
            f"`send_nowait`, {RC_ITER} with README.md's `async for` handler (a task per "
            f"client); {WS}: Node's ws 8.",
            "",
            *peer_table(run, PLAIN_ECHO_METRICS, (RC, RC_ITER, WS), WS),
            "",
        ]
    if "plain-fanout1000" in results:
        out += [
            f"Plain broadcast (`/fan`): 1000 receivers, one sender whose message goes to every "
            f"other client ({RC}: `broadcast(message, exclude=ws)`; {WS}: `client.send` for "
            "each open client, as ws's README does).",
            "",
            *peer_table(run, PLAIN_FANOUT_METRICS, (RC, WS), WS),
            "",
        ]
    if "polling" in results:
        out += [*peer_table(run, POLLING_METRICS, (RC, PYSIO, NODE), NODE), ""]
    if "deflate" in results:
        out += [
            "Socket.IO with permessage-deflate on (bench/deflate.py's clients, which offer "
            "`permessage-deflate; client_max_window_bits`): 200 receivers, a 2 KB JSON-like "
            f"payload at 50 broadcasts/s; then 1000 connections that each sent and received "
            f"one compressed message. {RC}: no context takeover (a broadcast compressed "
            f"once); {RC_TAKEOVER}: context takeover both ways (a context per connection, "
            f"as {NODE}'s default).",
            "",
            *peer_table(run, DEFLATE_METRICS, (RC, RC_TAKEOVER, NODE), NODE),
            "",
        ]
    found = issue12_targets(run)
    if any(ok is not None for _, ok, _ in found):
        out += ["| goal (issue 12) | met | figure |", "|---|---|---|"]
        for what, ok, shown in found:
            mark = "—" if ok is None else ("yes" if ok else "**no**")
            out.append(f"| {what} | {mark} | {shown} |")
        out.append("")
    return out


def _storm_row(case: str, reps: list[dict[str, Any]]) -> str:
    ok = [r for r in reps if r.get("recovered") is not None]  # measured, if not all recovered

    def med(key: str, scale: float = 1.0) -> float | None:
        values = [float(r[key]) * scale for r in ok if r.get(key) is not None]
        return float(statistics.median(values)) if values else None

    def fmt(value: float | None, f: str) -> str:
        return "—" if value is None else f.format(value)

    recovered = [f"{r['recovered']}/{r['n']}" for r in ok]
    replayed = [f"{r['replayed_ok']}" for r in ok]
    in_room = [str(r["sessions_in_room"]) for r in ok if r.get("sessions_in_room") is not None]
    return (
        f"| {case} | {', '.join(in_room) or '—'} | {', '.join(recovered) or '—'}"
        f" | {fmt(med('all_recovered_ms'), '{:,.0f}')}"
        f" | {fmt(med('all_done_ms'), '{:,.0f}')}"
        f" | {fmt(med('p50_ms'), '{:,.0f}')} | {fmt(med('p99_ms'), '{:,.0f}')}"
        f" | {', '.join(replayed) or '—'} | {fmt(med('down_ms'), '{:,.0f}')}"
        f" | {fmt(med('session_bytes'), '{:,.0f}')}"
        f" | {fmt(med('store_growth_per_client'), '{:,.0f}')}"
        f" | {fmt(med('rss_per_client', 1 / 1024), '{:.1f}')}"
        f" | {len(reps) - len(ok)} |"
    )


def storm_md(run: dict[str, Any]) -> list[str]:
    storm = run.get("storm")
    if not storm:
        return []
    n = next((r["n"] for reps in storm.values() for r in reps if r.get("n")), "?")
    out = [
        f"### Reconnect storm: {n} clients recover at once after a restart "
        "(bench/recovery_storm.py)",
        "",
        f"{n} clients in one room with recovery on, each holding the offset of the last of 10 "
        "broadcasts; the server is stopped (SIGTERM: graceful, sessions written at "
        "disconnect; kill -9: only the records a durable store keeps for live sockets) and "
        "started again on the same store; 10 broadcasts are made while the clients are away; "
        "then all reconnect at once with `40{pid, offset}`. Recovered: the CONNECT answer "
        "has the old sid; replayed: clients that got all 10 missed broadcasts. Times from "
        "the first reconnect attempt. Medians of the repetitions.",
        "",
        "| store, stop | live records in the room, each rep | recovered, each rep "
        "| all recovered, ms ↓ | all answered, ms ↓ "
        "| p50 recovered, ms ↓ | p99 recovered, ms ↓ | replayed all 10, each rep "
        "| server down, ms | stored bytes per session | store growth per client, bytes "
        "| server RSS KiB per client | reps not measured |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for case, reps in storm.items():
        out.append(_storm_row(case, reps))
    out += [
        "",
        "Stored bytes per session: SQLite, the row's bytes (`pid`, `nsp`, `record`); Redis, "
        "`MEMORY USAGE` of each session key. Store growth: the SQLite file with its WAL, or "
        "Redis `MEMORY USAGE` of the stream and the session keys, from before the clients "
        "connected to when all had joined (a live socket has a record with a durable "
        "store). Times (p50/p99) are of the recovered clients; 'all answered': until every "
        "client had a CONNECT answer, recovered or not. Live records in the room: stored "
        "sessions whose rooms include `bench` once all clients had joined (the record a "
        "durable store keeps for a live socket is rewritten when its rooms change; a "
        "client whose record lacks the room recovers its sid but not the room, and is "
        "replayed none of the room's broadcasts). "
        "Node's recovery cannot be measured here: it keeps sessions in the process, so a "
        "restart loses them (and so does roomcast's memory store).",
        "",
    ]
    return out


# -- profiles -----------------------------------------------------------------------------

_LINE = re.compile(r":\d+\)$")


def _name(frame: str) -> str:
    return _LINE.sub(")", frame)


def _is_python(frame: str) -> bool:
    return ".py:" in frame


def summarize_profile(raw: str, expected: int, native: bool = True) -> dict[str, Any]:
    """py-spy's raw (collapsed) stacks: where the server's samples went."""
    leaf: Counter[str] = Counter()
    py_leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaf[_name(frames[-1])] += count
        py_frames = [f for f in frames if _is_python(f)]
        if py_frames:
            py_leaf[_name(py_frames[-1])] += count
        for name in {_name(f) for f in py_frames}:
            inclusive[name] += count

    def top(counter: Counter[str], k: int) -> list[tuple[str, float]]:
        return [(name, 100 * c / max(1, total)) for name, c in counter.most_common(k)]

    idle = sum(c for name, c in leaf.items() if name.startswith(("epoll_wait", "epoll_pwait")))
    return {
        "samples": total,
        "expected": expected,
        "native": native,
        "idle_pct": 100 * idle / max(1, total),
        "self": top(leaf, 15),
        "python_self": top(py_leaf, 15),
        "inclusive": top(inclusive, 25),
    }


def _profile_md(key: str, prof: dict[str, Any]) -> list[str]:
    if "error" in prof:
        return [f"#### {key}", "", f"not profiled: {prof['error']}", ""]
    native = prof.get("native", True)
    how = "--native (ptrace stops)" if native else "--nonblocking, Python frames"
    seconds = prof.get("expected", 0) // 250
    out = [
        f"#### {key}",
        "",
        f"{prof['samples']} samples of {prof.get('expected', '?')} (py-spy {how}, 250 Hz, "
        f"{seconds} s)"
        + (f"; {prof.get('idle_pct', 0):.0f}% of them waiting in epoll." if native else "."),
        "",
    ]
    if native:
        out += [
            "| deepest Python frame (incl. its C calls) | % | leaf frame, native or Python | % |",
            "|---|---:|---|---:|",
        ]
        for i in range(min(15, max(len(prof["python_self"]), len(prof["self"])))):
            a = prof["python_self"][i] if i < len(prof["python_self"]) else ("", 0.0)
            b = prof["self"][i] if i < len(prof["self"]) else ("", 0.0)
            out.append(f"| `{a[0]}` | {a[1]:.1f} | `{b[0]}` | {b[1]:.1f} |")
    else:
        out += ["| self time: Python function (incl. the C calls it makes) | % |", "|---|---:|"]
        out += [f"| `{name}` | {pct:.1f} |" for name, pct in prof["python_self"]]
    out += ["", "<details><summary>inclusive time by Python function</summary>", ""]
    out += ["| function | % |", "|---|---:|"]
    out += [f"| `{name}` | {pct:.1f} |" for name, pct in prof["inclusive"]]
    out += ["", "</details>", ""]
    return out


def _memory_md(mem: dict[str, Any]) -> list[str]:
    if "error" in mem:
        return [f"not measured: {mem['error']}", ""]
    n = mem["n"]
    lines = mem["lines"]
    out: list[str] = []
    if lines and lines[0].startswith("total "):
        total = int(lines[0].split()[1])
        out.append(
            f"Python heap (tracemalloc) grew by {total / n:,.0f} bytes per connection "
            f"with {n:,} idle connections; the largest sources, per connection:"
        )
        lines = lines[1:]
    out += ["", "| bytes/conn | objects/conn | allocated at |", "|---:|---:|---|"]
    out[-2:] = ["| bytes/conn | objects/conn | allocated at | source |", "|---:|---:|---|---|"]
    for line in lines[:20]:
        size, count, rest = line.split(" ", 2)
        where, _, source = rest.partition(" | ")
        short = where.split("site-packages/")[-1].split("/src/")[-1].split("/lib/python3.11/")[-1]
        source = source.replace("|", "\\|")[:90]
        out.append(f"| {int(size) / n:,.0f} | {int(count) / n:.1f} | `{short}` | `{source}` |")
    return [*out, ""]


def _micro_md(micro: dict[str, Any]) -> list[str]:
    out = [
        "### roomcast's own Python cost per message (bench/micro.py, no sockets)",
        "",
    ]
    if "error" in micro:
        return [*out, micro["error"], ""]
    out += [
        "Real `HttpProtocol` connections on a fake transport inside uvloop, frames fed to "
        "`data_received`: the user-space work of roomcast alone (no system calls, no epoll). "
        "cProfile's shares and calls per message below it (cProfile slows small calls).",
        "",
        "| scenario | CPU µs per message | transport writes per message |",
        "|---|---:|---:|",
    ]
    for key, r in micro.items():
        out.append(f"| {key} | {r['cpu_us_per_msg']:.2f} | {r['writes_per_msg']:.3f} |")
    out.append("")
    for key, r in micro.items():
        if not r.get("profile"):
            continue
        out += [f"<details><summary>{key}: cProfile</summary>", ""]
        out += ["| function | calls per message | share of time % |", "|---|---:|---:|"]
        for row in r["profile"]:
            name = re.sub(r"\([^()]*/bench/", "(bench/", row["function"])
            out.append(f"| `{name}` | {row['calls_per_msg']:.2f} | {row['share']:.1f} |")
        out += ["", "</details>", ""]
    return out


def render(runs: list[dict[str, Any]]) -> str:
    """RESULTS.md: bench/findings.md (written by hand) and every stored run, newest first."""
    runs = sorted(runs, key=lambda r: str(r["started"]))
    numbered = list(enumerate(runs, 1))[::-1]  # newest first, numbered in order
    out = [
        "# roomcast benchmarks: results",
        "",
        "Written by `bench/run.py` (see bench/README.md for what each scenario does); "
        "re-render with `.venv/bin/python bench/report.py`. Every figure is the median of the "
        "repetitions of one run; ratios compare medians of the same run. Higher is better "
        "except where marked ↓.",
        "",
        "**Other load was present**: other engineers ran test suites on this 2-core machine "
        "during these runs, so absolute figures are noisy (the server's core was sometimes "
        "shared: see the server CPU % column). The ratios, measured in the same run with the "
        "repetitions interleaved, and the server CPU time per message are the figures to "
        "trust.",
        "",
    ]
    findings = BENCH / "findings.md"
    if findings.exists():
        out += [findings.read_text().rstrip(), ""]
    for i, run in numbered:
        m = run["machine"]
        out += [
            f"## Run {i}: {run['started']}" + (" (quick)" if run.get("quick") else ""),
            "",
            f"- command: `{run['command']}` ({run.get('minutes', '?')} min, "
            f"{run['reps']} repetitions, commit {m.get('commit', '?')})",
            f"- machine: {m['cpu']}, {m['cores']} cores (KVM guest), Linux {m['kernel']}; "
            f"load average {run.get('loadavg_start')} at the start, "
            f"{run.get('loadavg_end')} at the end",
            f"- versions: Python {m['python']}, Node {m['node']}, roomcast {m['roomcast']} "
            f"(aiohttp {m['aiohttp']}, uvloop {m['uvloop']}, orjson {m['orjson']}), "
            f"python-socketio {m['python-socketio']} (python-engineio "
            f"{m['python-engineio']}, aiohttp, uvloop), socket.io {m['socket.io']}; load "
            f"generator: Node with ws {m['ws']}",
            f"- server on core 0, load generator on core 1; `ulimit -n` {run.get('fd_limit')}",
            "",
        ]
        found = targets(run)
        if any(ok is not None for _, ok, _ in found) or "polling" in run.get("results", {}):
            out += [
                *table(run),
                "",
                "Saturation of each side (fan-out: the saturation phase; a load generator over "
                f"{LOADGEN_LIMIT:.0f}% is flagged ⚠, its figure may be its own limit):",
                "",
                *load_table(run),
                "",
            ]
        if any(ok is not None for _, ok, _ in found):
            out += [
                "### Targets (issue 3)",
                "",
                "| target | met | figure |",
                "|---|---|---|",
            ]
            for what, ok, shown in found:
                mark = "—" if ok is None else ("yes" if ok else "**no**")
                out.append(f"| {what} | {mark} | {shown} |")
            out.append("")
        out += recovery_md(run)
        out += metrics_md(run)
        out += issue12_md(run)
        out += storm_md(run)
        profs = run.get("profiles") or {}
        if profs:
            out += [
                "### Profiles of roomcast (py-spy)",
                "",
                "Percentages are of the samples taken. A profile with `--native` stops the "
                "process (ptrace) at every sample, which over-counts time inside system calls "
                "(in the first run `getpid`, 0.11 µs a call here, showed as 10-17%, and echo "
                "spent 26% of its CPU in the kernel by /proc but 76% of its native samples in "
                "read/write): take the "
                "kernel share from the `of which kernel (sys)` rows above and the Python "
                "share from the `--nonblocking` profiles.",
                "",
            ]
            for key, prof in profs.items():
                if key == "memory":
                    continue
                out += _profile_md(key, prof)
            if "memory" in profs:
                out += ["#### memory per idle connection", "", *_memory_md(profs["memory"])]
        if run.get("micro"):
            out += _micro_md(run["micro"])
    return "\n".join(out) + "\n"


def main() -> int:
    store = BENCH / "results"
    runs = [json.loads(p.read_text()) for p in sorted(store.glob("run-*.json"))]
    (BENCH / "RESULTS.md").write_text(render(runs))
    print(f"rendered {len(runs)} run(s) into {BENCH / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

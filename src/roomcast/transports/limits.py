"""Handshake limits: new connections per address per second, open connections per address
and in all, sans-IO (the caller passes ``now``).

A handshake over the limits is answered before any session exists:

==========================  ======  ==================================================
over                        status  body
==========================  ======  ==================================================
``connection_rate_per_ip``  429     ``{"code":"rate_limited","message":...,
                                    "retry_after":s}``
``max_connections_per_ip``  429     ``{"code":"too_many_connections","message":...}``
``max_connections``         503     ``{"code":"server_full","message":...,
                                    "retry_after":5}``
==========================  ======  ==================================================

with a ``Retry-After`` header (whole seconds) where the body has ``retry_after``. The rate is a
token bucket per address refilled lazily when the address comes back: no task and no timer
per bucket. Memory stays bounded: buckets are kept in the order they were last used, a full
one is dropped (it is the same as none) as soon as it is the oldest, and past
``max_tracked`` addresses the oldest is dropped whatever its level.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Final

from .http import HttpResponse

_RATE: Final = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d*(?:\.\d+)?)\s*(s|sec|second|m|min|minute|h|hour)\s*$"
)
_UNITS: Final = {
    **dict.fromkeys(("s", "sec", "second"), 1.0),
    **dict.fromkeys(("m", "min", "minute"), 60.0),
    **dict.fromkeys(("h", "hour"), 3600.0),
}
_JSON: Final = {"Content-Type": "application/json"}


def parse_rate(rate: str | float) -> float:
    """Events per second from ``"20/s"``, ``"100/min"``, ``"5/10s"``, ``"1000/h"`` or a number."""
    if isinstance(rate, int | float):
        value = float(rate)
    else:
        match = _RATE.match(rate)
        if match is None:
            raise ValueError(f"a rate is like '20/s', '100/min' or '5/10s', not {rate!r}")
        count, per, unit = match.groups()
        period = (float(per) if per else 1.0) * _UNITS[unit]
        value = float(count) / period if period > 0 else 0.0
    if value <= 0:
        raise ValueError(f"a rate must be positive: {rate!r}")
    return value


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits on new connections (Engine.IO handshakes), per client address and in all.

    ``connection_rate_per_ip``: ``"20/s"`` (or events per second); ``burst``: how many may
    come at once (default: one second's worth, at least 1). ``None`` turns a limit off.
    The client address is the peer's, or the one a trusted proxy forwarded (see
    ``trusted_proxies`` on the server).
    """

    max_connections: int | None = None
    max_connections_per_ip: int | None = None
    connection_rate_per_ip: str | float | None = None
    burst: int | None = None
    max_tracked: int = 100_000
    """Addresses whose rate is followed at once (bounded memory under a spread flood)."""


def refusal(status: int, code: str, message: str, retry_after: int | None) -> HttpResponse:
    """The answer to a handshake over a limit: a JSON body (and ``Retry-After``)."""
    body: dict[str, object] = {"code": code, "message": message}
    headers = dict(_JSON)
    if retry_after is not None:
        body["retry_after"] = retry_after
        headers["Retry-After"] = str(retry_after)
    return HttpResponse(status, json.dumps(body, separators=(",", ":")).encode(), headers)


class ConnectionLimiter:
    """Counts open connections and new ones, and says which handshake to refuse."""

    __slots__ = (
        "_buckets",
        "_burst",
        "_max_per_ip",
        "_max_total",
        "_max_tracked",
        "_open",
        "_rate",
        "total",
    )

    def __init__(self, limits: Limits) -> None:
        self._max_total = limits.max_connections
        self._max_per_ip = limits.max_connections_per_ip
        rate = limits.connection_rate_per_ip
        self._rate = None if rate is None else parse_rate(rate)
        burst = limits.burst if limits.burst is not None else math.ceil(self._rate or 1.0)
        self._burst = float(max(1, burst))
        self._max_tracked = max(1, limits.max_tracked)
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, when)
        self._open: dict[str, int] = {}
        self.total = 0
        """Open connections counted."""

    def open_from(self, address: str) -> int:
        """Open connections counted for ``address``."""
        return self._open.get(address, 0)

    @property
    def tracked(self) -> int:
        """Addresses whose rate is followed now."""
        return len(self._buckets)

    def check(self, address: str, now: float) -> HttpResponse | None:
        """The refusal of a new connection from ``address`` at ``now`` (seconds), or None
        when it may go on (then it has used one token of its rate)."""
        if self._max_total is not None and self.total >= self._max_total:
            return refusal(
                503, "server_full", "The server takes no more connections; try again later", 5
            )
        if self._max_per_ip is not None and self._open.get(address, 0) >= self._max_per_ip:
            return refusal(
                429,
                "too_many_connections",
                f"Too many open connections from this address (at most {self._max_per_ip})",
                None,
            )
        if self._rate is not None:
            wait = self._take(address, now)
            if wait > 0:
                retry = max(1, math.ceil(wait))
                return refusal(
                    429,
                    "rate_limited",
                    f"Too many new connections from this address; retry in {retry} s",
                    retry,
                )
        return None

    def _take(self, address: str, now: float) -> float:
        """Take a token of ``address``'s bucket: 0 when taken, else seconds until one is."""
        rate, burst, buckets = self._rate, self._burst, self._buckets
        assert rate is not None
        state = buckets.pop(address, None)
        if state is None:
            tokens = burst
        else:
            tokens = min(burst, state[0] + (now - state[1]) * rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / rate
        buckets[address] = (tokens, now)  # the most recently used last
        self._evict(now)
        return wait

    def _evict(self, now: float) -> None:
        """Drop the oldest buckets that are full again (same as none), and past
        ``max_tracked`` the oldest whatever their level."""
        buckets, rate, burst = self._buckets, self._rate or 1.0, self._burst
        while buckets:
            oldest = next(iter(buckets))
            tokens, when = buckets[oldest]
            if len(buckets) <= self._max_tracked and tokens + (now - when) * rate < burst:
                return
            del buckets[oldest]

    def opened(self, address: str) -> None:
        """A connection from ``address`` was opened."""
        self.total += 1
        self._open[address] = self._open.get(address, 0) + 1

    def closed(self, address: str) -> None:
        """A connection from ``address`` (counted by ``opened``) is gone."""
        self.total -= 1
        count = self._open.get(address, 0) - 1
        if count > 0:
            self._open[address] = count
        else:
            self._open.pop(address, None)

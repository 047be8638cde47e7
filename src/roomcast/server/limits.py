"""Rate and payload limits on incoming events: token buckets, JSON depth.

No task or timer per bucket: a bucket is one float (when it would be full again), refilled
lazily from the ``now`` its caller passes in, and buckets nobody used for a while (full
again) are dropped when the table grows. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from ..exceptions import EventRejected
from ..rejections import Code

if TYPE_CHECKING:
    from .socket import Socket

KeyFunction: TypeAlias = Callable[["Socket"], Hashable | None]
Per: TypeAlias = Literal["socket", "ip"] | KeyFunction
"""What one bucket counts: each socket, each client address (``socket.handshake.address``,
which is the proxy's unless the server trusts ``X-Forwarded-For``), or what a function of the
socket returns (e.g. ``lambda s: s.data.get("sub")``, a user; None: the socket)."""

_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+?)s?\s*$")


def parse_rate(rate: str | float) -> tuple[float, float]:
    """``"5/s"``, ``"100/10s"``, ``"30/min"``, ``"1000/h"`` (or a number of events per
    second): (events per second, events per period: the default burst)."""
    if isinstance(rate, int | float):
        if rate <= 0:
            raise ValueError(f"a rate must be positive, not {rate!r}")
        return float(rate), float(rate)
    found = _RATE.match(rate.lower())
    unit = _UNITS.get(found[3]) if found else None
    if found is None or unit is None:
        raise ValueError(f"expected a rate like '5/s', '100/10s' or '30/min', not {rate!r}")
    count, period = float(found[1]), float(found[2] or 1) * unit
    if count <= 0 or period <= 0:
        raise ValueError(f"a rate must be positive, not {rate!r}")
    return count / period, count


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: ``burst`` events at once, refilled at ``rate`` (``"5/s"``...).

    ``burst`` defaults to the count of ``rate`` (5 for ``"5/s"``); ``per`` says what one
    bucket counts (``"socket"``, ``"ip"``, or a function of the socket).
    """

    rate: str | float
    burst: int | None = None
    per: Per = "socket"

    def per_second(self) -> float:
        return parse_rate(self.rate)[0]

    def capacity(self) -> int:
        if self.burst is not None:
            if self.burst < 1:
                raise ValueError("burst must be at least 1")
            return self.burst
        return max(1, math.ceil(parse_rate(self.rate)[1]))

    def describe(self) -> dict[str, Any]:
        per = self.per if isinstance(self.per, str) else "key"
        return {"rate": self.rate, "burst": self.capacity(), "per": per}


RateLimits: TypeAlias = RateLimit | str | float | Sequence[RateLimit] | None
"""What ``rate=`` / ``rate_limit=`` accept: a limit, a rate string (per socket), several."""


def rate_limits(
    value: RateLimits, burst: int | None = None, per: Per = "socket"
) -> list[RateLimit]:
    """``value`` as a list of ``RateLimit`` (``burst`` and ``per`` for a bare rate)."""
    if value is None:
        return []
    if isinstance(value, RateLimit):
        return [value]
    if isinstance(value, str | int | float):
        return [RateLimit(value, burst, per)]
    return list(value)


class Limiter:
    """The buckets of one ``RateLimit``, one per key, refilled lazily.

    Each bucket is one float, the generic cell rate algorithm's "theoretical arrival time"
    (``tats[key]``): when the bucket would be full again. An event at ``now`` is allowed
    while that time is at most ``tolerance`` ahead (``burst - 1`` intervals), and pushes it
    one ``interval`` (1 / rate) further; the same decisions as a token bucket of ``burst``
    tokens refilled at ``rate``, in one dictionary read and write.

    ``take(socket, now)`` spends a token: 0.0 when allowed, else the seconds until one more
    event would be. A table of more than ``prune_at`` buckets first drops the full ones
    (their keys idle long enough to have nothing to remember), so it stays as small as the
    set of keys active within one refill period.
    """

    __slots__ = ("_key", "_prune_at", "burst", "interval", "limit", "rate", "tats", "tolerance")

    def __init__(self, limit: RateLimit, prune_at: int = 1024) -> None:
        self.limit = limit
        self.rate = limit.per_second()
        self.burst = float(limit.capacity())
        self.interval = 1.0 / self.rate
        # a nanosecond more: float sums of the interval must not refuse the last of a burst
        self.tolerance = (self.burst - 1.0) * self.interval + 1e-9
        self.tats: dict[Hashable, float] = {}
        self._prune_at = prune_at
        per = limit.per
        self._key: KeyFunction | None = None if per == "socket" else _key_function(per)

    def __repr__(self) -> str:
        return f"<Limiter {self.limit.rate} burst {self.burst:g} ({len(self.tats)} keys)>"

    @property
    def per_socket(self) -> bool:
        return self._key is None

    def key(self, socket: Socket) -> Hashable:
        key_of = self._key
        if key_of is None:
            return socket.id
        key = key_of(socket)
        return socket.id if key is None else key

    def take(self, socket: Socket, now: float) -> float:
        """Spend one token of ``socket``'s bucket; 0.0, or seconds to wait."""
        key_of = self._key
        return self.take_key(socket.id if key_of is None else self.key(socket), now)

    def take_key(self, key: Hashable, now: float) -> float:
        """Spend one token of the bucket of ``key``; 0.0, or seconds to wait."""
        tats = self.tats
        tat = tats.get(key)
        if tat is None:
            if len(tats) >= self._prune_at:
                self.prune(now)
            tat = now
        elif tat < now:
            tat = now
        if tat - now > self.tolerance:
            return tat - self.tolerance - now
        tats[key] = tat + self.interval
        return 0.0

    def spend_last(self, socket: Socket, now: float) -> bool:
        """Spend one token; whether that was the last one (or there was none)."""
        if self.take(socket, now):
            return True
        return self.tats[self.key(socket)] - now > self.tolerance

    def give_back(self, socket: Socket) -> None:
        """Return the token just taken (a later limit refused the event)."""
        key = self.key(socket)
        tat = self.tats.get(key)
        if tat is not None:
            self.tats[key] = tat - self.interval

    def prune(self, now: float) -> None:
        """Drop the full buckets (called as the table grows)."""
        tats = self.tats
        for key in [k for k, tat in tats.items() if tat <= now]:
            del tats[key]
        self._prune_at = max(self._prune_at, 2 * len(tats))

    def grows(self) -> bool:
        """Whether the next new key should ``prune`` first."""
        return len(self.tats) >= self._prune_at

    def __len__(self) -> int:
        return len(self.tats)

    def rejection(self, wait: float) -> EventRejected:
        return EventRejected(
            Code.RATE_LIMITED,
            f"over the rate limit of {self.limit.rate} (burst {self.burst:g})",
            {"retry_after": round(wait, 3), **self.limit.describe()},
        )


def _key_function(per: Per) -> KeyFunction:
    if per == "ip":
        return _address
    if callable(per):
        return per
    raise ValueError(f"per must be 'socket', 'ip' or a function of the socket, not {per!r}")


def _address(socket: Socket) -> Hashable:
    return socket.handshake.address


def take_all(limiters: Sequence[Limiter], socket: Socket, now: float) -> None:
    """Spend a token of each limiter, or none (the tokens taken are given back).

    Raises:
        EventRejected: ``rate_limited``, with the longest wait of the limits refused.
    """
    for index, limiter in enumerate(limiters):
        wait = limiter.take(socket, now)
        if wait:
            for taken in limiters[:index]:
                taken.give_back(socket)
            raise limiter.rejection(wait)


def too_large(size: int, limit: int) -> EventRejected:
    return EventRejected(
        Code.TOO_LARGE,
        f"the packet is {size} bytes, over the limit of {limit}",
        {"size": size, "max_bytes": limit},
    )


def deeper_than(value: Any, limit: int) -> bool:
    """Whether JSON ``value`` nests lists and objects more than ``limit`` levels deep (the
    event's argument list itself is level 0: ``["a"]`` is 0 deep, ``[{"a": 1}]`` 1)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        kind = type(item)
        if kind is list or kind is tuple:
            children: Any = item
        elif kind is dict:
            children = item.values()
        else:
            continue
        if depth > limit:
            return True
        for child in children:
            kind = type(child)
            if kind is list or kind is dict or kind is tuple:
                push((child, depth + 1))
    return False


def too_deep(limit: int) -> EventRejected:
    return EventRejected(
        Code.TOO_LARGE,
        f"the arguments nest more than {limit} levels deep",
        {"max_depth": limit},
    )

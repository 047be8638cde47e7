"""Token buckets, rate strings and JSON depth: pure functions of the ``now`` passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from roomcast import EventRejected, RateLimit
from roomcast.server.limits import Limiter, deeper_than, parse_rate, take_all


@dataclass
class Handshake:
    address: str = "10.0.0.1"


@dataclass
class FakeSocket:
    """What a limiter reads of a socket: its id, handshake address and data."""

    id: str
    handshake: Handshake = field(default_factory=Handshake)
    data: dict[str, Any] = field(default_factory=dict)


@pytest.mark.parametrize(
    ("text", "per_second", "count"),
    [
        ("5/s", 5.0, 5.0),
        ("100/10s", 10.0, 100.0),
        ("30/min", 0.5, 30.0),
        ("30/minutes", 0.5, 30.0),
        ("3600/h", 1.0, 3600.0),
        ("1/day", 1 / 86400, 1.0),
        (2.5, 2.5, 2.5),
    ],
)
def test_rates_parse(text: str | float, per_second: float, count: float) -> None:
    assert parse_rate(text) == pytest.approx((per_second, count))


@pytest.mark.parametrize("text", ["5", "5/fortnight", "-1/s", "0/s", "a/s", 0])
def test_bad_rates_are_refused(text: str | float) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rate(text)


def test_the_burst_defaults_to_the_count_of_the_rate() -> None:
    assert RateLimit("5/s").capacity() == 5
    assert RateLimit("0.5/s").capacity() == 1
    assert RateLimit("5/s", burst=10).capacity() == 10


def test_a_bucket_allows_its_burst_then_refills_from_the_clock() -> None:
    limiter = Limiter(RateLimit("5/s", burst=5))
    assert [limiter.take_key("a", now=100.0) for _ in range(5)] == [0.0] * 5
    assert limiter.take_key("a", now=100.0) == pytest.approx(0.2)  # one token in 0.2 s
    assert limiter.take_key("a", now=100.1) == pytest.approx(0.1)  # half a token back
    assert limiter.take_key("a", now=100.2) == 0.0  # a whole one now
    assert limiter.take_key("a", now=100.2) == pytest.approx(0.2)
    # an idle bucket fills up to its burst, no further
    assert [limiter.take_key("a", now=200.0) for _ in range(6)][-2:] == [0.0, pytest.approx(0.2)]


def test_each_key_has_its_own_bucket() -> None:
    limiter = Limiter(RateLimit("1/h", burst=1))
    assert limiter.take_key("a", now=0.0) == 0.0
    assert limiter.take_key("a", now=0.0) > 0.0
    assert limiter.take_key("b", now=0.0) == 0.0


def test_full_buckets_are_dropped_when_the_table_grows() -> None:
    limiter = Limiter(RateLimit("10/s", burst=1), prune_at=4)
    for key in "abcd":
        limiter.take_key(key, now=0.0)
    assert len(limiter) == 4
    limiter.take_key("e", now=0.05)  # nobody refilled yet: nothing to drop (next try at 8)
    assert len(limiter) == 5
    for key in "fgh":
        limiter.take_key(key, now=0.05)
    assert len(limiter) == 8
    limiter.take_key("i", now=10.0)  # all refilled long ago: all dropped
    assert len(limiter) == 1


def test_sockets_addresses_and_keys() -> None:
    one, two = FakeSocket("s1"), FakeSocket("s2")
    per_socket = Limiter(RateLimit("1/h", burst=1))
    per_ip = Limiter(RateLimit("1/h", burst=1, per="ip"))
    per_user = Limiter(RateLimit("1/h", burst=1, per=lambda s: s.data.get("sub")))
    assert per_socket.take(one, 0.0) == 0.0
    assert per_socket.take(two, 0.0) == 0.0  # another socket
    assert per_ip.take(one, 0.0) == 0.0
    assert per_ip.take(two, 0.0) > 0.0  # the same address
    one.data["sub"] = two.data["sub"] = "ada"
    assert per_user.take(one, 0.0) == 0.0
    assert per_user.take(two, 0.0) > 0.0  # the same user
    assert per_user.take(FakeSocket("s3"), 0.0) == 0.0  # no user: its own socket's


def test_take_all_spends_every_token_or_none() -> None:
    wide = Limiter(RateLimit("1/h", burst=10))
    narrow = Limiter(RateLimit("1/h", burst=1))
    socket = FakeSocket("s1")
    take_all([wide, narrow], socket, 0.0)
    with pytest.raises(EventRejected) as refused:
        take_all([wide, narrow], socket, 0.0)
    assert refused.value.code == "rate_limited"
    assert refused.value.retry_after == pytest.approx(3600.0)
    assert refused.value.details["burst"] == 1
    # the refused event did not spend the wide bucket: 9 left of 10
    assert [wide.take(socket, 0.0) for _ in range(10)].count(0.0) == 9


@pytest.mark.parametrize(
    ("value", "depth"),
    [
        (["a", 1], 0),
        ([{"a": 1}], 1),
        ([{"a": [1, {"b": None}]}], 3),
        ([[[[[]]]]], 4),
        ([{"a": {}, "b": {"c": {}}}], 3),
    ],
)
def test_depth(value: list[Any], depth: int) -> None:
    assert not deeper_than(value, depth)
    if depth:
        assert deeper_than(value, depth - 1)


def test_depth_of_a_deep_payload_without_recursion() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert deeper_than(deep, 64)

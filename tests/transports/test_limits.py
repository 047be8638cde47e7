"""Handshake limits and the client address, sans-IO: token buckets on a fake clock, the
counts of open connections, bounded memory, and X-Forwarded-For behind trusted proxies."""

from __future__ import annotations

import json

import pytest

from roomcast.transports.http import HandshakeRequest, make_headers
from roomcast.transports.limits import ConnectionLimiter, Limits, parse_rate
from roomcast.transports.proxies import TrustedProxies


def body(response: object) -> dict[str, object]:
    data = json.loads(response.body)  # type: ignore[attr-defined]
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    ("rate", "per_second"),
    [("20/s", 20.0), ("100/min", 100 / 60), ("5/10s", 0.5), ("3600/h", 1.0), (2.5, 2.5)],
)
def test_rates_are_read(rate: str | float, per_second: float) -> None:
    assert parse_rate(rate) == pytest.approx(per_second)


@pytest.mark.parametrize("rate", ["20", "fast", "0/s", "-1/s", "5/0s"])
def test_bad_rates_are_refused(rate: str) -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_rate(rate)


def test_the_burst_passes_then_one_per_refill() -> None:
    limiter = ConnectionLimiter(Limits(connection_rate_per_ip="2/s", burst=3))

    assert [limiter.check("a", 0.0) for _ in range(3)] == [None, None, None]
    refused = limiter.check("a", 0.0)
    assert refused is not None
    assert refused.status == 429
    assert body(refused)["code"] == "rate_limited"
    assert body(refused)["retry_after"] == 1
    assert refused.headers["Retry-After"] == "1"
    assert limiter.check("b", 0.0) is None  # another address has its own bucket
    assert limiter.check("a", 0.5) is None  # one token back after 1/2 s
    assert limiter.check("a", 0.5) is not None
    assert [limiter.check("a", 10.0) for _ in range(3)] == [None, None, None]  # full again
    assert limiter.check("a", 10.0) is not None


def test_a_refusal_says_how_long_to_wait() -> None:
    limiter = ConnectionLimiter(Limits(connection_rate_per_ip="6/min", burst=1))
    assert limiter.check("a", 0.0) is None
    refused = limiter.check("a", 1.0)
    assert refused is not None
    assert body(refused)["retry_after"] == 9


def test_open_connections_per_address_and_in_all() -> None:
    limiter = ConnectionLimiter(Limits(max_connections=3, max_connections_per_ip=2))
    for address in ("a", "a", "b"):
        assert limiter.check(address, 0.0) is None
        limiter.opened(address)

    full = limiter.check("c", 0.0)
    assert full is not None
    assert full.status == 503
    assert body(full)["code"] == "server_full"
    limiter.closed("b")
    per_ip = limiter.check("a", 0.0)
    assert per_ip is not None
    assert per_ip.status == 429
    assert body(per_ip)["code"] == "too_many_connections"
    assert limiter.check("c", 0.0) is None
    limiter.closed("a")
    limiter.closed("a")
    assert limiter.total == 0
    assert limiter.open_from("a") == 0


def test_memory_stays_bounded() -> None:
    limiter = ConnectionLimiter(Limits(connection_rate_per_ip="1/s", burst=1, max_tracked=100))
    for i in range(10_000):  # a flood from spread addresses, all within one second
        limiter.check(f"10.0.{i // 256}.{i % 256}", 0.5)
    assert limiter.tracked == 100
    # buckets full again are dropped as new addresses come
    limiter.check("late", 5.0)
    assert limiter.tracked == 1


def test_no_limits_no_bucket() -> None:
    limiter = ConnectionLimiter(Limits())
    for _ in range(1000):
        assert limiter.check("a", 0.0) is None
    assert limiter.tracked == 0


def request(peer: str, forwarded: list[str] | None = None, host: str = "h") -> HandshakeRequest:
    headers = [("Host", host)] + [("X-Forwarded-For", value) for value in forwarded or []]
    return HandshakeRequest("GET", "/", {}, make_headers(headers), peer, False, "/")


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    proxies = TrustedProxies()
    assert proxies.client_address(request("10.0.0.1", ["6.6.6.6"])) == "10.0.0.1"


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("10.0.0.1", ["1.2.3.4"], "1.2.3.4"),
        ("10.0.0.1", ["6.6.6.6, 1.2.3.4"], "1.2.3.4"),  # a forged first hop is skipped
        ("10.0.0.1", ["6.6.6.6", "1.2.3.4, 10.0.0.9"], "1.2.3.4"),  # two proxies, two headers
        ("10.0.0.1", [], "10.0.0.1"),
        ("10.0.0.1", ["10.0.0.7"], "10.0.0.7"),  # only proxies: the first hop
        ("8.8.8.8", ["1.2.3.4"], "8.8.8.8"),  # not from a trusted proxy: ignored
        ("::ffff:10.0.0.1", ["2001:db8::1"], "2001:db8::1"),
    ],
)
def test_behind_trusted_proxies_the_last_untrusted_hop_is_the_client(
    peer: str, forwarded: list[str], client: str
) -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    assert proxies.client_address(request(peer, forwarded)) == client

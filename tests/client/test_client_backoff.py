"""Reconnection delays: exponential, capped, with socket.io-client's jitter."""

from __future__ import annotations

import pytest

from roomcast.client.backoff import Backoff


def test_delays_double_up_to_the_maximum() -> None:
    backoff = Backoff(1.0, 5.0, jitter=0.0)
    assert [backoff.duration() for _ in range(6)] == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert backoff.attempts == 6


def test_reset_starts_again() -> None:
    backoff = Backoff(0.5, 10.0, jitter=0.0)
    backoff.duration()
    backoff.duration()
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.duration() == 0.5


def test_other_factor() -> None:
    backoff = Backoff(1.0, 100.0, jitter=0.0, factor=3.0)
    assert [backoff.duration() for _ in range(3)] == [1.0, 3.0, 9.0]


@pytest.mark.parametrize(
    ("rand", "expected"),
    [
        (0.0, 1.0),  # no deviation
        (0.25, 0.875),  # int(2.5) = 2, even: down by 0.25 * 0.5 * 1.0
        (0.35, 1.175),  # int(3.5) = 3, odd: up by 0.35 * 0.5 * 1.0
    ],
)
def test_jitter_moves_the_delay_up_or_down(rand: float, expected: float) -> None:
    backoff = Backoff(1.0, 10.0, jitter=0.5, random=lambda: rand)
    assert backoff.duration() == pytest.approx(expected)


def test_jitter_never_passes_the_maximum() -> None:
    backoff = Backoff(4.0, 5.0, jitter=0.5, random=lambda: 0.99)  # int(9.9) odd: up
    assert backoff.duration() == 5.0


def test_jitter_stays_within_its_bounds() -> None:
    backoff = Backoff(1.0, 1000.0, jitter=0.5)
    for attempt in range(8):
        nominal = 2.0**attempt
        assert nominal * 0.5 <= backoff.duration() <= nominal * 1.5


def test_many_attempts_do_not_overflow() -> None:
    backoff = Backoff(1.0, 30.0, jitter=0.0)
    backoff.attempts = 5000
    assert backoff.duration() == 30.0


@pytest.mark.parametrize("jitter", [-0.1, 1.5])
def test_jitter_must_be_a_fraction(jitter: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        Backoff(1.0, 2.0, jitter=jitter)

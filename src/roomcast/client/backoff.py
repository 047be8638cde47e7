"""Exponential backoff with jitter, as socket.io-client computes its reconnection delays."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Final

_MAX_EXPONENT: Final = 64  # past it the delay is the maximum anyway (and 2.0**1024 overflows)


class Backoff:
    """The delay before each attempt: ``minimum * factor**n`` for the n-th (from 0), moved
    up or down by up to ``jitter`` of itself at random, and never over ``maximum``.

    Args:
        minimum: the first delay, in seconds.
        maximum: the longest delay, in seconds.
        jitter: the randomization factor, between 0 (none) and 1.
        factor: how much each delay grows.
        random: a source of numbers in [0, 1) (injectable for tests).
    """

    __slots__ = ("_random", "attempts", "factor", "jitter", "maximum", "minimum")

    def __init__(
        self,
        minimum: float,
        maximum: float,
        jitter: float = 0.5,
        factor: float = 2.0,
        random: Callable[[], float] = random.random,
    ) -> None:
        if not 0.0 <= jitter <= 1.0:
            raise ValueError("jitter (randomization_factor) must be between 0 and 1")
        self.minimum = minimum
        self.maximum = maximum
        self.jitter = jitter
        self.factor = factor
        self._random = random
        self.attempts = 0
        """How many delays were handed out since the last reset."""

    def duration(self) -> float:
        """The delay before the next attempt, in seconds (counts one more attempt)."""
        delay = self.minimum * self.factor ** min(self.attempts, _MAX_EXPONENT)
        self.attempts += 1
        if self.jitter:
            rand = self._random()
            deviation = rand * self.jitter * delay
            delay = delay - deviation if int(rand * 10) & 1 == 0 else delay + deviation
        return min(delay, self.maximum)

    def reset(self) -> None:
        """Start again from the first delay."""
        self.attempts = 0

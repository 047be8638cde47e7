"""Ack bookkeeping shared by both sides: the acks a session waits for (with deadlines), and
the answers it gave recently (so that a retried packet is answered again, not run again).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Generic, TypeAlias, TypeVar

W = TypeVar("W")

Parts: TypeAlias = list[str | bytes]
"""One encoded packet: its text message, then any binary attachments."""


class PendingAcks(Generic[W]):
    """The acks awaited, by ack id: each with the caller's waiter and an optional deadline.

    Deadlines sit in a heap; an entry whose ack was settled or re-armed meanwhile is skipped
    when it comes up, so every operation stays O(log n).
    """

    __slots__ = ("_deadlines", "_waiting")

    def __init__(self) -> None:
        self._waiting: dict[int, tuple[W, float | None]] = {}
        self._deadlines: list[tuple[float, int]] = []

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, ack_id: int) -> bool:
        return ack_id in self._waiting

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._waiting))

    def expect(self, ack_id: int, waiter: W, deadline: float | None = None) -> None:
        """Wait for ``ack_id`` (again, when it was awaited already: the new waiter wins)."""
        self._waiting[ack_id] = (waiter, deadline)
        if deadline is not None:
            heapq.heappush(self._deadlines, (deadline, ack_id))

    def pop(self, ack_id: int) -> W | None:
        """The waiter of ``ack_id``, no longer awaited; None when nobody waits for it."""
        entry = self._waiting.pop(ack_id, None)
        return None if entry is None else entry[0]

    def expired(self, now: float) -> list[tuple[int, W]]:
        """The acks whose deadline passed at ``now``, no longer awaited."""
        found: list[tuple[int, W]] = []
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            deadline, ack_id = heapq.heappop(heap)
            entry = self._waiting.get(ack_id)
            if entry is not None and entry[1] == deadline:
                del self._waiting[ack_id]
                found.append((ack_id, entry[0]))
        return found

    def next_deadline(self) -> float | None:
        heap = self._deadlines
        while heap:
            deadline, ack_id = heap[0]
            entry = self._waiting.get(ack_id)
            if entry is not None and entry[1] == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    def clear(self) -> list[tuple[int, W]]:
        """Every ack awaited, in the order they were asked for; none is awaited any more."""
        waiting, self._waiting = self._waiting, {}
        self._deadlines = []
        return [(ack_id, entry[0]) for ack_id, entry in waiting.items()]


IN_PROGRESS: Parts = []
"""What ``RecentAnswers.begin`` returns while the first packet of an ack id is being
handled: send nothing (its answer will come)."""


class RecentAnswers:
    """The last ``size`` acks a session answered, by ack id, as encoded: a peer that sends a
    packet again with the same ack id (a retry after a lost ack or a reconnection) gets the
    same answer again, and the handler runs at most once."""

    __slots__ = ("_answers", "size")

    def __init__(self, size: int, answers: dict[int, Parts] | None = None) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._answers: dict[int, Parts | None] = dict(answers or {})

    def __len__(self) -> int:
        return len(self._answers)

    def begin(self, ack_id: int) -> Parts | None:
        """A packet asking for ack ``ack_id`` arrived. None: new, run its handler (and
        ``record`` the answer). Otherwise the messages to send instead: the answer given
        before, or ``IN_PROGRESS`` (nothing) while the first one is still being handled."""
        answers = self._answers
        if ack_id in answers:
            answer = answers[ack_id]
            return IN_PROGRESS if answer is None else answer
        answers[ack_id] = None
        if len(answers) > self.size:
            del answers[next(iter(answers))]  # the oldest
        return None

    def record(self, ack_id: int, parts: Parts) -> None:
        """The answer to ``ack_id`` as sent."""
        answers = self._answers
        fresh = ack_id not in answers  # begun before the table forgot it: now the newest
        answers[ack_id] = parts
        if fresh and len(answers) > self.size:
            del answers[next(iter(answers))]

    def answered(self) -> dict[int, Parts]:
        """The answers given (not those in progress), oldest first: what a session to
        restore later keeps."""
        return {ack_id: parts for ack_id, parts in self._answers.items() if parts is not None}

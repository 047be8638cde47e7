"""Ack bookkeeping shared by both sides: the acks a session waits for (with deadlines), and
the answers it gave recently (so that a retried packet is answered again, not run again).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any, Generic, TypeAlias, TypeVar

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
    """The last ``size`` acks a session answered, as encoded, so that a packet sent again is
    answered again and its handler runs at most once.

    A retry is recognised two ways:

    - by its ack id, when the client sends the same packet again (roomcast's ``Client``);
    - by its content, when the client sends it again under a new ack id (socket.io-client's
      ``retries`` do): it repeats the last event that asked for an ack (same name and
      arguments) while that one is still being handled (its answer then goes to both ids),
      or it is the first event after a recovery and repeats the last one answered before
      (whose answer may never have reached the client). An identical event sent on purpose
      in those two moments is taken for a retry too; at any other time it runs.
    """

    __slots__ = ("_aliases", "_answers", "_last", "_resumed", "namespace", "size")

    def __init__(
        self,
        size: int,
        answers: dict[int, Parts] | None = None,
        *,
        namespace: str = "/",
        last: tuple[int, list[Any]] | None = None,
        in_progress: tuple[int, ...] = (),
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self.namespace = namespace
        self._answers: dict[int, Parts | None] = dict(answers or {})
        for ack_id in in_progress:  # handled by the session this one restores, not done yet
            self._answers.setdefault(ack_id, None)
        self._last = last
        """The last event that asked for an ack: its id and data."""
        self._resumed = answers is not None
        """A restored table, until the first event after the recovery."""
        self._aliases: dict[int, list[int]] = {}

    def __len__(self) -> int:
        return len(self._answers)

    def begin(self, ack_id: int, data: list[Any] | None = None) -> Parts | None:
        """A packet with ``data`` asking for ack ``ack_id`` arrived. None: new, run its
        handler (and ``record`` the answer). Otherwise the messages to send instead: the
        answer given before, or ``IN_PROGRESS`` (nothing) while the first one is still being
        handled."""
        answers = self._answers
        if ack_id in answers:
            answer = answers[ack_id]
            return IN_PROGRESS if answer is None else answer
        resumed, self._resumed = self._resumed, False
        last = self._last
        if data is not None and last is not None and last[1] == data and last[0] in answers:
            first = last[0]
            answer = answers[first]
            if answer is None:  # still being handled: its answer goes to this id too
                self._aliases.setdefault(first, []).append(ack_id)
                return IN_PROGRESS
            if resumed:
                return readdress(answer, self.namespace, first, ack_id)
        if data is not None:
            self._last = (ack_id, data)
        answers[ack_id] = None
        if len(answers) > self.size:
            del answers[next(iter(answers))]  # the oldest
        return None

    def record(self, ack_id: int, parts: Parts) -> Parts:
        """The answer to ``ack_id`` as sent; returns the same answer addressed to the
        retries that came meanwhile under other ids (to send too)."""
        answers = self._answers
        fresh = ack_id not in answers  # begun before the table forgot it: now the newest
        answers[ack_id] = parts
        if fresh and len(answers) > self.size:
            del answers[next(iter(answers))]
        more: Parts = []
        for alias in self._aliases.pop(ack_id, ()):
            more.extend(readdress(parts, self.namespace, ack_id, alias))
        return more

    def answer_of(self, ack_id: int) -> Parts | None:
        """The answer given to ``ack_id`` (None: unknown or still being handled)."""
        return self._answers.get(ack_id)

    def in_progress(self) -> tuple[int, ...]:
        """The ack ids whose handler still runs."""
        return tuple(ack_id for ack_id, parts in self._answers.items() if parts is None)

    @property
    def last(self) -> tuple[int, list[Any]] | None:
        """The last event that asked for an ack (its id and data): kept with the answers."""
        return self._last

    def answered(self) -> dict[int, Parts]:
        """The answers given (not those in progress), oldest first: what a session to
        restore later keeps."""
        return {ack_id: parts for ack_id, parts in self._answers.items() if parts is not None}


def readdress(parts: Parts, namespace: str, old: int, new: int) -> Parts:
    """An encoded ACK (or BINARY_ACK) to ``old`` addressed to ``new`` instead."""
    head = parts[0]
    assert isinstance(head, str)
    cut = 1
    if head[:1] == "6":  # BINARY_ACK: the attachment count and "-" come first
        cut = head.index("-", 1) + 1
    if namespace != "/":
        cut += len(namespace) + 1
    old_id = str(old)
    if head[cut : cut + len(old_id)] != old_id:
        raise ValueError(f"{head[:40]!r} does not answer ack {old}")
    return [head[:cut] + str(new) + head[cut + len(old_id) :], *parts[1:]]

"""The store interface: durable streams of broadcast packets and sessions, beside ``Adapter``.

The store serves two features:

- **Connection-state recovery** (Socket.IO 4.6+). At CONNECT the server gives the socket a
  private id (``pid``, from ``new_pid()``) and appends to every recoverable broadcast (an
  EVENT without ack, not volatile) the offset that ``Store.append`` returned for it, as the
  last argument. When a socket goes away the server calls ``persist_session``; when the
  client reconnects with ``{pid, offset}`` the server calls ``restore_session`` and gets
  back the sid, rooms and ``socket.data`` plus the packets the socket missed, or None (then
  it starts a fresh session, as Node does).
- **Room history**: ``history(namespace, room)`` pages through what was broadcast to a room,
  newest page first, then forwards from a known offset to the live packets.

Offsets are opaque strings, ordered within one store; a malformed or forged offset is
simply unknown (never an exception). ``StreamEntry.data`` is the event as the application
emitted it, ``[event, *args]`` (JSON values and ``bytes``), never with the offset appended:
the caller appends ``entry.offset`` when it sends the packet again.

Retention bounds what is kept: ``Retention(max_count, max_age)`` for the whole store (all
namespaces; the oldest entries go first), and per-room overrides keyed by ``fnmatch``
patterns (``{"typing:*": Retention(max_age=10)}``). An entry takes the override of the first
pattern that matches one of its rooms, else the default. An override's ``max_age`` is the
entry's own lifetime (it may be shorter or longer than the default's); its ``max_count``
keeps the newest ``max_count`` entries of *each* matching room. The whole-store
``max_count`` caps everything, overrides included. An offset stays known for recovery as
long as the whole-store retention has not reached it; entries that room overrides removed
after it are simply not replayed (they have expired on purpose).

Failures of the backend raise ``StoreUnavailable`` (the store retries on the next call, so
the caller logs, keeps serving live traffic and reports recovery as degraded);
a damaged SQLite file raises ``StoreCorrupt`` at start-up.
"""

from __future__ import annotations

import fnmatch
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

DEFAULT_MAX_COUNT: Final = 10_000
"""Entries kept by default (Node's Redis streams adapter keeps ``maxLen`` 10 000)."""

_DIGITS: Final = re.compile(r"[0-9]{1,18}")


def new_pid() -> str:
    """A fresh private session id: 128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


def parse_sequence(offset: object) -> int | None:
    """A decimal offset (memory and SQLite stores) as an int, None when it is not one:
    only ASCII digits, at most 18 of them (no sign, spaces, underscores or other digits)."""
    if type(offset) is not str or _DIGITS.fullmatch(offset) is None:
        return None
    return int(offset)


def selects(entry_rooms: Iterable[str], except_rooms: Iterable[str], rooms: Iterable[str]) -> bool:
    """Whether a broadcast to ``entry_rooms`` minus ``except_rooms`` reaches a socket in
    ``rooms`` (Node's rule for missed packets): the entry has no rooms or shares one with
    the socket, and shares none of ``except_rooms``."""
    mine = rooms if isinstance(rooms, frozenset | set) else frozenset(rooms)
    targets = entry_rooms if isinstance(entry_rooms, frozenset | set) else frozenset(entry_rooms)
    if targets and mine.isdisjoint(targets):
        return False
    return mine.isdisjoint(except_rooms)


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One recoverable broadcast, as stored.

    ``data`` is ``[event, *args]`` without the offset; ``time`` is when it was appended
    (epoch seconds).
    """

    offset: str
    namespace: str
    rooms: frozenset[str]
    except_rooms: frozenset[str]
    data: list[Any]
    time: float

    def reaches(self, rooms: Iterable[str]) -> bool:
        """Whether this broadcast reaches a socket in ``rooms`` (see ``selects``)."""
        return selects(self.rooms, self.except_rooms, rooms)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """What a disconnected socket leaves behind for its recovery.

    ``rooms`` includes the socket's own room (its sid), as in Socket.IO. ``data`` is the
    application's ``socket.data`` and ``extra`` whatever else the server needs to resume
    (for instance the answers to recent acks, to de-duplicate retried packets): both must
    be JSON values or ``bytes``.
    """

    pid: str
    sid: str
    namespace: str
    """Empty in a record written by a Node server (Node keeps no namespace in it)."""
    rooms: frozenset[str]
    data: Any = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Restored:
    """A session taken back by ``restore_session``, with the broadcasts it missed (oldest
    first, only those its rooms select)."""

    session: SessionRecord
    missed: list[StreamEntry]


@dataclass(frozen=True, slots=True)
class Retention:
    """How many entries to keep (``max_count``) and for how long (``max_age``, seconds);
    None means no limit of that kind."""

    max_count: int | None = DEFAULT_MAX_COUNT
    max_age: float | None = None

    def __post_init__(self) -> None:
        if self.max_count is not None and self.max_count < 1:
            raise ValueError("max_count must be at least 1 (or None)")
        if self.max_age is not None and not self.max_age > 0:
            raise ValueError("max_age must be positive (or None)")


class RetentionRules:
    """The default ``Retention`` plus the per-room-pattern overrides, resolved per entry."""

    __slots__ = ("_cache", "default", "overrides")

    def __init__(
        self, default: Retention | None = None, overrides: Mapping[str, Retention] | None = None
    ) -> None:
        self.default = default if default is not None else Retention()
        self.overrides = dict(overrides or {})
        self._cache: dict[str, Retention | None] = {}

    def for_room(self, room: str) -> Retention | None:
        """The override for ``room``: the first pattern it matches, or None."""
        try:
            return self._cache[room]
        except KeyError:
            pass
        found = next(
            (
                rule
                for pattern, rule in self.overrides.items()
                if fnmatch.fnmatchcase(room, pattern)
            ),
            None,
        )
        if len(self._cache) < 10_000:
            self._cache[room] = found
        return found

    def for_entry(self, rooms: Iterable[str]) -> Retention:
        """The retention of an entry addressed to ``rooms`` (sorted, so the choice does not
        depend on set order)."""
        if self.overrides:
            for room in sorted(rooms):
                rule = self.for_room(room)
                if rule is not None:
                    return rule
        return self.default

    def expiry(self, rooms: Iterable[str], now: float) -> float | None:
        """When an entry appended ``now`` to ``rooms`` expires (None: only counts trim it)."""
        age = self.for_entry(rooms).max_age
        return None if age is None else now + age

    def room_limits(self, rooms: Iterable[str]) -> list[tuple[str, int]]:
        """The rooms of an entry whose override keeps only the newest N entries, with N."""
        if not self.overrides:
            return []
        limits = []
        for room in rooms:
            rule = self.for_room(room)
            if rule is not None and rule.max_count is not None:
                limits.append((room, rule.max_count))
        return limits

    @property
    def longest_age(self) -> float | None:
        """The longest lifetime any entry may have (None when some entries live forever)."""
        ages = [self.default.max_age, *(rule.max_age for rule in self.overrides.values())]
        return None if any(age is None for age in ages) else max(a for a in ages if a)


@dataclass(frozen=True, slots=True)
class StoreStatistics:
    """Counters since ``start``: entries appended, write transactions committed (batches:
    SQLite commits many appends at once), sessions persisted and restored, and how many
    calls failed with ``StoreUnavailable``."""

    appends: int = 0
    commits: int = 0
    sessions_persisted: int = 0
    sessions_restored: int = 0
    failures: int = 0


class Store(ABC):
    """Durable streams of broadcasts and sessions, for recovery and room history.

    One store serves every namespace of a server (and, for SQLite and Redis, every worker
    and node that opens the same file or stream). Call ``start`` before anything else and
    ``aclose`` at the end.

    Args:
        retention: what the whole store keeps (``Retention()``: the newest 10 000 entries).
        rooms: per-room overrides, ``{fnmatch pattern: Retention}``, first match wins.
        clock: the wall clock, epoch seconds (entry times and expiries; tests pass a fake).
    """

    durable: bool = False
    """Whether appended entries and sessions survive the process (and, for SQLite, a
    crash: ``append`` returns only once the entry is on disk)."""

    def __init__(
        self,
        *,
        retention: Retention | None = None,
        rooms: Mapping[str, Retention] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = RetentionRules(retention, rooms)
        self.clock = clock
        self._stats: dict[str, int] = dict.fromkeys(StoreStatistics.__slots__, 0)

    def statistics(self) -> StoreStatistics:
        """The counters (a snapshot)."""
        return StoreStatistics(**self._stats)

    def _count(self, name: str, n: int = 1) -> None:
        self._stats[name] += n

    async def start(self) -> None:
        """Open the backend (create the schema, connect).

        Raises:
            StoreCorrupt: the data cannot be read (fix or move the file, then restart).
            StoreUnavailable: the backend is out of reach; the store stays usable and every
                later call tries again, so the caller may log and carry on.
        """

    async def aclose(self) -> None:
        """Release the backend; pending appends are committed first."""

    # -- the stream ---------------------------------------------------------------------------

    @abstractmethod
    async def append(
        self,
        namespace: str,
        data: list[Any],
        rooms: Iterable[str] = (),
        except_rooms: Iterable[str] = (),
    ) -> str:
        """Append a broadcast of ``data`` (``[event, *args]``) to ``rooms`` (every socket of
        the namespace when empty) minus ``except_rooms``; return its offset.

        A durable store returns once the entry is durable; the caller then sends the packet
        with the offset as its last argument.

        Raises:
            StoreUnavailable: not stored; send the packet without an offset.
        """

    @abstractmethod
    async def head(self) -> str | None:
        """The offset of the newest entry, for a session to start from: ``read_since`` of it
        gives what comes after (None when the store cannot name such a point)."""

    @abstractmethod
    async def read_since(self, namespace: str, offset: str) -> list[StreamEntry] | None:
        """Every entry of ``namespace`` after ``offset``, oldest first; None when ``offset``
        is unknown (malformed, forged, or older than what retention keeps)."""

    @abstractmethod
    async def history(
        self,
        namespace: str,
        room: str,
        *,
        limit: int = 50,
        before: str | None = None,
        after: str | None = None,
    ) -> list[StreamEntry]:
        """Up to ``limit`` entries addressed to ``room``, oldest first.

        - neither bound: the newest ``limit`` entries (the page shown on load);
        - ``before``: the newest ``limit`` entries older than it (paging upwards: pass the
          offset of the oldest entry shown);
        - ``after``: the oldest ``limit`` entries newer than it (catching up to the live
          packets without a gap or a duplicate: pass the newest offset seen, repeat while
          the page is full); with ``before`` too, only entries between both.

        A malformed bound gives an empty list; a well-formed one is compared by order even
        when its entry is gone.
        """

    async def trim(self) -> None:
        """Apply retention now (stores also trim by themselves as they append)."""

    # -- sessions -----------------------------------------------------------------------------

    @abstractmethod
    async def persist_session(self, record: SessionRecord, ttl: float) -> None:
        """Keep ``record`` for ``ttl`` seconds (Socket.IO's ``maxDisconnectionDuration``),
        replacing any record with the same pid."""

    @abstractmethod
    async def take_session(self, pid: str) -> SessionRecord | None:
        """Remove and return the session of ``pid``, atomically (of two concurrent calls,
        one gets it); None when unknown or expired."""

    async def restore_session(self, namespace: str, pid: str, offset: str) -> Restored | None:
        """Take the session of ``pid`` in ``namespace`` and the broadcasts it missed after
        ``offset``.

        A pid is used once: the session is taken even when the offset turns out unknown, as
        in Node. None when the pid is unknown or expired, belongs to another namespace, or
        the offset is unknown: the caller then starts a fresh session.
        """
        if type(pid) is not str or type(offset) is not str:
            return None
        record = await self.take_session(pid)
        if record is None or record.namespace not in (namespace, ""):
            return None  # "": a record written by Node, which does not name its namespace
        if not record.namespace:
            record = replace(record, namespace=namespace)
        entries = await self.read_since(namespace, offset)
        if entries is None:
            return None
        self._count("sessions_restored")
        rooms = record.rooms
        return Restored(record, [e for e in entries if selects(e.rooms, e.except_rooms, rooms)])

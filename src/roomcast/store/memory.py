"""The in-memory store: what Node's in-memory adapter keeps, bounded by retention.

The fastest store and the default when recovery is on without a URL. Nothing survives the
process (``durable`` is False) and nothing is shared between workers: a client recovers
only when it reconnects to the same process. Offsets are decimal sequence numbers.

Cost: one small object per entry plus one deque slot per room of the entry; ``read_since``
is a binary search then a scan of what follows; ``history`` scans the room's own index.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable
from typing import Any

from .base import SessionRecord, Store, StreamEntry, parse_sequence


class _Item:
    """An entry plus its bookkeeping: sequence number, expiry, whether it is still kept."""

    __slots__ = ("alive", "entry", "expires", "seq")

    def __init__(self, seq: int, entry: StreamEntry, expires: float | None) -> None:
        self.seq = seq
        self.entry = entry
        self.expires = expires
        self.alive = True


class _RoomIndex:
    """The items of one room, oldest first (dead ones drop out lazily), and how many live."""

    __slots__ = ("items", "live")

    def __init__(self) -> None:
        self.items: deque[_Item] = deque()
        self.live = 0


def _seq_of(item: _Item) -> int:
    return item.seq


class MemoryStore(Store):
    """Streams and sessions in this process's memory (see the module docstring)."""

    durable = False

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._seq = 0
        self._floor = 0  # the newest seq the whole-store count removed while still alive
        self._items: list[_Item] = []
        self._head = 0
        self._live = 0
        self._rooms: dict[tuple[str, str], _RoomIndex] = {}
        self._expiries: list[tuple[float, int, _Item]] = []
        self._sessions: dict[str, tuple[SessionRecord, float]] = {}
        self._session_expiries: list[tuple[float, str]] = []

    # -- the stream ---------------------------------------------------------------------------

    async def append(
        self,
        namespace: str,
        data: list[Any],
        rooms: Iterable[str] = (),
        except_rooms: Iterable[str] = (),
    ) -> str:
        return self.append_nowait(namespace, data, rooms, except_rooms)

    def append_nowait(
        self,
        namespace: str,
        data: list[Any],
        rooms: Iterable[str] = (),
        except_rooms: Iterable[str] = (),
    ) -> str:
        """``append`` without the coroutine: this store never waits."""
        now = self.clock()
        self._seq = seq = self._seq + 1
        targets = frozenset(rooms)
        entry = StreamEntry(str(seq), namespace, targets, frozenset(except_rooms), list(data), now)
        rules = self.rules
        item = _Item(seq, entry, rules.expiry(targets, now))
        self._items.append(item)
        self._live += 1
        for room in targets:
            index = self._rooms.get((namespace, room))
            if index is None:
                index = self._rooms[(namespace, room)] = _RoomIndex()
            index.items.append(item)
            index.live += 1
        if item.expires is not None:
            heapq.heappush(self._expiries, (item.expires, seq, item))
        for room, limit in rules.room_limits(targets):
            self._trim_room(namespace, room, limit)
        self._count("appends")
        self._trim(now)
        return entry.offset

    async def head(self) -> str | None:
        return str(self._seq)

    async def read_since(self, namespace: str, offset: str) -> list[StreamEntry] | None:
        seq = parse_sequence(offset)
        if seq is None or seq < self._floor or seq > self._seq:
            return None
        now = self.clock()
        items = self._items
        start = bisect_right(items, seq, lo=self._head, key=_seq_of)
        return [
            item.entry
            for item in items[start:]
            if item.alive
            and item.entry.namespace == namespace
            and (item.expires is None or item.expires > now)
        ]

    async def history(
        self,
        namespace: str,
        room: str,
        *,
        limit: int = 50,
        before: str | None = None,
        after: str | None = None,
    ) -> list[StreamEntry]:
        low = 0 if after is None else parse_sequence(after)
        high = self._seq + 1 if before is None else parse_sequence(before)
        index = self._rooms.get((namespace, room))
        if low is None or high is None or index is None or limit <= 0:
            return []
        now = self.clock()
        items = index.items
        found: list[StreamEntry] = []
        for item in items if after is not None else reversed(items):
            if low < item.seq < high and item.alive:
                if item.expires is None or item.expires > now:
                    found.append(item.entry)
                    if len(found) == limit:
                        break
        return found if after is not None else found[::-1]

    async def trim(self) -> None:
        self._trim(self.clock())

    def _trim(self, now: float) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            self._kill(heapq.heappop(expiries)[2])
        limit = self.rules.default.max_count
        items = self._items
        head = self._head
        while head < len(items) and (not items[head].alive or (limit and self._live > limit)):
            item = items[head]
            if item.alive:
                self._floor = item.seq
                self._kill(item)
            head += 1
        if head > 1024 and head * 2 > len(items):
            del items[:head]
            head = 0
        self._head = head

    def _trim_room(self, namespace: str, room: str, limit: int) -> None:
        index = self._rooms.get((namespace, room))
        while index is not None and index.live > limit:
            item = index.items.popleft()
            if item.alive:
                self._kill(item)

    def _kill(self, item: _Item) -> None:
        """Stop keeping ``item``: rooms whose every item is dead are forgotten."""
        if not item.alive:
            return
        item.alive = False
        self._live -= 1
        namespace = item.entry.namespace
        for room in item.entry.rooms:
            index = self._rooms.get((namespace, room))
            if index is not None:
                index.live -= 1
                if index.live <= 0:
                    del self._rooms[(namespace, room)]
                else:
                    while index.items and not index.items[0].alive:
                        index.items.popleft()

    # -- sessions -----------------------------------------------------------------------------

    async def persist_session(self, record: SessionRecord, ttl: float) -> None:
        now = self.clock()
        self._expire_sessions(now)
        expires = now + ttl
        self._sessions[record.pid] = (record, expires)
        heapq.heappush(self._session_expiries, (expires, record.pid))
        self._count("sessions_persisted")

    async def take_session(self, pid: str) -> SessionRecord | None:
        found = self._sessions.pop(pid, None)
        if found is None or found[1] <= self.clock():
            return None
        return found[0]

    def _expire_sessions(self, now: float) -> None:
        heap = self._session_expiries
        while heap and heap[0][0] <= now:
            _, pid = heapq.heappop(heap)
            found = self._sessions.get(pid)
            if found is not None and found[1] <= now:
                del self._sessions[pid]

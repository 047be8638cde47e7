"""The server's use of its store: offsets on broadcasts, sessions kept for recovery, history.

``Recovery`` holds the options of connection-state recovery (Node's
``connectionStateRecovery``); ``Durability`` is what the server does with its ``Store``:

- **Broadcasts**: a recoverable broadcast (an EVENT with no ack, not volatile) is appended to
  the store before any client is sent it; with recovery on, its offset goes out as the
  event's last argument. The packet is then encoded once for every recipient, as always.
- **Sessions**: a socket that goes away for a recoverable reason leaves a record (sid, pid,
  rooms, ``socket.data``, the answers to its recent acks) for ``max_disconnection_duration``.
  With a durable store a live socket's record is also written when it connects and when its
  rooms change, with a longer lease that a background task renews, so that the client of a
  server that died (``kill -9``) or of a node that was lost recovers on the next one.
- **Faults**: when the store fails (Redis down, disk full, read-only file) the server logs
  it once, keeps serving live traffic (broadcasts go out without an offset, sessions are not
  kept) and reports recovery as ``degraded``; the first call that succeeds again ends that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..exceptions import StoreUnavailable
from ..socketio import Packet
from ..socketio.session import SessionSnapshot
from ..store import SessionRecord, Store, StreamEntry, from_url, selects
from ..store.memory import MemoryStore

if TYPE_CHECKING:
    from .socket import Socket

logger = logging.getLogger("roomcast.recovery")

RECOVERABLE_REASONS: Final = frozenset(
    {
        "transport error",
        "transport close",
        "forced close",
        "ping timeout",
        "server shutting down",
        "forced server close",
    }
)
"""Disconnect reasons after which a session is kept (Node's list): a client that left on
purpose ("client namespace disconnect") or was sent away does not come back to it."""

LIVE_LEASE: Final = 300.0
"""Seconds a live socket's record outlives its last renewal (durable stores only)."""


@dataclass(frozen=True, slots=True)
class Recovery:
    """Connection-state recovery options, as Node's ``connectionStateRecovery``.

    Args:
        max_disconnection_duration: seconds a disconnected client may take to come back.
        skip_middlewares: a recovered socket skips the namespace's middlewares.
        ack_answers: answers to recent acks kept per socket, so that an event the client
            sends again (socket.io-client's ``retries``, roomcast's ``Client`` after a
            reconnection) runs its handler once and gets the first answer again.
        recover_direct: also recover what ``socket.emit`` sent (not only broadcasts) when
            the store is durable; it costs one append per such emit.
    """

    max_disconnection_duration: float = 120.0
    skip_middlewares: bool = True
    ack_answers: int = 64
    recover_direct: bool = True


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One event of a room's history: its offset, name, arguments and time (epoch s)."""

    offset: str
    event: str
    args: list[Any]
    time: float

    @classmethod
    def of(cls, entry: StreamEntry) -> HistoryEntry:
        event = entry.data[0] if entry.data else ""
        return cls(entry.offset, str(event), list(entry.data[1:]), entry.time)


def snapshot_to_record(snapshot: SessionSnapshot) -> SessionRecord:
    extra: dict[str, Any] = {}
    if snapshot.answers:
        extra["answers"] = [[ack_id, list(parts)] for ack_id, parts in snapshot.answers.items()]
    if snapshot.origin is not None:
        extra["origin"] = snapshot.origin
    if snapshot.last_event is not None:
        extra["last"] = list(snapshot.last_event)
    return SessionRecord(
        pid=snapshot.pid,
        sid=snapshot.sid,
        namespace=snapshot.namespace,
        rooms=snapshot.rooms,
        data=snapshot.data,
        extra=extra,
    )


def record_to_snapshot(record: SessionRecord, namespace: str) -> SessionSnapshot:
    extra = record.extra if isinstance(record.extra, dict) else {}
    answers: dict[int, list[str | bytes]] = {}
    for item in extra.get("answers", ()):
        if isinstance(item, list | tuple) and len(item) == 2 and type(item[0]) is int:
            answers[item[0]] = [p for p in item[1] if isinstance(p, str | bytes)]
    data = record.data if isinstance(record.data, dict) else {}
    origin = extra.get("origin")
    last = extra.get("last")
    last_event = None
    if isinstance(last, list | tuple) and len(last) == 2 and type(last[0]) is int:
        if isinstance(last[1], list):
            last_event = (last[0], last[1])
    return SessionSnapshot(
        namespace,
        record.sid,
        record.pid,
        record.rooms,
        data,
        answers,
        origin if isinstance(origin, str) else None,
        last_event,
    )


class Durability:
    """What the server keeps in its store, and how it copes when the store fails."""

    def __init__(self, store: Store | str | None, recovery: Recovery | None) -> None:
        if store is None:
            store = MemoryStore()
        elif isinstance(store, str):
            store = from_url(store)
        self.store: Store = store
        self.recovery = recovery
        self.degraded = False
        """Whether the last call to the store failed (recovery may lose data meanwhile)."""
        self._started = False
        self._starting: asyncio.Task[None] | None = None
        self._live: dict[str, Socket] = {}  # sockets whose record the lease task renews
        self._renewer: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self._dropped: set[Socket] = set()  # replaced by their own recovery
        self._orphans: dict[str, Socket] = {}  # pid -> gone, with handlers still running
        self._restored: dict[str, Socket] = {}  # pid -> the live socket that restored it

    @property
    def keeps_live_sessions(self) -> bool:
        """Whether live sockets have a record (so that a crash does not lose them)."""
        return self.recovery is not None and self.store.durable

    @property
    def recovers_direct(self) -> bool:
        return (
            self.keeps_live_sessions and self.recovery is not None and self.recovery.recover_direct
        )

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store. A store out of reach is logged and retried on use; a damaged
        one (StoreCorrupt) stops the start-up.

        Callers that come while the store opens wait for it, and go on in the order they
        came: a session record written later is never overwritten by an earlier one."""
        if self._started:
            return
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._start())
        starting = self._starting
        try:
            await asyncio.shield(starting)
        finally:
            if starting.done() and self._starting is starting:
                self._starting = None

    async def _start(self) -> None:
        try:
            await self.store.start()
        except StoreUnavailable as exc:
            self._failed(exc)
        finally:
            self._started = True  # StoreCorrupt too: raised once, to the first caller(s)
        if self.keeps_live_sessions:
            self._renewer = asyncio.get_running_loop().create_task(self._renew_leases())

    async def aclose(self) -> None:
        if self._starting is not None:
            with contextlib.suppress(Exception):
                await self._starting
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._started:
            await self.store.aclose()
            self._started = False

    def _failed(self, exc: BaseException) -> None:
        if not self.degraded:
            logger.warning("store unavailable, recovery degraded: %s", exc)
            self.degraded = True

    def _succeeded(self) -> None:
        if self.degraded:
            logger.warning("store reachable again, recovery restored")
            self.degraded = False
            for socket in list(self._live.values()):  # what failed to be written meanwhile
                if socket.connected:
                    self.keep(socket, LIVE_LEASE)

    # -- broadcasts ---------------------------------------------------------------------------

    async def stamp(
        self, packet: Packet, rooms: Iterable[str], except_rooms: Iterable[str]
    ) -> tuple[Packet, str | None]:
        """Append a recoverable event to the store: the packet to send (with recovery on,
        its offset as the last argument) and the offset (None: the store failed)."""
        offset = await self.append(packet.namespace, packet.data, rooms, except_rooms)
        if offset is None or self.recovery is None:
            return packet, offset
        return Packet(packet.type, packet.namespace, [*packet.data, offset], packet.id), offset

    async def append(
        self, namespace: str, data: list[Any], rooms: Iterable[str], except_rooms: Iterable[str]
    ) -> str | None:
        if not self._started:
            await self.start()
        try:
            offset = await self.store.append(namespace, data, rooms, except_rooms)
        except StoreUnavailable as exc:
            self._failed(exc)
            return None
        self._succeeded()
        return offset

    async def history(
        self,
        namespace: str,
        room: str,
        *,
        limit: int,
        before: str | None,
        after: str | None,
    ) -> list[StreamEntry]:
        if not self._started:
            await self.start()
        try:
            entries = await self.store.history(
                namespace, room, limit=limit, before=before, after=after
            )
        except StoreUnavailable as exc:
            self._failed(exc)
            raise
        self._succeeded()
        return entries

    # -- sessions -----------------------------------------------------------------------------

    async def take(self, namespace: str, pid: str) -> SessionSnapshot | None:
        """Take (once) the session ``pid`` left in ``namespace``; None when unknown, expired,
        of another namespace, or the store fails."""
        if not self._started:
            await self.start()
        try:
            record = await self.store.take_session(pid)
        except StoreUnavailable as exc:
            self._failed(exc)
            return None
        self._succeeded()
        if record is None or record.namespace not in (namespace, ""):
            return None  # "": a record written by a Node server (it names no namespace)
        return record_to_snapshot(record, namespace)

    async def missed(
        self, namespace: str, offset: str, rooms: Iterable[str]
    ) -> list[StreamEntry] | None:
        """What a socket in ``rooms`` missed after ``offset``, oldest first; None when the
        offset is unknown (trimmed, forged) or the store fails."""
        try:
            entries = await self.store.read_since(namespace, offset)
        except StoreUnavailable as exc:
            self._failed(exc)
            return None
        self._succeeded()
        if entries is None:
            return None
        mine = frozenset(rooms)
        return [e for e in entries if selects(e.rooms, e.except_rooms, mine)]

    def in_progress(self, pid: str) -> tuple[int, ...]:
        """The acks the gone session ``pid`` is still handling in this process (a retry of
        one waits for its answer rather than running again)."""
        orphan = self._orphans.get(pid)
        answers = None if orphan is None else orphan.session.answers
        return () if answers is None else answers.in_progress()

    def restored(self, socket: Socket) -> None:
        """``socket`` took up its pid's session here: late answers of the old one go to it."""
        pid = socket.session.pid
        if pid is not None:
            self._restored[pid] = socket

    def answered_late(self, socket: Socket, ack_id: int) -> None:
        """A handler answered after its client left: the answer goes to the socket that has
        restored the session meanwhile (with the retries that waited for it), else into the
        kept session, for the retry that comes with the recovery."""
        pid, answers = socket.session.pid, socket.session.answers
        if pid is None or answers is None:
            return
        parts = answers.answer_of(ack_id)
        if not answers.in_progress() and self._orphans.get(pid) is socket:
            del self._orphans[pid]
        if parts is None:
            return
        heir = self._restored.get(pid)
        if heir is not None and heir.connected:
            heir.answer_for(ack_id, parts)
        elif self.recovery is not None:
            self.keep(socket, self.recovery.max_disconnection_duration)

    def forget(self, socket: Socket) -> None:
        """A socket replaced by its own recovery: its end keeps nothing."""
        self._live.pop(socket.id, None)
        self._dropped.add(socket)

    def keep_snapshot(self, snapshot: SessionSnapshot) -> None:
        """Put back a session taken for a recovery that could not finish."""
        if self.recovery is not None:
            ttl = self.recovery.max_disconnection_duration
            self._spawn(self._persist(snapshot_to_record(snapshot), ttl))

    def connected(self, socket: Socket) -> None:
        """A socket with a pid joined: note where it began in the stream (a client that gets
        no event before it leaves recovers from there) and, with a durable store, keep its
        record from now on."""
        if self.keeps_live_sessions:
            self._live[socket.id] = socket
        if socket.session.origin is None:
            self._spawn(self._begin(socket))
        elif self.keeps_live_sessions:
            self.keep(socket, LIVE_LEASE)

    async def _begin(self, socket: Socket) -> None:
        try:
            socket.session.origin = await self.store.head()
        except StoreUnavailable as exc:
            self._failed(exc)
        if self.keeps_live_sessions and socket.connected:
            await self._persist(snapshot_to_record(socket.snapshot()), LIVE_LEASE)

    def rooms_changed(self, socket: Socket) -> None:
        if socket.id in self._live:
            self.keep(socket, LIVE_LEASE)

    def disconnected(self, socket: Socket, reason: str) -> None:
        """A socket went away: keep its session if the client may come back to it."""
        pid = socket.session.pid
        if pid is not None and self._restored.get(pid) is socket:
            del self._restored[pid]
        if socket in self._dropped:
            self._dropped.discard(socket)
            return
        if self._live.get(socket.id) is socket:
            del self._live[socket.id]
        answers = socket.session.answers
        if pid is not None and answers is not None and answers.in_progress():
            self._orphans[pid] = socket  # its answers may still come: see answered_late
        if self.recovery is None:
            return
        if reason in RECOVERABLE_REASONS:
            self.keep(socket, self.recovery.max_disconnection_duration)
        elif self.keeps_live_sessions:
            self._spawn(self._forget(socket.session.pid))

    def keep(self, socket: Socket, ttl: float) -> None:
        """Write the socket's record (rooms and data as they are now) for ``ttl`` seconds."""
        self._spawn(self._persist(snapshot_to_record(socket.snapshot()), ttl))

    async def _persist(self, record: SessionRecord, ttl: float) -> None:
        if not self._started:
            await self.start()
        try:
            await self.store.persist_session(record, ttl)
        except StoreUnavailable as exc:
            self._failed(exc)
        except (TypeError, ValueError) as exc:  # socket.data holds what no codec can write
            logger.warning("session of %s not kept: %s", record.sid, exc)
        else:
            self._succeeded()

    async def _forget(self, pid: str | None) -> None:
        if pid is None:
            return
        try:
            await self.store.take_session(pid)
        except StoreUnavailable as exc:
            self._failed(exc)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(LIVE_LEASE / 3)
            for socket in list(self._live.values()):
                if socket.connected:
                    self.keep(socket, LIVE_LEASE)

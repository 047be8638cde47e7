"""The Redis store: recovery and history shared by every node, in Node's Redis-streams layout.

Needs the ``redis`` extra (redis-py and msgpack) and Redis 6.2 or later.

```python
store = RedisStore("redis://127.0.0.1:6379/0")  # or from_url("redis://...?stream=socket.io")
```

Layout, the one of ``@socket.io/redis-streams-adapter`` (so a Python and a Node server that
share a Redis recover each other's clients):

- Broadcasts go to one stream for every namespace (``stream``, default ``socket.io``),
  appended with ``XADD <stream> MAXLEN ~ <max_count> *``; the offset is the stream id. An
  entry has the fields ``uid`` (this store's ``uid``), ``nsp``, ``type`` = ``"3"``
  (BROADCAST) and ``data``: ``{"packet": {"type": 2, "data": [...], "nsp": ...}, "opts":
  {"rooms": [...], "except": [...], "flags": {}}}`` as JSON, or as base64 msgpack when it
  holds bytes. An entry with a ``max_age`` also has ``exp`` (its expiry, epoch
  milliseconds), which Node ignores.
- A session is ``sio:session:<pid>`` (``session_prefix``), base64 msgpack of ``{sid, pid,
  rooms, data}`` plus ``nsp`` and ``extra`` (ignored by Node), set with ``PX`` expiry and
  taken with ``GETDEL``.

Compatibility: Node sessions restore here (they carry no namespace: the one asked for is
taken) and ours restore in Node; both sides replay each other's broadcasts, skipping other
namespaces, other message types, broadcasts with acks and volatile ones. A Node server
using the streams adapter on the same stream also *delivers* these entries as broadcasts
from another node: share a stream only between servers of one cluster.

Retention: the count with ``MAXLEN ~`` (Redis trims whole stream nodes, so the stream may
hold up to ~100 more; ``approximate=False`` trims exactly, at a higher cost), the age with
``XTRIM MINID ~`` at most once per ``trim_interval`` (the longest age of all rules, counted
back from the newest id this store wrote: Redis's clock, not the node's); reads
skip expired entries before they are trimmed, so room overrides' ages hold exactly. Room
overrides' counts are not applied by this store.

Costs: ``append`` is one pipelined round trip per event-loop tick (group commit);
``read_since`` reads the stream forward from the offset, 500 entries per round trip;
``history(room)`` scans the stream backwards (``XREVRANGE``: first ``2 * limit`` entries,
then twice as many per round trip, up to 500) and keeps the room's entries: up to the whole
retained stream for a quiet room. Keep ``max_count`` in proportion, or prefer the SQLite
store when histories of quiet rooms matter.

Failures: any Redis error (down, timeout, out of memory, read-only replica) raises
``StoreUnavailable``; redis-py reconnects on the next call, so the store comes back with
Redis.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterable
from typing import Any, Final, TypeAlias, cast

try:
    import msgpack
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "the Redis store needs the redis extra: pip install 'roomcast[redis]'"
    ) from exc

from ..exceptions import StoreUnavailable
from .base import SessionRecord, Store, StreamEntry
from .batch import GroupCommit

DEFAULT_URL: Final = "redis://127.0.0.1:6379"
BROADCAST: Final = "3"
"""The ``type`` of a broadcast in Node's cluster messages."""

_STREAM_ID: Final = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
_PAGE: Final = 500
_Item: TypeAlias = tuple[str, dict[str, str]]
_EVENT_TYPES: Final = (2, 5)  # EVENT, BINARY_EVENT


def _valid_id(offset: object) -> bool:
    return type(offset) is str and _STREAM_ID.fullmatch(offset) is not None


def _has_bytes(value: Any) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        return True
    if isinstance(value, list | tuple):
        return any(_has_bytes(v) for v in value)
    if isinstance(value, dict):
        return any(_has_bytes(v) for v in value.values())
    return False


def encode_data(value: Any) -> str:
    """A message's ``data`` field: JSON, or base64 msgpack when ``value`` holds bytes."""
    if _has_bytes(value):
        return base64.b64encode(msgpack.packb(value, use_bin_type=True)).decode("ascii")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def decode_data(text: str) -> Any:
    """What ``encode_data`` (or Node) wrote: JSON when it starts with ``{``, else msgpack."""
    if text.startswith("{"):
        return json.loads(text)
    return msgpack.unpackb(base64.b64decode(text), raw=False)


def _entry(
    stream_id: str, fields: dict[str, str], namespace: str, now: float
) -> StreamEntry | None:
    """A stream entry as a ``StreamEntry`` when it is a replayable broadcast of
    ``namespace`` that has not expired; None otherwise (other messages, acks, volatile)."""
    if fields.get("nsp") != namespace or fields.get("type") != BROADCAST:
        return None
    exp = fields.get("exp")
    if exp is not None and exp.isascii() and exp.isdigit() and int(exp) <= now * 1000:
        return None
    try:
        message = decode_data(fields["data"])
        packet, opts = message["packet"], message["opts"]
        data = packet["data"]
        if "requestId" in message or packet.get("type") not in _EVENT_TYPES:
            return None
        if packet.get("id") is not None or (opts.get("flags") or {}).get("volatile"):
            return None
        rooms = frozenset(opts.get("rooms") or ())
        except_rooms = frozenset(opts.get("except") or ())
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        RecursionError,  # nested too deeply to read
        msgpack.UnpackException,
    ):
        return None
    if type(data) is not list:
        return None
    return StreamEntry(
        stream_id, namespace, rooms, except_rooms, data, int(stream_id.split("-")[0]) / 1000
    )


class RedisStore(Store):
    """Streams and sessions in Redis (see the module docstring).

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` or ``unix://``.
        stream: the stream's key (Node's ``streamName``).
        session_prefix: the prefix of session keys (Node's ``sessionKeyPrefix``).
        uid: the ``uid`` written in entries (a random one by default; Node servers ignore
            entries with their own uid).
        approximate: trim with ``MAXLEN ~`` (cheap) rather than exactly.
        connect_timeout, command_timeout: seconds.
        max_connections: connections to Redis at most; a call that finds them all busy waits
            for one (up to ``command_timeout``) rather than failing, so that a thousand
            clients recovering at once queue instead of being refused.
        trim_interval: seconds between two age trims (``XTRIM MINID``).
        client: an existing ``redis.asyncio.Redis`` to use (then ``url`` is ignored and
            ``aclose`` leaves it open).
        **options: ``retention``, ``rooms``, ``clock`` (see ``Store``).
    """

    durable = True

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        stream: str = "socket.io",
        session_prefix: str = "sio:session:",
        uid: str | None = None,
        approximate: bool = True,
        connect_timeout: float = 2.0,
        command_timeout: float = 5.0,
        max_connections: int = 32,
        trim_interval: float = 1.0,
        client: aioredis.Redis | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.url = url
        self.stream = stream
        self.session_prefix = session_prefix
        self.uid = uid if uid is not None else secrets.token_hex(3)
        self.approximate = approximate
        self.trim_interval = trim_interval
        self._own_client = client is None
        self._redis: aioredis.Redis = client or aioredis.Redis.from_pool(
            aioredis.BlockingConnectionPool.from_url(
                url,
                decode_responses=True,
                socket_connect_timeout=connect_timeout,
                socket_timeout=command_timeout,
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),  # a stale socket
                max_connections=max_connections,
                timeout=command_timeout,
            )
        )
        self._batches: GroupCommit[tuple[str, dict[str, str], str | None], str] = GroupCommit(
            self._write_batch
        )
        self._session_batches: GroupCommit[tuple[str, str, int], str | None] = GroupCommit(
            self._session_batch
        )
        """Session writes (SET) and takes (GETDEL) of one loop tick, in one pipeline."""
        self._last_trim = float("-inf")
        self._newest_ms: int | None = None

    async def start(self) -> None:
        try:
            await self._redis.ping()
        except RedisError as exc:
            raise StoreUnavailable(f"Redis at {self.url} cannot be reached: {exc}") from exc

    async def aclose(self) -> None:
        await self._batches.drain()
        await self._session_batches.drain()
        if self._own_client:
            await self._redis.aclose()

    def _unavailable(self, exc: RedisError) -> StoreUnavailable:
        self._count("failures")
        return StoreUnavailable(f"Redis at {self.url} failed: {exc}")

    # -- the stream ---------------------------------------------------------------------------

    async def append(
        self,
        namespace: str,
        data: list[Any],
        rooms: Iterable[str] = (),
        except_rooms: Iterable[str] = (),
    ) -> str:
        targets = sorted(set(rooms))
        message = {
            "packet": {"type": 2, "data": list(data), "nsp": namespace},
            "opts": {"rooms": targets, "except": sorted(set(except_rooms)), "flags": {}},
        }
        fields = {"uid": self.uid, "nsp": namespace, "type": BROADCAST}
        fields["data"] = encode_data(message)
        expires = self.rules.expiry(targets, self.clock())
        if expires is not None:
            fields["exp"] = str(int(expires * 1000))
        offset = await self._batches.submit((self.stream, fields, None))
        self._count("appends")
        return offset

    async def _write_batch(self, items: list[tuple[str, dict[str, str], str | None]]) -> list[str]:
        limit = self.rules.default.max_count
        pipe = self._redis.pipeline(transaction=False)
        for stream, fields, _ in items:
            pipe.xadd(stream, fields, maxlen=limit, approximate=self.approximate)  # type: ignore[arg-type]
        now = self.clock()
        minid = self._minid()
        if minid is not None and not 0 <= now - self._last_trim < self.trim_interval:
            self._last_trim = now
            pipe.xtrim(self.stream, minid=minid, approximate=True)
        try:
            results = await pipe.execute()
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        self._count("commits")
        offsets = [str(r) for r in results[: len(items)]]
        self._newest_ms = int(offsets[-1].partition("-")[0])
        return offsets

    def _minid(self) -> str | None:
        """The id below which entries are older than the longest age, in Redis's own time
        (the newest id this store wrote), so clock skew between nodes does not matter."""
        age = self.rules.longest_age
        if age is None or self._newest_ms is None:
            return None
        return f"{max(0, self._newest_ms - int(age * 1000))}-0"

    async def trim(self) -> None:
        self._last_trim = float("-inf")
        minid = self._minid()
        if minid is None:
            return
        try:
            await self._redis.xtrim(self.stream, minid=minid, approximate=False)
        except RedisError as exc:
            raise self._unavailable(exc) from exc

    async def head(self) -> str | None:
        """The newest entry's id (None for an empty stream: Node's rule wants an offset
        that is in the stream)."""
        try:
            page = await self._page("-", "+", 1, reverse=True)
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        return str(page[0][0]) if page else None

    async def read_since(self, namespace: str, offset: str) -> list[StreamEntry] | None:
        if not _valid_id(offset):
            return None
        now = self.clock()
        found: list[StreamEntry] = []
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.xrange(self.stream, offset, offset, count=1)
            pipe.xrange(self.stream, "(" + offset, "+", count=_PAGE)
            exists, page = await pipe.execute()
            if not exists:
                return None  # Node's rule: the offset must still be in the stream
            while page:
                for stream_id, fields in page:
                    entry = _entry(stream_id, fields, namespace, now)
                    if entry is not None:
                        found.append(entry)
                if len(page) < _PAGE:
                    break
                page = await self._page("(" + page[-1][0], "+")
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        return found

    async def history(
        self,
        namespace: str,
        room: str,
        *,
        limit: int = 50,
        before: str | None = None,
        after: str | None = None,
    ) -> list[StreamEntry]:
        if (before is not None and not _valid_id(before)) or (
            after is not None and not _valid_id(after)
        ):
            return []
        if limit <= 0:
            return []
        high = "+" if before is None else "(" + before
        now = self.clock()
        found: list[StreamEntry] = []
        count = min(_PAGE, 2 * limit)  # a busy room fills the page in one small read
        try:
            if after is not None:
                low = "(" + after
                while len(found) < limit:
                    page = await self._page(low, high, count)
                    self._keep(page, namespace, room, now, found, limit)
                    if len(page) < count:
                        break
                    low = "(" + page[-1][0]
                    count = min(_PAGE, 2 * count)
                return found
            while len(found) < limit:
                page = await self._page("-", high, count, reverse=True)
                self._keep(page, namespace, room, now, found, limit)
                if len(page) < count:
                    break
                high = "(" + page[-1][0]
                count = min(_PAGE, 2 * count)
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        return found[::-1]

    async def _page(
        self, low: str, high: str, count: int = _PAGE, *, reverse: bool = False
    ) -> list[_Item]:
        """Up to ``count`` entries between ``low`` and ``high``, backwards when ``reverse``."""
        if reverse:
            page = await self._redis.xrevrange(self.stream, high, low, count=count)
        else:
            page = await self._redis.xrange(self.stream, low, high, count=count)
        return cast(list[_Item], page or [])

    @staticmethod
    def _keep(
        page: list[_Item],
        namespace: str,
        room: str,
        now: float,
        found: list[StreamEntry],
        limit: int,
    ) -> None:
        for stream_id, fields in page:
            entry = _entry(stream_id, fields, namespace, now)
            if entry is not None and room in entry.rooms:
                found.append(entry)
                if len(found) == limit:
                    return

    # -- sessions -----------------------------------------------------------------------------

    async def _session_batch(self, items: list[tuple[str, str, int]]) -> list[str | None]:
        """One pipeline for the session commands of a tick, in the order they came: a
        ``(key, value, ttl_ms)`` is a SET, a ``(key, "", 0)`` a GETDEL."""
        pipe = self._redis.pipeline(transaction=False)
        for key, value, ttl_ms in items:
            if ttl_ms:
                pipe.set(key, value, px=ttl_ms)
            else:
                pipe.getdel(key)
        try:
            results = await pipe.execute()
        except RedisError as exc:
            raise self._unavailable(exc) from exc
        return [
            r if ttl_ms == 0 else None for r, (_, _, ttl_ms) in zip(results, items, strict=True)
        ]

    async def persist_session(self, record: SessionRecord, ttl: float) -> None:
        session = {
            "sid": record.sid,
            "pid": record.pid,
            "rooms": sorted(record.rooms),
            "data": record.data,
            "nsp": record.namespace,
            "extra": dict(record.extra),
        }
        value = base64.b64encode(msgpack.packb(session, use_bin_type=True)).decode("ascii")
        ttl_ms = max(1, int(ttl * 1000))
        await self._session_batches.submit((self.session_prefix + record.pid, value, ttl_ms))
        self._count("sessions_persisted")

    async def take_session(self, pid: str) -> SessionRecord | None:
        raw = await self._session_batches.submit((self.session_prefix + pid, "", 0))
        if raw is None:
            return None
        try:
            session = msgpack.unpackb(base64.b64decode(raw), raw=False)
            return SessionRecord(
                pid,
                session["sid"],
                session.get("nsp") or "",
                frozenset(session.get("rooms") or ()),
                session.get("data"),
                session.get("extra") or {},
            )
        except (KeyError, TypeError, ValueError, msgpack.UnpackException):
            return None

"""Redis: the bus under the cluster adapter, wire-compatible with Node's Redis adapter.

Needs the ``redis`` extra (``pip install 'roomcast[redis]'``: redis-py and msgpack).

```python
io = roomcast.Server(adapter=roomcast.RedisAdapter.factory("redis://127.0.0.1:6379"))
```

``RedisBus`` holds two connections per process, shared by every namespace (``resp.py``: a
lean RESP2 client, as the bus runs a few commands on every broadcast). One publishes, one
pipelined round trip per batch of queued messages, and answers ``PUBSUB NUMSUB``; the other
is subscribed (``PSUBSCRIBE`` for broadcast prefixes, ``SUBSCRIBE`` for request and response
channels) and pings Redis every ``ping_interval`` seconds, so a dead link is noticed even
when nothing is published. Both reconnect by themselves; ``BufferedBus`` keeps what is
published meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from .bus import BufferedBus, BusUnavailable, SubscriptionKind, stop_if_cancelled

try:  # redis-py (URL parsing) and msgpack (the wire format)
    from .cluster import ClusterAdapter, ClusterAdapterFactory
    from .resp import RespConnection, encode_publishes
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "the Redis adapter needs the redis extra: pip install 'roomcast[redis]'"
    ) from exc

DEFAULT_URL = "redis://127.0.0.1:6379"

_GLOB_SPECIAL = frozenset("*?[]\\")


def glob_escape(text: str) -> str:
    """``text`` as a literal in a Redis glob pattern."""
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in text)


def _pattern(prefix: str) -> str:
    return glob_escape(prefix) + "*"


class RedisBus(BufferedBus):
    """A ``Bus`` over Redis pub/sub.

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://...`` (TLS) or
            ``unix:///path``; pub/sub ignores the db number.
        connect_timeout: seconds to open a connection.
        command_timeout: seconds a batch of publishes or a NUMSUB may take.
        ping_interval: seconds between PINGs on the subscribed connection; three intervals
            of silence count as a lost connection.
        **options: ``max_buffer``, ``batch_size``, ``reconnect_delay``, ``rejoin_timeout``
            (see ``BufferedBus``).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        connect_timeout: float = 2.0,
        command_timeout: float = 5.0,
        ping_interval: float = 5.0,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.url = url
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.ping_interval = ping_interval
        self._pub: RespConnection | None = None
        self._pub_lock = asyncio.Lock()
        self._sub: RespConnection | None = None
        self._heads: dict[str, bytes] = {}
        self._patterns: dict[bytes, str] = {}
        self._wanted: set[tuple[bytes, bytes]] = set()
        self._confirm: dict[tuple[bytes, bytes], asyncio.Future[None]] = {}

    # -- publishing and counting -------------------------------------------------------------

    async def _publisher(self) -> RespConnection:
        conn = self._pub
        if conn is not None and conn.is_open:
            return conn
        async with self._pub_lock:
            if self._pub is None or not self._pub.is_open:
                self._pub = await RespConnection.open(self.url, timeout=self.connect_timeout)
            return self._pub

    async def _send(self, batch: Sequence[tuple[str, bytes]]) -> None:
        conn = await self._publisher()
        try:
            async with asyncio.timeout(self.command_timeout):
                await conn.request_batch(encode_publishes(batch, self._heads), len(batch))
        except BaseException:
            conn.abort()  # replies may be in flight: start over on a new connection
            raise

    async def count_subscribers(self, channel: str) -> int:
        try:
            conn = await self._publisher()
            async with asyncio.timeout(self.command_timeout):
                reply = await conn.request("PUBSUB", "NUMSUB", channel)
        except Exception as exc:
            stop_if_cancelled(exc)
            raise BusUnavailable(f"cannot count the nodes: {exc}") from exc
        return int(reply[1]) if isinstance(reply, list) and len(reply) == 2 else 0

    # -- the subscribed connection -----------------------------------------------------------

    async def _serve(self) -> None:
        self._patterns = {_pattern(p).encode(): p for p in self.prefixes}
        self._wanted = {(b"psubscribe", p) for p in self._patterns} | {
            (b"subscribe", c.encode()) for c in self.channels
        }
        conn = await RespConnection.open(
            self.url, timeout=self.connect_timeout, on_push=self._on_push
        )
        self._sub = conn
        pinger = asyncio.create_task(self._ping(conn))
        try:
            if self._patterns:
                conn.send("PSUBSCRIBE", *self._patterns)
            if self.channels:
                conn.send("SUBSCRIBE", *self.channels)
            if not self._wanted:
                self._subscribed()
            await conn.closed
            raise ConnectionError("the subscribed connection to Redis closed")
        finally:
            self._sub = None
            pinger.cancel()
            conn.abort()
            for future in self._confirm.values():
                if not future.done():
                    future.set_result(None)  # resubscribed with the next connection
            self._confirm.clear()

    def _on_push(self, reply: Any) -> None:
        if type(reply) is not list or not reply:
            return
        kind = reply[0]
        if kind == b"pmessage":
            prefix = self._patterns.get(reply[1])
            if prefix is not None:
                self._deliver("prefix", prefix, reply[2].decode(), reply[3])
        elif kind == b"message":
            channel = reply[1].decode()
            self._deliver("channel", channel, channel, reply[2])
        elif kind == b"subscribe" or kind == b"psubscribe":
            key = (kind, reply[1])
            if key in self._wanted:
                self._wanted.discard(key)
                if not self._wanted:
                    self._subscribed()
            future = self._confirm.pop(key, None)
            if future is not None and not future.done():
                future.set_result(None)

    async def _ping(self, conn: RespConnection) -> None:
        loop = asyncio.get_running_loop()
        while conn.is_open:
            await asyncio.sleep(self.ping_interval)
            if loop.time() - conn.last_seen > 3 * self.ping_interval:
                conn.abort()  # silent for three pings: the link is dead
                return
            with contextlib.suppress(ConnectionError):
                conn.send("PING")

    @staticmethod
    def _command(kind: SubscriptionKind, name: str, *, subscribe: bool) -> tuple[str, str]:
        if kind == "prefix":
            return ("PSUBSCRIBE" if subscribe else "PUNSUBSCRIBE"), _pattern(name)
        return ("SUBSCRIBE" if subscribe else "UNSUBSCRIBE"), name

    async def _add_subscription(self, kind: SubscriptionKind, name: str) -> None:
        command, target = self._command(kind, name, subscribe=True)
        if kind == "prefix":
            self._patterns[target.encode()] = name
        conn = self._sub
        if conn is None or not conn.is_open:
            return  # the next connection subscribes to everything recorded
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirm[(command.lower().encode(), target.encode())] = future
        with contextlib.suppress(ConnectionError, TimeoutError):
            conn.send(command, target)
            await asyncio.wait_for(future, self.command_timeout)

    async def _remove_subscription(self, kind: SubscriptionKind, name: str) -> None:
        command, target = self._command(kind, name, subscribe=False)
        conn = self._sub
        if conn is not None and conn.is_open:
            with contextlib.suppress(ConnectionError):
                conn.send(command, target)
        if kind == "prefix":
            self._patterns.pop(target.encode(), None)

    async def _disconnect(self) -> None:
        for conn in (self._pub, self._sub):
            if conn is not None:
                conn.abort()
        self._pub = self._sub = None


class RedisAdapter(ClusterAdapter):
    """The cluster adapter over Redis, wire-compatible with ``@socket.io/redis-adapter`` v8:
    Node and Python nodes that share a Redis and a ``key`` form one cluster."""

    @classmethod
    def factory(
        cls,
        url: str = DEFAULT_URL,
        *,
        key: str = "socket.io",
        requests_timeout: float = 5.0,
        heartbeat_interval: float = 5.0,
        specific_response_channel: bool = False,
        bus: RedisBus | None = None,
        **bus_options: Any,
    ) -> ClusterAdapterFactory:
        """``Server(adapter=RedisAdapter.factory(url))``: one adapter per namespace over one
        ``RedisBus`` (made from ``url`` and ``bus_options`` unless ``bus`` is given).

        Args:
            url: where Redis is.
            key: the channel prefix (Node's ``key``).
            requests_timeout: how long cluster requests wait for the other nodes (seconds).
            heartbeat_interval: how often the node count is refreshed (seconds).
            specific_response_channel: Node's ``publishOnSpecificResponseChannel``.
            bus: an existing bus to share (then the factory does not close it).
            **bus_options: ``max_buffer``, ``rejoin_timeout``, ``ping_interval``... (RedisBus).
        """
        own = bus is None
        the_bus = RedisBus(url, **bus_options) if bus is None else bus
        return ClusterAdapterFactory(
            cls,
            the_bus,
            own_bus=own,
            key=key,
            requests_timeout=requests_timeout,
            heartbeat_interval=heartbeat_interval,
            specific_response_channel=specific_response_channel,
        )

"""Redis: the bus under the cluster adapter, wire-compatible with Node's Redis adapter.

Needs the ``redis`` extra (``pip install 'roomcast[redis]'``: redis-py and msgpack).

```python
io = roomcast.Server(adapter=roomcast.RedisAdapter.factory("redis://127.0.0.1:6379"))
```

``RedisBus`` holds two connections per process, shared by every namespace: one publishes
(one pipelined round trip per batch of queued messages) and answers ``PUBSUB NUMSUB``; the
other is subscribed (``PSUBSCRIBE`` for broadcast prefixes, ``SUBSCRIBE`` for request and
response channels) and pings Redis every ``ping_interval`` seconds, so a dead link is noticed
even when nothing is published. Both reconnect by themselves; ``BufferedBus`` keeps what is
published meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

try:
    from redis.asyncio import Redis
    from redis.asyncio.connection import AbstractConnection, ConnectionPool
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "the Redis adapter needs the redis extra: pip install 'roomcast[redis]'"
    ) from exc

from .bus import BufferedBus, BusUnavailable, SubscriptionKind, stop_if_cancelled
from .cluster import ClusterAdapter, ClusterAdapterFactory

DEFAULT_URL = "redis://127.0.0.1:6379"

_GLOB_SPECIAL = frozenset("*?[]\\")


def glob_escape(text: str) -> str:
    """``text`` as a literal in a Redis glob pattern."""
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in text)


class RedisBus(BufferedBus):
    """A ``Bus`` over Redis pub/sub (redis-py asyncio, RESP2).

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]`` (pub/sub ignores the db number).
        connect_timeout: seconds to open a connection.
        command_timeout: seconds a publish or NUMSUB may take.
        ping_interval: seconds between PINGs on the subscribed connection; three missed
            intervals of silence count as a lost connection.
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
        self.command_timeout = command_timeout
        self.ping_interval = ping_interval
        common: dict[str, Any] = {
            "protocol": 2,
            "socket_connect_timeout": connect_timeout,
            "retry": Retry(NoBackoff(), 0),  # BufferedBus retries, with its own backoff
        }
        self._redis = Redis.from_url(url, socket_timeout=command_timeout, **common)
        self._sub_pool: ConnectionPool = ConnectionPool.from_url(url, socket_timeout=None, **common)
        self._conn: AbstractConnection | None = None
        self._confirm: dict[tuple[bytes, str], asyncio.Future[None]] = {}

    @property
    def redis(self) -> Redis:
        """The publishing client (usable for other commands)."""
        return self._redis

    # -- publishing and counting -------------------------------------------------------------

    async def _send(self, batch: Sequence[tuple[str, bytes]]) -> None:
        if len(batch) == 1:
            channel, message = batch[0]
            await self._redis.publish(channel, message)
            return
        pipe = self._redis.pipeline(transaction=False)
        for channel, message in batch:
            pipe.publish(channel, message)
        await pipe.execute()

    async def count_subscribers(self, channel: str) -> int:
        try:
            reply = await self._redis.pubsub_numsub(channel)
        except Exception as exc:
            stop_if_cancelled(exc)
            raise BusUnavailable(f"cannot count the nodes: {exc}") from exc
        return int(reply[0][1]) if reply else 0

    # -- the subscribed connection -----------------------------------------------------------

    @staticmethod
    def _command(kind: SubscriptionKind, name: str, *, subscribe: bool) -> tuple[str, str]:
        if kind == "prefix":
            return ("PSUBSCRIBE" if subscribe else "PUNSUBSCRIBE"), glob_escape(name) + "*"
        return ("SUBSCRIBE" if subscribe else "UNSUBSCRIBE"), name

    async def _serve(self) -> None:
        conn: AbstractConnection = self._sub_pool.make_connection()  # type: ignore[no-untyped-call]
        patterns = {glob_escape(p) + "*": p for p in self.prefixes}
        wanted = {(b"psubscribe", p) for p in patterns} | {(b"subscribe", c) for c in self.channels}
        pinger: asyncio.Task[None] | None = None
        try:
            await conn.connect()  # type: ignore[no-untyped-call]
            self._conn = conn
            if patterns:
                await conn.send_command("PSUBSCRIBE", *patterns)
            if self.channels:
                await conn.send_command("SUBSCRIBE", *self.channels)
            if not wanted:
                self._subscribed()
            pinger = asyncio.create_task(self._ping(conn))
            while True:
                reply = await conn.read_response(timeout=self.ping_interval * 3)
                if not isinstance(reply, list) or not reply:
                    continue
                kind = reply[0]
                if kind == b"pmessage":
                    pattern = reply[1].decode()
                    prefix = patterns.get(pattern) or self._prefix_of(pattern)
                    self._deliver("prefix", prefix, reply[2].decode(), reply[3])
                elif kind == b"message":
                    channel = reply[1].decode()
                    self._deliver("channel", channel, channel, reply[2])
                elif kind in (b"subscribe", b"psubscribe"):
                    key = (kind, reply[1].decode())
                    if key in wanted:
                        wanted.discard(key)
                        if not wanted:
                            self._subscribed()
                    future = self._confirm.pop(key, None)
                    if future is not None and not future.done():
                        future.set_result(None)
        finally:
            self._conn = None
            if pinger is not None:
                pinger.cancel()
            for future in self._confirm.values():
                if not future.done():
                    future.set_result(None)  # resubscribed with the next connection
            self._confirm.clear()
            with contextlib.suppress(Exception):
                await conn.disconnect(nowait=True)

    def _prefix_of(self, pattern: str) -> str:
        for prefix in self.prefixes:
            if glob_escape(prefix) + "*" == pattern:
                return prefix
        return ""

    async def _ping(self, conn: AbstractConnection) -> None:
        while conn.is_connected:
            await asyncio.sleep(self.ping_interval)
            if conn.is_connected and self._conn is conn:
                with contextlib.suppress(Exception):
                    await conn.send_command("PING")

    async def _add_subscription(self, kind: SubscriptionKind, name: str) -> None:
        conn = self._conn
        if conn is None or not conn.is_connected:
            return  # the next connection subscribes to everything recorded
        command, target = self._command(kind, name, subscribe=True)
        future = asyncio.get_running_loop().create_future()
        self._confirm[(command.lower().encode(), target)] = future
        with contextlib.suppress(Exception):
            await conn.send_command(command, target)
            await asyncio.wait_for(future, self.command_timeout)

    async def _remove_subscription(self, kind: SubscriptionKind, name: str) -> None:
        conn = self._conn
        if conn is None or not conn.is_connected:
            return
        command, target = self._command(kind, name, subscribe=False)
        with contextlib.suppress(Exception):
            await conn.send_command(command, target)

    async def _disconnect(self) -> None:
        with contextlib.suppress(Exception):
            await self._redis.aclose()
        with contextlib.suppress(Exception):
            await self._sub_pool.disconnect()


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

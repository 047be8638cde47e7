"""Emit to Socket.IO clients from any process, through Redis, without serving any of them.

The format of Node's ``@socket.io/redis-emitter`` v5, so an ``Emitter`` reaches the clients
of roomcast and Node servers alike (those using the Redis adapter with the same ``key``):

```python
async with roomcast.Emitter("redis://127.0.0.1:6379") as emitter:
    await emitter.to(f"user:{user_id}").emit("notification", {"text": "hi"})
    await emitter.of("/admin").emit("stats", 42)
```

Each call is one ``PUBLISH``; a Redis failure raises (``redis.exceptions.RedisError``), so
the caller knows the message did not go. Needs the ``redis`` extra.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any

from .adapters.base import BroadcastOptions
from .socketio import Packet, PacketType
from .socketio.packets import RESERVED_EVENTS

try:  # redis-py and msgpack (the wire format)
    from redis.asyncio import Redis

    from .adapters.wire import (
        EMITTER_UID,
        Channels,
        RequestType,
        encode_request,
        opts_to_wire,
        pack,
        packet_to_wire,
    )
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("the Emitter needs the redis extra: pip install 'roomcast[redis]'") from exc


def _rooms(rooms: str | Iterable[str]) -> frozenset[str]:
    return frozenset([rooms] if isinstance(rooms, str) else rooms)


class EmitterOperator:
    """Who an emitter's message goes to; ``emit`` sends it. Modifiers return new operators."""

    __slots__ = ("_channels", "_opts", "_redis")

    def __init__(self, redis: Redis, channels: Channels, opts: BroadcastOptions) -> None:
        self._redis = redis
        self._channels = channels
        self._opts = opts

    def _with(self, **changes: Any) -> EmitterOperator:
        opts = self._opts
        return EmitterOperator(
            self._redis,
            self._channels,
            BroadcastOptions(
                rooms=changes.get("rooms", opts.rooms),
                except_rooms=changes.get("except_rooms", opts.except_rooms),
                volatile=changes.get("volatile", opts.volatile),
                compress=changes.get("compress", opts.compress),
            ),
        )

    def to(self, rooms: str | Iterable[str]) -> EmitterOperator:
        """Only the sockets in these rooms (added to any chosen before)."""
        return self._with(rooms=self._opts.rooms | _rooms(rooms))

    in_ = to

    def except_(self, rooms: str | Iterable[str]) -> EmitterOperator:
        """Not the sockets in these rooms."""
        return self._with(except_rooms=self._opts.except_rooms | _rooms(rooms))

    @property
    def volatile(self) -> EmitterOperator:
        """May be dropped for clients not ready to receive."""
        return self._with(volatile=True)

    def compress(self, compress: bool) -> EmitterOperator:
        return self._with(compress=compress)

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the selected sockets of every server."""
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        packet = Packet(PacketType.EVENT, self._channels.nsp, [event, *args])
        message = pack([EMITTER_UID, packet_to_wire(packet), opts_to_wire(self._opts)])
        await self._redis.publish(self._channels.broadcast_to(self._opts.rooms), message)

    async def _request(self, kind: RequestType, **fields: Any) -> None:
        body = {"type": int(kind), "opts": opts_to_wire(self._opts, with_flags=False), **fields}
        await self._redis.publish(self._channels.request, encode_request(body))

    async def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make the selected sockets join ``rooms``."""
        await self._request(RequestType.REMOTE_JOIN, rooms=sorted(_rooms(rooms)))

    async def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make the selected sockets leave ``rooms``."""
        await self._request(RequestType.REMOTE_LEAVE, rooms=sorted(_rooms(rooms)))

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the selected sockets (their whole connection with ``close``)."""
        await self._request(RequestType.REMOTE_DISCONNECT, close=close)


class Emitter:
    """Emits to the clients of a Socket.IO cluster over Redis (Node's redis-emitter format).

    Args:
        url: where Redis is (ignored when ``redis`` is given).
        key: the channel prefix the servers use (their adapter's ``key``).
        nsp: the namespace ("/" by default; ``of()`` gives others).
        redis: an existing redis-py asyncio client to publish with (not closed by ``aclose``).
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379",
        *,
        key: str = "socket.io",
        nsp: str = "/",
        redis: Redis | None = None,
    ) -> None:
        self._own = redis is None
        self.redis: Redis = Redis.from_url(url) if redis is None else redis
        self.key = key
        self.nsp = nsp if nsp.startswith("/") else "/" + nsp
        self._channels = Channels(key, self.nsp)

    def of(self, nsp: str) -> Emitter:
        """An emitter for namespace ``nsp`` sharing this one's connection."""
        return Emitter(key=self.key, nsp=nsp, redis=self.redis)

    def _operator(self) -> EmitterOperator:
        return EmitterOperator(self.redis, self._channels, BroadcastOptions())

    def to(self, rooms: str | Iterable[str]) -> EmitterOperator:
        """Only the sockets in these rooms."""
        return self._operator().to(rooms)

    in_ = to

    def except_(self, rooms: str | Iterable[str]) -> EmitterOperator:
        """Every socket but those in these rooms."""
        return self._operator().except_(rooms)

    @property
    def volatile(self) -> EmitterOperator:
        return self._operator().volatile

    def compress(self, compress: bool) -> EmitterOperator:
        return self._operator().compress(compress)

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every socket of the namespace, on every server."""
        await self._operator().emit(event, *args)

    async def sockets_join(self, rooms: str | Iterable[str]) -> None:
        await self._operator().sockets_join(rooms)

    async def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        await self._operator().sockets_leave(rooms)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await self._operator().disconnect_sockets(close)

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the servers' ``on_server_side`` handlers (no answers: an emitter
        is not subscribed to anything)."""
        kind = int(RequestType.SERVER_SIDE_EMIT)
        body = {"uid": EMITTER_UID, "type": kind, "data": [event, *args]}
        await self.redis.publish(self._channels.request, encode_request(body))

    async def aclose(self) -> None:
        """Close the Redis connection (when the emitter made it)."""
        if self._own:
            await self.redis.aclose()

    async def __aenter__(self) -> Emitter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

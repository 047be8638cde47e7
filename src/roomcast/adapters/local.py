"""A local bus: the cluster adapter's pub/sub between the processes of one machine.

``roomcast serve --workers N`` without Redis runs a ``LocalHub`` in a small process of its
own, listening on a unix socket; each worker's ``LocalBus`` keeps one connection to it. The
hub does what Redis pub/sub does for the Redis adapter, and nothing more: it remembers who
subscribed to which channel (or channel prefix), copies each published message to every
subscriber (the publisher included, as Redis does), and counts the subscribers of a channel
(the node count). Nothing else is needed on a single machine.

```python
io = roomcast.Server(adapter=LocalAdapter.factory("/run/roomcast/bus.sock"))
```

The wire format is length-prefixed frames (``u32`` big-endian length, then one op byte):

========  ===========================================  ==================================
op        from a bus                                   from the hub
========  ===========================================  ==================================
``S P``   subscribe to a channel / a prefix: name
``U Q``   unsubscribe from a channel / a prefix: name
``M``     publish: ``u32`` channel length, channel,    ``c``: ``u32`` length, channel,
          message                                      message; ``p``: the same preceded
                                                       by the prefix (``u32`` length, prefix)
``N``     count subscribers: ``u32`` id, channel       ``n``: ``u32`` id, ``u32`` count
``Y``     sync: ``u32`` id                             ``y``: ``u32`` id, once everything
                                                       sent before it was handled
========  ===========================================  ==================================

The hub never blocks on a slow worker: a connection with more than ``max_backlog`` bytes
waiting is closed, and that worker's bus reconnects (its adapter sees BusDown, then BusUp).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import struct
from collections.abc import Sequence
from typing import Any, Final, cast

from .bus import BufferedBus, BusUnavailable, SubscriptionKind
from .cluster import ClusterAdapter, ClusterAdapterFactory

logger = logging.getLogger("roomcast.cluster")

_U32: Final = struct.Struct("!I")
_U32X2: Final = struct.Struct("!II")
_MAX_FRAME: Final = 256 * 1024 * 1024


def _frame(body: bytes) -> bytes:
    return _U32.pack(len(body)) + body


def _text(data: bytes | memoryview) -> str:
    return bytes(data).decode("utf-8", "surrogateescape")


def _name(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _sized(data: bytes) -> bytes:
    return _U32.pack(len(data)) + data


def _split_sized(body: memoryview) -> tuple[memoryview, memoryview]:
    """``u32 length, that many bytes, rest`` -> (the bytes, rest)."""
    (size,) = _U32.unpack_from(body)
    if size > len(body) - 4:
        raise ValueError("truncated frame")
    return body[4 : 4 + size], body[4 + size :]


class FrameReader:
    """Splits a byte stream into frame bodies (sans-IO)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[memoryview]:
        """The complete frame bodies ``data`` finished; raises ValueError on a bad size."""
        buffer = self._buffer
        buffer += data
        end = len(buffer)
        if end < 4:
            return []
        (size,) = _U32.unpack_from(buffer)
        if size > _MAX_FRAME or size == 0:
            raise ValueError(f"bad frame size {size}")
        if end - 4 < size:
            return []  # not even one frame yet: no copy
        view = memoryview(bytes(buffer))
        bodies: list[memoryview] = []
        offset = 0
        while end - offset >= 4:
            (size,) = _U32.unpack_from(view, offset)
            if size > _MAX_FRAME or size == 0:
                raise ValueError(f"bad frame size {size}")
            if end - offset - 4 < size:
                break
            bodies.append(view[offset + 4 : offset + 4 + size])
            offset += 4 + size
        del buffer[:offset]
        return bodies


# -- the hub ---------------------------------------------------------------------------------


class _HubConnection(asyncio.Protocol):
    """One bus connected to the hub."""

    def __init__(self, hub: LocalHub) -> None:
        self.hub = hub
        self.transport: asyncio.Transport | None = None
        self.reader = FrameReader()
        self.channels: set[str] = set()
        self.prefixes: set[str] = set()
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.hub.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.forget(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            bodies = self.reader.feed(data)
            for body in bodies:
                self.hub.handle(self, body)
        except (ValueError, struct.error, UnicodeDecodeError) as exc:
            logger.warning("local bus hub: closing a connection that sent garbage: %s", exc)
            self.close()
        self.hub.flush()

    def write(self, data: bytes) -> None:
        """Queue ``data``; what a batch of frames produced goes out in one write (flush)."""
        if not self.pending:
            self.hub.dirty.append(self)
        self.pending.append(data)

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(b"".join(pending))
        if transport.get_write_buffer_size() > self.hub.max_backlog:
            logger.warning(
                "local bus hub: a worker is %d bytes behind; dropping its connection",
                transport.get_write_buffer_size(),
            )
            transport.abort()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class LocalHub:
    """The relay every ``LocalBus`` of a machine connects to (see the module docstring).

    Args:
        max_backlog: bytes queued for one connection past which it is dropped.
    """

    def __init__(self, *, max_backlog: int = 64 * 1024 * 1024) -> None:
        self.max_backlog = max_backlog
        self.connections: set[_HubConnection] = set()
        self.channels: dict[str, set[_HubConnection]] = {}
        self.prefixes: dict[str, set[_HubConnection]] = {}
        self.dirty: list[_HubConnection] = []
        self._server: asyncio.Server | None = None

    async def start(self, path: str | None = None, *, sock: socket.socket | None = None) -> None:
        """Serve on the unix socket ``path`` (or the listening socket ``sock``)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _HubConnection(self), path, sock=sock)

    async def aclose(self) -> None:
        """Stop serving and drop every connection."""
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    def flush(self) -> None:
        """Write what the last frames queued, one write per connection."""
        dirty, self.dirty = self.dirty, []
        for connection in dirty:
            connection.flush()

    def forget(self, connection: _HubConnection) -> None:
        self.connections.discard(connection)
        for channel in connection.channels:
            _discard(self.channels, channel, connection)
        for prefix in connection.prefixes:
            _discard(self.prefixes, prefix, connection)
        connection.channels.clear()
        connection.prefixes.clear()

    def handle(self, connection: _HubConnection, body: memoryview) -> None:
        """One frame from ``connection``."""
        op, rest = body[:1].tobytes(), body[1:]
        if op == b"M":
            channel, message = _split_sized(rest)
            self.publish(_text(channel), message.tobytes())
        elif op == b"S":
            name = _text(rest)
            connection.channels.add(name)
            self.channels.setdefault(name, set()).add(connection)
        elif op == b"P":
            name = _text(rest)
            connection.prefixes.add(name)
            self.prefixes.setdefault(name, set()).add(connection)
        elif op == b"U":
            name = _text(rest)
            connection.channels.discard(name)
            _discard(self.channels, name, connection)
        elif op == b"Q":
            name = _text(rest)
            connection.prefixes.discard(name)
            _discard(self.prefixes, name, connection)
        elif op == b"N":
            (request,) = _U32.unpack_from(rest)
            count = len(self.channels.get(_text(rest[4:]), ()))
            connection.write(_frame(b"n" + _U32X2.pack(request, count)))
        elif op == b"Y":
            connection.write(_frame(b"y" + rest.tobytes()))
        else:
            raise ValueError(f"unknown op {op!r}")

    def publish(self, channel: str, message: bytes) -> None:
        """Copy ``message`` to every subscriber of ``channel`` and of its prefixes."""
        name = _name(channel)
        subscribers = self.channels.get(channel)
        if subscribers:
            frame = _frame(b"c" + _sized(name) + message)
            for connection in list(subscribers):
                connection.write(frame)
        for prefix, connections in list(self.prefixes.items()):
            if channel.startswith(prefix):
                frame = _frame(b"p" + _sized(_name(prefix)) + _sized(name) + message)
                for connection in list(connections):
                    connection.write(frame)


def _discard(table: dict[str, set[_HubConnection]], name: str, item: _HubConnection) -> None:
    members = table.get(name)
    if members is not None:
        members.discard(item)
        if not members:
            del table[name]


# -- the bus ---------------------------------------------------------------------------------


class LocalBus(BufferedBus):
    """A ``Bus`` through a ``LocalHub`` on a unix socket: one connection per process.

    Args:
        path: the hub's unix socket.
        connect_timeout: seconds to connect to the hub.
        command_timeout: seconds a subscription or a subscriber count may take.
        **options: ``max_buffer``, ``batch_size``, ``reconnect_delay``, ``rejoin_timeout``
            (see ``BufferedBus``).
    """

    def __init__(
        self,
        path: str,
        *,
        connect_timeout: float = 2.0,
        command_timeout: float = 5.0,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.path = path
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._writer: asyncio.StreamWriter | None = None
        self._replies: dict[int, asyncio.Future[int]] = {}
        self._ids = itertools.count(1)

    # -- publishing and counting -------------------------------------------------------------

    def _live_writer(self) -> asyncio.StreamWriter:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise ConnectionError("not connected to the local bus hub")
        return writer

    async def _send(self, batch: Sequence[tuple[str, bytes]]) -> None:
        writer = self._live_writer()
        writer.write(
            b"".join(_frame(b"M" + _sized(_name(channel)) + message) for channel, message in batch)
        )
        await writer.drain()

    async def _ask(self, op: bytes, payload: bytes = b"") -> int:
        """Send a request the hub answers; its answer (a count, or the id for a sync)."""
        writer = self._live_writer()
        request = next(self._ids) & 0xFFFFFFFF
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._replies[request] = future
        try:
            writer.write(_frame(op + _U32.pack(request) + payload))
            return await asyncio.wait_for(future, self.command_timeout)
        finally:
            self._replies.pop(request, None)

    async def count_subscribers(self, channel: str) -> int:
        try:
            return await self._ask(b"N", _name(channel))
        except (ConnectionError, TimeoutError) as exc:
            raise BusUnavailable(f"cannot count the nodes: {exc}") from exc

    # -- the connection ------------------------------------------------------------------------

    async def _serve(self) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(self.path, limit=_MAX_FRAME), self.connect_timeout
        )
        self._writer = writer
        try:
            writer.write(
                b"".join(
                    [_frame(b"S" + _name(c)) for c in self.channels]
                    + [_frame(b"P" + _name(p)) for p in self.prefixes]
                )
            )
            confirmed = asyncio.ensure_future(self._ask(b"Y"))
            confirmed.add_done_callback(self._confirmed)
            try:
                await self._read(reader)
            finally:
                confirmed.cancel()
        finally:
            self._writer = None
            for future in self._replies.values():
                if not future.done():
                    future.set_exception(ConnectionError("the local bus hub went away"))
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _confirmed(self, future: asyncio.Future[int]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._subscribed()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                head = await reader.readexactly(4)
                (size,) = _U32.unpack(head)
                body = memoryview(await reader.readexactly(size))
            except asyncio.IncompleteReadError as exc:
                raise ConnectionError("the local bus hub closed the connection") from exc
            self._handle(body)

    def _handle(self, body: memoryview) -> None:
        op, rest = body[:1].tobytes(), body[1:]
        if op == b"c":
            channel, message = _split_sized(rest)
            name = _text(channel)
            self._deliver("channel", name, name, message.tobytes())
        elif op == b"p":
            prefix, rest = _split_sized(rest)
            channel, message = _split_sized(rest)
            self._deliver("prefix", _text(prefix), _text(channel), message.tobytes())
        elif op in (b"n", b"y"):
            if op == b"n":
                request, count = _U32X2.unpack_from(rest)
            else:
                (request,) = _U32.unpack_from(rest)
                count = request
            future = self._replies.get(request)
            if future is not None and not future.done():
                future.set_result(count)

    async def _add_subscription(self, kind: SubscriptionKind, name: str) -> None:
        if self._writer is None:
            return  # the next connection subscribes to everything recorded
        with contextlib.suppress(ConnectionError, TimeoutError):
            self._live_writer().write(_frame((b"P" if kind == "prefix" else b"S") + _name(name)))
            await self._ask(b"Y")

    async def _remove_subscription(self, kind: SubscriptionKind, name: str) -> None:
        with contextlib.suppress(ConnectionError):
            self._live_writer().write(_frame((b"Q" if kind == "prefix" else b"U") + _name(name)))


class LocalAdapter(ClusterAdapter):
    """The cluster adapter over a ``LocalBus``: the workers of one machine, no other service."""

    @classmethod
    def factory(
        cls,
        path: str,
        *,
        requests_timeout: float = 5.0,
        heartbeat_interval: float = 5.0,
        **bus_options: Any,
    ) -> ClusterAdapterFactory:
        """``Server(adapter=LocalAdapter.factory(path))``: one adapter per namespace over one
        ``LocalBus`` to the hub at ``path``.

        Args:
            path: the hub's unix socket.
            requests_timeout: how long cluster requests wait for the other workers (seconds).
            heartbeat_interval: how often the worker count is refreshed (seconds).
            **bus_options: ``max_buffer``, ``rejoin_timeout``... (``LocalBus``).
        """
        return ClusterAdapterFactory(
            cls,
            LocalBus(path, **bus_options),
            requests_timeout=requests_timeout,
            heartbeat_interval=heartbeat_interval,
        )

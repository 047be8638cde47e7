"""A lean RESP2 connection for the Redis bus: two commands' worth of Redis, fast.

The bus needs only PUBLISH (many at a time), PUBSUB NUMSUB, (P)SUBSCRIBE and PING, but it
needs them on every broadcast. redis-py parses each reply through several coroutines and a
timeout context; here a whole TCP read is parsed in one synchronous pass
(``RespParser``), replies resolve futures in order, and in subscribed mode each push
message goes straight to a callback. Connection details (URL forms, AUTH, TLS, unix
sockets) follow redis-py's ``parse_url``.

Why by hand: measured with ``bench/redis_fanout.py``, publishing a broadcast through
redis-py cost about 32 µs of CPU on the sending server, through this about 6 µs. The part
kept here is small (the commands above) and is tested against a real Redis and real Node
servers in ``tests/cluster``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final, cast

from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url

CRLF: Final = b"\r\n"


class RespError(Exception):
    """An error reply from Redis (``-ERR ...``)."""


class _Incomplete(Exception):
    """The buffer ends inside a reply."""


_INCOMPLETE: Final = _Incomplete()


def encode_command(*args: bytes | str | int) -> bytes:
    """A command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class RespParser:
    """Incremental RESP2 parser: ``feed`` bytes, get back every reply they complete.

    Replies: bulk strings as bytes, integers as int, simple strings as str, arrays as lists,
    nil as None, errors as RespError instances (returned, not raised).
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        buf = self._buf
        buf += data
        replies: list[Any] = []
        pos = 0
        try:
            while pos < len(buf):
                value, pos = self._parse(buf, pos)
                replies.append(value)
        except _Incomplete:
            pass
        del buf[:pos]
        return replies

    def _parse(self, buf: bytearray, pos: int) -> tuple[Any, int]:
        nl = buf.find(CRLF, pos)
        if nl < 0:
            raise _INCOMPLETE
        kind = buf[pos]
        if kind == 0x24:  # $ bulk string
            size = int(buf[pos + 1 : nl])
            if size < 0:
                return None, nl + 2
            end = nl + 2 + size
            if end + 2 > len(buf):
                raise _INCOMPLETE
            return bytes(buf[nl + 2 : end]), end + 2
        if kind == 0x2A:  # * array; pub/sub messages are arrays of bulk strings: inlined
            count = int(buf[pos + 1 : nl])
            if count < 0:
                return None, nl + 2
            items: list[Any] = []
            pos = nl + 2
            size_of_buf = len(buf)
            for _ in range(count):
                if pos < size_of_buf and buf[pos] == 0x24:
                    nl = buf.find(CRLF, pos)
                    if nl < 0:
                        raise _INCOMPLETE
                    size = int(buf[pos + 1 : nl])
                    if size >= 0:
                        end = nl + 2 + size
                        if end + 2 > size_of_buf:
                            raise _INCOMPLETE
                        items.append(bytes(buf[nl + 2 : end]))
                        pos = end + 2
                        continue
                item, pos = self._parse(buf, pos)
                items.append(item)
            return items, pos
        line = bytes(buf[pos + 1 : nl])
        if kind == 0x3A:  # : integer
            return int(line), nl + 2
        if kind == 0x2B:  # + simple string
            return line.decode(), nl + 2
        if kind == 0x2D:  # - error
            return RespError(line.decode(errors="replace")), nl + 2
        raise ValueError(f"not RESP: {bytes(buf[pos : pos + 20])!r}")


PushHandler = Callable[[Any], None]


class RespConnection(asyncio.Protocol):
    """One connection to Redis.

    ``request`` and ``request_batch`` write commands and wait for their replies, in order.
    Once subscribed, whatever arrives with no request waiting goes to ``on_push``.
    ``closed`` resolves (with the error, if any) when the connection ends.
    """

    def __init__(self, on_push: PushHandler | None = None) -> None:
        self._on_push = on_push
        self._parser = RespParser()
        self._transport: asyncio.Transport | None = None
        self._waiting: deque[tuple[asyncio.Future[Any], int, list[Any]]] = deque()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last_seen = 0.0

    @classmethod
    async def open(
        cls, url: str, *, timeout: float, on_push: PushHandler | None = None
    ) -> RespConnection:
        """Connect to ``url`` (redis://, rediss://, unix://) and authenticate."""
        params = parse_url(url)
        loop = asyncio.get_running_loop()
        connection_class = params.get("connection_class")

        def protocol() -> RespConnection:
            return cls(on_push)

        async with asyncio.timeout(timeout):
            if connection_class is UnixDomainSocketConnection:
                _, conn = await loop.create_unix_connection(protocol, params["path"])
            else:
                tls = ssl.create_default_context() if connection_class is SSLConnection else None
                host, port = params.get("host", "localhost"), params.get("port", 6379)
                _, conn = await loop.create_connection(protocol, host, port, ssl=tls)
            password = params.get("password")
            if password is not None:
                username = params.get("username")
                auth = ("AUTH", username, password) if username else ("AUTH", password)
                await conn.request(*auth)
        return conn

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.last_seen = asyncio.get_running_loop().time()

    def data_received(self, data: bytes) -> None:
        self.last_seen = asyncio.get_running_loop().time()
        try:
            replies = self._parser.feed(data)
        except ValueError as exc:
            self.abort(exc)
            return
        waiting = self._waiting
        for reply in replies:
            if waiting:
                future, remaining, errors = waiting[0]
                if isinstance(reply, RespError):
                    errors.append(reply)
                if remaining > 1:
                    waiting[0] = (future, remaining - 1, errors)
                    continue
                waiting.popleft()
                if not future.done():
                    if errors:
                        future.set_exception(errors[0])
                    else:
                        future.set_result(reply)
            elif self._on_push is not None:
                self._on_push(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionError(f"connection to Redis lost: {exc or 'closed by the server'}")
        for future, _, _ in self._waiting:
            if not future.done():
                future.set_exception(error)
        self._waiting.clear()
        if not self.closed.done():
            self.closed.set_exception(error)
            self.closed.exception()  # retrieved: nobody has to wait on it

    # -- commands ------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self.closed.done()

    def send(self, *args: bytes | str | int) -> None:
        """Write a command whose answer comes as a push (SUBSCRIBE, PING when subscribed)."""
        self._write(encode_command(*args))

    def _write(self, data: bytes) -> None:
        if not self.is_open:
            raise ConnectionError("the connection to Redis is closed")
        assert self._transport is not None
        self._transport.write(data)

    async def request(self, *args: bytes | str | int) -> Any:
        """Send one command; its reply (RespError raised)."""
        return await self.request_batch(encode_command(*args), 1)

    async def request_batch(self, commands: bytes, count: int) -> Any:
        """Send ``count`` encoded commands at once; the last reply (the first error raised)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._write(commands)
        self._waiting.append((future, count, []))
        return await future

    def abort(self, exc: BaseException | None = None) -> None:
        """Drop the connection now."""
        if self._transport is not None:
            self._transport.abort()
        elif not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def encode_publishes(batch: Sequence[tuple[str, bytes]], cache: dict[str, bytes]) -> bytes:
    """PUBLISH commands for ``batch``; ``cache`` keeps each channel's encoded head."""
    parts: list[bytes] = []
    for channel, message in batch:
        head = cache.get(channel)
        if head is None:
            name = channel.encode()
            head = b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n" % (len(name), name)
            if len(cache) < 10_000:
                cache[channel] = head
        parts.append(head)
        parts.append(b"$%d\r\n" % len(message))
        parts.append(message)
        parts.append(CRLF)
    return b"".join(parts)

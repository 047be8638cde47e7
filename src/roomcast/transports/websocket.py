"""WebSocket links: how the Engine.IO socket writes to and reads from one WebSocket.

The fast link writes ready-made frames straight to the connection's transport. A broadcast
builds its frame once (``Outgoing.frame``) and every recipient writes those same bytes.
A link's first frame of a loop tick is written at once; the frames that follow it in the
same tick leave together in one write at the end of the tick (the cork).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Final

from .deflate import MessageCompressor, SharedDeflater
from .frames import SMALL_TEXT_HEADERS, Opcode, build_frame, compressed_frame, text_frame

_RESET = struct.pack("ii", 1, 0)
"""SO_LINGER on, zero seconds: closing the socket resets the connection."""


class Outgoing:
    """One Engine.IO MESSAGE, encoded once however many sockets it goes to."""

    __slots__ = ("_deflated", "_frame", "compress", "data", "volatile")

    def __init__(self, data: str | bytes, *, volatile: bool = False, compress: bool = True) -> None:
        self.data = data
        self.volatile = volatile
        self.compress = compress
        """False: never compressed (``compress(False)``), even where it was agreed."""
        self._frame: bytes | None = None
        self._deflated: tuple[SharedDeflater, bytes] | None = None

    def frame(self) -> bytes:
        """The WebSocket frame carrying this message (built on first use)."""
        frame = self._frame
        if frame is None:
            data = self.data
            if isinstance(data, str):
                frame = text_frame(("4" + data).encode())
            else:
                frame = build_frame(data, Opcode.BINARY)
            self._frame = frame
        return frame

    def wire(self) -> str | bytes:
        """The WebSocket message as sent (for links that frame messages themselves)."""
        data = self.data
        return "4" + data if isinstance(data, str) else data

    def deflated_frame(self, compressor: MessageCompressor) -> bytes:
        """The frame for a link that compresses with ``compressor``: compressed once for
        every link that shares its deflate context (a broadcast), or as it is."""
        if not self.compress:
            return self.frame()
        shared = compressor.shared
        cached = self._deflated
        if cached is not None and cached[0] is shared:
            return cached[1]
        wire = self.wire()
        if isinstance(wire, str):
            data, opcode = compressor.compress(wire.encode()), Opcode.TEXT
        else:
            data, opcode = compressor.compress(wire), Opcode.BINARY
        frame = self.frame() if data is None else compressed_frame(data, opcode)
        if shared is not None:
            self._deflated = (shared, frame)
        return frame


class RawOutgoing(Outgoing):
    """One plain WebSocket message (no Engine.IO prefix), framed once for every recipient."""

    __slots__ = ()

    def frame(self) -> bytes:
        frame = self._frame
        if frame is None:
            data = self.data
            if isinstance(data, str):
                frame = text_frame(data.encode())
            else:
                frame = build_frame(data, Opcode.BINARY)
            self._frame = frame
        return frame

    def wire(self) -> str | bytes:
        return self.data


MESSAGES_PER_TURN: Final = 16
"""WebSocket messages of one connection handled per loop turn at most: a client sending as
fast as it can gets its share of the loop, no more (the native server reads frames in such
turns; ``EngineSocket.serve_link`` pulls messages from other hosts' links in such turns)."""


class WebSocketLink(ABC):
    """One accepted WebSocket as the Engine.IO socket sees it."""

    @abstractmethod
    def send_outgoing(self, message: Outgoing) -> None:
        """Queue a prepared MESSAGE; never blocks."""

    @abstractmethod
    def send_encoded(self, data: str | bytes) -> None:
        """Queue one Engine.IO-encoded packet; never blocks."""

    @abstractmethod
    async def receive(self) -> str | bytes | None:
        """The next message; None once the WebSocket is closed or failed."""

    @abstractmethod
    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Send what is queued, then a close frame, and close."""

    def ping(self, payload: bytes = b"") -> bool:
        """Send a PING; False when this link cannot (its host pings by itself)."""
        return False

    @abstractmethod
    def buffered_amount(self) -> int:
        """Bytes accepted but not yet handed to the kernel."""

    held: asyncio.Event | None = None
    """Set while reading is held: what pulls messages (``receive``) waits for it first."""

    def hold_reading(self, held: bool) -> None:
        """Stop (True) or go on (False) reading the client's messages: backpressure while
        the work of its earlier messages piles up. A link whose messages are pulled
        (``receive``) is held by whoever pulls them, waiting on ``held``."""
        if held:
            if self.held is None:
                self.held = asyncio.Event()
        elif self.held is not None:
            self.held.set()
            self.held = None

    failure: str | None = None
    """Why receive() returned None, when the cause was an error (e.g. message too big)."""

    on_overflow: Callable[[], None] | None = None
    """Set by the socket that owns the link: called once if the client stops reading."""

    on_pong: Callable[[bytes], None] | None = None
    """Set by the owner to hear of PONG frames (links that ``ping``)."""

    close_code: int | None = None
    """The code of the client's close frame, once it came (1005: none given)."""
    close_reason: str = ""


class Cork:
    """The loop tick as links see it: ``tick`` counts ticks in which something was written;
    the links with frames held back in this tick are flushed, each once, at its end."""

    __slots__ = ("_dirty", "_loop", "armed", "tick")

    def __init__(self) -> None:
        self._dirty: list[CorkedLink] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.tick = 0
        self.armed = False
        """Whether the end of the current tick (``flush``) is scheduled."""

    def arm(self) -> None:
        """Something was written in this tick: end it (``flush``) when the loop comes round."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        loop.call_soon(self.flush)
        self.armed = True

    def hold(self, link: CorkedLink) -> None:
        """``link`` holds frames back until the end of this tick."""
        self._dirty.append(link)

    def flush(self) -> None:
        """End the tick: every link writes what it held back, in one write each."""
        self.tick += 1
        self.armed = False
        dirty, self._dirty = self._dirty, []
        for link in dirty:
            link.flush()


def encoded_frame(data: str | bytes, compressor: MessageCompressor) -> bytes:
    """The frame for one encoded message on a link that agreed to permessage-deflate:
    compressed when over the threshold and smaller for it."""
    if isinstance(data, str):
        payload, opcode = data.encode(), Opcode.TEXT
        n = len(payload)
        if n < 126 and n < compressor.threshold:  # an ack, a ping: as it is
            return SMALL_TEXT_HEADERS[n] + payload
    else:
        payload, opcode = data, Opcode.BINARY
    compressed = compressor.compress(payload)
    if compressed is None:
        return build_frame(payload, opcode)
    return compressed_frame(compressed, opcode)


class CorkedLink(WebSocketLink):
    """Writes ready frames to an asyncio transport: the first of a loop tick at once, the
    rest of that tick corked into one write.

    Past ``max_buffer`` bytes waiting in the transport (a client that stopped reading),
    ``on_overflow`` is called once and the connection is aborted.
    """

    closing = False
    """Set once the CLOSE frame is written: what is sent after it is dropped."""

    def __init__(self, transport: asyncio.WriteTransport, cork: Cork, max_buffer: int) -> None:
        self._transport = transport
        self._cork = cork
        self._max_buffer = max_buffer
        self._pending: list[bytes] | None = None
        self._tick = -1  # the cork's tick of this link's last immediate write

    def send_outgoing(self, message: Outgoing) -> None:
        self.send_frame(message.frame())

    def send_encoded(self, data: str | bytes) -> None:
        if isinstance(data, str):
            payload = data.encode()  # ``text_frame``, one call less on the ack path
            n = len(payload)
            if n < 126:
                self.send_frame(SMALL_TEXT_HEADERS[n] + payload)
            else:
                self.send_frame(build_frame(payload, Opcode.TEXT))
        else:
            self.send_frame(build_frame(data, Opcode.BINARY))

    def send_frame(self, frame: bytes) -> None:
        """Send a whole frame: the first of a loop tick at once (no added latency), the
        others of the same tick together at its end (one write for many)."""
        pending = self._pending
        if pending is not None:
            pending.append(frame)
            return
        cork = self._cork
        if self._tick != cork.tick:  # the first frame of this tick (the cork's tick moves
            self._tick = cork.tick  # only at the end of a tick in which it was armed)
            if not cork.armed:
                cork.arm()
            self._write(frame)
        else:
            self._pending = [frame]
            cork.hold(self)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending:
            self._write(pending[0] if len(pending) == 1 else b"".join(pending))

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if self.closing or transport.is_closing():  # after the CLOSE frame, nothing goes
            return
        transport.write(data)
        if transport.get_write_buffer_size() > self._max_buffer:
            self._overflow()

    def _overflow(self) -> None:
        """The client stopped reading: its owner hears of it (``on_overflow``), then the
        connection is aborted. A graceful close would wait for a buffer that never drains;
        an abort frees it and the file descriptor at once, and with no linger the kernel
        drops its own buffers too and the client sees a reset."""
        self._max_buffer = 1 << 62  # report once
        if self.on_overflow is not None:
            self.on_overflow()
        self.closing = True
        self._pending = None
        transport = self._transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # a reset: the kernel drops what it holds too
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
        transport.abort()

    def buffered_amount(self) -> int:
        pending = self._pending
        queued = sum(map(len, pending)) if pending else 0
        return queued + self._transport.get_write_buffer_size()


class QueuedLink(WebSocketLink):
    """A link over async send functions (ASGI): one writer task sends the queued messages."""

    def __init__(
        self,
        send_text: Callable[[str], Awaitable[None]],
        send_bytes: Callable[[bytes], Awaitable[None]],
    ) -> None:
        self._send_text = send_text
        self._send_bytes = send_bytes
        self._queue: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._buffered = 0
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def send_outgoing(self, message: Outgoing) -> None:
        self.send_encoded(message.wire())

    def send_encoded(self, data: str | bytes) -> None:
        self._buffered += len(data)
        self._queue.put_nowait(data)

    def buffered_amount(self) -> int:
        return self._buffered

    async def _write_loop(self) -> None:
        while (item := await self._queue.get()) is not None:
            self._buffered -= len(item)
            try:
                if isinstance(item, str):
                    await self._send_text(item)
                else:
                    await self._send_bytes(item)
            except Exception:  # the peer went away; receive() reports it
                return

    async def drain(self) -> None:
        """Wait until everything queued so far is sent, then stop the writer."""
        self._queue.put_nowait(None)
        await self._writer

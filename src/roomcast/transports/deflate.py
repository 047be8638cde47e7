"""permessage-deflate (RFC 7692), sans-IO: the negotiation, and messages in and out.

The cost of the extension is zlib's memory: a deflate context holds about 256 KiB (its
window and hash tables), an inflate context 7 KiB plus its window (32 KiB). So by default
neither side keeps a context between messages (``server_no_context_takeover`` and
``client_no_context_takeover`` in every answer, which the RFC lets a server ask for):

- out: one deflate context per route and window size, shared by all its connections, is
  reset after each message (``Z_FULL_FLUSH``); a broadcast is compressed once and the same
  frame bytes go to every recipient;
- in: a message is inflated by a context made for it and dropped after it.

An idle connection then holds no zlib memory at all. With context takeover asked for in
``PerMessageDeflate``, each connection gets its own contexts, made when first needed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Final

from ..exceptions import PayloadTooLarge, RemoteProtocolError

EXTENSION: Final = "permessage-deflate"
_TAIL: Final = b"\x00\x00\xff\xff"
"""What a flush ends with; removed from a compressed message, put back to inflate it."""


@dataclass(frozen=True, slots=True)
class PerMessageDeflate:
    """permessage-deflate options of a route (``Server(per_message_deflate=...)``,
    ``WebSocketEndpoint(per_message_deflate=...)``).

    Attributes:
        threshold: messages smaller than this (bytes) are sent as they are (1 KiB, as Node's
            ``ws``); a compressed message that is not smaller is sent as it is, too.
        level: zlib's compression level (-1: zlib's default, 6; 1 is faster).
        mem_level: zlib's memLevel (1-9) of the deflate contexts.
        server_no_context_takeover: compress each message on its own (the default): no
            deflate context per connection, one compression per broadcast. False keeps one
            context per connection (better ratios on similar messages; about 256 KiB each,
            made at the first compressed message).
        client_no_context_takeover: ask clients to compress each message on its own (the
            default): no inflate context kept per connection. False keeps one per
            connection that sends compressed messages (7 KiB plus the client's window).
        server_max_window_bits: the window of the server's compression (9-15).
        client_max_window_bits: the window asked of clients that can limit theirs (8-15;
            None: no limit asked).
    """

    threshold: int = 1024
    level: int = zlib.Z_DEFAULT_COMPRESSION
    mem_level: int = 8
    server_no_context_takeover: bool = True
    client_no_context_takeover: bool = True
    server_max_window_bits: int = 15
    client_max_window_bits: int | None = None

    def __post_init__(self) -> None:
        if not 9 <= self.server_max_window_bits <= 15:
            raise ValueError("server_max_window_bits must be between 9 and 15 (zlib has no 8)")
        bits = self.client_max_window_bits
        if bits is not None and not 8 <= bits <= 15:
            raise ValueError("client_max_window_bits must be between 8 and 15")
        if not -1 <= self.level <= 9 or not 1 <= self.mem_level <= 9:
            raise ValueError("level must be between -1 and 9, mem_level between 1 and 9")
        if self.threshold < 0:
            raise ValueError("threshold must be 0 or more")

    @classmethod
    def from_option(cls, option: bool | PerMessageDeflate | None) -> PerMessageDeflate | None:
        """The options of ``per_message_deflate=``: True for the defaults, False/None off."""
        if option is True:
            return cls()
        return option or None


@dataclass(frozen=True, slots=True)
class Agreement:
    """What a handshake agreed on, and the ``Sec-WebSocket-Extensions`` answer saying it."""

    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int
    """The window the server compresses with."""
    client_max_window_bits: int
    """The window the server inflates with (at least 9: zlib compresses "8" with 9)."""
    response: str


Params = dict[str, str | None]


def parse_extensions(values: list[str]) -> list[tuple[str, Params | None]]:
    """The extensions of ``Sec-WebSocket-Extensions`` header values, in order, each with its
    parameters (None when they are malformed: a repeated name, a bad value)."""
    offers: list[tuple[str, Params | None]] = []
    for item in ",".join(values).split(","):
        name, *raw = (part.strip() for part in item.split(";"))
        if not name:
            continue
        params: Params | None = {}
        for param in raw:
            key, eq, value = (s.strip() for s in param.partition("="))
            if value.startswith('"') and value.endswith('"') and len(value) >= 2:
                value = value[1:-1]
            if params is None or not key or key in params or (eq and not value):
                params = None
                continue
            params[key] = value if eq else None
        offers.append((name.lower(), params))
    return offers


def _bits(value: str | None) -> int | None:
    """A window size parameter's value (8-15, plain digits), or None when it is not one."""
    if value is None or not (value.isascii() and value.isdigit()) or value.startswith("0"):
        return None
    bits = int(value)
    return bits if 8 <= bits <= 15 else None


def accept_offer(config: PerMessageDeflate, params: Params) -> Agreement | None:
    """The agreement answering one permessage-deflate offer, or None to decline it (an
    unknown parameter, a bad value, or what zlib cannot do: a server window of 8)."""
    server_nct = config.server_no_context_takeover
    client_nct = config.client_no_context_takeover
    server_bits = config.server_max_window_bits
    client_bits: int | None = None
    offered_client_bits = False
    for key, value in params.items():
        if key == "server_no_context_takeover" and value is None:
            server_nct = True
        elif key == "client_no_context_takeover" and value is None:
            client_nct = True  # a hint we take: no inflate context to keep
        elif key == "server_max_window_bits" and (bits := _bits(value)) is not None:
            if bits == 8:
                return None  # zlib cannot compress with a 256-byte window
            server_bits = min(server_bits, bits)
        elif key == "client_max_window_bits" and (value is None or _bits(value) is not None):
            offered_client_bits = True
            client_bits = _bits(value)
        else:
            return None
    answer = [EXTENSION]
    if server_nct:
        answer.append("server_no_context_takeover")
    if client_nct:
        answer.append("client_no_context_takeover")
    if server_bits < 15 or "server_max_window_bits" in params:
        answer.append(f"server_max_window_bits={server_bits}")
    if offered_client_bits and config.client_max_window_bits is not None:
        wanted = config.client_max_window_bits
        client_bits = wanted if client_bits is None else min(client_bits, wanted)
    if offered_client_bits and client_bits is not None:
        answer.append(f"client_max_window_bits={client_bits}")
    return Agreement(
        server_no_context_takeover=server_nct,
        client_no_context_takeover=client_nct,
        server_max_window_bits=server_bits,
        client_max_window_bits=15 if client_bits is None else max(client_bits, 9),
        response="; ".join(answer),
    )


def negotiate(config: PerMessageDeflate, header_values: list[str]) -> Agreement | None:
    """The first permessage-deflate offer of the client that can be accepted; None when it
    offers none or none can be (the WebSocket then goes on without compression)."""
    for name, params in parse_extensions(header_values):
        if name == EXTENSION and params is not None:
            agreement = accept_offer(config, params)
            if agreement is not None:
                return agreement
    return None


class SharedDeflater:
    """One deflate context for many connections: each message compressed on its own (the
    context is reset after it), so its bytes suit every client that agreed to no server
    context takeover with this window."""

    __slots__ = ("_flush", "_z")

    def __init__(self, level: int, mem_level: int, window_bits: int) -> None:
        self._z = zlib.compressobj(level, zlib.DEFLATED, -window_bits, mem_level)
        self._flush = zlib.Z_FULL_FLUSH

    def compress(self, data: bytes) -> bytes:
        """``data`` compressed as one message (without the flush's tail)."""
        z = self._z
        return (z.compress(data) + z.flush(self._flush))[:-4]


class ContextDeflater(SharedDeflater):
    """The deflate context of one connection with server context takeover: each message may
    refer to the ones before it."""

    __slots__ = ()

    def __init__(self, level: int, mem_level: int, window_bits: int) -> None:
        super().__init__(level, mem_level, window_bits)
        self._flush = zlib.Z_SYNC_FLUSH


class Deflation:
    """A route's permessage-deflate: its options, the negotiation and the shared contexts."""

    __slots__ = ("_shared", "config")

    def __init__(self, config: PerMessageDeflate) -> None:
        self.config = config
        self._shared: dict[int, SharedDeflater] = {}

    def negotiate(self, header_values: list[str]) -> Agreement | None:
        return negotiate(self.config, header_values)

    def compressor(self, agreement: Agreement) -> MessageCompressor:
        """What compresses the messages of one connection."""
        bits = agreement.server_max_window_bits
        if not agreement.server_no_context_takeover:
            return MessageCompressor(self.config, None, bits)
        shared = self._shared.get(bits)
        if shared is None:
            config = self.config
            shared = self._shared[bits] = SharedDeflater(config.level, config.mem_level, bits)
        return MessageCompressor(self.config, shared, bits)

    def inflater(self, agreement: Agreement, max_size: int) -> MessageInflater:
        """What inflates the messages of one connection (``max_size``: the largest message)."""
        return MessageInflater(
            agreement.client_max_window_bits, agreement.client_no_context_takeover, max_size
        )


class MessageCompressor:
    """The sending side of one connection: which messages are compressed, and how."""

    __slots__ = ("_bits", "_config", "_own", "shared", "threshold")

    def __init__(
        self, config: PerMessageDeflate, shared: SharedDeflater | None, window_bits: int
    ) -> None:
        self._config = config
        self.threshold = config.threshold
        self.shared = shared
        """The deflate context shared with other connections (None: context takeover)."""
        self._bits = window_bits
        self._own: ContextDeflater | None = None

    def compress(self, payload: bytes) -> bytes | None:
        """A message's payload compressed (to send in a frame with RSV1 set), or None to
        send it as it is (under the threshold, or no smaller compressed)."""
        if len(payload) < self.threshold:
            return None
        shared = self.shared
        if shared is not None:
            data = shared.compress(payload)
            return data if len(data) < len(payload) else None
        own = self._own
        if own is None:
            config = self._config
            own = self._own = ContextDeflater(config.level, config.mem_level, self._bits)
        # once compressed, it is sent compressed: the client's window must see it
        return own.compress(payload)


# -- in ---------------------------------------------------------------------------------------


class InvalidCompressedData(RemoteProtocolError):
    """A compressed message that does not inflate."""


class MessageInflater:
    """The receiving side of one connection: inflates compressed messages, within
    ``max_size`` (a decompression bomb stops there)."""

    __slots__ = ("_bits", "_fresh", "_size", "_z", "max_size")

    def __init__(self, window_bits: int, no_context_takeover: bool, max_size: int) -> None:
        self._bits = window_bits
        self._fresh = no_context_takeover
        self.max_size = max_size
        self._z: zlib._Decompress | None = None
        self._size = 0

    @property
    def holds_context(self) -> bool:
        """Whether an inflate context is kept (between messages: context takeover only)."""
        return self._z is not None

    def start(self) -> None:
        """A compressed message begins."""
        self._size = 0
        if self._fresh or self._z is None:
            self._z = zlib.decompressobj(-self._bits)

    def feed(self, data: bytes, fin: bool) -> bytes:
        """The inflated bytes of one frame of the message (``fin``: its last).

        Raises:
            InvalidCompressedData: ``data`` does not inflate (close with 1007).
            PayloadTooLarge: the message inflates past ``max_size`` (close with 1009).
        """
        z = self._z
        assert z is not None, "start() first"
        if fin:
            data += _TAIL
        budget = self.max_size - self._size + 1
        try:
            out = z.decompress(data, budget)
        except zlib.error as exc:
            self._z = None
            raise InvalidCompressedData(f"invalid compressed data: {exc}") from exc
        self._size += len(out)
        if z.unconsumed_tail or self._size > self.max_size:
            self._z = None
            raise PayloadTooLarge(self._size, self.max_size)
        if fin and (self._fresh or z.eof):
            self._z = None  # nothing kept between messages (or the stream ended)
        return out

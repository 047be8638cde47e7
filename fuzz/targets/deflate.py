"""permessage-deflate (RFC 7692): the offer a client sends, and the messages it compresses.

The first byte picks the part. Negotiation: the rest is ``Sec-WebSocket-Extensions`` header
values (one a line) offered to a route whose options the byte also sets; the answer must be
one the parser reads back, that negotiates to itself. Inflation: the rest is frames, each a
length byte (its top bit: the last frame of the message) and that many bytes, inflated within
a 256-byte limit. Properties: only InvalidCompressedData or PayloadTooLarge; no message
inflates past the limit; an inflater that failed starts the next message afresh.
"""

from __future__ import annotations

import zlib

from roomcast.exceptions import PayloadTooLarge
from roomcast.transports.deflate import (
    EXTENSION,
    InvalidCompressedData,
    MessageInflater,
    PerMessageDeflate,
    negotiate,
    parse_extensions,
)

LIMIT = 256


def _compressed(data: bytes) -> bytes:
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH))[:-4]


def _frames(*parts: tuple[bytes, bool]) -> bytes:
    return b"".join(bytes([len(p) | (0x80 if fin else 0)]) + p for p, fin in parts)


SEEDS = [
    b"\x00permessage-deflate; client_max_window_bits",
    b"\x02permessage-deflate; server_max_window_bits=10; client_max_window_bits=12,"
    b" permessage-deflate",
    b'\x04x-webkit-deflate-frame\npermessage-deflate; server_no_context_takeover; "a"',
    b'\x06permessage-deflate; client_max_window_bits="9"; client_no_context_takeover',
    b"\x01" + _frames((_compressed(b"hello hello hello"), True)),
    b"\x03" + _frames((_compressed(b"a" * 100)[:3], False), (_compressed(b"a" * 100)[3:], True)),
    b"\x05" + _frames((_compressed(b"x" * 1000), True)),
]


def _config(flags: int) -> PerMessageDeflate:
    return PerMessageDeflate(
        server_no_context_takeover=not flags & 4,
        client_no_context_takeover=not flags & 8,
        server_max_window_bits=9 + (flags >> 4) % 7,
        client_max_window_bits=None if flags & 2 else 8 + (flags >> 5) % 8,
    )


def _negotiation(flags: int, text: str) -> None:
    config = _config(flags)
    agreement = negotiate(config, text.split("\n"))
    if agreement is None:
        return
    assert 9 <= agreement.server_max_window_bits <= 15
    assert 9 <= agreement.client_max_window_bits <= 15
    ((name, params),) = parse_extensions([agreement.response])
    assert name == EXTENSION, agreement.response
    assert params is not None, agreement.response
    assert negotiate(config, [agreement.response]) == agreement, (text, agreement)


def _inflation(flags: int, data: bytes) -> None:
    inflater = MessageInflater(8 + (flags >> 4) % 8, not flags & 2, LIMIT)
    started = False
    size = 0
    i = 0
    while i < len(data):
        n, fin = data[i] & 0x7F, data[i] & 0x80 != 0
        frame = data[i + 1 : i + 1 + n]
        i += 1 + n
        if not started:
            inflater.start()
            started, size = True, 0
        try:
            size += len(inflater.feed(frame, fin))
        except (InvalidCompressedData, PayloadTooLarge):
            started = False  # the connection closes; a new one starts afresh
            inflater = MessageInflater(8 + (flags >> 4) % 8, not flags & 2, LIMIT)
            continue
        assert size <= LIMIT, size
        if fin:
            started = False


def test_one_input(data: bytes) -> None:
    if not data:
        return
    if data[0] & 1:
        _inflation(data[0], data[1:])
    else:
        _negotiation(data[0], data[1:].decode("latin-1"))

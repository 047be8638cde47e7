"""WebSocket frames from a client (RFC 6455), with and without permessage-deflate.

The first byte sets the parser (bit 0: permessage-deflate agreed, bit 1: with client
context takeover, bits 2-3: the message size limit, 64 to 512 bytes); the second how the
rest is cut into reads (0: one read). Properties: no exception; no message over the limit;
the bytes held waiting for the rest of a frame stay within the limit (or a control
frame's 125 bytes), plus a header;
nothing after a Failure; ``lone_text``, the short path, gives what ``feed`` gives.
"""

from __future__ import annotations

import struct

from roomcast.transports.deflate import MessageInflater
from roomcast.transports.frames import Failure, FrameParser

HEADER = 14
"""The longest frame header: 2 bytes, a 64-bit length, a mask."""


def client_frame(
    opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, mask: bytes = b"7\xfa!="
) -> bytes:
    """A masked client frame (for the seeds and the tests)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


SEEDS = [
    b"\x00\x00" + client_frame(1, b"4hello"),
    b"\x00\x03" + client_frame(2, b"\x01\x02\x03") + client_frame(9, b"ping"),
    b"\x04\x00"
    + client_frame(1, b"4he", fin=False)
    + client_frame(10, b"")
    + client_frame(0, b"y"),
    b"\x00\x00" + client_frame(8, b"\x03\xe8bye"),
    b"\x01\x00" + client_frame(1, bytes.fromhex("f2cbc8c90700"), rsv1=True),
    b"\x03\x05"
    + client_frame(2, bytes.fromhex("f2cbc8c90700"), rsv1=True, fin=False)
    + client_frame(0, b""),
    b"\x00\x00" + client_frame(1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),
    b"\x0c\x00" + client_frame(2, b"x" * 300),
]


def parser_for(flags: int) -> tuple[FrameParser, int]:
    max_size = 64 << ((flags >> 2) & 3)
    inflater = None
    if flags & 1:
        inflater = MessageInflater(15, not flags & 2, max_size)
    return FrameParser(max_size, inflater), max_size


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    parser, max_size = parser_for(data[0])
    step = data[1] or len(data)
    stream = data[2:]
    failed = False
    for start in range(0, len(stream), step):
        chunk = stream[start : start + step]
        text = parser.lone_text(chunk)
        if text is not None:
            assert FrameParser(max_size).feed(chunk) == [text], chunk
        received = parser.feed(chunk)
        if text is not None:
            assert received == [text], (chunk, received)
        if failed:
            assert received == [], received
        for item in received:
            if isinstance(item, str):
                assert len(item.encode()) <= max_size
            elif isinstance(item, bytes):
                assert len(item) <= max_size
        failed = failed or any(isinstance(item, Failure) for item in received)
        # one frame at most waits for its end: a message within the limit, a control frame
        # within 125 bytes
        assert len(parser._buffer) <= max(max_size, 125) + HEADER, len(parser._buffer)
        assert parser._fragments_size <= max_size, parser._fragments_size

"""WebSocket framing (RFC 6455), sans-IO: server frames out, client frames in.

Kept small on purpose: the native server needs only the server side of the protocol, and
unmasking, the one costly step, is done by the C helper that ``websockets`` ships.
"""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from websockets.speedups import apply_mask

from ..exceptions import PayloadTooLarge
from .deflate import InvalidCompressedData, MessageInflater


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005
    ABNORMAL = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011


_CONTROL: Final = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})
_OPCODES: Final = {int(op): op for op in Opcode}


SMALL_TEXT_HEADERS: Final = [bytes((0x81, n)) for n in range(126)]
"""The header of a final, unmasked server TEXT frame, by payload length below 126."""


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked server TEXT frame (small ones with a ready header)."""
    n = len(payload)
    if n < 126:
        return SMALL_TEXT_HEADERS[n] + payload
    return build_frame(payload, Opcode.TEXT)


RSV1: Final = 0x40
"""Or-ed into a frame's opcode: a compressed (permessage-deflate) message."""


def compressed_frame(payload: bytes, opcode: int) -> bytes:
    """A final, unmasked server frame of a compressed message (RSV1 set)."""
    return build_frame(payload, RSV1 | opcode)


def build_frame(payload: bytes, opcode: int) -> bytes:
    """A final, unmasked server frame."""
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        header = struct.pack("!BB", first, n)
    elif n < 65536:
        header = struct.pack("!BBH", first, 126, n)
    else:
        header = struct.pack("!BBQ", first, 127, n)
    return header + payload


def close_frame(code: int, reason: str = "") -> bytes:
    """A CLOSE frame; the reason is cut to fit (123 bytes), on a character boundary."""
    raw = reason.encode()[:123].decode(errors="ignore").encode()
    return build_frame(struct.pack("!H", code) + raw, Opcode.CLOSE)


def _valid_close_code(code: int) -> bool:
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def close_reply(payload: bytes) -> tuple[int, str]:
    """The code (and reason) to answer a client's CLOSE frame with (RFC 6455 5.5.1, 7.4)."""
    if not payload:
        return CloseCode.NORMAL, ""
    code = int.from_bytes(payload[:2], "big")
    if len(payload) == 1 or not _valid_close_code(code):
        return CloseCode.PROTOCOL_ERROR, "invalid close frame"
    try:
        payload[2:].decode()
    except UnicodeDecodeError:
        return CloseCode.INVALID_DATA, "invalid UTF-8 in the close reason"
    return code, ""


def parse_close(payload: bytes) -> tuple[int, str]:
    """The code and reason of a valid CLOSE frame's payload (1005 when it has none)."""
    if len(payload) < 2:
        return CloseCode.NO_STATUS, ""
    return int.from_bytes(payload[:2], "big"), payload[2:].decode(errors="replace")


@dataclass(frozen=True, slots=True)
class Control:
    """A control frame the server must react to (PING: answer PONG; CLOSE: close)."""

    opcode: Opcode
    payload: bytes


@dataclass(frozen=True, slots=True)
class Failure:
    """The peer broke the protocol or a limit: close with ``code``."""

    code: CloseCode
    reason: str


Received = str | bytes | Control | Failure


class FrameParser:
    """Feed bytes from a client; get messages (str / bytes), control frames and failures."""

    __slots__ = (
        "_buffer",
        "_decoder",
        "_failed",
        "_fragments",
        "_fragments_size",
        "_idle",
        "_inflater",
        "_inflating",
        "_max_size",
        "_message_opcode",
        "_small",
        "_text",
        "more",
    )

    def __init__(self, max_size: int, inflater: MessageInflater | None = None) -> None:
        self._max_size = max_size
        self._inflater = inflater
        """Set when permessage-deflate was agreed: RSV1 marks a compressed message."""
        self._inflating = False  # the message arriving is compressed
        self._small = min(125, max_size)  # the largest payload ``lone_text`` takes
        self._buffer = bytearray()
        self._fragments: list[bytes] | None = None  # while a fragmented message arrives
        self._decoder: codecs.IncrementalDecoder | None = None  # ... if it is text
        self._text: list[str] | None = None  # its text decoded so far
        self._fragments_size = 0
        self._message_opcode: Opcode | None = None
        self._failed = False
        self._idle = True  # nothing buffered, no fragmented message, not failed
        self.more = False
        """Whether the last ``feed`` stopped at its ``limit`` with bytes left: ``feed(b"")``
        parses on from there."""

    def feed(self, data: bytes, limit: int = 1 << 62) -> list[Received]:
        """What ``data`` completes, at most ``limit`` frames of it (the rest stays buffered
        and ``more`` is set); after a Failure, nothing more (the connection closes)."""
        if self._failed:
            return []
        out = self._feed(data, limit)
        if out and isinstance(out[-1], Failure):
            self._failed = True
            self._buffer.clear()
        self._idle = not self._buffer and self._message_opcode is None and not self._failed
        return out

    def lone_text(self, data: bytes) -> str | None:
        """The text message when ``data`` is exactly one small, whole, final, masked TEXT
        frame and nothing else is pending (the common case, checked in a few steps); None
        otherwise: then ``feed`` the same bytes."""
        n = len(data) - 6
        if 0 < n <= self._small and data[0] == 0x81 and data[1] == 0x80 | n and self._idle:
            try:
                return apply_mask(data[6:], data[2:6]).decode()
            except UnicodeDecodeError:
                return None  # ``feed`` reports it
        return None

    def _feed(self, data: bytes, limit: int) -> list[Received]:
        self.more = False
        buffer = self._buffer
        if (
            not buffer
            and self._message_opcode is None
            and 6 < len(data) <= 131
            and len(data) - 6 <= self._max_size
            and data[1] == 0x80 | (len(data) - 6)
        ):
            # one small, whole, masked frame of another kind
            first = data[0]
            if first & 0x70 == 0:
                item = self._frame(first & 0x80 != 0, first & 0x0F, apply_mask(data[6:], data[2:6]))
                return [] if item is None else [item]
        buffer += data
        out: list[Received] = []
        while True:
            n = len(buffer)
            if n < 2:
                break
            first, second = buffer[0], buffer[1]
            length = second & 0x7F
            offset = 2
            if length == 126:
                if n < 4:
                    break
                (length,) = struct.unpack_from("!H", buffer, 2)
                offset = 4
            elif length == 127:
                if n < 10:
                    break
                (length,) = struct.unpack_from("!Q", buffer, 2)
                offset = 10
            if not second & 0x80:
                out.append(Failure(CloseCode.PROTOCOL_ERROR, "client frames must be masked"))
                break
            if first & 0x70 and (first & 0x70 != 0x40 or self._inflater is None):
                out.append(Failure(CloseCode.PROTOCOL_ERROR, "reserved bits set"))
                break
            if first & 0x08:  # a control opcode: 125 bytes at most, not waited for beyond
                if length > 125:
                    out.append(Failure(CloseCode.PROTOCOL_ERROR, "invalid control frame"))
                    break
            elif length + self._fragments_size > self._max_size:
                out.append(Failure(CloseCode.MESSAGE_TOO_BIG, "message too big"))
                break
            end = offset + 4 + length
            if n < end:
                break
            mask = bytes(buffer[offset : offset + 4])
            payload = apply_mask(bytes(buffer[offset + 4 : end]), mask)
            del buffer[:end]
            if first & 0x40:  # RSV1: a compressed message begins (permessage-deflate)
                item = self._compressed(first & 0x80 != 0, first & 0x0F, payload)
            else:
                item = self._frame(first & 0x80 != 0, first & 0x0F, payload)
            if item is not None:
                out.append(item)
                if isinstance(item, Failure):
                    break
            limit -= 1
            if not limit:
                self.more = bool(buffer)
                break
        return out

    def _frame(self, fin: bool, code: int, payload: bytes) -> Received | None:
        opcode = _OPCODES.get(code)
        if opcode is None:
            return Failure(CloseCode.PROTOCOL_ERROR, "unknown opcode")
        if opcode in _CONTROL:
            if not fin or len(payload) > 125:
                return Failure(CloseCode.PROTOCOL_ERROR, "invalid control frame")
            return Control(opcode, payload)
        if opcode is Opcode.CONTINUATION:
            if self._message_opcode is None:
                return Failure(CloseCode.PROTOCOL_ERROR, "unexpected continuation")
        elif self._message_opcode is not None:
            return Failure(CloseCode.PROTOCOL_ERROR, "expected a continuation frame")
        else:
            self._message_opcode = opcode
        if not fin or self._fragments is not None or self._text is not None:
            return self._fragment(fin, payload)
        kind, self._message_opcode = self._message_opcode, None
        if kind is Opcode.TEXT:
            try:
                return payload.decode()
            except UnicodeDecodeError:
                return Failure(CloseCode.INVALID_DATA, "invalid UTF-8")
        return payload

    def _whole(self, payload: bytes) -> Received:
        """A compressed message in one frame, inflated (as the end of ``_frame``)."""
        kind, self._message_opcode = self._message_opcode, None
        self._fragments_size = 0
        if kind is Opcode.TEXT:
            try:
                return payload.decode()
            except UnicodeDecodeError:
                return Failure(CloseCode.INVALID_DATA, "invalid UTF-8")
        return payload

    def _compressed(self, fin: bool, code: int, payload: bytes) -> Received | None:
        """The first frame of a compressed message (RSV1 set, RFC 7692 section 6)."""
        if code not in (Opcode.TEXT, Opcode.BINARY):
            return Failure(CloseCode.PROTOCOL_ERROR, "RSV1 set on a control or continuation frame")
        if self._message_opcode is not None:
            return Failure(CloseCode.PROTOCOL_ERROR, "expected a continuation frame")
        assert self._inflater is not None  # checked with the reserved bits
        self._message_opcode = _OPCODES[code]
        self._inflating = True
        self._inflater.start()
        return self._fragment(fin, payload)

    def _inflate(self, fin: bool, payload: bytes) -> bytes | Failure:
        assert self._inflater is not None
        try:
            return self._inflater.feed(payload, fin)
        except InvalidCompressedData as exc:
            return Failure(CloseCode.INVALID_DATA, str(exc))
        except PayloadTooLarge:
            return Failure(CloseCode.MESSAGE_TOO_BIG, "message too big")

    def _fragment(self, fin: bool, payload: bytes) -> Received | None:
        """One frame of a fragmented (or compressed) message: text is decoded as it comes,
        so invalid UTF-8 fails at the fragment that has it, not at the end of the message."""
        self._fragments_size += len(payload)
        if self._inflating:
            inflated = self._inflate(fin, payload)
            if isinstance(inflated, Failure):
                return inflated
            payload = inflated
            self._inflating = not fin
            if fin and self._fragments is None and self._text is None:  # a whole message
                return self._whole(payload)
        if self._message_opcode is Opcode.TEXT:
            if self._decoder is None:
                self._decoder = codecs.getincrementaldecoder("utf-8")()
                self._text = []
            assert self._text is not None
            try:
                self._text.append(self._decoder.decode(payload, final=fin))
            except UnicodeDecodeError:
                return Failure(CloseCode.INVALID_DATA, "invalid UTF-8")
            if not fin:
                return None
            text = "".join(self._text)
            self._decoder = self._text = None
            self._fragments_size = 0
            self._message_opcode = None
            return text
        if self._fragments is None:
            self._fragments = []
        self._fragments.append(payload)
        if not fin:
            return None
        data = b"".join(self._fragments)
        self._fragments, self._fragments_size = None, 0
        self._message_opcode = None
        return data

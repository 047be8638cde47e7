"""Engine.IO v4 packets and HTTP long-polling payloads.

A packet is one type digit and its data. Over WebSocket a text frame carries one text packet
and a binary frame is a MESSAGE with binary data. Over long-polling, packets are joined by
the record separator ``\\x1e`` and a binary MESSAGE is written as ``b`` + base64.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from ..exceptions import RemoteProtocolError

SEPARATOR: Final = "\x1e"


class PacketType(IntEnum):
    """Engine.IO packet types (the first character of an encoded packet)."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


_TYPE_BY_CHAR: Final = {str(int(t)): t for t in PacketType}
_TYPE_CHAR: Final = {t: str(int(t)) for t in PacketType}


@dataclass(frozen=True, slots=True)
class Packet:
    """One Engine.IO packet: its type and its data (bytes only for a binary MESSAGE)."""

    type: PacketType
    data: str | bytes = ""


def encode_packet(packet: Packet) -> str | bytes:
    """Encode one packet for a WebSocket frame: text packets as str, binary data as bytes."""
    if isinstance(packet.data, bytes):
        return packet.data
    return f"{int(packet.type)}{packet.data}"


def decode_packet(data: str | bytes) -> Packet:
    """Decode one WebSocket frame. Raises RemoteProtocolError for garbage."""
    if isinstance(data, bytes):
        return Packet(PacketType.MESSAGE, data)
    if not data or (packet_type := _TYPE_BY_CHAR.get(data[0])) is None:
        raise RemoteProtocolError(f"invalid Engine.IO packet {data[:20]!r}")
    return Packet(packet_type, data[1:])


def encode_payload(packets: Iterable[Packet]) -> str:
    """Encode packets for one long-polling response body."""
    return SEPARATOR.join(
        [
            _TYPE_CHAR[p.type] + p.data if isinstance(p.data, str) else _encode_binary(p.data)
            for p in packets
        ]
    )


def _encode_binary(data: bytes) -> str:
    return "b" + base64.b64encode(data).decode("ascii")


def decode_payload(body: str) -> list[Packet]:
    """Decode a long-polling request body. Raises RemoteProtocolError for garbage."""
    return [_decode_from_polling(part) for part in body.split(SEPARATOR)]


def payload_messages(body: str) -> list[str] | None:
    """The data of a long-polling body's packets when they are all text MESSAGEs (the
    common case, which ``decode_payload`` would decode alike, without a ``Packet`` each);
    None for any other body."""
    if SEPARATOR not in body:  # one packet
        return [body[1:]] if body[:1] == "4" else None
    parts = body.split(SEPARATOR)
    for part in parts:
        if part[:1] != "4":
            return None
    return [part[1:] for part in parts]


def _decode_from_polling(part: str) -> Packet:
    if part.startswith("b"):
        try:
            return Packet(PacketType.MESSAGE, base64.b64decode(part[1:], validate=True))
        except (binascii.Error, ValueError) as exc:
            raise RemoteProtocolError("invalid base64 in binary packet") from exc
    return decode_packet(part)

"""Socket.IO v5 packets: ``<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]``.

Binary values anywhere in the data are replaced by ``{"_placeholder":true,"num":i}`` and
sent as separate binary messages after the text one (BINARY_EVENT / BINARY_ACK).
The JSON functions are injectable so the I/O layer can pass a faster codec.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from ..exceptions import RemoteProtocolError

Dumps = Callable[[Any], str]
Loads = Callable[[str], Any]


class PacketType(IntEnum):
    """Socket.IO packet types."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


_TYPE_BY_CHAR: Final = {str(int(t)): t for t in PacketType}
_EVENT: Final = PacketType.EVENT  # a module constant: an Enum class attribute costs ~55 ns
_BINARY_TYPES: Final = (PacketType.BINARY_EVENT, PacketType.BINARY_ACK)
RESERVED_EVENTS: Final = frozenset(
    {
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    }
)
# type, attachment count, namespace (the comma may end the packet), ack id: counts and ids
# are at most 16 ASCII digits (JavaScript's safe integers).
_HEADER: Final = re.compile(r"([0-6])(?:([0-9]{1,16})-)?(/[^,]*(?:,|$))?([0-9]{1,16})?")
_JSON_STARTS: Final = frozenset('[{"-0123456789tfn ')
MAX_ATTACHMENTS: Final = 10
"""The most attachments a binary packet may announce: socket.io-parser's ``maxAttachments``
(4.2.6). Without a bound, one packet announcing a huge count keeps every binary message
after it in memory, never complete."""


@dataclass(slots=True)
class Packet:
    """One Socket.IO packet; ``data`` may hold bytes anywhere (sent as attachments).

    Not frozen: a frozen dataclass pays ``object.__setattr__`` per field (3.5x slower to
    build), and a packet is built for every message received."""

    type: PacketType
    namespace: str = "/"
    data: Any = None
    id: int | None = None


def json_dumps(value: Any) -> str:
    """Compact JSON, non-ASCII kept as is (like JSON.stringify); NaN and infinities refused."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_loads(text: str) -> Any:
    """Strict JSON: NaN and infinities refused (JSON.parse would)."""
    return json.loads(text, parse_constant=_refuse_constant)


# -- encoding ------------------------------------------------------------------------------


def encode_packet(packet: Packet, dumps: Dumps = json_dumps) -> list[str | bytes]:
    """Encode a packet into Engine.IO messages: one text message, then any attachments.

    EVENT and ACK packets whose data holds bytes become BINARY_EVENT / BINARY_ACK.
    """
    kind = packet.type
    data = packet.data
    if data is None:
        return [_header(kind, packet.namespace, packet.id, 0)]
    try:
        text = dumps(data)
    except TypeError:  # bytes somewhere in the data: the rare path
        attachments: list[bytes] = []
        data = deconstruct(data, attachments)
        if not attachments:
            raise
        if kind is PacketType.EVENT:
            kind = PacketType.BINARY_EVENT
        elif kind is PacketType.ACK:
            kind = PacketType.BINARY_ACK
        header = _header(kind, packet.namespace, packet.id, len(attachments))
        return [header + dumps(data), *attachments]
    return [_header(kind, packet.namespace, packet.id, 0) + text]


def ack_args(result: Any) -> list[Any]:
    """A handler's return value as ack arguments: None -> none, tuple -> several, else one."""
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


def single_answer(args: list[Any]) -> Any:
    """Ack arguments as one value: none -> None, one -> it, several -> a tuple."""
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)


def encode_ack(
    namespace: str, ack_id: int, args: list[Any], dumps: Dumps = json_dumps
) -> list[str | bytes]:
    """Encode an ACK (BINARY_ACK when ``args`` hold bytes) without building a Packet first."""
    try:
        text = dumps(args)
    except TypeError:
        return encode_packet(Packet(PacketType.ACK, namespace, args, ack_id), dumps)
    if namespace == "/":
        return [f"3{ack_id}{text}"]
    return [f"3{namespace},{ack_id}{text}"]


def _header(kind: PacketType, namespace: str, ack_id: int | None, attachments: int) -> str:
    parts = [str(int(kind))]
    if kind in _BINARY_TYPES:
        parts.append(f"{attachments}-")
    if namespace != "/":
        parts.append(namespace + ",")
    if ack_id is not None:
        parts.append(str(ack_id))
    return "".join(parts)


def deconstruct(value: Any, attachments: list[bytes]) -> Any:
    """``value`` with each ``bytes`` replaced by its placeholder, the bytes appended to
    ``attachments`` (Socket.IO's binary packets; the stores write bytes the same way)."""
    if isinstance(value, bytes | bytearray | memoryview):
        attachments.append(bytes(value))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(value, list | tuple):
        return [deconstruct(v, attachments) for v in value]
    if isinstance(value, dict):
        return {k: deconstruct(v, attachments) for k, v in value.items()}
    return value


# -- decoding ------------------------------------------------------------------------------


class Decoder:
    """Incremental decoder: feed each Engine.IO message; get whole packets back.

    ``receive`` returns a packet when one is complete, None while binary attachments are
    still expected, and raises RemoteProtocolError for anything the spec does not allow, a
    packet announcing more than ``max_attachments`` attachments included.
    """

    __slots__ = (
        "_attachments",
        "_expected",
        "_loads",
        "_max_attachments",
        "_pending",
        "awaiting_attachments",
    )

    def __init__(self, loads: Loads = json_loads, max_attachments: int = MAX_ATTACHMENTS) -> None:
        self._loads = loads
        self._max_attachments = max_attachments
        self._pending: Packet | None = None
        self.awaiting_attachments = False
        """Whether a binary packet still waits for attachments (a text message would be an
        error); an attribute, not a property: the server reads it for every message."""
        self._expected = 0
        self._attachments: list[bytes] | None = None  # while a binary packet is pending

    def receive(self, message: str | bytes) -> Packet | None:
        if not isinstance(message, str):
            return self._receive_attachment(message)
        if self._pending is not None:
            raise RemoteProtocolError("text message while binary attachments were expected")
        if message[:1] == "2":
            event = main_event(message, self._loads)
            if event is not None:
                return Packet(_EVENT, "/", event[0], event[1])
        packet, expected = self._parse(message)
        if expected == 0:
            return packet
        self._pending, self._expected, self._attachments = packet, expected, []
        self.awaiting_attachments = True
        return None

    def _receive_attachment(self, data: bytes) -> Packet | None:
        pending = self._pending
        if pending is None:
            raise RemoteProtocolError("unexpected binary message")
        attachments = self._attachments
        assert attachments is not None
        attachments.append(data)
        if len(attachments) < self._expected:
            return None
        try:
            data_with_bytes = reconstruct(pending.data, attachments)
        except RecursionError as exc:  # JSON read it, but too deep to walk in Python
            raise RemoteProtocolError("binary packet nested too deeply") from exc
        self._pending, self._attachments = None, None
        self.awaiting_attachments = False
        return Packet(pending.type, pending.namespace, data_with_bytes, pending.id)

    def _parse(self, text: str) -> tuple[Packet, int]:
        header = _HEADER.match(text)
        if header is None:
            raise RemoteProtocolError(f"invalid packet header in {text[:20]!r}")
        kind = _TYPE_BY_CHAR[header[1]]
        count, namespace, ack = header[2], header[3], header[4]
        attachments = 0
        if kind is PacketType.BINARY_EVENT or kind is PacketType.BINARY_ACK:
            if not count:
                raise RemoteProtocolError("invalid attachment count")
            attachments = int(count)
            if attachments > self._max_attachments:
                raise RemoteProtocolError("number of attachments is above the maximum")
        elif count is not None:
            raise RemoteProtocolError("attachments in a packet type that has none")
        if namespace is None:
            namespace = "/"
        elif namespace[-1] == ",":
            namespace = namespace[:-1]
        i = header.end()
        has_data = i < len(text)
        data: Any = None
        if has_data:
            if text[i] not in _JSON_STARTS:  # e.g. an ack id longer than allowed
                raise RemoteProtocolError(f"invalid payload in {text[:20]!r}")
            try:
                data = self._loads(text[i:])
            except (ValueError, RecursionError) as exc:
                raise RemoteProtocolError("invalid JSON payload") from exc
        if not valid_payload(kind, data, has_data, bool(ack)):
            raise RemoteProtocolError(f"invalid {kind.name} payload")
        return Packet(kind, namespace, data, int(ack) if ack else None), attachments


def main_event(text: str, loads: Loads = json_loads) -> tuple[list[Any], int | None] | None:
    """``text`` as an EVENT on "/" without attachments, ``2[<ack id>][<name>, ...]``, parsed
    in the fewest steps: (data, ack id). None for anything else, the invalid included (the
    full parse, ``Decoder.receive``, then decides and explains)."""
    start = text.find("[", 1, 18)  # an ack id has at most 16 digits
    if start < 0 or text[0] != "2":
        return None
    ack = text[1:start]
    if ack and not (ack.isdigit() and ack.isascii()):
        return None
    try:
        data = loads(text[start:])
    except (ValueError, RecursionError):
        return None
    if type(data) is not list or not data:
        return None
    name = data[0]
    if (type(name) is str and name not in RESERVED_EVENTS) or type(name) is int:
        return data, int(ack) if ack else None
    return None


def valid_payload(kind: PacketType, data: Any, has_data: bool, has_id: bool) -> bool:
    """Whether the payload is one the spec allows for this packet type (an ACK needs an
    id: ``has_id``)."""
    if kind is PacketType.EVENT or kind is PacketType.BINARY_EVENT:
        if type(data) is not list or not data:
            return False
        name = data[0]
        return (type(name) is str and name not in RESERVED_EVENTS) or type(name) is int
    if kind is PacketType.ACK or kind is PacketType.BINARY_ACK:
        return type(data) is list and has_id
    if kind is PacketType.CONNECT:
        return not has_data or type(data) is dict
    if kind is PacketType.DISCONNECT:
        return not has_data
    return type(data) is str or type(data) is dict  # CONNECT_ERROR


def reconstruct(value: Any, attachments: list[bytes]) -> Any:
    """``value`` with each placeholder replaced by its attachment (``deconstruct`` undone).

    Raises:
        RemoteProtocolError: a placeholder names an attachment that is not there.
    """
    if isinstance(value, list):
        return [reconstruct(v, attachments) for v in value]
    if isinstance(value, dict):
        if value.get("_placeholder") is True:
            num = value.get("num")
            if type(num) is not int or not 0 <= num < len(attachments):
                raise RemoteProtocolError("placeholder refers to a missing attachment")
            return attachments[num]
        return {k: reconstruct(v, attachments) for k, v in value.items()}
    return value

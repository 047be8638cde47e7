"""Socket.IO parsers: how packets become Engine.IO messages, and messages packets again.

A server and its clients must use the same one:

- ``JsonParser`` (the default), the format of ``socket.io-parser``: one text message per
  packet, ``<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]``, bytes sent as
  attachments after it (``packets``).
- ``MsgpackParser``, the format of the npm package ``socket.io-msgpack-parser``: one binary
  message per packet, the msgpack map ``{"type", "data", "nsp", "id"}`` (``data`` and ``id``
  left out when there are none); bytes are msgpack ``bin`` values inside it, so there are no
  attachments and no BINARY_EVENT / BINARY_ACK types. The msgpack codec is passed in
  (``roomcast.parsers`` makes this parser with the ``msgpack`` package).

A parser is chosen once; it encodes packets (``encode``) and makes one incremental decoder
per connection (``decoder``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Final, Protocol

from ..exceptions import RemoteProtocolError
from .packets import (
    MAX_ATTACHMENTS,
    Decoder,
    Dumps,
    Loads,
    Packet,
    PacketType,
    encode_packet,
    json_dumps,
    json_loads,
    valid_payload,
)

__all__ = [
    "JsonParser",
    "MsgpackDecoder",
    "MsgpackParser",
    "PacketDecoder",
    "Parser",
]

Parts = list[str | bytes]

_JS_SAFE_INTEGER: Final = 2**53 - 1
_TYPES: Final = {int(t): t for t in PacketType if t <= PacketType.CONNECT_ERROR}
_PLAIN: Final = {
    PacketType.BINARY_EVENT: PacketType.EVENT,
    PacketType.BINARY_ACK: PacketType.ACK,
}


class PacketDecoder(Protocol):
    """One connection's decoder: feed it each message received, in order."""

    awaiting_attachments: bool
    """Whether a packet still waits for binary attachments (JSON only)."""

    def receive(self, message: str | bytes) -> Packet | None:
        """The packet ``message`` completes (None while attachments are awaited).

        Raises:
            RemoteProtocolError: the message is not one the parser allows.
        """
        ...


class Parser(ABC):
    """How packets are written as Engine.IO messages (see the module's docstring)."""

    name: ClassVar[str]
    dumps: Dumps | None = None
    """The JSON encoder when packets are ``socket.io-parser`` text, else None; a session
    uses it to write an ack's text in place (the echo path), skipping ``encode``."""

    @abstractmethod
    def encode(self, packet: Packet) -> Parts:
        """The messages to send for ``packet``, in order."""

    @abstractmethod
    def decoder(self) -> PacketDecoder:
        """A fresh decoder, for one connection."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class JsonParser(Parser):
    """``socket.io-parser``'s text format; ``dumps`` and ``loads`` are the JSON codec (the
    server passes orjson's when it is installed); a binary packet may hold
    ``max_attachments`` attachments at most (socket.io-parser's ``maxAttachments``)."""

    name = "json"

    def __init__(
        self,
        dumps: Dumps = json_dumps,
        loads: Loads = json_loads,
        max_attachments: int = MAX_ATTACHMENTS,
    ) -> None:
        self.dumps: Dumps = dumps
        self.loads = loads
        self.max_attachments = max_attachments

    def encode(self, packet: Packet) -> Parts:
        return encode_packet(packet, self.dumps)

    def decoder(self) -> Decoder:
        return Decoder(self.loads, self.max_attachments)


class MsgpackParser(Parser):
    """``socket.io-msgpack-parser``'s format: each packet one msgpack binary message.

    The msgpack codec is passed in (the core imports no third-party package):
    ``roomcast.parsers.msgpack_parser()`` makes one with the ``msgpack`` package.

    Args:
        pack: a value as msgpack bytes (bytes as ``bin``, strings as ``str``).
        unpack: ``unpack(message, ext_hook=hook)``, msgpack bytes as a value, with
            ``hook(code, data)`` giving the value of each extension type it does not know.
        errors: what ``unpack`` raises for bytes that are not msgpack.
    """

    name = "msgpack"

    def __init__(
        self,
        pack: Callable[[Any], bytes],
        unpack: Callable[..., Any],
        errors: tuple[type[BaseException], ...] = (ValueError, TypeError),
    ) -> None:
        self._pack = pack
        self._read = _Reader(unpack, errors)

    def encode(self, packet: Packet) -> Parts:
        kind = _PLAIN.get(packet.type, packet.type)
        message: dict[str, Any] = {"type": int(kind)}
        if packet.data is not None:
            message["data"] = packet.data
        message["nsp"] = packet.namespace
        if packet.id is not None:
            message["id"] = packet.id
        return [self._pack(message)]

    def decoder(self) -> MsgpackDecoder:
        return MsgpackDecoder(self._read)


class _Undefined:
    """JavaScript's ``undefined`` as notepack.io 2 writes it (fixext 1 of type 0)."""

    __slots__ = ()


_UNDEFINED: Final = _Undefined()


class _Reader:
    """msgpack bytes as a value, JavaScript's way: an ``undefined`` property is absent, an
    ``undefined`` array element null (as ``JSON.stringify`` has it); an unknown extension
    type ``[code, data]`` (as notepack.io decodes it)."""

    __slots__ = ("_errors", "_undefined", "_unpack")

    def __init__(self, unpack: Callable[..., Any], errors: tuple[type[BaseException], ...]):
        self._unpack = unpack
        self._errors = errors
        self._undefined = False

    def _ext(self, code: int, data: bytes) -> Any:
        if code == 0:
            self._undefined = True
            return _UNDEFINED
        return [code, data]

    def __call__(self, message: bytes) -> Any:
        self._undefined = False
        try:
            value = self._unpack(message, ext_hook=self._ext)
        except self._errors as exc:
            raise RemoteProtocolError("invalid msgpack packet") from exc
        if not self._undefined:
            return value
        try:
            return _defined(value)
        except RecursionError as exc:  # msgpack read it, but too deep to walk in Python
            raise RemoteProtocolError("msgpack packet nested too deeply") from exc


def _defined(value: Any) -> Any:
    if type(value) is list:
        return [None if v is _UNDEFINED else _defined(v) for v in value]
    if type(value) is dict:
        return {k: _defined(v) for k, v in value.items() if v is not _UNDEFINED}
    return None if value is _UNDEFINED else value


class MsgpackDecoder:
    """Decodes ``socket.io-msgpack-parser`` messages: one binary message, one packet; checks
    what that package's decoder checks (type 0 to 4, a string namespace, the payload the
    type allows, an integer ack id), and that an ACK has its id."""

    __slots__ = ("_read", "awaiting_attachments")

    def __init__(self, read: Callable[[bytes], Any]) -> None:
        self._read = read
        self.awaiting_attachments = False
        """Always False: bytes travel inside the packet."""

    def receive(self, message: str | bytes) -> Packet:
        if isinstance(message, str):
            raise RemoteProtocolError("text message where the msgpack parser expects binary")
        return packet_of(self._read(message))


def packet_of(value: Any) -> Packet:
    """The packet a decoded msgpack map stands for.

    Raises:
        RemoteProtocolError: it is not a packet ``socket.io-msgpack-parser`` would accept.
    """
    if type(value) is not dict:
        raise RemoteProtocolError("a msgpack packet must be a map")
    code = value.get("type")
    kind = _TYPES.get(code) if type(code) is int else None  # a map, a list: unhashable
    if kind is None:
        raise RemoteProtocolError("invalid packet type")
    namespace = value.get("nsp")
    if type(namespace) is not str:
        raise RemoteProtocolError("invalid namespace")
    ack_id = value.get("id")
    if ack_id is not None and not (type(ack_id) is int and 0 <= ack_id <= _JS_SAFE_INTEGER):
        raise RemoteProtocolError("invalid packet id")
    has_data = "data" in value
    data = value.get("data")
    if not valid_payload(kind, data, has_data, ack_id is not None):
        raise RemoteProtocolError(f"invalid {kind.name} payload")
    return Packet(kind, namespace, data, ack_id)

"""The wire format of Node's ``@socket.io/redis-adapter`` v8 and ``@socket.io/redis-emitter`` v5.

Sans-IO: values in, bytes out, and back. Read from the packages' own source
(``dist/index.js`` of both); nothing here knows about Redis itself, only about channel names
and message bodies, so any pub/sub bus can carry them.

Channels, for a key prefix ``key`` (default ``socket.io``) and a namespace ``nsp``:

- ``{key}#{nsp}#`` broadcasts to every room, ``{key}#{nsp}#{room}#`` broadcasts to exactly
  one room; a node listens to all of them with one prefix (Redis: ``PSUBSCRIBE {key}#{nsp}#*``).
  Body: msgpack ``[uid, packet, opts]`` with ``packet = {type, data, nsp}`` and
  ``opts = {rooms: [...], except: [...], flags: {...}}``.
- ``{key}-request#{nsp}#`` carries requests (JSON, or msgpack when they hold binary):
  ``{uid, type, requestId?, ...}`` with ``type`` one of ``RequestType``. The number of
  subscribers of this channel is the number of nodes (Redis: ``PUBSUB NUMSUB``).
- ``{key}-response#{nsp}#`` (and ``{key}-response#{nsp}#{uid}#`` for answers addressed to one
  node) carries the answers: ``{requestId, ...}``.

A body starting with ``{`` is JSON; anything else is msgpack (as ``notepack.io`` writes it:
binary as ``bin``, ``undefined`` as nil, dates as timestamps).
"""

from __future__ import annotations

import datetime
import json
import secrets
import string
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final

import msgpack

from ..socketio import Packet, PacketType
from .base import BroadcastOptions

if TYPE_CHECKING:
    from ..server.socket import Handshake

EMITTER_UID: Final = "emitter"
"""The ``uid`` of messages from an emitter (a process with no sockets)."""

_UID_ALPHABET: Final = string.ascii_letters + string.digits


class RequestType(IntEnum):
    """The ``type`` of a request or response on the request/response channels."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


def new_uid(length: int = 6) -> str:
    """A random id like the adapter's ``uid2(6)``: node uids and request ids."""
    return "".join(secrets.choice(_UID_ALPHABET) for _ in range(length))


@dataclass(frozen=True, slots=True)
class Channels:
    """The channel names of one namespace under one key prefix."""

    key: str
    nsp: str

    @property
    def broadcast(self) -> str:
        """The broadcast prefix; also the channel of broadcasts to all or several rooms."""
        return f"{self.key}#{self.nsp}#"

    @property
    def request(self) -> str:
        return f"{self.key}-request#{self.nsp}#"

    @property
    def response(self) -> str:
        return f"{self.key}-response#{self.nsp}#"

    def response_to(self, uid: str) -> str:
        """The response channel of one node (``publishOnSpecificResponseChannel``)."""
        return f"{self.key}-response#{self.nsp}#{uid}#"

    def broadcast_to(self, rooms: frozenset[str]) -> str:
        """Where a broadcast to ``rooms`` is published: its own channel for exactly one room."""
        if len(rooms) == 1:
            (room,) = rooms
            return f"{self.key}#{self.nsp}#{room}#"
        return self.broadcast

    def room_of(self, channel: str) -> str:
        """The room of a broadcast channel ("" for the all-rooms channel)."""
        return channel[len(self.broadcast) : -1]


# -- bodies ------------------------------------------------------------------------------------


def pack(value: Any) -> bytes:
    """msgpack, binary as ``bin`` (what notepack.io reads as a Buffer)."""
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def encode_request(value: dict[str, Any]) -> bytes:
    """A request or response body: JSON like the Node adapter, msgpack when it holds bytes."""
    try:
        return _json(value)
    except (TypeError, ValueError):
        return pack(value)


def decode_body(data: bytes) -> Any:
    """A request, response or broadcast body: JSON when it starts with ``{``, else msgpack.

    Raises ValueError for anything that is neither, or that is nested too deeply to read
    (RecursionError, from JSON or from the dates found in msgpack).
    """
    try:
        if data[:1] == b"{":
            return json.loads(data)
        try:
            value = msgpack.unpackb(data, raw=False, strict_map_key=False, timestamp=3)
        except Exception as exc:  # msgpack raises several unrelated types
            raise ValueError("not msgpack") from exc
        if b"\xff" in data:  # ext -1 (a JS Date) is the only 0xff outside numbers/binary
            value = _dates_to_iso(value)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc
    return value


def _dates_to_iso(value: Any) -> Any:
    """JS Dates arrive as msgpack timestamps; clients must see them as JSON.stringify does."""
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, list):
        return [_dates_to_iso(v) for v in value]
    if isinstance(value, dict):
        return {k: _dates_to_iso(v) for k, v in value.items()}
    return value


# -- packets and options -----------------------------------------------------------------------


def packet_to_wire(packet: Packet) -> dict[str, Any]:
    """A Socket.IO packet as the adapter publishes it (``{type, data, nsp[, id]}``)."""
    wire: dict[str, Any] = {"type": int(packet.type), "data": packet.data, "nsp": packet.namespace}
    if packet.id is not None:
        wire["id"] = packet.id
    return wire


def packet_from_wire(raw: Any) -> Packet | None:
    """An EVENT packet from the wire (binary events count as events); None for anything else."""
    if not isinstance(raw, dict):
        return None
    kind = raw.get("type")
    data = raw.get("data")
    if kind not in (PacketType.EVENT, PacketType.BINARY_EVENT) or not isinstance(data, list):
        return None
    if not data:
        return None
    nsp = raw.get("nsp")
    return Packet(PacketType.EVENT, nsp if isinstance(nsp, str) else "/", data)


def _room(raw: Any) -> str | None:
    """A room from the wire: a string, another JSON value as its text (a number as its
    decimal digits); None for what no JSON peer sends (bytes, a value nested too deeply)."""
    if isinstance(raw, str):
        return raw
    try:
        return json.dumps(raw)
    except (TypeError, ValueError, RecursionError):
        return None


def _rooms(raw: Any) -> frozenset[str]:
    if not isinstance(raw, list):
        return frozenset()
    if all(type(r) is str for r in raw):  # the common case, in one pass
        return frozenset(raw)
    return frozenset(room for r in raw if (room := _room(r)) is not None)


def opts_to_wire(opts: BroadcastOptions, *, with_flags: bool = True) -> dict[str, Any]:
    """``{rooms, except[, flags]}`` as the Node adapter writes them."""
    wire: dict[str, Any] = {"rooms": list(opts.rooms), "except": list(opts.except_rooms)}
    if with_flags:
        flags: dict[str, Any] = {}
        if opts.volatile:
            flags["volatile"] = True
        if not opts.compress:
            flags["compress"] = False
        if "timeout" in opts.flags:
            flags["timeout"] = opts.flags["timeout"]
        wire["flags"] = flags
    return wire


def opts_from_wire(raw: Any) -> BroadcastOptions:
    """Broadcast options from the wire (numeric rooms become their decimal strings)."""
    if not isinstance(raw, dict):
        raw = {}
    flags = raw.get("flags")
    flags = flags if isinstance(flags, dict) else {}
    return BroadcastOptions(
        rooms=_rooms(raw.get("rooms")),
        except_rooms=_rooms(raw.get("except")),
        volatile=bool(flags.get("volatile")),
        compress=flags.get("compress") is not False,
    )


# -- sockets -----------------------------------------------------------------------------------


def _headers(headers: Any) -> dict[str, str]:
    """Header names lower-cased as Node's ``IncomingMessage.headers``; repeats joined."""
    result: dict[str, str] = {}
    items = headers.items() if hasattr(headers, "items") else ()
    for name, value in items:
        key = str(name).lower()
        result[key] = f"{result[key]}, {value}" if key in result else str(value)
    return result


def handshake_to_wire(handshake: Handshake) -> dict[str, Any]:
    """A handshake as Node's ``socket.handshake`` (what ``fetchSockets`` answers carry)."""
    return {
        "headers": _headers(handshake.headers),
        "time": handshake.time,
        "address": handshake.address,
        "xdomain": handshake.xdomain,
        "secure": handshake.secure,
        "issued": int(handshake.issued),
        "url": handshake.url,
        "query": dict(handshake.query),
        "auth": handshake.auth,
    }


def _finite(number: float) -> float:
    """``number`` as a float; 0 for an integer past a float's range (JSON allows it)."""
    try:
        return float(number)
    except OverflowError:
        return 0.0


def handshake_from_wire(raw: Any) -> Handshake:
    """The handshake of a socket held by another node."""
    from ..server.socket import Handshake

    raw = raw if isinstance(raw, dict) else {}

    def field(name: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = raw.get(name)
        return value if isinstance(value, kind) else default

    return Handshake(
        auth=field("auth", dict, {}),
        headers=field("headers", dict, {}),
        query=field("query", dict, {}),
        address=field("address", str, ""),
        secure=field("secure", bool, False),
        url=field("url", str, ""),
        issued=_finite(field("issued", (int, float), 0)),
        time=field("time", str, ""),
        xdomain=field("xdomain", bool, False),
    )

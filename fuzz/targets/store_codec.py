"""Stored packets read back: the SQLite store's codec and the Redis store's stream entries.

The first byte picks the part. Round trip: the rest, read as msgpack, is a value (bytes
anywhere); ``codec.load(*codec.dump(v)) == v``, and for a map (a stream message) the Redis
store's ``decode_data`` of ``encode_data(v)`` gives ``v`` back, for every value the stores
accept (string keys, finite numbers: what a JSON or msgpack packet carries). Read back: the
rest is the ``exp`` field (up to a newline), then the ``data`` field of a stream entry (JSON,
or base64 msgpack, as Node writes it); ``_entry`` gives an entry or None (skipped) and never
raises: a stream is shared with other servers, Node's among them.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import msgpack

from roomcast.store import codec
from roomcast.store.redis import _entry, decode_data, encode_data

SEEDS = [
    b"\x00" + msgpack.packb(["chat", {"text": "hi", "n": 1.5, "b": b"\x00\x01"}, [None, True]]),
    b"\x00" + msgpack.packb({"_placeholder": False, "num": 0}),
    b"\x01\n"
    + b'{"packet":{"type":2,"data":["chat","hi"],"nsp":"/"},"opts":{"rooms":["a"],"except":[],'
    b'"flags":{}}}',
    b"\x011700000000001\n"
    + base64.b64encode(
        msgpack.packb(
            {
                "packet": {"type": 5, "data": ["f", b"\x01"], "nsp": "/"},
                "opts": {"rooms": [], "except": ["b"], "flags": {"volatile": False}},
            },
            use_bin_type=True,
        )
    ),
    b'\x01\n{"packet":{"type":2,"data":["e"],"nsp":"/","id":3},"opts":{"flags":null}}',
]


def storable(value: Any) -> bool:
    """Whether the stores take ``value``: JSON with bytes anywhere (string keys, finite
    numbers)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(storable(v) for v in value)
    if isinstance(value, dict):
        return all(type(k) is str and storable(v) for k, v in value.items())
    return value is None or isinstance(value, bool | int | str | bytes)


def _placeholders(value: Any) -> bool:
    """Whether ``value`` holds a dict that reads as Socket.IO's placeholder: Socket.IO's own
    encoding cannot tell it from bytes (neither can socket.io-parser)."""
    if isinstance(value, list):
        return any(_placeholders(v) for v in value)
    if isinstance(value, dict):
        return value.get("_placeholder") is True or any(_placeholders(v) for v in value.values())
    return False


def _round_trip(data: bytes) -> None:
    try:
        value = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return
    if not storable(value) or _placeholders(value):
        return
    assert codec.load(*codec.dump(value)) == value, value
    if isinstance(value, dict):  # a stream message is a map
        assert decode_data(encode_data(value)) == value, value


def _read_back(data: bytes) -> None:
    exp, _, body = data.decode("latin-1").partition("\n")
    fields = {"nsp": "/", "type": "3", "data": body, "exp": exp}
    entry = _entry("1700000000000-0", fields, "/", 1.0)
    if entry is not None:
        assert isinstance(entry.data, list)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    if data[0] & 1:
        _read_back(data[1:])
    else:
        _round_trip(data[1:])

"""Cluster messages as the Redis adapter receives them (Node's ``@socket.io/redis-adapter``
wire format): a body (JSON when it starts with ``{``, else msgpack), then the packet,
options and handshake read from it as the cluster adapter does.

Properties: ``decode_body`` raises only ValueError (its documented error); reading the
packet, options and handshake of any decoded value never raises.
"""

from __future__ import annotations

from typing import Any

import msgpack

from roomcast.adapters.wire import (
    decode_body,
    handshake_from_wire,
    opts_from_wire,
    packet_from_wire,
)

SEEDS = [
    msgpack.packb(
        [
            "abc123",
            {"type": 2, "data": ["hello", b"\x01"], "nsp": "/"},
            {"rooms": ["r1", 7], "except": [], "flags": {"volatile": True}},
        ],
        use_bin_type=True,
    ),
    b'{"uid":"abc123","type":5,"requestId":"x1","opts":{"rooms":["a"],"except":["b"]}}',
    b'{"requestId":"x1","sockets":[{"id":"s","handshake":{"headers":{"a":"b"},"issued":1}}]}',
    msgpack.packb(
        {
            "uid": "u",
            "type": 7,
            "packet": {"type": 2, "data": ["e"], "nsp": "/"},
            "opts": {"rooms": [], "except": [], "flags": {"timeout": 5}},
        }
    ),
    b"\x93\xa1u\x83\xa4type\x02\xa4data\x92\xa1e\xd6\xff\x00\x00\x00\x01\xa3nsp\xa1/\x80",
]


def _read(value: Any) -> None:
    packet_from_wire(value)
    opts_from_wire(value)
    handshake_from_wire(value)


def test_one_input(data: bytes) -> None:
    try:
        value = decode_body(data)
    except ValueError:
        return
    _read(value)
    if isinstance(value, list):
        for item in value[:3]:
            _read(item)
    elif isinstance(value, dict):
        for key in ("packet", "opts", "handshake"):
            _read(value.get(key))
        sockets = value.get("sockets")
        if isinstance(sockets, list):
            for socket in sockets[:3]:
                _read(socket.get("handshake") if isinstance(socket, dict) else socket)

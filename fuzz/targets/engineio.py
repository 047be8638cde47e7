"""Engine.IO packets (WebSocket frames) and long-polling payloads, and the handshake a
client reads.

The first byte picks what the rest is: a binary frame, a text frame, a polling body (text
as the server decodes it: UTF-8, here with replacement so every input reaches the parser)
or the data of the OPEN packet a client receives. Properties: decoding raises
RemoteProtocolError or gives packets that encode back to the same frame (a polling body:
that decode back to the same packets); a handshake is read or refused (None), nothing
raised.
"""

from __future__ import annotations

from roomcast.engineio.client import parse_handshake
from roomcast.engineio.packets import (
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
)
from roomcast.exceptions import RemoteProtocolError

SEEDS = [
    b"\x00\x01\x02\x03",
    b"\x014hello",
    b"\x012probe",
    b"\x016",
    b"\x02" + b'0{"sid":"abc","upgrades":["websocket"]}',
    b"\x024hello\x1e4world\x1ebAQID\x1e2\x1e3",
    b"\x02bAQI=",
    b'\x03{"sid":"a","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,'
    b'"maxPayload":1000000}',
]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0] % 4, data[1:]
    if mode == 0:
        assert encode_packet(decode_packet(body)) == body
        return
    text = body.decode("utf-8", "replace")
    if mode == 3:
        opened = parse_handshake(text)
        assert opened is None or opened.sid, opened
        return
    try:
        if mode == 1:
            packet = decode_packet(text)
        else:
            packets = decode_payload(text)
    except RemoteProtocolError:
        return
    if mode == 1:
        assert encode_packet(packet) == text, (packet, text)
    else:
        assert decode_payload(encode_payload(packets)) == packets, (packets, text)

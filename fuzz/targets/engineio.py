"""Engine.IO packets (WebSocket frames) and long-polling payloads.

The first byte picks what the rest is: a binary frame, a text frame or a polling body (text
as the server decodes it: UTF-8, here with replacement so every input reaches the parser).
Properties: decoding raises RemoteProtocolError or gives packets that encode back to the
same frame (a polling body: that decode back to the same packets).
"""

from __future__ import annotations

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
]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0] % 3, data[1:]
    if mode == 0:
        assert encode_packet(decode_packet(body)) == body
        return
    text = body.decode("utf-8", "replace")
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

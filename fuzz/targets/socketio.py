"""Socket.IO packets (``socket.io-parser``'s text format) and binary reassembly.

The input is a stream of Engine.IO messages separated by ``\\x1f``: one that starts with
``\\x00`` is a binary message (an attachment), any other is text. They go to one decoder, a
fresh one after each RemoteProtocolError (the server closes that connection). Properties:
only RemoteProtocolError; a decoded packet encodes and decodes back to itself; the short
path for events on "/" (``main_event``) agrees with the general parse; a decoder never
waits for more attachments than its limit.
"""

from __future__ import annotations

from roomcast.exceptions import RemoteProtocolError
from roomcast.socketio.packets import (
    MAX_ATTACHMENTS,
    Decoder,
    Packet,
    encode_packet,
    main_event,
)

SEEDS = [
    b'2["hello",1,{"a":[true,null]}]',
    b'21["ack me"]\x1f31[1,"two"]',
    b'0/admin,{"token":"x"}\x1f1/admin,\x1f4{"message":"no"}',
    b'51-["file",{"_placeholder":true,"num":0}]\x1f\x00\x01\x02\x03',
    b'62-/nsp,7[{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]\x1f\x00a\x1f\x00b',
    b'2["x"]\x1f\x00unexpected',
    b"0",
]


def _decode(*messages: str | bytes) -> Packet | None:
    decoder = Decoder(max_attachments=1000)  # a placeholder may name one attachment twice
    packet = None
    for message in messages:
        packet = decoder.receive(message)
    return packet


def test_one_input(data: bytes) -> None:
    decoder = Decoder()
    for raw in data.split(b"\x1f"):
        message: str | bytes = raw[1:] if raw[:1] == b"\x00" else raw.decode("utf-8", "replace")
        if isinstance(message, str) and message[:1] == "2":
            fast = main_event(message)
            if fast is not None:  # the short path must agree with the general parse
                general = Decoder()._parse(message)[0]
                assert general == Packet(general.type, "/", fast[0], fast[1]), message
        try:
            packet = decoder.receive(message)
        except RemoteProtocolError:
            decoder = Decoder()
            continue
        assert decoder._attachments is None or len(decoder._attachments) < decoder._expected
        assert decoder._expected <= MAX_ATTACHMENTS, decoder._expected
        if packet is not None:
            again = _decode(*encode_packet(packet))
            assert again == packet, (packet, again)

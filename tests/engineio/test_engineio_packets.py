"""Engine.IO v4 packets and long-polling payloads.

Golden vectors come from the Engine.IO protocol, 4th version ("Packet encoding" and
"Protocol" sections; socketio/socket.io docs/engine.io-protocol/v4-current.md, the text
of the socketio/engine.io-protocol README) and from the sample session in the Socket.IO
protocol README.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roomcast.engineio import (
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
    payload_messages,
)
from roomcast.exceptions import RemoteProtocolError

HANDSHAKE = (
    '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
    '"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}'
)

# -- one packet: a WebSocket frame ----------------------------------------------------------

TEXT_PACKETS = [
    pytest.param("0" + HANDSHAKE, Packet(PacketType.OPEN, HANDSHAKE), id="open"),
    pytest.param("1", Packet(PacketType.CLOSE), id="close"),
    pytest.param("2", Packet(PacketType.PING), id="ping"),
    pytest.param("3", Packet(PacketType.PONG), id="pong"),
    pytest.param("2probe", Packet(PacketType.PING, "probe"), id="ping-probe"),
    pytest.param("3probe", Packet(PacketType.PONG, "probe"), id="pong-probe"),
    pytest.param("4hello", Packet(PacketType.MESSAGE, "hello"), id="message"),
    pytest.param("4€", Packet(PacketType.MESSAGE, "€"), id="message-non-ascii"),
    pytest.param("4", Packet(PacketType.MESSAGE, ""), id="message-empty"),
    pytest.param('42["hey","Jude"]', Packet(PacketType.MESSAGE, '2["hey","Jude"]'), id="sio"),
    pytest.param("5", Packet(PacketType.UPGRADE), id="upgrade"),
    pytest.param("6", Packet(PacketType.NOOP), id="noop"),
]


def test_packet_type_codes() -> None:
    assert {t.name: int(t) for t in PacketType} == {
        "OPEN": 0,
        "CLOSE": 1,
        "PING": 2,
        "PONG": 3,
        "MESSAGE": 4,
        "UPGRADE": 5,
        "NOOP": 6,
    }


@pytest.mark.parametrize(("wire", "packet"), TEXT_PACKETS)
def test_encode_text_packet(wire: str, packet: Packet) -> None:
    assert encode_packet(packet) == wire


@pytest.mark.parametrize(("wire", "packet"), TEXT_PACKETS)
def test_decode_text_packet(wire: str, packet: Packet) -> None:
    assert decode_packet(wire) == packet


def test_binary_message_is_sent_as_is_over_websocket() -> None:
    # "Binary payloads are sent as is, without modification."
    packet = Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04")
    assert encode_packet(packet) == b"\x01\x02\x03\x04"
    assert decode_packet(b"\x01\x02\x03\x04") == packet


def test_empty_binary_frame_is_an_empty_message() -> None:
    assert decode_packet(b"") == Packet(PacketType.MESSAGE, b"")


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param("", id="empty"),
        pytest.param("7", id="type-7"),
        pytest.param("9hello", id="type-9"),
        pytest.param("x", id="letter"),
        pytest.param(" 4hello", id="leading-space"),
        pytest.param("bAQIDBA==", id="base64-is-polling-only"),
        pytest.param("\x1e", id="separator"),
        pytest.param("٤hello", id="non-ascii-digit"),
    ],
)
def test_decode_invalid_packet(frame: str) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_packet(frame)


# -- several packets: a long-polling payload ------------------------------------------------

PAYLOADS = [
    pytest.param("4hey", [Packet(PacketType.MESSAGE, "hey")], id="one"),
    pytest.param(
        "4hello\x1e4world",
        [Packet(PacketType.MESSAGE, "hello"), Packet(PacketType.MESSAGE, "world")],
        id="two-messages",
    ),
    pytest.param(
        "4hello\x1e2\x1e4world",
        [
            Packet(PacketType.MESSAGE, "hello"),
            Packet(PacketType.PING),
            Packet(PacketType.MESSAGE, "world"),
        ],
        id="message-ping-message",
    ),
    pytest.param(
        "4hello\x1ebAQIDBA==",
        [Packet(PacketType.MESSAGE, "hello"), Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04")],
        id="text-and-binary",
    ),
    pytest.param(
        "4hello\x1e4€€€",
        [Packet(PacketType.MESSAGE, "hello"), Packet(PacketType.MESSAGE, "€€€")],
        id="non-ascii",
    ),
    pytest.param(
        '42["hello"]\x1e42["world"]',
        [Packet(PacketType.MESSAGE, '2["hello"]'), Packet(PacketType.MESSAGE, '2["world"]')],
        id="sio-sample-session",
    ),
    pytest.param("0" + HANDSHAKE, [Packet(PacketType.OPEN, HANDSHAKE)], id="handshake"),
    pytest.param("6", [Packet(PacketType.NOOP)], id="noop"),
    pytest.param("b", [Packet(PacketType.MESSAGE, b"")], id="empty-binary"),
]


@pytest.mark.parametrize(("body", "packets"), PAYLOADS)
def test_encode_payload(body: str, packets: list[Packet]) -> None:
    assert encode_payload(packets) == body


@pytest.mark.parametrize(("body", "packets"), PAYLOADS)
def test_decode_payload(body: str, packets: list[Packet]) -> None:
    assert decode_payload(body) == packets


def test_encode_payload_accepts_any_iterable() -> None:
    packets = (Packet(PacketType.MESSAGE, m) for m in ("a", "b"))
    assert encode_payload(packets) == "4a\x1e4b"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("", id="empty"),
        pytest.param("7", id="unknown-type"),
        pytest.param("4hello\x1e7", id="unknown-type-second"),
        pytest.param("x", id="letter"),
        pytest.param("4hello\x1e", id="trailing-separator"),
        pytest.param("\x1e4hello", id="leading-separator"),
        pytest.param("4a\x1e\x1e4b", id="empty-between-separators"),
        pytest.param("bAQIDBA", id="base64-missing-padding"),
        pytest.param("b!!!!", id="base64-bad-alphabet"),
        pytest.param("bAQ ID", id="base64-space"),
        pytest.param("bAQIDBA==\n", id="base64-newline"),
        pytest.param("bA", id="base64-truncated"),
        pytest.param("4hello\x1ebAQIDBA", id="base64-bad-second"),
        # Non-ASCII after "b": base64.b64decode raises a plain ValueError for these.
        pytest.param("bé", id="base64-non-ascii"),
        pytest.param("b\u00a0AQID", id="base64-nbsp"),
        pytest.param("4hello\x1ebAQIDBA€", id="base64-non-ascii-second"),
    ],
)
def test_decode_invalid_payload(body: str) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_payload(body)


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        pytest.param("4hey", ["hey"], id="one"),
        pytest.param("4hello\x1e4world", ["hello", "world"], id="two"),
        pytest.param("4", [""], id="empty-message"),
        pytest.param('42["hello"]\x1e42["world"]', ['2["hello"]', '2["world"]'], id="sio"),
        pytest.param("4hello\x1e2\x1e4world", None, id="with-a-ping"),
        pytest.param("4hello\x1ebAQIDBA==", None, id="with-binary"),
        pytest.param("3", None, id="pong"),
        pytest.param("", None, id="empty"),
        pytest.param("4hello\x1e", None, id="trailing-separator"),
        pytest.param("4a\x1e\x1e4b", None, id="empty-between-separators"),
    ],
)
def test_payload_messages(body: str, messages: list[str] | None) -> None:
    """The shortcut for bodies of text MESSAGEs only; None sends the rest to decode_payload."""
    assert payload_messages(body) == messages


# -- round trips ----------------------------------------------------------------------------

packet_types = st.sampled_from(PacketType)
text_packets = st.builds(Packet, packet_types, st.text())
binary_packets = st.builds(Packet, st.just(PacketType.MESSAGE), st.binary())
# The payload format "assumes the record separator is not used in the data".
polling_text = st.text().filter(lambda s: "\x1e" not in s)
polling_packets = st.builds(Packet, packet_types, polling_text) | binary_packets


@given(text_packets | binary_packets)
def test_packet_round_trip(packet: Packet) -> None:
    assert decode_packet(encode_packet(packet)) == packet


@given(packet_types, st.text())
def test_text_frame_round_trip(packet_type: PacketType, data: str) -> None:
    frame = f"{int(packet_type)}{data}"
    assert encode_packet(decode_packet(frame)) == frame


@given(st.binary())
def test_binary_frame_round_trip(frame: bytes) -> None:
    assert encode_packet(decode_packet(frame)) == frame


@given(st.lists(polling_packets, min_size=1))
def test_payload_round_trip(packets: list[Packet]) -> None:
    assert decode_payload(encode_payload(packets)) == packets


@given(st.lists(st.builds(Packet, packet_types, polling_text), min_size=1))
def test_text_payload_is_frames_joined_by_record_separator(packets: list[Packet]) -> None:
    body = encode_payload(packets)
    assert body == "\x1e".join(str(encode_packet(p)) for p in packets)
    assert encode_payload(decode_payload(body)) == body


@given(st.lists(polling_packets, min_size=1))
def test_payload_messages_agree_with_decode_payload(packets: list[Packet]) -> None:
    body = encode_payload(packets)
    messages = payload_messages(body)
    if all(p.type is PacketType.MESSAGE and isinstance(p.data, str) for p in packets):
        assert messages == [p.data for p in decode_payload(body)]
    else:
        assert messages is None


@given(st.text())
def test_payload_messages_only_for_valid_bodies(body: str) -> None:
    messages = payload_messages(body)
    if messages is not None:  # what decode_payload accepts, read alike
        assert [Packet(PacketType.MESSAGE, m) for m in messages] == decode_payload(body)


# -- any text: packets or the protocol error -------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=100) | st.lists(st.text(max_size=20), max_size=6).map("\x1e".join))
def test_any_text_is_packets_or_the_protocol_error(text: str) -> None:
    try:
        packet = decode_packet(text)
    except RemoteProtocolError:
        pass
    else:
        assert encode_packet(packet) == text
    try:
        packets = decode_payload(text)
    except RemoteProtocolError:
        return
    assert decode_payload(encode_payload(packets)) == packets

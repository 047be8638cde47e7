"""The sans-IO WebSocket framing of the native server (RFC 6455 section 5), without a loop.

Client frames are built by an independent peer: ``websockets.frames.Frame.serialize`` with a
random mask (what a real client sends), or by hand where websockets refuses to build the
invalid frame under test. Server frames are read back with websockets' own parser.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Close, Frame
from websockets.frames import Opcode as WsOpcode
from websockets.streams import StreamReader

from roomcast.transports.frames import (
    CloseCode,
    Control,
    Failure,
    FrameParser,
    Opcode,
    Received,
    build_frame,
    close_frame,
)

MAX_SIZE = 1 << 20
SIZES = [0, 1, 125, 126, 65535, 65536]
#: The three payload length encodings: 7 bits, 16 bits, 64 bits.
HEADER_SIZE = {0: 2, 1: 2, 125: 2, 126: 4, 65535: 4, 65536: 10}
MASK = b"\x37\xfa\x21\x3d"


# -- client frames ---------------------------------------------------------------------------


def client_frame(opcode: Opcode, data: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame, as the ``websockets`` client serializes it."""
    return Frame(WsOpcode(int(opcode)), data, fin=fin).serialize(mask=True)


def raw_frame(first: int, payload: bytes, *, masked: bool = True, mask: bytes = MASK) -> bytes:
    """A frame built by hand: ``first`` is the whole first byte (FIN, RSV1-3, opcode)."""
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", first, bit | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, bit | 127, n)
    if not masked:
        return head + payload
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


def text_of(size: int) -> str:
    return ("0123456789abcdef" * (size // 16 + 1))[:size]


def binary_of(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def feed_chunks(parser: FrameParser, chunks: Sequence[bytes]) -> list[Received]:
    """Feed ``chunks`` in turn, stopping at the first failure (as the server does)."""
    out: list[Received] = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
        if any(isinstance(item, Failure) for item in out):
            break
    return out


def codes(received: Sequence[Received]) -> list[CloseCode]:
    return [item.code for item in received if isinstance(item, Failure)]


# -- single frames ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_text_frame_of_each_length_encoding(size: int) -> None:
    text = text_of(size)
    data = client_frame(Opcode.TEXT, text.encode())
    assert len(data) == HEADER_SIZE[size] + 4 + size  # the encoding under test
    assert FrameParser(MAX_SIZE).feed(data) == [text]


@pytest.mark.parametrize("size", SIZES)
def test_binary_frame_of_each_length_encoding(size: int) -> None:
    payload = binary_of(size)
    data = client_frame(Opcode.BINARY, payload)
    assert len(data) == HEADER_SIZE[size] + 4 + size
    assert FrameParser(MAX_SIZE).feed(data) == [payload]


@pytest.mark.parametrize("size", SIZES)
def test_frame_fed_one_byte_at_a_time(size: int) -> None:
    payload = binary_of(size)
    data = client_frame(Opcode.BINARY, payload)
    parser = FrameParser(MAX_SIZE)
    out = [parser.feed(data[i : i + 1]) for i in range(len(data))]
    assert out[:-1] == [[]] * (len(data) - 1)
    assert out[-1] == [payload]


def test_text_with_multibyte_characters() -> None:
    text = "4héllo wörld ✓ 🎉"
    assert FrameParser(MAX_SIZE).feed(client_frame(Opcode.TEXT, text.encode())) == [text]


def test_hand_built_frame_matches_websockets_serializer() -> None:
    """The hand-built helper (used for the invalid frames below) frames like websockets."""
    for size in SIZES:
        payload = binary_of(size)
        parser = FrameParser(MAX_SIZE)
        assert parser.feed(raw_frame(0x82, payload)) == [payload]
        reader = StreamReader()
        reader.feed_data(raw_frame(0x82, payload))
        assert parse_with_websockets(reader, mask=True).data == payload


# -- split points and chunkings --------------------------------------------------------------

SMALL_FRAMES = [
    pytest.param(client_frame(Opcode.TEXT, b""), "", id="empty-text"),
    pytest.param(client_frame(Opcode.TEXT, "4héllo".encode()), "4héllo", id="text"),
    pytest.param(client_frame(Opcode.BINARY, binary_of(125)), binary_of(125), id="binary-125"),
    pytest.param(client_frame(Opcode.TEXT, text_of(126).encode()), text_of(126), id="text-126"),
    pytest.param(client_frame(Opcode.PING, b"hb"), Control(Opcode.PING, b"hb"), id="ping"),
]


@pytest.mark.parametrize(("data", "expected"), SMALL_FRAMES)
def test_every_split_point(data: bytes, expected: Received) -> None:
    for i in range(len(data) + 1):
        parser = FrameParser(MAX_SIZE)
        first = parser.feed(data[:i])
        assert first == ([expected] if i == len(data) else []), i
        assert first + parser.feed(data[i:]) == [expected], i


@pytest.mark.parametrize(("data", "expected"), SMALL_FRAMES[:2])
def test_every_pair_of_split_points(data: bytes, expected: Received) -> None:
    for i in range(len(data) + 1):
        for j in range(i, len(data) + 1):
            parser = FrameParser(MAX_SIZE)
            out = feed_chunks(parser, [data[:i], data[i:j], data[j:]])
            assert out == [expected], (i, j)


def test_split_points_across_two_frames() -> None:
    """The second frame starts in the chunk that ends the first one."""
    data = client_frame(Opcode.TEXT, b"4first") + client_frame(Opcode.BINARY, b"\x00second")
    for i in range(len(data) + 1):
        parser = FrameParser(MAX_SIZE)
        assert feed_chunks(parser, [data[:i], data[i:]]) == ["4first", b"\x00second"], i


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes, list[Received]]:
    """The bytes of one client message (maybe fragmented, with PINGs) and what it parses to."""
    is_text = draw(st.booleans())
    if is_text:
        text = draw(st.text(max_size=200))
        whole = text.encode()
    else:
        whole = draw(st.binary(max_size=300))
    cuts = sorted(draw(st.lists(st.integers(0, len(whole)), max_size=3)))
    bounds = [0, *cuts, len(whole)]
    pieces = [whole[a:b] for a, b in itertools.pairwise(bounds)]
    data = b""
    expected: list[Received] = []
    for index, piece in enumerate(pieces):
        opcode = (Opcode.TEXT if is_text else Opcode.BINARY) if index == 0 else Opcode.CONTINUATION
        last = index == len(pieces) - 1
        data += client_frame(opcode, piece, fin=last)
        if not last:
            for ping in draw(st.lists(st.binary(max_size=125), max_size=2)):
                data += client_frame(Opcode.PING, ping)
                expected.append(Control(Opcode.PING, ping))
    expected.append(whole.decode() if is_text else whole)
    return data, expected


@settings(max_examples=300, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=6), st.data())
def test_random_chunkings(stream: list[tuple[bytes, list[Received]]], data: st.DataObject) -> None:
    wire = b"".join(frame for frame, _ in stream)
    expected = [item for _, items in stream for item in items]
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(wire)), max_size=12))))
    bounds = [0, *cuts, len(wire)]
    chunks = [wire[a:b] for a, b in itertools.pairwise(bounds)]
    assert feed_chunks(FrameParser(MAX_SIZE), chunks) == expected


# -- a limit per feed --------------------------------------------------------------------------


def test_feed_stops_at_its_limit_and_goes_on_from_there() -> None:
    """At most ``limit`` frames per feed; ``more`` says bytes are left, ``feed(b"")`` parses
    on; fragments and control frames count as frames."""
    half = client_frame(Opcode.TEXT, b"4half")
    data = b"".join(
        [
            *(client_frame(Opcode.TEXT, f"4m{i}".encode()) for i in range(5)),
            client_frame(Opcode.TEXT, b"4fr", fin=False),
            client_frame(Opcode.PING, b"p"),
            client_frame(Opcode.CONTINUATION, b"ag", fin=True),
            half[:4],  # an incomplete frame at the end
        ]
    )
    parser = FrameParser(MAX_SIZE)
    assert parser.feed(data, 3) == ["4m0", "4m1", "4m2"]
    assert parser.more
    assert parser.feed(b"", 3) == ["4m3", "4m4"]  # the fragment counted too
    assert parser.more
    assert parser.feed(b"", 3) == [Control(Opcode.PING, b"p"), "4frag"]
    assert not parser.more  # only an incomplete frame is left
    assert parser.feed(half[4:], 3) == ["4half"]
    assert not parser.more


def test_feed_stops_at_the_limit_only_with_bytes_left() -> None:
    parser = FrameParser(MAX_SIZE)
    two = client_frame(Opcode.TEXT, b"4a") + client_frame(Opcode.TEXT, b"4b")
    assert parser.feed(two, 2) == ["4a", "4b"]
    assert not parser.more
    assert parser.lone_text(client_frame(Opcode.TEXT, b"4c")) == "4c"  # idle again


# -- several frames, fragmentation, control frames -------------------------------------------


def test_several_frames_in_one_feed() -> None:
    close_payload = struct.pack("!H", 1000) + b"bye"
    data = b"".join(
        [
            client_frame(Opcode.TEXT, b"4one"),
            client_frame(Opcode.BINARY, b"\x01\x02"),
            client_frame(Opcode.PING, b""),
            client_frame(Opcode.TEXT, text_of(300).encode()),
            client_frame(Opcode.PONG, b"p"),
            client_frame(Opcode.BINARY, binary_of(70000)),
            client_frame(Opcode.CLOSE, close_payload),
        ]
    )
    assert FrameParser(MAX_SIZE).feed(data) == [
        "4one",
        b"\x01\x02",
        Control(Opcode.PING, b""),
        text_of(300),
        Control(Opcode.PONG, b"p"),
        binary_of(70000),
        Control(Opcode.CLOSE, close_payload),
    ]


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
@pytest.mark.parametrize("size", [0, 2, 125])
def test_control_frames_come_out_as_control(opcode: Opcode, size: int) -> None:
    payload = binary_of(size)
    assert FrameParser(MAX_SIZE).feed(client_frame(opcode, payload)) == [Control(opcode, payload)]


def test_fragmented_text_with_pings_interleaved() -> None:
    parser = FrameParser(MAX_SIZE)
    assert parser.feed(client_frame(Opcode.TEXT, b"4he", fin=False)) == []
    assert parser.feed(client_frame(Opcode.PING, b"a")) == [Control(Opcode.PING, b"a")]
    assert parser.feed(client_frame(Opcode.CONTINUATION, b"ll", fin=False)) == []
    assert parser.feed(client_frame(Opcode.PONG, b"b")) == [Control(Opcode.PONG, b"b")]
    assert parser.feed(client_frame(Opcode.CONTINUATION, b"o", fin=True)) == ["4hello"]
    # The parser is ready for the next message.
    assert parser.feed(client_frame(Opcode.BINARY, b"next")) == [b"next"]


def test_fragmented_binary_in_one_feed() -> None:
    data = b"".join(
        [
            client_frame(Opcode.BINARY, binary_of(200), fin=False),
            client_frame(Opcode.PING, b"x"),
            client_frame(Opcode.CONTINUATION, b"", fin=False),
            client_frame(Opcode.CONTINUATION, binary_of(70000), fin=True),
        ]
    )
    assert FrameParser(MAX_SIZE).feed(data) == [
        Control(Opcode.PING, b"x"),
        binary_of(200) + binary_of(70000),
    ]


def test_multibyte_character_split_across_fragments() -> None:
    """UTF-8 is checked on the whole message: a character may straddle two fragments."""
    encoded = "4é✓".encode()
    parser = FrameParser(MAX_SIZE)
    assert parser.feed(client_frame(Opcode.TEXT, encoded[:2], fin=False)) == []
    assert parser.feed(client_frame(Opcode.CONTINUATION, encoded[2:5], fin=False)) == []
    assert parser.feed(client_frame(Opcode.CONTINUATION, encoded[5:])) == ["4é✓"]


# -- protocol errors -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65536])
def test_unmasked_frame_is_a_protocol_error(size: int) -> None:
    data = Frame(WsOpcode.TEXT, text_of(size).encode()).serialize(mask=False)
    assert codes(FrameParser(MAX_SIZE).feed(data)) == [CloseCode.PROTOCOL_ERROR]


def test_unmasked_frame_after_a_valid_one() -> None:
    data = client_frame(Opcode.TEXT, b"4ok") + raw_frame(0x81, b"4no", masked=False)
    out = FrameParser(MAX_SIZE).feed(data)
    assert out[0] == "4ok"
    assert codes(out[1:]) == [CloseCode.PROTOCOL_ERROR]


def test_unmasked_frame_detected_from_its_header() -> None:
    """No need to wait for a (possibly huge) payload to reject an unmasked frame."""
    head = struct.pack("!BBQ", 0x82, 127, 1 << 40)
    assert codes(FrameParser(MAX_SIZE).feed(head)) == [CloseCode.PROTOCOL_ERROR]


@pytest.mark.parametrize("bit", [0x40, 0x20, 0x10], ids=["rsv1", "rsv2", "rsv3"])
@pytest.mark.parametrize("whole", [True, False], ids=["whole", "split"])
def test_reserved_bit_is_a_protocol_error(bit: int, whole: bool) -> None:
    data = raw_frame(0x80 | bit | Opcode.TEXT, b"4hello")
    chunks = [data] if whole else [data[:3], data[3:]]
    assert codes(feed_chunks(FrameParser(MAX_SIZE), chunks)) == [CloseCode.PROTOCOL_ERROR]


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
@pytest.mark.parametrize("whole", [True, False], ids=["whole", "split"])
def test_unknown_opcode_is_a_protocol_error(opcode: int, whole: bool) -> None:
    data = raw_frame(0x80 | opcode, b"data")
    chunks = [data] if whole else [data[:1], data[1:]]
    assert codes(feed_chunks(FrameParser(MAX_SIZE), chunks)) == [CloseCode.PROTOCOL_ERROR]


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_control_frame_over_125_bytes_is_a_protocol_error(opcode: Opcode) -> None:
    data = raw_frame(0x80 | opcode, binary_of(126))
    assert codes(FrameParser(MAX_SIZE).feed(data)) == [CloseCode.PROTOCOL_ERROR]


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_fragmented_control_frame_is_a_protocol_error(opcode: Opcode) -> None:
    data = raw_frame(opcode, b"hb")  # FIN clear
    assert codes(FrameParser(MAX_SIZE).feed(data)) == [CloseCode.PROTOCOL_ERROR]


@pytest.mark.parametrize("fin", [True, False])
def test_continuation_without_a_start_is_a_protocol_error(fin: bool) -> None:
    data = client_frame(Opcode.CONTINUATION, b"orphan", fin=fin)
    assert codes(FrameParser(MAX_SIZE).feed(data)) == [CloseCode.PROTOCOL_ERROR]


def test_continuation_after_a_finished_message_is_a_protocol_error() -> None:
    parser = FrameParser(MAX_SIZE)
    assert parser.feed(client_frame(Opcode.TEXT, b"4done")) == ["4done"]
    assert codes(parser.feed(client_frame(Opcode.CONTINUATION, b"more"))) == [
        CloseCode.PROTOCOL_ERROR
    ]


@pytest.mark.parametrize("first", [Opcode.TEXT, Opcode.BINARY])
@pytest.mark.parametrize("second", [Opcode.TEXT, Opcode.BINARY])
def test_new_data_frame_during_a_fragmented_message_is_a_protocol_error(
    first: Opcode, second: Opcode
) -> None:
    parser = FrameParser(MAX_SIZE)
    assert parser.feed(client_frame(first, b"4par", fin=False)) == []
    assert codes(parser.feed(client_frame(second, b"4new"))) == [CloseCode.PROTOCOL_ERROR]


def test_nothing_is_reported_after_a_failure_in_the_same_feed() -> None:
    data = (
        client_frame(Opcode.TEXT, b"4before")
        + client_frame(Opcode.CONTINUATION, b"bad")
        + client_frame(Opcode.TEXT, b"4after")
    )
    out = FrameParser(MAX_SIZE).feed(data)
    assert out[0] == "4before"
    assert codes(out[1:]) == [CloseCode.PROTOCOL_ERROR]
    assert len(out) == 2


# -- limits and invalid data -----------------------------------------------------------------


@pytest.mark.parametrize("size", [100, 125, 126, 65536])
def test_message_of_exactly_max_size_is_accepted(size: int) -> None:
    payload = binary_of(size)
    assert FrameParser(size).feed(client_frame(Opcode.BINARY, payload)) == [payload]


@pytest.mark.parametrize("size", [101, 125, 126, 70000])
@pytest.mark.parametrize("whole", [True, False], ids=["whole", "split"])
def test_message_over_max_size_is_too_big(size: int, whole: bool) -> None:
    data = client_frame(Opcode.BINARY, binary_of(size))
    chunks = [data] if whole else [data[:4], data[4:]]
    out = feed_chunks(FrameParser(100), chunks)
    assert codes(out) == [CloseCode.MESSAGE_TOO_BIG], out[:1]


def test_message_over_max_size_detected_from_its_header() -> None:
    """The length in the header is enough: the payload is not buffered first."""
    head = client_frame(Opcode.BINARY, binary_of(70000))[:14]
    assert codes(FrameParser(100).feed(head)) == [CloseCode.MESSAGE_TOO_BIG]


@pytest.mark.parametrize("together", [True, False], ids=["one-feed", "feed-per-frame"])
def test_fragmented_message_over_max_size_is_too_big(together: bool) -> None:
    frames = [
        client_frame(Opcode.TEXT, b"4" + b"a" * 59, fin=False),
        client_frame(Opcode.CONTINUATION, b"b" * 60, fin=True),
    ]
    chunks = [b"".join(frames)] if together else frames
    out = feed_chunks(FrameParser(100), chunks)
    assert codes(out) == [CloseCode.MESSAGE_TOO_BIG], out[:1]


def test_many_small_fragments_over_max_size_are_too_big() -> None:
    """Each fragment is small (and alone in its feed); their sum is over the limit."""
    parser = FrameParser(1000)
    out = parser.feed(client_frame(Opcode.BINARY, b"x" * 100, fin=False))
    for _ in range(20):
        out += parser.feed(client_frame(Opcode.CONTINUATION, b"x" * 100, fin=False))
    out += parser.feed(client_frame(Opcode.CONTINUATION, b"x" * 100, fin=True))
    assert codes(out) == [CloseCode.MESSAGE_TOO_BIG], out[:1]


def test_fragmented_message_of_exactly_max_size_is_accepted() -> None:
    parser = FrameParser(100)
    assert parser.feed(client_frame(Opcode.BINARY, b"a" * 50, fin=False)) == []
    assert parser.feed(client_frame(Opcode.CONTINUATION, b"b" * 50)) == [b"a" * 50 + b"b" * 50]


@pytest.mark.parametrize("together", [True, False], ids=["one-feed", "feed-per-frame"])
def test_ping_inside_a_fragmented_message_does_not_count_towards_max_size(
    together: bool,
) -> None:
    """Control frames are not part of the message (RFC 6455 5.4): a PING interleaved in a
    message just under the limit is answered, and the message is accepted."""
    frames = [
        client_frame(Opcode.BINARY, b"a" * 90, fin=False),
        client_frame(Opcode.PING, b"p" * 20),
        client_frame(Opcode.CONTINUATION, b"b" * 10, fin=True),
    ]
    chunks = [b"".join(frames)] if together else frames
    out = feed_chunks(FrameParser(100), chunks)
    assert out == [Control(Opcode.PING, b"p" * 20), b"a" * 90 + b"b" * 10]


def test_ping_larger_than_a_small_max_size_is_still_a_ping() -> None:
    parser = FrameParser(16)
    ping = client_frame(Opcode.PING, b"p" * 125)
    assert feed_chunks(parser, [ping[:3], ping[3:]]) == [Control(Opcode.PING, b"p" * 125)]


INVALID_UTF8 = [
    pytest.param(b"\xff", id="invalid-byte"),
    pytest.param(b"4\xc3\x28", id="bad-continuation"),
    pytest.param(b"\xc0\xaf", id="overlong"),
    pytest.param(b"\xed\xa0\x80", id="surrogate"),
    pytest.param(b"4\xe2\x82", id="truncated"),
    pytest.param(b"\xf4\x90\x80\x80", id="over-U+10FFFF"),
]


@pytest.mark.parametrize("payload", INVALID_UTF8)
@pytest.mark.parametrize("whole", [True, False], ids=["whole", "split"])
def test_invalid_utf8_text_is_invalid_data(payload: bytes, whole: bool) -> None:
    data = client_frame(Opcode.TEXT, payload)
    chunks = [data] if whole else [data[:2], data[2:]]
    assert codes(feed_chunks(FrameParser(MAX_SIZE), chunks)) == [CloseCode.INVALID_DATA]


@pytest.mark.parametrize("payload", INVALID_UTF8)
def test_invalid_utf8_across_fragments_is_invalid_data(payload: bytes) -> None:
    parser = FrameParser(MAX_SIZE)
    assert parser.feed(client_frame(Opcode.TEXT, b"4ok", fin=False)) == []
    out = parser.feed(client_frame(Opcode.CONTINUATION, payload))
    assert codes(out) == [CloseCode.INVALID_DATA]


def test_invalid_utf8_is_fine_in_a_binary_message() -> None:
    assert FrameParser(MAX_SIZE).feed(client_frame(Opcode.BINARY, b"\xff\xfe")) == [b"\xff\xfe"]


# -- server frames ---------------------------------------------------------------------------


def parse_with_websockets(reader: StreamReader, *, mask: bool) -> Frame:
    """One frame through websockets' generator-based parser (its documented use)."""
    parser = Frame.parse(reader.read_exact, mask=mask, max_size=None)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


def parse_server_frame(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frame = parse_with_websockets(reader, mask=False)
    assert not reader.buffer, "trailing bytes after the frame"
    return frame


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_build_frame_round_trips_through_websockets(size: int, opcode: Opcode) -> None:
    payload = text_of(size).encode() if opcode is Opcode.TEXT else binary_of(size)
    data = build_frame(payload, opcode)
    assert len(data) == HEADER_SIZE[size] + size  # the shortest length encoding, no mask
    frame = parse_server_frame(data)
    assert frame.opcode == WsOpcode(int(opcode))
    assert frame.fin
    assert (frame.rsv1, frame.rsv2, frame.rsv3) == (False, False, False)
    assert bytes(frame.data) == payload


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG])
@pytest.mark.parametrize("size", [0, 125])
def test_build_frame_of_control_frames(opcode: Opcode, size: int) -> None:
    frame = parse_server_frame(build_frame(binary_of(size), opcode))
    assert (frame.opcode, bytes(frame.data), frame.fin) == (
        WsOpcode(int(opcode)),
        binary_of(size),
        True,
    )


def test_build_frame_is_parsed_by_our_parser_only_when_masked() -> None:
    """Server frames are unmasked, which a server-side parser must refuse."""
    assert codes(FrameParser(MAX_SIZE).feed(build_frame(b"4hi", Opcode.TEXT))) == [
        CloseCode.PROTOCOL_ERROR
    ]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (CloseCode.NORMAL, ""),
        (CloseCode.GOING_AWAY, "server shutting down"),
        (CloseCode.PROTOCOL_ERROR, "client frames must be masked"),
        (CloseCode.INVALID_DATA, "invalid UTF-8"),
        (CloseCode.MESSAGE_TOO_BIG, "message too big"),
        (4000, "application"),
    ],
)
def test_close_frame_carries_the_code_and_reason(code: int, reason: str) -> None:
    frame = parse_server_frame(close_frame(code, reason))
    assert frame.opcode == WsOpcode.CLOSE
    assert frame.fin
    close = Close.parse(frame.data)
    assert (close.code, close.reason) == (code, reason)


def test_close_frame_reason_is_cut_to_fit_a_control_frame() -> None:
    frame = parse_server_frame(close_frame(CloseCode.PROTOCOL_ERROR, "x" * 300))
    assert len(frame.data) <= 125
    close = Close.parse(frame.data)
    assert close.code == CloseCode.PROTOCOL_ERROR
    assert close.reason
    assert close.reason == "x" * len(close.reason)


def test_close_frame_reason_is_cut_on_a_character_boundary() -> None:
    """The reason must stay valid UTF-8 (RFC 6455 5.5.1) after the cut."""
    reason = "a" + "é" * 100  # 201 bytes: a cut at 120 bytes splits an "é"
    frame = parse_server_frame(close_frame(CloseCode.PROTOCOL_ERROR, reason))
    assert len(frame.data) <= 125
    close = Close.parse(frame.data)  # raises UnicodeDecodeError on a split character
    assert reason.startswith(close.reason)


# -- lone_text: the short path for one small whole text frame ---------------------------------


@given(st.text(max_size=40))
def test_lone_text_reads_one_small_text_frame(text: str) -> None:
    data = text.encode()
    frame = client_frame(Opcode.TEXT, data)
    parser = FrameParser(MAX_SIZE)
    if 0 < len(data) <= 125:
        assert parser.lone_text(frame) == text
    else:  # an empty frame is left to feed() (the short path needs a payload)
        assert parser.lone_text(frame) is None
        assert parser.feed(frame) == [text]


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(client_frame(Opcode.BINARY, b"abc"), id="binary"),
        pytest.param(client_frame(Opcode.TEXT, b"abc", fin=False), id="first-fragment"),
        pytest.param(client_frame(Opcode.PING, b"abc"), id="ping"),
        pytest.param(raw_frame(0x81, b"abc", masked=False), id="unmasked"),
        pytest.param(raw_frame(0xC1, b"abc"), id="rsv1-set"),
        pytest.param(raw_frame(0x81, b"\xff\xfe"), id="invalid-utf8"),
        pytest.param(client_frame(Opcode.TEXT, b"x" * 126), id="16-bit-length"),
        pytest.param(client_frame(Opcode.TEXT, b"ab") * 2, id="two-frames"),
        pytest.param(client_frame(Opcode.TEXT, b"abc")[:-1], id="partial"),
    ],
)
def test_lone_text_leaves_anything_else_to_feed(frame: bytes) -> None:
    # None means "not the short case": feed() then gives the full answer (messages, or a
    # Failure for what the protocol forbids).
    assert FrameParser(MAX_SIZE).lone_text(frame) is None


def test_lone_text_waits_while_a_fragmented_message_is_pending() -> None:
    parser = FrameParser(MAX_SIZE)
    assert parser.feed(client_frame(Opcode.TEXT, b"ab", fin=False)) == []
    # a whole TEXT frame now would break the protocol: feed() must see it
    assert parser.lone_text(client_frame(Opcode.TEXT, b"cd")) is None
    assert isinstance(parser.feed(client_frame(Opcode.TEXT, b"cd"))[0], Failure)


def test_lone_text_respects_the_size_limit() -> None:
    parser = FrameParser(max_size=4)
    assert parser.lone_text(client_frame(Opcode.TEXT, b"abcde")) is None
    assert parser.feed(client_frame(Opcode.TEXT, b"abcde")) == [
        Failure(CloseCode.MESSAGE_TOO_BIG, "message too big")
    ]


def test_lone_text_after_a_partial_frame_is_none() -> None:
    parser = FrameParser(MAX_SIZE)
    frame = client_frame(Opcode.TEXT, b"abc")
    assert parser.feed(frame[:3]) == []
    assert parser.lone_text(frame) is None  # bytes are buffered: order matters


# -- any bytes: only failures, memory within the limit -----------------------------------------

SMALL = 64
"""A small message limit, so random input reaches it."""


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.binary(max_size=80)
        | st.builds(
            raw_frame,
            st.integers(0, 255),
            st.binary(max_size=200),
            masked=st.booleans(),
        ),
        max_size=6,
    ),
    st.integers(1, 300),
)
def test_any_bytes_give_messages_or_a_failure_within_the_limit(
    pieces: list[bytes], step: int
) -> None:
    parser = FrameParser(SMALL)
    stream = b"".join(pieces)
    failed = False
    for start in range(0, len(stream), step):
        received = parser.feed(stream[start : start + step])
        if failed:
            assert received == []
        for item in received:
            if isinstance(item, str | bytes):
                assert len(item.encode() if isinstance(item, str) else item) <= SMALL
        failed = failed or any(isinstance(item, Failure) for item in received)
        # what waits for the rest of a frame: one frame at most (a message within the limit,
        # a control frame within 125 bytes), header included
        assert len(parser._buffer) <= max(SMALL, 125) + 14


@pytest.mark.parametrize("first", [0x89, 0x8A, 0x88, 0x8B, 0x0F])
@pytest.mark.parametrize("length", [126, 65536])
def test_control_frame_longer_than_125_fails_at_its_header(first: int, length: int) -> None:
    """A control (or reserved control) opcode announcing more than 125 bytes fails as soon as
    its length is read: its payload is not waited for (found by the frames fuzz target: the
    size limit skipped control opcodes, so their payload was buffered past it)."""
    if length < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    parser = FrameParser(SMALL)
    received = parser.feed(header + MASK + bytes(200))
    assert received == [Failure(CloseCode.PROTOCOL_ERROR, "invalid control frame")]
    assert not parser._buffer

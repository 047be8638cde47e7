"""permessage-deflate (RFC 7692), sans-IO: the negotiation, compression out, inflation in
(through the frame parser), without a loop.

The independent peer is ``websockets``' own permessage-deflate: it compresses the client's
messages and inflates the server's, so both directions are checked against another
implementation, not against ours.
"""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.extensions.permessage_deflate import PerMessageDeflate as WsDeflate
from websockets.frames import Frame
from websockets.frames import Opcode as WsOpcode

from roomcast.exceptions import PayloadTooLarge
from roomcast.transports.deflate import (
    Deflation,
    InvalidCompressedData,
    MessageCompressor,
    MessageInflater,
    PerMessageDeflate,
    negotiate,
    parse_extensions,
)
from roomcast.transports.frames import (
    CloseCode,
    Control,
    Failure,
    FrameParser,
    Opcode,
    compressed_frame,
)

MAX_SIZE = 1 << 20
DEFAULT = PerMessageDeflate()
TAKEOVER = PerMessageDeflate(server_no_context_takeover=False, client_no_context_takeover=False)


def frame_of(out: MessageCompressor, payload: bytes, opcode: int) -> bytes | None:
    """The frame a link sends for ``payload``: compressed (RSV1) or None (as it is)."""
    data = out.compress(payload)
    return None if data is None else compressed_frame(data, opcode)


def client(*, no_context_takeover: bool = True, bits: int = 15) -> WsDeflate:
    """The client side of the extension, as the ``websockets`` library does it."""
    return WsDeflate(
        remote_no_context_takeover=True,  # the server's messages: each on its own
        local_no_context_takeover=no_context_takeover,
        remote_max_window_bits=15,
        local_max_window_bits=bits,
    )


def compressed(peer: WsDeflate, opcode: Opcode, data: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame, compressed by ``peer`` (RSV1 on a first frame)."""
    return Frame(WsOpcode(int(opcode)), data, fin=fin).serialize(mask=True, extensions=[peer])


def plain(opcode: Opcode, data: bytes, *, fin: bool = True) -> bytes:
    return Frame(WsOpcode(int(opcode)), data, fin=fin).serialize(mask=True)


def parser(config: PerMessageDeflate = DEFAULT, max_size: int = MAX_SIZE) -> FrameParser:
    agreement = negotiate(config, ["permessage-deflate; client_max_window_bits"])
    assert agreement is not None
    return FrameParser(max_size, Deflation(config).inflater(agreement, max_size))


def server_message(frame: bytes) -> tuple[int, bytes]:
    """(first byte, payload) of an unmasked server frame, the payload inflated by a fresh
    ``websockets`` client context when RSV1 is set."""
    first, n = frame[0], frame[1]
    offset = 2 if n < 126 else 4 if n == 126 else 10
    payload = frame[offset:]
    if first & 0x40:
        data = client().decode(Frame(WsOpcode(first & 0x0F), payload, rsv1=True)).data
        return first, bytes(data)
    return first, payload


# -- negotiation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offer", "answer"),
    [
        # browsers and Node's ws: no context kept on either side, by default
        ("permessage-deflate; client_max_window_bits",
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ("permessage-deflate",
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        # a window asked of the server is answered (and used)
        ("permessage-deflate; server_max_window_bits=10",
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
         "server_max_window_bits=10"),
        # a client window offered with a value is confirmed
        ('permessage-deflate; client_max_window_bits="12"',
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
         "client_max_window_bits=12"),
        # zlib cannot compress with 2^8: that offer is declined, the next one accepted
        ("permessage-deflate; server_max_window_bits=8, permessage-deflate",
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        # other extensions are ignored
        ("x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover",
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    ],
)  # fmt: skip
def test_offers_are_answered(offer: str, answer: str) -> None:
    agreement = negotiate(DEFAULT, [offer])
    assert agreement is not None
    assert agreement.response == answer


@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate; unknown_param",
        "permessage-deflate; server_max_window_bits",  # needs a value
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; server_max_window_bits=8",  # zlib has no 256-byte window
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; client_max_window_bits=",
        # a digit to str.isdigit, not to int(): raised ValueError (found by fuzz/)
        "permessage-deflate; client_max_window_bits=1\u00b2",
        "permessage-deflate; server_max_window_bits=\u00b9\u2075",
        "x-other-extension",
        "",
    ],
)
def test_unsupported_offers_are_declined(offer: str) -> None:
    assert negotiate(DEFAULT, [offer]) is None


def test_with_context_takeover_configured_the_client_decides() -> None:
    agreement = negotiate(TAKEOVER, ["permessage-deflate; client_max_window_bits"])
    assert agreement is not None
    assert agreement.response == "permessage-deflate"
    assert not agreement.server_no_context_takeover
    assert not agreement.client_no_context_takeover
    # a client that asks for no context takeover gets it
    asked = negotiate(TAKEOVER, ["permessage-deflate; server_no_context_takeover"])
    assert asked is not None
    assert asked.server_no_context_takeover
    assert asked.response == "permessage-deflate; server_no_context_takeover"


@pytest.mark.parametrize(
    ("offered", "configured", "answered", "inflate_bits"),
    [
        ("client_max_window_bits", None, None, 15),
        ("client_max_window_bits", 10, 10, 10),
        ("client_max_window_bits=12", 10, 10, 10),
        ("client_max_window_bits=9", 10, 9, 9),
        ("client_max_window_bits=8", None, 8, 9),  # zlib compresses "8" with 9
        (None, 10, None, 15),  # not offered: the server may not ask
    ],
)
def test_client_window(
    offered: str | None, configured: int | None, answered: int | None, inflate_bits: int
) -> None:
    config = PerMessageDeflate(client_max_window_bits=configured)
    offer = "permessage-deflate" + (f"; {offered}" if offered else "")
    agreement = negotiate(config, [offer])
    assert agreement is not None
    expected = None if answered is None else f"client_max_window_bits={answered}"
    assert (expected in agreement.response) if expected else "client_max" not in agreement.response
    assert agreement.client_max_window_bits == inflate_bits


def test_several_header_lines_and_quoted_values() -> None:
    offers = parse_extensions(['foo; a=1, permessage-deflate; server_max_window_bits="10"', "bar"])
    assert offers == [
        ("foo", {"a": "1"}),
        ("permessage-deflate", {"server_max_window_bits": "10"}),
        ("bar", {}),
    ]


@pytest.mark.parametrize(
    "options",
    [
        {"server_max_window_bits": 8},
        {"client_max_window_bits": 16},
        {"level": 10},
        {"mem_level": 0},
        {"threshold": -1},
    ],
)
def test_invalid_options_are_refused(options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        PerMessageDeflate(**options)


# -- out ---------------------------------------------------------------------------------------


def test_messages_under_the_threshold_go_as_they_are() -> None:
    deflation = Deflation(DEFAULT)
    agreement = negotiate(DEFAULT, ["permessage-deflate"])
    assert agreement is not None
    out = deflation.compressor(agreement)
    assert frame_of(out, b"x" * 1023, Opcode.TEXT) is None
    frame = frame_of(out, b"x" * 1024, Opcode.TEXT)
    assert frame is not None
    assert server_message(frame) == (0xC1, b"x" * 1024)


def test_incompressible_messages_go_as_they_are() -> None:
    deflation = Deflation(PerMessageDeflate(threshold=0))
    agreement = negotiate(deflation.config, ["permessage-deflate"])
    assert agreement is not None
    noise = bytes(range(256)) * 2
    assert frame_of(deflation.compressor(agreement), zlib.compress(noise), Opcode.BINARY) is None


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=3000), min_size=1, max_size=8))
def test_each_shared_message_inflates_on_its_own(messages: list[bytes]) -> None:
    """No server context takeover: every compressed message inflates with a fresh context,
    in any order, whatever was compressed before it on the shared context."""
    deflation = Deflation(PerMessageDeflate(threshold=0))
    agreement = negotiate(deflation.config, ["permessage-deflate"])
    assert agreement is not None
    first, second = deflation.compressor(agreement), deflation.compressor(agreement)
    assert first.shared is second.shared  # one deflate context for every connection
    frames = [
        frame_of(first if i % 2 else second, m, Opcode.BINARY) for i, m in enumerate(messages)
    ]
    for message, frame in reversed(list(zip(messages, frames, strict=True))):
        if frame is not None:
            assert server_message(frame) == (0xC2, message)


def test_context_takeover_compresses_against_the_messages_before() -> None:
    deflation = Deflation(TAKEOVER)
    agreement = negotiate(TAKEOVER, ["permessage-deflate"])
    assert agreement is not None
    out = deflation.compressor(agreement)
    assert out.shared is None
    message = b'{"event":"tick","data":"' + b"abcdefghij" * 150 + b'"}'
    frames = [frame_of(out, message, Opcode.TEXT) for _ in range(3)]
    assert all(frame is not None for frame in frames)
    peer = WsDeflate(False, False, 15, 15)  # the client keeps its context too
    for frame in frames:
        assert frame is not None
        payload = frame[2:] if frame[1] < 126 else frame[4:]
        assert peer.decode(Frame(WsOpcode.TEXT, payload, rsv1=True)).data == message
    assert len(frames[2]) < len(frames[0])  # the repeats refer back


# -- in ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 200, 5000, 70000])
@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_compressed_message_is_inflated(size: int, opcode: Opcode) -> None:
    data = (
        ("é" * size).encode()[:size] if opcode is Opcode.BINARY else ("ab" * size)[:size].encode()
    )
    got = parser().feed(compressed(client(), opcode, data))
    assert got == [data.decode() if opcode is Opcode.TEXT else data]


def test_uncompressed_messages_still_pass() -> None:
    p = parser()
    assert p.feed(plain(Opcode.TEXT, b"as it is")) == ["as it is"]
    assert p.feed(compressed(client(), Opcode.TEXT, b"packed" * 50)) == ["packed" * 50]
    assert p.feed(plain(Opcode.BINARY, b"\x00\x01")) == [b"\x00\x01"]


def test_compressed_fragments_with_a_ping_between() -> None:
    peer = client()
    text = "fragmentéd " * 400
    raw = text.encode()
    third = len(raw) // 3
    stream = (
        compressed(peer, Opcode.TEXT, raw[:third], fin=False)
        + plain(Opcode.PING, b"p")
        + compressed(peer, Opcode.CONTINUATION, raw[third : 2 * third], fin=False)
        + compressed(peer, Opcode.CONTINUATION, raw[2 * third :])
    )
    got = parser().feed(stream)
    assert got == [Control(Opcode.PING, b"p"), text]


def test_compressed_fragments_fed_byte_by_byte() -> None:
    peer = client()
    raw = b"\x01\x02\x03" * 2000
    stream = compressed(peer, Opcode.BINARY, raw[:3000], fin=False) + compressed(
        peer, Opcode.CONTINUATION, raw[3000:]
    )
    p = parser()
    got = [item for i in range(len(stream)) for item in p.feed(stream[i : i + 1])]
    assert got == [raw]


def test_client_context_takeover_across_messages() -> None:
    peer = client(no_context_takeover=False)
    p = parser(TAKEOVER)
    message = b"the same words again and again " * 40
    for _ in range(3):
        assert p.feed(compressed(peer, Opcode.TEXT, message)) == [message.decode()]


def test_rsv1_without_the_extension_is_a_protocol_error() -> None:
    frame = compressed(client(), Opcode.TEXT, b"x" * 100)
    assert FrameParser(MAX_SIZE).feed(frame) == [
        Failure(CloseCode.PROTOCOL_ERROR, "reserved bits set")
    ]


def test_rsv1_on_a_continuation_frame_is_a_protocol_error() -> None:
    p = parser()
    start = compressed(client(), Opcode.TEXT, b"abc", fin=False)
    bad = bytearray(plain(Opcode.CONTINUATION, b"def"))
    bad[0] |= 0x40
    got = p.feed(start + bytes(bad))
    assert [type(item) for item in got] == [Failure]
    assert got[0] == Failure(
        CloseCode.PROTOCOL_ERROR, "RSV1 set on a control or continuation frame"
    )


def test_rsv1_on_a_control_frame_is_a_protocol_error() -> None:
    bad = bytearray(plain(Opcode.PING, b"p"))
    bad[0] |= 0x40
    assert [f.code for f in parser().feed(bytes(bad)) if isinstance(f, Failure)] == [
        CloseCode.PROTOCOL_ERROR
    ]


@pytest.mark.parametrize("bit", [0x20, 0x10])
def test_rsv2_and_rsv3_stay_protocol_errors(bit: int) -> None:
    bad = bytearray(compressed(client(), Opcode.TEXT, b"x" * 10))
    bad[0] |= bit
    assert parser().feed(bytes(bad)) == [Failure(CloseCode.PROTOCOL_ERROR, "reserved bits set")]


def test_malformed_compressed_data_is_invalid_data() -> None:
    frame = bytearray(plain(Opcode.TEXT, b"\xff\xff\xff\xff not deflate"))
    frame[0] |= 0x40
    (got,) = parser().feed(bytes(frame))
    assert isinstance(got, Failure)
    assert got.code == CloseCode.INVALID_DATA


def test_invalid_utf8_inside_compressed_text_is_invalid_data() -> None:
    got = parser().feed(compressed(client(), Opcode.TEXT, b"ok \xc3\x28 not utf-8" * 10))
    assert got == [Failure(CloseCode.INVALID_DATA, "invalid UTF-8")]


def test_decompression_bomb_stops_at_max_size() -> None:
    bomb = b"\x00" * (10 << 20)  # 10 MiB of zeros: about 10 KiB compressed
    frame = compressed(client(), Opcode.BINARY, bomb)
    assert len(frame) < 20_000
    got = parser(max_size=1 << 20).feed(frame)
    assert got == [Failure(CloseCode.MESSAGE_TOO_BIG, "message too big")]


def test_fragmented_bomb_stops_at_max_size() -> None:
    peer = client()
    stream = compressed(peer, Opcode.BINARY, b"\x00" * 600_000, fin=False) + compressed(
        peer, Opcode.CONTINUATION, b"\x00" * 600_000
    )
    got = parser(max_size=1 << 20).feed(stream)
    assert got == [Failure(CloseCode.MESSAGE_TOO_BIG, "message too big")]


def test_message_of_exactly_max_size_inflates() -> None:
    data = b"a" * 5000
    assert parser(max_size=5000).feed(compressed(client(), Opcode.BINARY, data)) == [data]


def test_inflater_keeps_no_context_between_messages_by_default() -> None:
    inflater = MessageInflater(15, no_context_takeover=True, max_size=MAX_SIZE)
    inflater.start()
    body = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = (body.compress(b"hello " * 100) + body.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert inflater.feed(data, fin=True) == b"hello " * 100
    assert not inflater.holds_context
    inflater.start()
    with pytest.raises(InvalidCompressedData):
        inflater.feed(b"\xff\xff\xff", fin=True)
    small = MessageInflater(15, no_context_takeover=True, max_size=10)
    small.start()
    with pytest.raises(PayloadTooLarge):
        small.feed(data, fin=True)


# -- any offer, any compressed bytes ---------------------------------------------------------

PARAMS = st.sampled_from(
    [
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
        "x",
    ]
)
VALUES = st.sampled_from(["", "=", "=8", "=9", "=15", '="10"', "=16", "=0x9", "=\u00b2", "=1 2"])
OFFERS = st.lists(
    st.builds(
        lambda name, params: "; ".join([name, *params]),
        st.sampled_from(["permessage-deflate", "PerMessage-Deflate", "x-webkit", ""]),
        st.lists(st.builds(str.__add__, PARAMS, VALUES), max_size=4),
    ),
    max_size=3,
).map(", ".join) | st.text(max_size=60)


@settings(max_examples=300, deadline=None)
@given(st.lists(OFFERS, max_size=2), st.sampled_from([DEFAULT, TAKEOVER]))
def test_any_offer_is_answered_with_terms_that_read_back(
    values: list[str], config: PerMessageDeflate
) -> None:
    agreement = negotiate(config, values)
    if agreement is None:
        return
    assert 9 <= agreement.server_max_window_bits <= 15
    assert 9 <= agreement.client_max_window_bits <= 15
    assert negotiate(config, [agreement.response]) == agreement


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(max_size=60), min_size=1, max_size=4)
    | st.binary(max_size=2000).map(lambda data: [zlib.compress(data)[2:-4]]),
    st.booleans(),
)
def test_any_compressed_bytes_inflate_within_the_limit_or_fail(
    frames: list[bytes], no_context_takeover: bool
) -> None:
    inflater = MessageInflater(15, no_context_takeover, 256)
    inflater.start()
    size = 0
    for i, frame in enumerate(frames):
        try:
            size += len(inflater.feed(frame, fin=i == len(frames) - 1))
        except (InvalidCompressedData, PayloadTooLarge):
            return
        assert size <= 256

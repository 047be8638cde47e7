"""The parsers: socket.io-msgpack-parser's format against vectors its npm package wrote
(``node/msgpack_vectors.mjs``), round trips of both parsers, and what each refuses."""

from __future__ import annotations

import base64
import builtins
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from roomcast.exceptions import RemoteProtocolError
from roomcast.parsers import msgpack_parser, parser_for
from roomcast.socketio import (
    ClientSession,
    JsonParser,
    MsgpackParser,
    Packet,
    PacketType,
    Parser,
    ServerSession,
)
from roomcast.socketio.packets import RESERVED_EVENTS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VECTORS_JS = HERE / "node" / "msgpack_vectors.mjs"
VECTORS: list[dict[str, Any]] = json.loads((HERE / "msgpack_vectors.json").read_text())
NODE = shutil.which("node")
HAVE_PARSER = (ROOT / "node_modules" / "socket.io-msgpack-parser" / "package.json").is_file()

MSGPACK = msgpack_parser()


def from_wire(value: Any) -> Any:
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return base64.b64decode(value["$bin"])
        return {k: from_wire(v) for k, v in value.items()}
    return value


def packet_of(vector: dict[str, Any]) -> Packet:
    fields = vector["packet"]
    return Packet(
        PacketType(fields["type"]), fields["nsp"], from_wire(fields.get("data")), fields.get("id")
    )


def decode_all(parser: Parser, messages: list[str | bytes]) -> list[Packet]:
    decoder = parser.decoder()
    packets = [decoder.receive(m) for m in messages]
    return [p for p in packets if p is not None]


# -- golden vectors ------------------------------------------------------------------------


@pytest.mark.parametrize("vector", [v for v in VECTORS if not v["client"]], ids=lambda v: v["name"])
def test_encode_as_the_npm_parser(vector: dict[str, Any]) -> None:
    assert MSGPACK.encode(packet_of(vector)) == [bytes.fromhex(vector["hex"])]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_decode_what_the_npm_parser_wrote(vector: dict[str, Any]) -> None:
    assert MSGPACK.decoder().receive(bytes.fromhex(vector["hex"])) == packet_of(vector)


@pytest.mark.node
@pytest.mark.skipif(NODE is None or not HAVE_PARSER, reason="needs node and the npm parser")
def test_vectors_are_what_the_npm_parser_writes() -> None:
    assert NODE is not None
    written = subprocess.run(
        [NODE, str(VECTORS_JS)], capture_output=True, check=True, text=True, timeout=60
    ).stdout
    assert json.loads(written) == VECTORS


def test_binary_types_are_written_as_plain_ones() -> None:
    """No attachments in this format: bytes are msgpack bin inside EVENT and ACK."""
    [message] = MSGPACK.encode(Packet(PacketType.BINARY_ACK, "/", [b"\x00"], 1))
    assert msgpack.unpackb(message) == {"type": 3, "data": [b"\x00"], "nsp": "/", "id": 1}
    [message] = MSGPACK.encode(Packet(PacketType.BINARY_EVENT, "/", ["a", b"\x01"]))
    assert msgpack.unpackb(message) == {"type": 2, "data": ["a", b"\x01"], "nsp": "/"}


def test_datetime_as_a_msgpack_timestamp() -> None:
    import datetime

    moment = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
    [message] = MSGPACK.encode(Packet(PacketType.EVENT, "/", ["at", moment]))
    assert MSGPACK.decoder().receive(message) == Packet(PacketType.EVENT, "/", ["at", moment])


def test_other_extension_types_as_notepack_decodes_them() -> None:
    message = b"\x83\xa4type\x02\xa4data\x92\xa1e\xd4\x05\x07\xa3nsp\xa1/"
    assert MSGPACK.decoder().receive(message) == Packet(PacketType.EVENT, "/", ["e", [5, b"\x07"]])


# -- round trips ---------------------------------------------------------------------------

SAFE_INT = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
SCALARS = (
    st.none()
    | st.booleans()
    | SAFE_INT
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSONISH = st.recursive(
    SCALARS | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
NAMESPACES = st.sampled_from(["/", "/admin", "/ü"])
ACK_IDS = st.integers(min_value=0, max_value=2**53 - 1)
EVENT_NAMES = st.text(min_size=1, max_size=10).filter(lambda n: n not in RESERVED_EVENTS)


@st.composite
def packets(draw: st.DrawFn) -> Packet:
    kind = draw(st.sampled_from(list(PacketType)[:5]))
    nsp = draw(NAMESPACES)
    if kind is PacketType.CONNECT:
        data = draw(st.none() | st.dictionaries(st.text(max_size=8), JSONISH, max_size=3))
        return Packet(kind, nsp, data)
    if kind is PacketType.DISCONNECT:
        return Packet(kind, nsp)
    if kind is PacketType.CONNECT_ERROR:
        return Packet(kind, nsp, draw(st.text() | st.fixed_dictionaries({"message": st.text()})))
    args = draw(st.lists(JSONISH, max_size=4))
    if kind is PacketType.EVENT:
        return Packet(kind, nsp, [draw(EVENT_NAMES), *args], draw(st.none() | ACK_IDS))
    return Packet(kind, nsp, args, draw(ACK_IDS))


def plain(packet: Packet) -> Packet:
    """What a decoder gives back: the JSON parser names packets with bytes BINARY_*."""
    kind = {PacketType.BINARY_EVENT: PacketType.EVENT, PacketType.BINARY_ACK: PacketType.ACK}
    return Packet(kind.get(packet.type, packet.type), packet.namespace, packet.data, packet.id)


@given(packets())
def test_msgpack_round_trip(packet: Packet) -> None:
    messages = MSGPACK.encode(packet)
    assert len(messages) == 1
    assert isinstance(messages[0], bytes)
    assert decode_all(MSGPACK, messages) == [packet]


def has_bytes(value: Any) -> bool:
    if isinstance(value, bytes):
        return True
    if isinstance(value, list):
        return any(has_bytes(v) for v in value)
    if isinstance(value, dict):
        return any(has_bytes(v) for v in value.values())
    return False


@given(packets())
def test_json_round_trip(packet: Packet) -> None:
    # socket.io-parser's attachments exist for EVENT and ACK only
    assume(packet.type in (PacketType.EVENT, PacketType.ACK) or not has_bytes(packet.data))
    parser = JsonParser(max_attachments=100)  # generated data may hold more than 10
    assert [plain(p) for p in decode_all(parser, parser.encode(packet))] == [packet]


# -- what the msgpack decoder refuses ----------------------------------------------------


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "message",
    [
        pytest.param('2["text"]', id="text-message"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xc1", id="never-used-byte"),
        pytest.param(pack({"type": 2, "data": ["e"], "nsp": "/"})[:-1], id="truncated"),
        pytest.param(pack({"type": 2, "data": ["e"], "nsp": "/"}) + b"\x00", id="extra-data"),
        pytest.param(pack(["e"]), id="not-a-map"),
        pytest.param(pack({"data": ["e"], "nsp": "/"}), id="no-type"),
        pytest.param(pack({"type": 5, "data": ["e"], "nsp": "/"}), id="binary-event-type"),
        pytest.param(pack({"type": 6, "data": [], "nsp": "/", "id": 1}), id="binary-ack-type"),
        pytest.param(pack({"type": True, "data": ["e"], "nsp": "/"}), id="bool-type"),
        # unhashable types raised TypeError looking the type up (found by fuzz/)
        pytest.param(pack({"type": {}, "nsp": "/"}), id="map-type"),
        pytest.param(pack({"type": [2], "data": ["e"], "nsp": "/"}), id="array-type"),
        pytest.param(pack({"type": 2.0, "data": ["e"], "nsp": "/"}), id="float-type"),
        pytest.param(pack({"type": 2, "data": ["e"]}), id="no-nsp"),
        pytest.param(pack({"type": 2, "data": ["e"], "nsp": 1}), id="nsp-not-text"),
        pytest.param(pack({"type": 2, "data": ["e"], "nsp": "/", "id": -1}), id="negative-id"),
        pytest.param(pack({"type": 2, "data": ["e"], "nsp": "/", "id": 1.5}), id="float-id"),
        pytest.param(pack({"type": 2, "data": ["e"], "nsp": "/", "id": 2**53}), id="big-id"),
        pytest.param(pack({"type": 2, "data": [], "nsp": "/"}), id="event-without-name"),
        pytest.param(pack({"type": 2, "data": ["connect"], "nsp": "/"}), id="reserved-name"),
        pytest.param(pack({"type": 2, "data": "e", "nsp": "/"}), id="event-data-text"),
        pytest.param(pack({"type": 3, "data": ["ok"], "nsp": "/"}), id="ack-without-id"),
        pytest.param(pack({"type": 0, "data": [], "nsp": "/"}), id="connect-list"),
        pytest.param(pack({"type": 0, "data": None, "nsp": "/"}), id="connect-nil"),
        pytest.param(pack({"type": 1, "data": None, "nsp": "/"}), id="disconnect-data"),
        pytest.param(pack({"type": 4, "data": 1, "nsp": "/"}), id="connect-error-number"),
        pytest.param(b"\x81\x01\x02", id="integer-key"),
        pytest.param(b"\x91" * 2000 + b"\xc0", id="too-deep"),
    ],
)
def test_msgpack_decoder_refuses(message: str | bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        MSGPACK.decoder().receive(message)


def test_msgpack_decoder_never_waits_for_attachments() -> None:
    decoder = MSGPACK.decoder()
    decoder.receive(pack({"type": 2, "data": ["e", b"x"], "nsp": "/"}))
    assert decoder.awaiting_attachments is False


# -- choosing a parser ---------------------------------------------------------------------


def test_parser_for() -> None:
    assert isinstance(parser_for("json"), JsonParser)
    assert isinstance(parser_for("msgpack"), MsgpackParser)
    assert parser_for(MSGPACK) is MSGPACK
    with pytest.raises(ValueError, match="unknown parser 'yaml'"):
        parser_for("yaml")


def test_msgpack_parser_without_msgpack_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_import = builtins.__import__

    def without_msgpack(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "msgpack":
            raise ImportError("No module named 'msgpack'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_msgpack)
    with pytest.raises(ImportError, match=r"pip install 'roomcast\[msgpack\]'"):
        parser_for("msgpack")


# -- the sessions with the msgpack parser ----------------------------------------------------


def decode_one(parts: list[str | bytes]) -> Packet:
    [message] = parts
    assert isinstance(message, bytes)
    return MSGPACK.decoder().receive(message)


def test_server_session_writes_msgpack() -> None:
    session = ServerSession("/admin", parser=MSGPACK, recovery=True)
    connect = decode_one(session.accept())
    assert connect == Packet(PacketType.CONNECT, "/admin", {"sid": session.sid, "pid": session.pid})
    assert decode_one(session.send_ack(4, ["ok", b"\x01"])) == Packet(
        PacketType.ACK, "/admin", ["ok", b"\x01"], 4
    )
    assert decode_one(session.disconnect()) == Packet(PacketType.DISCONNECT, "/admin")


def test_server_session_refuses_in_msgpack() -> None:
    session = ServerSession("/", parser=MSGPACK)
    refusal = decode_one(session.refuse({"message": "no", "data": {"code": 1}}))
    assert refusal == Packet(PacketType.CONNECT_ERROR, "/", {"message": "no", "data": {"code": 1}})


def test_server_session_answers_retries_in_msgpack() -> None:
    session = ServerSession("/", parser=MSGPACK, answers=4)
    session.accept()
    assert session.receive_event(3, ["e"]) is None
    answer = session.send_ack(3, ["done"])
    assert decode_one(answer) == Packet(PacketType.ACK, "/", ["done"], 3)
    assert session.receive_event(3, ["e"]) == answer


def test_client_session_writes_msgpack() -> None:
    session = ClientSession("/", parser=MSGPACK)
    session.activate()
    session.connect({"token": "t"})
    [connect] = session.data_to_send()
    assert decode_one(connect) == Packet(PacketType.CONNECT, "/", {"token": "t"})


def test_msgpack_packet_nested_too_deeply_is_the_protocol_error() -> None:
    """An ``undefined`` 600 arrays deep: making it JavaScript's null recursed past Python's
    limit and raised RecursionError (found by review while writing the property tests)."""
    nested = b"\x91" * 600 + b"\xd4\x00\x00"  # [[[... undefined ...]]]
    message = b"\x83\xa4type\x02\xa4data\x92\xa1e" + nested + b"\xa3nsp\xa1/"
    with pytest.raises(RemoteProtocolError, match="nested too deeply"):
        MSGPACK.decoder().receive(message)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120) | packets().map(lambda p: MSGPACK.encode(p)[0][:-1]))
def test_any_bytes_are_a_packet_or_the_protocol_error(message: bytes) -> None:
    try:
        packet = MSGPACK.decoder().receive(message)
    except RemoteProtocolError:
        return
    (again,) = MSGPACK.encode(packet)
    assert MSGPACK.encode(MSGPACK.decoder().receive(again)) == [again]


def test_the_json_parsers_decoders_take_its_attachment_limit() -> None:
    message = '511-["e",{"_placeholder":true,"num":10}]'
    with pytest.raises(RemoteProtocolError, match="above the maximum"):
        JsonParser().decoder().receive(message)
    assert JsonParser(max_attachments=11).decoder().receive(message) is None

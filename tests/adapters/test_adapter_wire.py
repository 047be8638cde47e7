"""The Redis adapter's wire format, against bytes written by Node's own encoder.

The golden vectors are ``notepack.io`` output (the msgpack codec of
``@socket.io/redis-adapter`` v8 and ``@socket.io/redis-emitter`` v5) for the messages those
packages publish; sans-IO, no Redis needed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roomcast.adapters.base import BroadcastOptions
from roomcast.adapters.wire import (
    EMITTER_UID,
    Channels,
    RequestType,
    decode_body,
    encode_request,
    handshake_from_wire,
    new_uid,
    opts_from_wire,
    opts_to_wire,
    pack,
    packet_from_wire,
    packet_to_wire,
)
from roomcast.socketio import Packet, PacketType

# notepack.encode(["AbC123", {type: 2, data: ["news", 1, 2.5, "é", {a: true, b: null},
#   Buffer.from([0, 255])], nsp: "/"}, {rooms: ["red"], except: ["muted"],
#   flags: {volatile: true}}])
NODE_BROADCAST = bytes.fromhex(
    "93a641624331323383a47479706502a46461746196a46e65777301cb4004000000000000a2c3a982a161c3a1"
    "62c0c40200ffa36e7370a12f83a5726f6f6d7391a3726564a665786365707491a56d75746564a5666c6167"
    "7381a8766f6c6174696c65c3"
)
# @socket.io/redis-emitter: ["emitter", {type: 2, data: ["hi"], nsp: "/chat"},
#   {rooms: [], flags: {}, except: []}]
NODE_EMITTER = bytes.fromhex(
    "93a7656d697474657283a47479706502a46461746191a26869a36e7370a52f6368617483a5726f6f6d7390"
    "a5666c61677380a665786365707490"
)
# broadcastWithAck request: {uid, requestId, type: 7, packet, opts: {..., flags: {timeout}}}
NODE_BROADCAST_ACK_REQUEST = bytes.fromhex(
    "85a3756964a6416243313233a9726571756573744964a678797a373839a47479706507a67061636b657483"
    "a47479706502a46461746191a171a36e7370a12fa46f70747383a5726f6f6d7390a665786365707490a566"
    "6c61677381a774696d656f7574cd1388"
)
# {type: 9, requestId: "xyz789", packet: ["ok", Buffer.from("b")]}
NODE_BROADCAST_ACK = bytes.fromhex(
    "83a47479706509a9726571756573744964a678797a373839a67061636b657492a26f6bc40162"
)
# [new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), undefined, -1]
NODE_DATE = bytes.fromhex("93d7ffa1a5d60065937d25c0ff")


def test_channel_names_are_the_node_adapters() -> None:
    channels = Channels("socket.io", "/")
    assert channels.broadcast == "socket.io#/#"
    assert channels.broadcast_to(frozenset({"red"})) == "socket.io#/#red#"
    assert channels.broadcast_to(frozenset()) == "socket.io#/#"
    assert channels.broadcast_to(frozenset({"a", "b"})) == "socket.io#/#"
    assert channels.request == "socket.io-request#/#"
    assert channels.response == "socket.io-response#/#"
    assert channels.response_to("AbC123") == "socket.io-response#/#AbC123#"
    assert Channels("app", "/chat").broadcast_to(frozenset({"x"})) == "app#/chat#x#"
    assert channels.room_of("socket.io#/#red#") == "red"
    assert channels.room_of("socket.io#/#") == ""


def test_request_types_are_the_node_adapters() -> None:
    assert [t.value for t in RequestType] == list(range(10))
    assert RequestType.REMOTE_FETCH == 5
    assert RequestType.BROADCAST_ACK == 9


def test_broadcast_encodes_byte_for_byte_like_node() -> None:
    data = ["news", 1, 2.5, "é", {"a": True, "b": None}, b"\x00\xff"]
    packet = Packet(PacketType.EVENT, "/", data)
    opts = BroadcastOptions(
        rooms=frozenset({"red"}), except_rooms=frozenset({"muted"}), volatile=True
    )
    assert pack(["AbC123", packet_to_wire(packet), opts_to_wire(opts)]) == NODE_BROADCAST


def test_broadcast_from_node_decodes() -> None:
    uid, raw_packet, raw_opts = decode_body(NODE_BROADCAST)
    assert uid == "AbC123"
    packet = packet_from_wire(raw_packet)
    assert packet == Packet(
        PacketType.EVENT, "/", ["news", 1, 2.5, "é", {"a": True, "b": None}, b"\x00\xff"]
    )
    opts = opts_from_wire(raw_opts)
    assert opts.rooms == {"red"}
    assert opts.except_rooms == {"muted"}
    assert opts.volatile
    assert opts.compress


def test_emitter_message_decodes() -> None:
    uid, raw_packet, raw_opts = decode_body(NODE_EMITTER)
    assert uid == EMITTER_UID
    assert packet_from_wire(raw_packet) == Packet(PacketType.EVENT, "/chat", ["hi"])
    assert opts_from_wire(raw_opts) == BroadcastOptions()


def test_broadcast_with_ack_request_and_answer_encode_like_node() -> None:
    packet = Packet(PacketType.EVENT, "/", ["q"])
    opts = BroadcastOptions(flags={"timeout": 5000})
    request = {
        "uid": "AbC123",
        "requestId": "xyz789",
        "type": int(RequestType.BROADCAST),
        "packet": packet_to_wire(packet),
        "opts": opts_to_wire(opts),
    }
    assert pack(request) == NODE_BROADCAST_ACK_REQUEST
    answer = {"type": 9, "requestId": "xyz789", "packet": ["ok", b"b"]}
    assert pack(answer) == NODE_BROADCAST_ACK
    assert decode_body(NODE_BROADCAST_ACK) == answer


def test_js_dates_become_the_strings_json_would_give() -> None:
    assert decode_body(NODE_DATE) == ["2024-01-02T03:04:05.678Z", None, -1]


def test_requests_are_json_unless_they_hold_bytes() -> None:
    body = {"uid": "u", "requestId": "r", "type": 5, "opts": {"rooms": [], "except": []}}
    encoded = encode_request(body)
    assert encoded.startswith(b"{")
    assert json.loads(encoded) == body
    binary = encode_request({"type": 6, "requestId": "r", "data": b"\x00"})
    assert not binary.startswith(b"{")
    assert decode_body(binary) == {"type": 6, "requestId": "r", "data": b"\x00"}


def test_node_json_requests_decode() -> None:
    raw = b'{"uid":"x","type":2,"opts":{"rooms":[1,"a"],"except":[]},"rooms":["vip"]}'
    request = decode_body(raw)
    assert request["type"] == RequestType.REMOTE_JOIN
    assert opts_from_wire(request["opts"]).rooms == {"1", "a"}  # numeric rooms as strings


@pytest.mark.parametrize("garbage", [b"\xc1", b"{not json", b""])
def test_garbage_is_a_value_error(garbage: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - json and msgpack both end here
        decode_body(garbage)


def test_only_event_packets_are_broadcast() -> None:
    assert packet_from_wire({"type": 3, "data": [], "nsp": "/"}) is None
    assert packet_from_wire({"type": 2, "data": []}) is None
    assert packet_from_wire("nope") is None
    assert packet_from_wire({"type": 5, "data": ["b", b"1"]}) == Packet(
        PacketType.EVENT, "/", ["b", b"1"]
    )


def test_uids_look_like_uid2() -> None:
    uid = new_uid()
    assert len(uid) == 6
    assert uid.isalnum()
    assert new_uid() != uid or new_uid() != uid


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}", id="json"),
        # a JS Date 500 arrays deep: turning dates into strings recursed past the limit
        pytest.param(b"\x91" * 500 + b"\xd6\xff\x00\x00\x00\x01", id="msgpack-date"),
    ],
)
def test_bodies_nested_too_deeply_are_a_value_error(body: bytes) -> None:
    """decode_body raised RecursionError, which the adapter's handlers do not catch (they
    skip a ValueError): one deep message from another node broke its subscriber."""
    with pytest.raises(ValueError, match="nested too deeply"):
        decode_body(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values | st.binary(max_size=8), max_size=5))
def test_requests_decode_to_what_was_encoded(request: dict[str, Any]) -> None:
    assert decode_body(encode_request(request)) == request


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["/", "/chat"]),
    st.lists(json_values | st.binary(max_size=8), min_size=1, max_size=4),
    st.frozensets(st.text(max_size=5), max_size=3),
    st.frozensets(st.text(max_size=5), max_size=3),
    st.booleans(),
    st.booleans(),
)
def test_broadcasts_decode_to_what_was_encoded(
    nsp: str,
    data: list[Any],
    rooms: frozenset[str],
    except_rooms: frozenset[str],
    volatile: bool,
    compress: bool,
) -> None:
    packet = Packet(PacketType.EVENT, nsp, data)
    opts = BroadcastOptions(rooms, except_rooms, volatile=volatile, compress=compress)
    uid, raw_packet, raw_opts = decode_body(
        pack(["uid", packet_to_wire(packet), opts_to_wire(opts)])
    )
    assert uid == "uid"
    assert packet_from_wire(raw_packet) == packet
    assert opts_from_wire(raw_opts) == opts


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=100) | st.text(max_size=100).map(lambda t: ("{" + t).encode()))
def test_any_bytes_decode_or_are_a_value_error(body: bytes) -> None:
    try:
        value = decode_body(body)
    except ValueError:
        return
    packet_from_wire(value)
    opts_from_wire(value)


def test_rooms_no_json_peer_sends_are_skipped() -> None:
    """A binary room (msgpack ``bin``) raised TypeError out of opts_from_wire, past the
    adapter's handlers (found by the adapter_wire fuzz target)."""
    opts = opts_from_wire({"rooms": ["a", 1, b"bin", [[1]]], "except": [b"x"]})
    assert opts.rooms == {"a", "1", "[[1]]"}
    assert opts.except_rooms == frozenset()


def test_a_handshake_issued_past_a_floats_range_is_read() -> None:
    """JSON allows any integer: float() of it raised OverflowError (found with the fuzz
    target's bodies)."""
    assert handshake_from_wire(decode_body(b'{"issued":1' + b"0" * 400 + b"}")).issued == 0.0

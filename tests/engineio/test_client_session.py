"""The client side of an Engine.IO v4 session, driven with a fake clock (plain floats).

The rules are those of the Engine.IO protocol, 4th version ("Handshake", "Heartbeat" and
"Upgrade" sections); the last tests drive the client session against the server one.
"""

from __future__ import annotations

import json

import pytest

from roomcast.engineio import (
    ClientState,
    Closed,
    CloseReason,
    EngineClientSession,
    EngineConfig,
    EngineSession,
    Message,
    Opened,
    Packet,
    PacketType,
    Transport,
    Upgraded,
    UpgradeState,
    batch_for_polling,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
)
from roomcast.engineio.client import parse_handshake
from roomcast.exceptions import LocalProtocolError

SID = "lv_VI97HAXpY6yYWAAAC"
# The sample handshake of the Socket.IO protocol README.
HANDSHAKE = (
    '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
    '"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}'
)
INTERVAL = 25.0
TIMEOUT = 5.0

PING = Packet(PacketType.PING)
PONG = Packet(PacketType.PONG)
CLOSE = Packet(PacketType.CLOSE)
NOOP = Packet(PacketType.NOOP)
UPGRADE = Packet(PacketType.UPGRADE)


def opened(
    transport: Transport = Transport.POLLING,
    handshake: str = HANDSHAKE,
    *,
    now: float = 0.0,
    upgrade: bool = True,
) -> EngineClientSession:
    """A client session that received the handshake (its Opened event drained)."""
    session = EngineClientSession(transport, upgrade=upgrade)
    session.receive_packets(decode_payload(handshake), now=now)
    [event] = session.events_received()
    assert isinstance(event, Opened)
    return session


def where(session: EngineClientSession) -> tuple[ClientState, UpgradeState, Transport]:
    """State, upgrade state and transport (read through a call, so mypy does not narrow)."""
    return session.state, session.upgrade_state, session.transport


def paused(session: EngineClientSession) -> EngineClientSession:
    """Run the probe up to the pause: 2probe out, 3probe in."""
    assert session.start_probe() == Packet(PacketType.PING, "probe")
    assert session.receive_probe(decode_packet("3probe"))
    assert session.paused
    return session


# -- handshake ------------------------------------------------------------------------------


def test_a_new_session_waits_for_the_handshake() -> None:
    session = EngineClientSession(Transport.POLLING)
    assert where(session) == (ClientState.OPENING, UpgradeState.IDLE, Transport.POLLING)
    assert session.sid is None
    assert session.handshake is None
    assert session.next_deadline() is None
    assert session.packets_to_send() == []
    assert session.events_received() == []
    assert not session.can_upgrade()


def test_handshake_opens_the_session() -> None:
    session = EngineClientSession(Transport.POLLING)
    session.receive_packets(decode_payload(HANDSHAKE), now=10.0)
    expected = Opened(SID, ("websocket",), INTERVAL, TIMEOUT, 1_000_000)
    assert session.events_received() == [expected]
    assert session.handshake == expected
    assert session.sid == SID
    assert session.state is ClientState.OPEN
    assert session.next_deadline() == 10.0 + INTERVAL + TIMEOUT
    assert session.packets_to_send() == []


def test_handshake_over_websocket_offers_no_upgrade() -> None:
    handshake = '0{"sid":"abc","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":10}'
    session = opened(Transport.WEBSOCKET, handshake)
    assert session.handshake == Opened("abc", (), 0.3, 0.2, 10)
    assert not session.can_upgrade()


def test_packets_after_the_handshake_in_the_same_payload() -> None:
    session = EngineClientSession(Transport.POLLING)
    session.receive_packets(decode_payload(HANDSHAKE + "\x1e4hello\x1e2"), now=0.0)
    events = session.events_received()
    assert [type(e) for e in events] == [Opened, Message]
    assert events[1] == Message("hello")
    assert session.packets_to_send() == [PONG]


@pytest.mark.parametrize(
    "data",
    [
        "",
        "not json",
        "[]",
        '{"upgrades":[],"pingInterval":1,"pingTimeout":1,"maxPayload":1}',
        '{"sid":"","upgrades":[],"pingInterval":1,"pingTimeout":1,"maxPayload":1}',
        '{"sid":"a","upgrades":"websocket","pingInterval":1,"pingTimeout":1,"maxPayload":1}',
        '{"sid":"a","upgrades":[1],"pingInterval":1,"pingTimeout":1,"maxPayload":1}',
        '{"sid":"a","upgrades":[],"pingInterval":"1","pingTimeout":1,"maxPayload":1}',
        '{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":-1,"maxPayload":1}',
        '{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":1,"maxPayload":true}',
        # OverflowError and RecursionError escaped (found extending fuzz/targets/engineio.py)
        '{"sid":"a","pingInterval":1' + "0" * 400 + "}",
        '{"sid":"a","maxPayload":9007199254740992}',
        "[" * 5000,
    ],
)
def test_invalid_handshakes(data: str) -> None:
    assert parse_handshake(data) is None
    session = EngineClientSession(Transport.WEBSOCKET)
    session.receive_packets([Packet(PacketType.OPEN, data)], now=0.0)
    assert session.closed
    assert session.events_received() == [Closed(CloseReason.PARSE_ERROR)]
    assert session.packets_to_send() == []


def test_handshake_defaults_for_missing_optional_fields() -> None:
    assert parse_handshake('{"sid":"a"}') == Opened("a", (), 0.0, 0.0, 0)
    assert parse_handshake(b'{"sid":"a"}') is None


@pytest.mark.parametrize("first", ["4hello", "2", "1", "6", "3"])
def test_anything_but_open_first_is_a_parse_error(first: str) -> None:
    session = EngineClientSession(Transport.POLLING)
    session.receive_packets([decode_packet(first)], now=0.0)
    assert session.events_received() == [Closed(CloseReason.PARSE_ERROR)]


# -- heartbeat ------------------------------------------------------------------------------


def test_ping_is_answered_with_pong() -> None:
    session = opened()
    session.receive_packets([PING], now=25.0)
    assert session.packets_to_send() == [PONG]
    assert [encode_packet(PONG)] == ["3"]
    assert session.events_received() == []


def test_ping_data_is_echoed() -> None:
    session = opened()
    session.receive_packets([decode_packet("2abc")], now=1.0)
    assert session.packets_to_send() == [Packet(PacketType.PONG, "abc")]


def test_each_ping_pushes_the_deadline() -> None:
    session = opened()
    now = 0.0
    for _ in range(5):
        assert session.next_deadline() == now + INTERVAL + TIMEOUT
        now += INTERVAL
        session.handle_timeout(now=now)  # not yet due
        session.receive_packets([PING], now=now)
        assert session.packets_to_send() == [PONG]
    assert not session.closed
    assert session.events_received() == []


def test_missing_ping_closes_the_session() -> None:
    session = opened(now=100.0)
    session.send_message("unsent")
    session.handle_timeout(now=100.0 + INTERVAL + TIMEOUT - 0.001)
    assert not session.closed
    session.handle_timeout(now=100.0 + INTERVAL + TIMEOUT)
    assert session.closed
    assert session.events_received() == [Closed(CloseReason.PING_TIMEOUT)]
    assert session.packets_to_send() == []  # the server is gone: nothing more goes out
    assert session.next_deadline() is None


def test_other_packets_do_not_count_as_ping() -> None:
    session = opened()
    session.receive_packets([Packet(PacketType.MESSAGE, "x"), NOOP, PONG], now=29.0)
    session.handle_timeout(now=INTERVAL + TIMEOUT)
    assert session.events_received() == [Message("x"), Closed(CloseReason.PING_TIMEOUT)]


def test_no_timeout_before_the_handshake() -> None:
    session = EngineClientSession(Transport.POLLING)
    session.handle_timeout(now=1e9)
    assert not session.closed


# -- messages -------------------------------------------------------------------------------


def test_messages_become_events() -> None:
    session = opened()
    session.receive_packets(decode_payload("4hello\x1ebAQIDBA==\x1e4"), now=1.0)
    assert session.events_received() == [
        Message("hello"),
        Message(b"\x01\x02\x03\x04"),
        Message(""),
    ]
    assert session.events_received() == []


def test_send_message_queues_message_packets_in_order() -> None:
    session = opened()
    session.send_message("hey")
    session.send_message(b"\x01\x02")
    assert session.has_packets_to_send()
    assert encode_payload(session.packets_to_send()) == "4hey\x1ebAQI="
    assert not session.has_packets_to_send()


def test_messages_may_be_queued_before_the_handshake() -> None:
    session = EngineClientSession(Transport.WEBSOCKET)
    session.send_message("early")
    assert session.packets_to_send() == [Packet(PacketType.MESSAGE, "early")]


# -- closing --------------------------------------------------------------------------------


def test_server_close() -> None:
    session = opened()
    session.send_message("unsent")
    session.receive_packets([CLOSE, Packet(PacketType.MESSAGE, "late")], now=1.0)
    assert session.closed
    assert session.events_received() == [Closed(CloseReason.TRANSPORT_CLOSE)]
    assert session.packets_to_send() == []
    assert session.next_deadline() is None


@pytest.mark.parametrize("packet_type", [PacketType.OPEN, PacketType.UPGRADE])
def test_unexpected_packet_is_a_parse_error(packet_type: PacketType) -> None:
    session = opened()
    session.receive_packets([Packet(packet_type)], now=1.0)
    assert session.events_received() == [Closed(CloseReason.PARSE_ERROR)]
    assert session.packets_to_send() == []


def test_client_close_sends_what_was_queued_then_close() -> None:
    session = opened()
    session.send_message("last words")
    session.close()
    assert session.closed
    assert session.packets_to_send() == [Packet(PacketType.MESSAGE, "last words"), CLOSE]
    assert session.events_received() == [Closed(CloseReason.FORCED_CLOSE)]
    assert session.next_deadline() is None


def test_close_before_the_handshake_sends_nothing() -> None:
    session = EngineClientSession(Transport.POLLING)
    session.send_message("never")
    session.close()
    assert session.packets_to_send() == []
    assert session.events_received() == [Closed(CloseReason.FORCED_CLOSE)]


def test_close_is_reported_once() -> None:
    session = opened()
    session.close()
    session.close()
    session.fail(CloseReason.TRANSPORT_ERROR)
    session.receive_packets([CLOSE, PING], now=1.0)
    session.handle_timeout(now=1e9)
    session.send_message("too late")
    assert session.events_received() == [Closed(CloseReason.FORCED_CLOSE)]
    assert session.packets_to_send() == [CLOSE]


def test_fail_drops_queued_packets() -> None:
    session = opened()
    session.send_message("lost")
    session.fail(CloseReason.TRANSPORT_ERROR)
    assert session.packets_to_send() == []
    assert session.events_received() == [Closed(CloseReason.TRANSPORT_ERROR)]


# -- upgrade --------------------------------------------------------------------------------


def test_upgrade() -> None:
    session = opened()
    assert session.can_upgrade()
    probe = session.start_probe()
    assert encode_packet(probe) == "2probe"
    assert where(session) == (ClientState.OPEN, UpgradeState.PROBING, Transport.POLLING)
    assert not session.can_upgrade()

    session.send_message("while probing")  # still goes out over polling
    assert session.packets_to_send() == [Packet(PacketType.MESSAGE, "while probing")]

    assert session.receive_probe(decode_packet("3probe"))
    assert where(session) == (ClientState.OPEN, UpgradeState.PAUSED, Transport.POLLING)
    assert session.paused

    # Held while polling finishes what is in flight: a PING answered meanwhile too.
    session.send_message("held")
    session.receive_packets([NOOP, PING], now=1.0)
    assert not session.has_packets_to_send()
    assert session.packets_to_send() == []

    session.finish_upgrade()
    assert where(session) == (ClientState.OPEN, UpgradeState.IDLE, Transport.WEBSOCKET)
    assert session.events_received() == [Upgraded()]
    assert [encode_packet(p) for p in session.packets_to_send()] == ["5", "4held", "3"]
    assert not session.can_upgrade()


def test_no_upgrade_when_disabled() -> None:
    session = opened(upgrade=False)
    assert not session.can_upgrade()
    with pytest.raises(LocalProtocolError):
        session.start_probe()


def test_no_upgrade_when_the_server_offers_none() -> None:
    handshake = '0{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":1,"maxPayload":1}'
    assert not opened(handshake=handshake).can_upgrade()


@pytest.mark.parametrize("answer", ["3", "3probX", "4probe", "6", "2probe"])
def test_wrong_probe_answer_cancels_the_upgrade(answer: str) -> None:
    session = opened()
    session.start_probe()
    assert not session.receive_probe(decode_packet(answer))
    assert where(session) == (ClientState.OPEN, UpgradeState.IDLE, Transport.POLLING)
    assert session.can_upgrade()  # may be tried again


def test_probe_answer_without_a_probe_is_refused() -> None:
    session = opened()
    assert not session.receive_probe(decode_packet("3probe"))
    assert not session.paused


def test_cancel_upgrade_releases_held_packets() -> None:
    session = paused(opened())
    session.send_message("held")
    assert session.packets_to_send() == []
    session.cancel_upgrade()
    assert session.packets_to_send() == [Packet(PacketType.MESSAGE, "held")]
    assert session.transport is Transport.POLLING


def test_finish_without_a_pause_is_a_local_error() -> None:
    session = opened()
    with pytest.raises(LocalProtocolError):
        session.finish_upgrade()
    session.start_probe()
    with pytest.raises(LocalProtocolError):
        session.finish_upgrade()


def test_close_while_paused_sends_close_and_ends_the_upgrade() -> None:
    session = paused(opened())
    session.send_message("held")
    session.close()
    assert not session.paused
    assert session.packets_to_send() == [Packet(PacketType.MESSAGE, "held"), CLOSE]
    with pytest.raises(LocalProtocolError):
        session.finish_upgrade()


def test_probe_answer_after_close_is_refused() -> None:
    session = opened()
    session.start_probe()
    session.fail(CloseReason.TRANSPORT_ERROR)
    assert not session.receive_probe(decode_packet("3probe"))


# -- polling payload batches ----------------------------------------------------------------


def messages(*data: str | bytes) -> list[Packet]:
    return [Packet(PacketType.MESSAGE, d) for d in data]


def test_batches_fit_the_limit() -> None:
    packets = messages("aaaa", "bbbb", "cccc")  # 5 bytes each, plus 1 per separator
    assert batch_for_polling(packets, 11) == [messages("aaaa", "bbbb"), messages("cccc")]
    assert batch_for_polling(packets, 10) == [messages("aaaa"), messages("bbbb"), messages("cccc")]
    assert batch_for_polling(packets, 17) == [packets]
    for batch in batch_for_polling(packets, 11):
        assert len(encode_payload(batch).encode()) <= 11


def test_batches_count_bytes_not_characters() -> None:
    packets = messages("é", "é")  # "4é" is 3 bytes
    assert batch_for_polling(packets, 6) == [messages("é"), messages("é")]
    assert batch_for_polling(packets, 7) == [packets]


def test_binary_counts_as_base64() -> None:
    packets = messages(b"\x01\x02\x03", "x")  # "bAQID" is 5 bytes
    assert batch_for_polling(packets, 7) == [messages(b"\x01\x02\x03"), messages("x")]
    assert batch_for_polling(packets, 8) == [packets]


def test_an_oversized_packet_goes_alone() -> None:
    packets = messages("a", "x" * 100, "b")
    assert batch_for_polling(packets, 10) == [messages("a"), messages("x" * 100), messages("b")]


def test_no_limit_and_no_packets() -> None:
    packets = messages("a", "b")
    assert batch_for_polling(packets, 0) == [packets]
    assert batch_for_polling([], 10) == []
    assert batch_for_polling([], 0) == []


# -- against the server session -------------------------------------------------------------


def deliver(server: EngineSession, client: EngineClientSession, *, now: float) -> None:
    """Move what the server queued to the client (as one polling payload)."""
    packets = server.packets_to_send()
    if packets:
        client.receive_packets(decode_payload(encode_payload(packets)), now=now)


def answer(client: EngineClientSession, server: EngineSession, *, now: float) -> None:
    """Move what the client queued to the server."""
    packets = client.packets_to_send()
    if packets:
        server.receive_packets(decode_payload(encode_payload(packets)), now=now)


def test_a_whole_session_against_the_server() -> None:
    config = EngineConfig(ping_interval=INTERVAL, ping_timeout=TIMEOUT)
    server = EngineSession(SID, Transport.POLLING, config, now=0.0)
    client = EngineClientSession(Transport.POLLING)
    deliver(server, client, now=0.0)
    [handshake] = client.events_received()
    assert handshake == Opened(SID, ("websocket",), INTERVAL, TIMEOUT, 1_000_000)

    client.send_message("hello")
    server.send_message(b"\x00\xff")
    answer(client, server, now=1.0)
    deliver(server, client, now=1.0)
    assert server.events_received() == [Message("hello")]
    assert client.events_received() == [Message(b"\x00\xff")]

    for round_ in range(1, 4):  # heartbeats: server pings, client pongs, nobody times out
        now = round_ * INTERVAL + 0.5 * (round_ - 1)
        server.handle_timeout(now=now)
        deliver(server, client, now=now + 0.25)
        answer(client, server, now=now + 0.5)
        client.handle_timeout(now=now + 0.5)
    assert not server.closed
    assert not client.closed

    # upgrade: the probe travels over the new WebSocket
    probe = client.start_probe()
    answers = server.receive_probe(decode_packet(encode_packet(probe)))
    assert answers is not None
    [pong] = answers
    assert client.receive_probe(decode_packet(encode_packet(pong)))
    client.finish_upgrade()
    [upgrade, *rest] = client.packets_to_send()
    assert rest == []
    assert server.receive_probe(decode_packet(encode_packet(upgrade))) == []
    assert server.transport is Transport.WEBSOCKET
    assert client.transport is Transport.WEBSOCKET

    client.close()
    answer(client, server, now=100.0)
    assert server.events_received() == [Upgraded(), Closed(CloseReason.TRANSPORT_CLOSE)]
    assert client.events_received() == [Upgraded(), Closed(CloseReason.FORCED_CLOSE)]


def test_server_gone_quiet_is_a_ping_timeout_on_the_client() -> None:
    config = EngineConfig(ping_interval=INTERVAL, ping_timeout=TIMEOUT)
    server = EngineSession(SID, Transport.WEBSOCKET, config, now=0.0)
    client = EngineClientSession(Transport.WEBSOCKET)
    deliver(server, client, now=0.0)
    client.events_received()
    deadline = client.next_deadline()
    assert deadline == INTERVAL + TIMEOUT
    client.handle_timeout(now=deadline)
    assert client.events_received() == [Closed(CloseReason.PING_TIMEOUT)]


def test_handshake_json_round_trip() -> None:
    fields = json.loads(HANDSHAKE[1:])
    assert parse_handshake(json.dumps(fields)) == Opened(
        fields["sid"], tuple(fields["upgrades"]), 25.0, 5.0, 1_000_000
    )

"""The server side of an Engine.IO v4 session, driven with a fake clock (plain floats).

The heartbeat, handshake and upgrade rules are those of the Engine.IO protocol, 4th
version ("Handshake", "Heartbeat" and "Upgrade" sections).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roomcast.engineio import (
    Closed,
    CloseReason,
    EngineConfig,
    EngineSession,
    Message,
    Packet,
    PacketType,
    State,
    Transport,
    Upgraded,
    decode_packet,
    encode_packet,
    encode_payload,
)

SID = "lv_VI97HAXpY6yYWAAAC"
INTERVAL = 25.0
TIMEOUT = 20.0
CONFIG = EngineConfig(ping_interval=INTERVAL, ping_timeout=TIMEOUT)

PING = Packet(PacketType.PING)
PONG = Packet(PacketType.PONG)
CLOSE = Packet(PacketType.CLOSE)
NOOP = Packet(PacketType.NOOP)


def open_session(
    transport: Transport = Transport.POLLING,
    config: EngineConfig = CONFIG,
    *,
    now: float = 0.0,
) -> EngineSession:
    """A session whose handshake has already been sent."""
    session = EngineSession(SID, transport, config, now=now)
    [handshake] = session.packets_to_send()
    assert handshake.type is PacketType.OPEN
    return session


def where(session: EngineSession) -> tuple[State, Transport]:
    """The session's state and transport (read through a call, so mypy does not narrow)."""
    return session.state, session.transport


def handshake_of(session: EngineSession) -> dict[str, object]:
    [packet] = session.packets_to_send()
    assert packet.type is PacketType.OPEN
    assert isinstance(packet.data, str)
    decoded = json.loads(packet.data)
    assert isinstance(decoded, dict)
    return decoded


def probing(session: EngineSession) -> EngineSession:
    """Run the first half of the upgrade: 2probe / 3probe."""
    assert session.receive_probe(decode_packet("2probe")) == [Packet(PacketType.PONG, "probe")]
    assert session.upgrading
    return session


# -- handshake ------------------------------------------------------------------------------


def test_handshake_is_the_first_packet() -> None:
    session = EngineSession(SID, Transport.POLLING, CONFIG, now=0.0)
    assert where(session) == (State.OPEN, Transport.POLLING)
    assert not session.closed
    assert session.has_packets_to_send()
    [packet] = session.packets_to_send()
    assert packet.type is PacketType.OPEN
    assert not session.has_packets_to_send()
    assert session.packets_to_send() == []
    assert session.events_received() == []


def test_handshake_over_polling() -> None:
    session = EngineSession(SID, Transport.POLLING, CONFIG, now=0.0)
    assert handshake_of(session) == {
        "sid": SID,
        "upgrades": ["websocket"],
        "pingInterval": 25000,
        "pingTimeout": 20000,
        "maxPayload": 1_000_000,
    }


def test_handshake_over_websocket_offers_no_upgrade() -> None:
    session = EngineSession(SID, Transport.WEBSOCKET, CONFIG, now=0.0)
    assert handshake_of(session) == {
        "sid": SID,
        "upgrades": [],
        "pingInterval": 25000,
        "pingTimeout": 20000,
        "maxPayload": 1_000_000,
    }


def test_handshake_without_upgrades_allowed() -> None:
    config = EngineConfig(allow_upgrades=False)
    session = EngineSession(SID, Transport.POLLING, config, now=0.0)
    assert handshake_of(session)["upgrades"] == []
    assert not session.can_probe()


def test_handshake_times_are_milliseconds() -> None:
    # The configuration the protocol test suites expect.
    config = EngineConfig(ping_interval=0.3, ping_timeout=0.2, max_payload=1_000_000)
    handshake = handshake_of(EngineSession(SID, Transport.POLLING, config, now=0.0))
    assert handshake["pingInterval"] == 300
    assert handshake["pingTimeout"] == 200
    assert handshake["maxPayload"] == 1_000_000


def test_handshake_on_the_wire() -> None:
    # Sample session of the Socket.IO protocol README (request n°1).
    config = EngineConfig(ping_interval=25.0, ping_timeout=5.0, max_payload=1_000_000)
    session = EngineSession(SID, Transport.POLLING, config, now=0.0)
    assert encode_payload(session.packets_to_send()) == (
        '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
        '"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}'
    )


# -- heartbeat ------------------------------------------------------------------------------


def test_first_deadline_is_one_ping_interval_after_open() -> None:
    session = open_session(now=100.0)
    assert session.next_deadline() == 100.0 + INTERVAL


def test_no_ping_before_the_interval() -> None:
    session = open_session()
    session.handle_timeout(now=INTERVAL - 0.001)
    assert session.packets_to_send() == []
    assert session.next_deadline() == INTERVAL


def test_ping_is_sent_at_the_interval() -> None:
    session = open_session()
    session.handle_timeout(now=INTERVAL)
    assert session.packets_to_send() == [PING]
    assert [encode_packet(PING)] == ["2"]
    assert session.next_deadline() == INTERVAL + TIMEOUT
    assert session.events_received() == []


def test_ping_is_not_repeated_while_a_pong_is_awaited() -> None:
    session = open_session()
    session.handle_timeout(now=INTERVAL)
    session.handle_timeout(now=INTERVAL + 1.0)
    assert session.packets_to_send() == [PING]


def test_a_slightly_late_ping_keeps_the_close_at_interval_plus_timeout() -> None:
    # The I/O layer's timer ran 1 s late: the silent peer is still closed at
    # ping_interval + ping_timeout, as if the ping had left on time.
    session = open_session()
    session.handle_timeout(now=INTERVAL + 1.0)
    assert session.packets_to_send() == [PING]
    assert session.next_deadline() == INTERVAL + TIMEOUT
    session.handle_timeout(now=INTERVAL + TIMEOUT)
    assert session.events_received() == [Closed(CloseReason.PING_TIMEOUT)]


def test_a_very_late_ping_still_leaves_the_peer_nine_tenths_of_the_timeout() -> None:
    # The event loop was busy for 15 s past the ping's due time: the peer is not closed
    # before it could answer.
    session = open_session()
    session.handle_timeout(now=INTERVAL + 15.0)
    assert session.packets_to_send() == [PING]
    assert session.next_deadline() == pytest.approx(INTERVAL + 15.0 + 0.9 * TIMEOUT)
    session.receive_packets([PONG], now=INTERVAL + 15.0 + 0.8 * TIMEOUT)
    assert not session.closed


def test_pong_resets_the_heartbeat() -> None:
    session = open_session()
    session.handle_timeout(now=25.0)
    session.receive_packets([decode_packet("3")], now=30.0)
    assert session.next_deadline() == 30.0 + INTERVAL
    session.handle_timeout(now=45.0)  # the old pong deadline: nothing happens
    assert session.packets_to_send() == [PING]  # only the first one
    assert not session.closed
    session.handle_timeout(now=55.0)
    assert session.packets_to_send() == [PING]
    assert session.next_deadline() == 55.0 + TIMEOUT
    assert session.events_received() == []


def test_heartbeat_over_many_rounds() -> None:
    session = open_session()
    now = 0.0
    for _ in range(5):
        deadline = session.next_deadline()
        assert deadline == now + INTERVAL
        session.handle_timeout(now=deadline)
        assert session.packets_to_send() == [PING]
        now = deadline + 1.5  # round-trip time
        session.receive_packets([PONG], now=now)
    assert not session.closed
    assert session.events_received() == []


def test_missed_pong_closes_the_session() -> None:
    session = open_session()
    session.handle_timeout(now=25.0)
    assert session.packets_to_send() == [PING]
    session.handle_timeout(now=44.999)
    assert not session.closed
    session.handle_timeout(now=45.0)
    assert session.closed
    assert where(session) == (State.CLOSED, Transport.POLLING)
    assert session.events_received() == [Closed(CloseReason.PING_TIMEOUT)]
    assert session.packets_to_send() == []  # the peer is gone: nothing more goes out
    assert session.next_deadline() is None


def test_pong_after_the_timeout_is_too_late() -> None:
    session = open_session()
    session.handle_timeout(now=25.0)
    session.handle_timeout(now=50.0)
    session.receive_packets([PONG], now=50.0)
    assert session.closed
    assert session.events_received() == [Closed(CloseReason.PING_TIMEOUT)]


def test_other_packets_do_not_count_as_pong() -> None:
    session = open_session()
    session.handle_timeout(now=25.0)
    session.receive_packets([Packet(PacketType.MESSAGE, "x"), NOOP], now=30.0)
    session.handle_timeout(now=45.0)
    assert session.events_received() == [Message("x"), Closed(CloseReason.PING_TIMEOUT)]


def test_close_reason_strings() -> None:
    # The disconnect reasons Socket.IO reports to applications.
    assert {reason.name: str(reason) for reason in CloseReason} == {
        "TRANSPORT_CLOSE": "transport close",
        "TRANSPORT_ERROR": "transport error",
        "PING_TIMEOUT": "ping timeout",
        "PARSE_ERROR": "parse error",
        "FORCED_CLOSE": "forced close",
        "SERVER_SHUTTING_DOWN": "server shutting down",
    }


# -- messages -------------------------------------------------------------------------------


def test_messages_become_events() -> None:
    session = open_session()
    session.receive_packets(
        [decode_packet("4hello"), decode_packet(b"\x01\x02\x03\x04"), decode_packet("4")],
        now=1.0,
    )
    assert session.events_received() == [
        Message("hello"),
        Message(b"\x01\x02\x03\x04"),
        Message(""),
    ]
    assert session.events_received() == []  # drained


def test_noop_does_nothing() -> None:
    session = open_session()
    session.receive_packets([NOOP], now=1.0)
    assert session.events_received() == []
    assert session.packets_to_send() == []


def test_send_message_queues_message_packets_in_order() -> None:
    session = open_session()
    session.send_message("hey")
    session.send_message(b"\x01\x02")
    assert session.has_packets_to_send()
    assert encode_payload(session.packets_to_send()) == "4hey\x1ebAQI="
    assert not session.has_packets_to_send()


# -- closing --------------------------------------------------------------------------------


def test_client_close() -> None:
    session = open_session()
    session.send_message("unsent")
    session.receive_packets([decode_packet("1")], now=1.0)
    assert session.closed
    assert session.events_received() == [Closed(CloseReason.TRANSPORT_CLOSE)]
    assert session.packets_to_send() == []  # the peer is gone: no CLOSE back
    assert session.next_deadline() is None


def test_packets_after_close_in_the_same_payload_are_ignored() -> None:
    session = open_session()
    session.receive_packets(
        [Packet(PacketType.MESSAGE, "a"), CLOSE, Packet(PacketType.MESSAGE, "b")], now=1.0
    )
    assert session.events_received() == [Message("a"), Closed(CloseReason.TRANSPORT_CLOSE)]


def test_packets_after_close_are_ignored() -> None:
    session = open_session()
    session.close()
    session.events_received()
    session.packets_to_send()
    session.receive_packets([Packet(PacketType.MESSAGE, "late"), CLOSE, PONG], now=1.0)
    assert session.events_received() == []
    assert session.packets_to_send() == []


@pytest.mark.parametrize("packet_type", [PacketType.OPEN, PacketType.UPGRADE])
def test_unexpected_packet_on_the_transport_is_a_parse_error(packet_type: PacketType) -> None:
    session = open_session()
    session.receive_packets([Packet(packet_type)], now=1.0)
    assert session.closed
    assert session.events_received() == [Closed(CloseReason.PARSE_ERROR)]
    assert session.packets_to_send() == [CLOSE]


def test_close_keeps_queued_packets_before_close() -> None:
    session = open_session()
    session.send_message("first")
    session.send_message("second")
    session.close()
    assert session.closed
    assert session.packets_to_send() == [
        Packet(PacketType.MESSAGE, "first"),
        Packet(PacketType.MESSAGE, "second"),
        CLOSE,
    ]
    assert session.events_received() == [Closed(CloseReason.FORCED_CLOSE)]


def test_close_with_a_reason() -> None:
    session = open_session()
    session.close(CloseReason.SERVER_SHUTTING_DOWN)
    assert session.events_received() == [Closed(CloseReason.SERVER_SHUTTING_DOWN)]
    assert session.packets_to_send() == [CLOSE]


def test_fail_drops_queued_packets() -> None:
    session = open_session()
    session.send_message("lost")
    session.fail(CloseReason.TRANSPORT_ERROR)
    assert session.closed
    assert session.packets_to_send() == []
    assert session.events_received() == [Closed(CloseReason.TRANSPORT_ERROR)]
    assert session.next_deadline() is None


def test_close_is_reported_once() -> None:
    session = open_session()
    session.close()
    session.close(CloseReason.SERVER_SHUTTING_DOWN)
    session.fail(CloseReason.TRANSPORT_ERROR)
    session.receive_packets([CLOSE], now=1.0)
    session.handle_timeout(now=1000.0)
    assert session.events_received() == [Closed(CloseReason.FORCED_CLOSE)]
    assert session.packets_to_send() == [CLOSE]


def test_send_after_close_is_dropped() -> None:
    session = open_session()
    session.close()
    session.packets_to_send()
    session.send_message("too late")
    session.send_message(b"too late")
    assert not session.has_packets_to_send()
    assert session.packets_to_send() == []


def test_no_heartbeat_after_close() -> None:
    session = open_session()
    session.fail(CloseReason.TRANSPORT_CLOSE)
    session.handle_timeout(now=INTERVAL)
    session.handle_timeout(now=INTERVAL + TIMEOUT)
    assert session.packets_to_send() == []
    assert session.next_deadline() is None


# -- upgrade --------------------------------------------------------------------------------


def test_upgrade() -> None:
    session = open_session()
    assert session.can_probe()
    answers = session.receive_probe(decode_packet("2probe"))
    assert answers is not None
    assert [encode_packet(p) for p in answers] == ["3probe"]
    assert where(session) == (State.UPGRADING, Transport.POLLING)
    assert session.upgrading
    assert not session.can_probe()
    # Nothing is queued on the polling transport: releasing a pending poll with a NOOP
    # ("if applicable") is the I/O layer's job, which asks `upgrading`.
    assert session.packets_to_send() == []
    assert session.events_received() == []

    assert session.receive_probe(decode_packet("5")) == []
    assert where(session) == (State.OPEN, Transport.WEBSOCKET)
    assert not session.upgrading
    assert session.events_received() == [Upgraded()]
    assert not session.can_probe()


def test_buffered_packets_survive_the_upgrade() -> None:
    session = probing(open_session())
    session.send_message("during upgrade")
    assert session.receive_probe(decode_packet("5")) == []
    assert session.packets_to_send() == [Packet(PacketType.MESSAGE, "during upgrade")]


def test_session_keeps_working_while_upgrading() -> None:
    session = probing(open_session())
    session.receive_packets([Packet(PacketType.MESSAGE, "over polling")], now=1.0)
    session.handle_timeout(now=INTERVAL)
    assert session.packets_to_send() == [PING]
    assert session.events_received() == [Message("over polling")]


def test_heartbeat_continues_after_the_upgrade() -> None:
    session = probing(open_session())
    session.receive_probe(Packet(PacketType.UPGRADE))
    session.handle_timeout(now=INTERVAL)
    assert session.packets_to_send() == [PING]
    session.receive_packets([PONG], now=INTERVAL + 1.0)
    assert session.next_deadline() == 2 * INTERVAL + 1.0


def test_probe_refused_over_websocket() -> None:
    session = open_session(Transport.WEBSOCKET)
    assert not session.can_probe()
    assert session.receive_probe(decode_packet("2probe")) is None
    assert where(session) == (State.OPEN, Transport.WEBSOCKET)
    assert session.packets_to_send() == []


def test_probe_refused_after_the_upgrade() -> None:
    session = probing(open_session())
    session.receive_probe(decode_packet("5"))
    session.events_received()
    assert session.receive_probe(decode_packet("2probe")) is None
    assert session.receive_probe(decode_packet("5")) is None
    assert session.events_received() == []


def test_probe_refused_when_closed() -> None:
    session = open_session()
    session.close()
    assert not session.can_probe()
    assert session.receive_probe(decode_packet("2probe")) is None


def test_a_close_while_upgrading_waits_for_the_switch() -> None:
    """After ``3probe`` the client polls no more until it has switched: a CLOSE queued for
    polling would never reach it. The close happens once it has, over the WebSocket."""
    session = probing(open_session())
    session.close(CloseReason.SERVER_SHUTTING_DOWN)
    assert session.upgrading
    assert session.packets_to_send() == []
    assert session.events_received() == []
    assert session.receive_probe(decode_packet("5")) == []
    assert where(session) == (State.CLOSED, Transport.WEBSOCKET)
    assert session.packets_to_send() == [Packet(PacketType.CLOSE)]
    assert session.events_received() == [Upgraded(), Closed(CloseReason.SERVER_SHUTTING_DOWN)]


def test_a_close_while_upgrading_happens_when_the_probe_fails() -> None:
    session = probing(open_session())
    session.close()
    session.close(CloseReason.TRANSPORT_ERROR)  # the first reason stays
    session.cancel_upgrade()
    assert where(session) == (State.CLOSED, Transport.POLLING)
    assert session.packets_to_send() == [Packet(PacketType.CLOSE)]
    assert session.events_received() == [Closed(CloseReason.FORCED_CLOSE)]
    assert session.receive_probe(decode_packet("5")) is None


def test_a_failure_while_upgrading_closes_at_once() -> None:
    session = probing(open_session())
    session.fail(CloseReason.TRANSPORT_ERROR)
    assert where(session) == (State.CLOSED, Transport.POLLING)
    assert session.events_received() == [Closed(CloseReason.TRANSPORT_ERROR)]
    assert session.receive_probe(decode_packet("5")) is None


def test_upgrade_without_probe_is_refused() -> None:
    session = open_session()
    assert session.receive_probe(decode_packet("5")) is None
    assert where(session) == (State.OPEN, Transport.POLLING)
    assert session.events_received() == []


def test_second_probe_is_refused() -> None:
    session = probing(open_session())
    assert session.receive_probe(decode_packet("2probe")) is None
    assert where(session) == (State.UPGRADING, Transport.POLLING)
    assert session.packets_to_send() == []


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param("2", id="ping-without-probe"),
        pytest.param("2probes", id="ping-other-data"),
        pytest.param("3probe", id="pong-probe"),
        pytest.param("4probe", id="message"),
        pytest.param("6", id="noop"),
        pytest.param("1", id="close"),
    ],
)
def test_other_packets_are_not_a_probe(frame: str) -> None:
    session = open_session()
    assert session.receive_probe(decode_packet(frame)) is None
    assert where(session) == (State.OPEN, Transport.POLLING)
    assert session.packets_to_send() == []
    assert session.events_received() == []


def test_cancel_upgrade() -> None:
    session = probing(open_session())
    session.cancel_upgrade()
    assert where(session) == (State.OPEN, Transport.POLLING)
    assert not session.upgrading
    assert session.can_probe()
    assert session.receive_probe(decode_packet("5")) is None  # that probe is gone
    probing(session)  # a new WebSocket may probe again
    assert session.receive_probe(decode_packet("5")) == []
    assert session.events_received() == [Upgraded()]


def test_cancel_upgrade_outside_an_upgrade_does_nothing() -> None:
    session = open_session()
    session.cancel_upgrade()
    assert where(session) == (State.OPEN, Transport.POLLING)
    session.close()
    session.cancel_upgrade()
    assert where(session) == (State.CLOSED, Transport.POLLING)


# -- any packets, any time: the state machine holds ---------------------------------------------

SENT = st.builds(Packet, st.sampled_from(PacketType), st.sampled_from(["", "probe", "x"]))
STEPS = st.lists(
    st.tuples(st.sampled_from(["packet", "probe", "time", "cancel"]), SENT, st.floats(0, 30)),
    max_size=20,
)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(Transport), STEPS)
def test_any_packets_at_any_time_keep_the_session_consistent(
    transport: Transport, steps: list[tuple[str, Packet, float]]
) -> None:
    session = EngineSession(SID, transport, CONFIG, now=0.0)
    now, closes = 0.0, 0
    for action, packet, later in steps:
        was_closed = session.closed
        if action == "packet":
            session.receive_packets([packet], now=now)
        elif action == "probe":
            answer = session.receive_probe(packet)
            assert answer is None or answer in ([Packet(PacketType.PONG, "probe")], [])
        elif action == "cancel":
            session.cancel_upgrade()
        else:
            now += later
            deadline = session.next_deadline()
            if deadline is not None and now >= deadline:
                session.handle_timeout(now=now)
        queued, events = session.packets_to_send(), session.events_received()
        closes += sum(isinstance(event, Closed) for event in events)
        if was_closed:  # closed is final: nothing more to send or report
            assert (queued, events) == ([], [])
        assert (session.next_deadline() is None) == session.closed
        deadline = session.next_deadline()  # what is due was handled: the next is later
        assert deadline is None or deadline > now
    assert closes <= 1

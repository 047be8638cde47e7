"""The client side of a namespace connection (``ClientSession``), with no I/O: CONNECT and
its answers, the recovery fields, the offline buffer, acks on a fake clock, retries.

Golden packets follow the Socket.IO protocol README (socketio/socket.io-protocol, v5).
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roomcast.exceptions import AckTimeout, ConnectionClosed, InvalidState
from roomcast.socketio import ClientSession, Packet, PacketType, State
from roomcast.socketio.acks import Parts
from roomcast.socketio.events import (
    AckSettled,
    Connected,
    ConnectRefused,
    Disconnected,
    Event,
    EventReceived,
)

CONNECT, EVENT, ACK = PacketType.CONNECT, PacketType.EVENT, PacketType.ACK


def online(namespace: str = "/", sid: str = "s1", **options: Any) -> ClientSession:
    session = ClientSession(namespace, **options)
    session.activate()
    session.connect(None)
    session.receive_packet(Packet(CONNECT, namespace, {"sid": sid}), now=0.0)
    session.data_to_send()
    session.events_received()
    return session


def sent(session: ClientSession) -> list[Parts]:
    return session.data_to_send()


def outcomes(session: ClientSession) -> dict[Any, list[Any] | BaseException]:
    events = session.events_received()
    assert all(isinstance(e, AckSettled) for e in events), events
    return {e.waiter: e.outcome for e in events if isinstance(e, AckSettled)}


# -- CONNECT ------------------------------------------------------------------------------


def test_connect_and_its_answer() -> None:
    session = ClientSession("/admin")
    session.connect({"token": "t"})  # not active: nothing
    assert sent(session) == []
    session.activate()
    session.connect({"token": "t"})
    assert sent(session) == [['0/admin,{"token":"t"}']]
    assert session.state is State.CONNECTING
    session.receive_packet(Packet(CONNECT, "/admin", {"sid": "abc"}), now=0.0)
    assert session.events_received() == [Connected("abc", None, False)]
    assert (session.sid, session.connected) == ("abc", True)
    session.receive_packet(Packet(CONNECT, "/admin", {"sid": "again"}), now=0.0)
    assert session.events_received() == []  # a duplicate answer


def test_connect_without_auth_has_no_payload() -> None:
    session = ClientSession("/")
    session.activate()
    session.connect(None)
    assert sent(session) == [["0"]]


@pytest.mark.parametrize(
    ("data", "refused"),
    [
        ({"message": "Not authorized", "data": {"code": 7}}, ("Not authorized", {"code": 7})),
        ("old style", ("old style", None)),
    ],
)
def test_connect_error_refuses(data: Any, refused: tuple[str, Any]) -> None:
    session = ClientSession("/")
    session.activate()
    session.connect(None)
    session.receive_packet(Packet(PacketType.CONNECT_ERROR, "/", data), now=0.0)
    assert session.events_received() == [ConnectRefused(*refused)]
    assert not session.active
    assert session.state is State.DISCONNECTED


def test_an_answer_without_sid_is_refused() -> None:
    session = ClientSession("/")
    session.activate()
    session.receive_packet(Packet(CONNECT, "/", None), now=0.0)
    [refused] = session.events_received()
    assert isinstance(refused, ConnectRefused)
    assert "v2" in refused.message


def test_an_answer_after_giving_up_leaves_again() -> None:
    session = ClientSession("/chat")
    session.receive_packet(Packet(CONNECT, "/chat", {"sid": "x"}), now=0.0)
    assert sent(session) == [["1/chat,"]]
    assert session.events_received() == []


def test_server_disconnect() -> None:
    session = online()
    session.receive_packet(Packet(PacketType.DISCONNECT, "/"), now=0.0)
    assert session.events_received() == [Disconnected("io server disconnect")]
    assert not session.active
    assert session.sid is None


def test_client_disconnect_sends_disconnect() -> None:
    session = online("/chat")
    session.disconnect()
    assert sent(session) == [["1/chat,"]]
    assert session.events_received() == [Disconnected("io client disconnect")]


# -- recovery -------------------------------------------------------------------------------


def test_recovery_fields_go_in_the_next_connect() -> None:
    session = ClientSession("/")
    session.activate()
    session.connect(None)
    assert sent(session) == [["0"]]
    session.receive_packet(Packet(CONNECT, "/", {"sid": "s1", "pid": "p1"}), now=0.0)
    assert session.events_received() == [Connected("s1", "p1", False)]
    session.receive_packet(Packet(EVENT, "/", ["news", 1, "o-1"]), now=0.0)
    session.receive_packet(Packet(EVENT, "/", ["news", 2, "o-2"]), now=0.0)
    assert session.offset == "o-2"
    session.connection_lost("transport close")
    assert session.events_received()[-1] == Disconnected("transport close")
    session.connect({"token": "t"})
    assert sent(session) == [['0{"pid":"p1","offset":"o-2","token":"t"}']]


def test_a_recovered_session_gets_the_missed_events_first() -> None:
    session = ClientSession("/")
    session.activate()
    session.receive_packet(Packet(CONNECT, "/", {"sid": "s1", "pid": "p1"}), now=0.0)
    session.connection_lost("transport close")
    session.events_received()
    session.connect(None)
    session.receive_packet(Packet(EVENT, "/", ["news", 3, "o-3"], 5), now=0.0)  # replayed
    assert session.events_received() == []  # not before the CONNECT answer
    session.receive_packet(Packet(CONNECT, "/", {"sid": "s1", "pid": "p1"}), now=0.0)
    assert session.events_received() == [
        EventReceived("news", [3, "o-3"], 5),
        Connected("s1", "p1", True),
    ]
    assert session.recovered
    assert session.offset == "o-3"


def test_without_a_pid_the_last_string_argument_is_no_offset() -> None:
    session = online()
    session.receive_packet(Packet(EVENT, "/", ["news", "text"]), now=0.0)
    assert session.offset is None


# -- events and acks ------------------------------------------------------------------------


def test_events_and_acks_golden() -> None:
    session = online("/admin")
    session.receive_packet(Packet(EVENT, "/admin", ["hello", 1], 12), now=0.0)
    assert session.events_received() == [EventReceived("hello", [1], 12)]
    session.send_ack(12, ["bar"])
    assert session.emit_with_ack(["foo"], "w", now=0.0) == 0
    session.emit(["bin", b"\x01"], now=0.0)
    assert sent(session) == [
        ['3/admin,12["bar"]'],
        ['2/admin,0["foo"]'],
        ['51-/admin,["bin",{"_placeholder":true,"num":0}]', b"\x01"],
    ]


def test_online_emits_go_at_once_offline_ones_wait_in_order() -> None:
    session = ClientSession("/")
    session.emit(["a"], now=0.0)
    session.emit(["v"], now=0.0, volatile=True)  # dropped while offline
    session.emit(["b", 1], now=0.0)
    assert sent(session) == []
    session.activate()
    session.receive_packet(Packet(CONNECT, "/", {"sid": "s"}), now=0.0)
    assert sent(session) == [['2["a"]'], ['2["b",1]']]
    session.emit(["c"], now=0.0)
    assert sent(session) == [['2["c"]']]


def test_the_buffer_is_bounded() -> None:
    session = ClientSession("/", buffer_size=2)
    session.emit(["a"], now=0.0)
    session.emit(["b"], now=0.0)
    with pytest.raises(InvalidState, match="full"):
        session.emit(["c"], now=0.0)


def test_an_ack_settles_once() -> None:
    session = online()
    ack_id = session.emit_with_ack(["x"], "w", now=0.0)
    session.receive_packet(Packet(ACK, "/", [1, 2], ack_id), now=0.0)
    session.receive_packet(Packet(ACK, "/", [3], ack_id), now=0.0)
    assert outcomes(session) == {"w": [1, 2]}


def test_an_ack_times_out_on_the_clock_and_its_buffered_packet_is_dropped() -> None:
    session = ClientSession("/")
    session.activate()
    session.emit_with_ack(["x"], "w", now=100.0, timeout=5.0)
    assert session.next_deadline() == 105.0
    session.handle_timeout(now=104.9)
    assert session.events_received() == []
    session.handle_timeout(now=105.0)
    [outcome] = outcomes(session).values()
    assert isinstance(outcome, AckTimeout)
    assert session.next_deadline() is None
    session.receive_packet(Packet(CONNECT, "/", {"sid": "s"}), now=106.0)
    assert sent(session) == []


def test_disconnection_fails_sent_acks_but_keeps_buffered_ones() -> None:
    session = online()
    session.emit_with_ack(["sent"], "sent", now=0.0)
    assert sent(session) == [['20["sent"]']]
    session.connection_lost("transport close")
    events: list[Event] = session.events_received()
    assert events[-1] == Disconnected("transport close")
    [failed] = events[:-1]
    assert isinstance(failed, AckSettled)
    assert isinstance(failed.outcome, ConnectionClosed)
    assert failed.outcome.reason == "transport close"
    buffered = session.emit_with_ack(["buffered"], "buffered", now=0.0)
    session.connection_lost("transport close")  # again: the buffered one still waits
    assert session.events_received() == []
    session.receive_packet(Packet(CONNECT, "/", {"sid": "s2"}), now=0.0)
    assert sent(session) == [[f'2{buffered}["buffered"]']]
    session.events_received()
    session.receive_packet(Packet(ACK, "/", ["ok"], buffered), now=0.0)
    assert outcomes(session) == {"buffered": ["ok"]}


def test_forget_drops_the_ack_and_its_buffered_packet() -> None:
    session = ClientSession("/")
    session.activate()
    ack_id = session.emit_with_ack(["x"], "w", now=0.0, timeout=1.0)
    session.forget(ack_id)
    assert session.next_deadline() is None
    session.receive_packet(Packet(CONNECT, "/", {"sid": "s"}), now=0.0)
    assert sent(session) == []


# -- retries -------------------------------------------------------------------------------


def test_retries_send_the_same_packet_until_acked() -> None:
    session = online(retries=2)
    first = session.emit_with_ack(["one"], "first", now=0.0, timeout=1.0)
    second = session.emit_with_ack(["two"], "second", now=0.0)
    assert sent(session) == [[f'2{first}["one"]']]  # one at a time
    session.handle_timeout(now=1.0)
    assert sent(session) == [[f'2{first}["one"]']]  # the same bytes, the same id
    assert session.next_deadline() == 2.0
    session.receive_packet(Packet(ACK, "/", ["ok"], first), now=1.5)
    assert outcomes(session) == {"first": ["ok"]}
    assert sent(session) == [[f'2{second}["two"]']]  # the next one goes
    session.receive_packet(Packet(ACK, "/", ["late"], first), now=1.6)  # ignored
    session.receive_packet(Packet(ACK, "/", [], second), now=1.7)
    assert outcomes(session) == {"second": []}


def test_retries_give_up_after_the_last_try() -> None:
    session = online(retries=1)
    session.emit_with_ack(["p"], "w", now=0.0, timeout=1.0)
    session.handle_timeout(now=1.0)
    session.handle_timeout(now=2.0)
    assert sent(session) == [['20["p"]'], ['20["p"]']]
    [outcome] = outcomes(session).values()
    assert isinstance(outcome, AckTimeout)


def test_plain_emits_go_through_the_retry_queue_too() -> None:
    session = online(retries=1)
    session.emit(["p"], now=0.0)
    session.emit(["v"], now=0.0, volatile=True)
    assert sent(session) == [['20["p"]'], ['2["v"]']]
    session.receive_packet(Packet(ACK, "/", [], 0), now=0.0)
    assert session.events_received() == []  # nobody waits for it


def test_the_retry_head_is_sent_again_after_reconnection() -> None:
    session = online(retries=1)
    head = session.emit_with_ack(["p"], "p", now=0.0)
    session.connection_lost("transport close")
    assert session.events_received() == [Disconnected("transport close")]  # not failed
    session.emit_with_ack(["q"], "q", now=0.0)
    session.receive_packet(Packet(CONNECT, "/", {"sid": "s2"}), now=0.0)
    assert sent(session) == [['20["p"]'], ['20["p"]']]
    session.receive_packet(Packet(ACK, "/", [], head), now=0.0)
    assert sent(session) == [['21["q"]']]


def test_the_retry_queue_is_bounded() -> None:
    session = online(retries=1, buffer_size=1)
    session.emit(["a"], now=0.0)
    with pytest.raises(InvalidState, match="retry queue"):
        session.emit(["b"], now=0.0)


def test_disconnect_fails_everything() -> None:
    session = online(retries=3)
    session.emit_with_ack(["a"], "a", now=0.0)
    session.emit_with_ack(["b"], "b", now=0.0)
    session.connection_lost("ping timeout")
    session.events_received()
    plain = ClientSession("/x")
    plain.emit_with_ack(["c"], "c", now=0.0)
    session.disconnect()
    plain.disconnect()
    failed = {**outcomes(session), **outcomes(plain)}
    assert sorted(failed) == ["a", "b", "c"]
    assert all(isinstance(outcome, ConnectionClosed) for outcome in failed.values())
    plain.activate()
    plain.receive_packet(Packet(CONNECT, "/x", {"sid": "s"}), now=0.0)
    assert sent(plain) == []


# -- any packets from the server, any sequence: the session holds ------------------------------

SERVER_PACKETS = st.one_of(
    st.builds(
        Packet,
        st.just(CONNECT),
        st.just("/"),
        st.sampled_from([{"sid": "s1"}, {"sid": "s2", "pid": "p"}, {"sid": 1}, None, []]),
    ),
    st.builds(
        Packet,
        st.just(EVENT),
        st.just("/"),
        st.lists(st.text(max_size=3) | st.integers(), min_size=1, max_size=3),
        st.none() | st.integers(0, 3),
    ),
    st.builds(
        Packet, st.just(ACK), st.just("/"), st.lists(st.integers(), max_size=2), st.integers(0, 6)
    ),
    st.builds(
        Packet,
        st.just(PacketType.CONNECT_ERROR),
        st.just("/"),
        st.sampled_from(["no", {"message": "no", "data": 1}, {"message": 5}, {}]),
    ),
    st.just(Packet(PacketType.DISCONNECT, "/")),
)
CLIENT_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["packet", "emit", "ask", "time", "lost", "connect", "forget"]),
        SERVER_PACKETS,
        st.integers(0, 5),
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2), CLIENT_STEPS)
def test_any_server_packets_settle_each_ack_once(
    retries: int, steps: list[tuple[str, Packet, int]]
) -> None:
    session = ClientSession("/", retries=retries, buffer_size=5)
    session.activate()
    session.connect(None)
    now = 0.0
    waiting: set[object] = set()
    ids: dict[int, object] = {}
    for action, packet, n in steps:
        if action == "packet":
            session.receive_packet(packet, now=now)
        elif action == "emit":
            with contextlib.suppress(InvalidState):  # the buffer is full
                session.emit(["e", n], now=now, timeout=float(n))
        elif action == "ask":
            waiter = object()
            try:
                ids[session.emit_with_ack(["e"], waiter, now=now, timeout=float(n))] = waiter
            except InvalidState:
                continue
            waiting.add(waiter)
        elif action == "time":
            now += n
            session.handle_timeout(now=now)
        elif action == "lost":
            session.connection_lost("transport close")
        elif action == "connect":
            session.connect(None)
        elif action == "forget" and n in ids:
            session.forget(n)
            waiting.discard(ids.pop(n))
        session.data_to_send()
        for event in session.events_received():
            if isinstance(event, AckSettled):
                assert event.waiter in waiting, "settled twice, or never asked"
                waiting.discard(event.waiter)
        deadline = session.next_deadline()
        assert deadline is None or deadline >= now or action != "time"

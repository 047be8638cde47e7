"""The server side of a namespace connection (``ServerSession``), with no I/O: CONNECT
answers, acks awaited on a fake clock, answers kept for retried packets, recovery fields.

Golden packets follow the Socket.IO protocol README (socketio/socket.io-protocol, v5).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roomcast.exceptions import AckTimeout, ConnectionClosed
from roomcast.socketio import (
    ConnectRequest,
    Decoder,
    Packet,
    PacketType,
    ServerSession,
    SessionSnapshot,
    State,
    encode_packet,
)
from roomcast.socketio.acks import IN_PROGRESS
from roomcast.socketio.events import AckSettled, Disconnected
from roomcast.socketio.session import connect_error, new_id, stamp_offset


def connected(namespace: str = "/", **options: Any) -> ServerSession:
    session = ServerSession(namespace, **options)
    session.accept()
    return session


def payload(text: str | bytes, prefix: str) -> Any:
    assert isinstance(text, str)
    assert text.startswith(prefix)
    return json.loads(text[len(prefix) :])


# -- CONNECT ------------------------------------------------------------------------------


def test_accept_answers_with_the_sid() -> None:
    session = ServerSession("/")
    assert session.state is State.CONNECTING
    [answer] = session.accept()
    assert payload(answer, "0") == {"sid": session.sid}
    assert session.connected
    assert not session.recovered
    assert session.pid is None
    assert session.accept() == []  # answered once


def test_accept_on_a_namespace_names_it() -> None:
    [answer] = ServerSession("/admin").accept()
    assert isinstance(answer, str)
    assert answer.startswith('0/admin,{"sid":')


def test_with_recovery_the_answer_carries_an_unguessable_pid() -> None:
    one, two = ServerSession("/", recovery=True), ServerSession("/", recovery=True)
    [answer] = one.accept()
    assert payload(answer, "0") == {"sid": one.sid, "pid": one.pid}
    assert one.pid is not None
    assert two.pid is not None
    assert len({one.sid, one.pid, two.sid, two.pid}) == 4
    assert len(one.pid) == 20  # 120 random bits, URL-safe


def test_refuse_answers_connect_error() -> None:
    session = ServerSession("/admin")
    assert session.refuse({"message": "Not authorized", "data": {"code": 7}}) == [
        '4/admin,{"message":"Not authorized","data":{"code":7}}'
    ]
    assert session.state is State.DISCONNECTED
    assert session.accept() == []


def test_connect_error_for_an_unknown_namespace() -> None:
    assert connect_error("/nope", {"message": "Invalid namespace"}) == [
        '4/nope,{"message":"Invalid namespace"}'
    ]


@pytest.mark.parametrize(
    ("data", "request_"),
    [
        (None, ConnectRequest({})),
        ("token", ConnectRequest({})),
        ({"token": "abc"}, ConnectRequest({"token": "abc"})),
        (
            {"token": "abc", "pid": "p1", "offset": "o9"},
            ConnectRequest({"token": "abc", "pid": "p1", "offset": "o9"}, "p1", "o9"),
        ),
        ({"pid": 3, "offset": ["x"]}, ConnectRequest({"pid": 3, "offset": ["x"]})),
    ],
)
def test_connect_request_finds_the_recovery_fields(data: Any, request_: ConnectRequest) -> None:
    assert ConnectRequest.parse(data) == request_


def test_ids_are_fresh() -> None:
    assert len({new_id() for _ in range(100)}) == 100


# -- acks the server answers ---------------------------------------------------------------


def test_send_ack_golden() -> None:
    session = connected()
    assert session.send_ack(12, ["bar"]) == ['312["bar"]']
    assert connected("/admin").send_ack(13, []) == ["3/admin,13[]"]
    assert session.send_ack(1, [b"\x01"]) == ['61-1[{"_placeholder":true,"num":0}]', b"\x01"]


def test_no_ack_is_sent_once_disconnected() -> None:
    session = connected()
    session.close("transport close")
    assert session.send_ack(1, ["late"]) == []


def test_every_event_is_handled_without_answers_kept() -> None:
    session = connected()
    assert session.answers is None
    assert session.receive_event(1) is None
    session.send_ack(1, ["a"])
    assert session.receive_event(1) is None


def test_a_retried_event_gets_the_same_answer_and_is_not_handled_again() -> None:
    session = connected(answers=8)
    assert session.receive_event(None) is None  # no ack id: nothing to recognise it by
    assert session.receive_event(4) is None  # new: handle it
    assert session.receive_event(4) is IN_PROGRESS  # still being handled: send nothing
    sent = session.send_ack(4, ["done"])
    assert sent == ['34["done"]']
    assert session.receive_event(4) == sent  # answered again, not handled again
    assert session.receive_event(5) is None


def test_answers_kept_are_bounded_oldest_first() -> None:
    session = connected(answers=2)
    for ack_id in (1, 2, 3):
        assert session.receive_event(ack_id) is None
        session.send_ack(ack_id, [ack_id])
    assert session.receive_event(1) is None  # forgotten: handled as new
    assert session.receive_event(3) == ["33[3]"]


def test_an_answer_given_while_disconnected_is_kept_for_a_recovery() -> None:
    session = connected(recovery=True, answers=4)
    assert session.receive_event(7) is None
    session.close("transport close")
    assert session.send_ack(7, ["late"]) == []
    snapshot = session.snapshot(frozenset({"room"}), {"user": 1})
    assert snapshot == SessionSnapshot(
        "/", session.sid, session.pid or "", frozenset({"room"}), {"user": 1}, {7: ['37["late"]']}
    )
    restored = ServerSession("/", answers=4, restore=snapshot)
    assert (restored.sid, restored.pid, restored.recovered) == (session.sid, session.pid, True)
    [answer] = restored.accept()
    assert payload(answer, "0") == {"sid": session.sid, "pid": session.pid}
    assert restored.receive_event(7) == ['37["late"]']


def test_only_a_session_with_recovery_has_a_snapshot() -> None:
    with pytest.raises(ValueError, match="recovery"):
        connected().snapshot()


def test_stamp_offset_appends_the_offset() -> None:
    assert stamp_offset(["news", {"id": 1}], "o-42") == ["news", {"id": 1}, "o-42"]


# -- acks the server waits for ---------------------------------------------------------------


def test_ack_ids_come_from_the_shared_counter() -> None:
    ids = itertools.count(5)
    one, two = connected(ack_ids=ids), connected(ack_ids=ids)
    assert one.expect_ack("a") == 5
    assert two.expect_ack("b") == 6
    assert one.expect_ack("c", ack_id=40) == 40  # a broadcast's id


def test_an_ack_settles_its_waiter_once() -> None:
    session = connected()
    ack_id = session.expect_ack("waiter")
    assert session.receive_ack(ack_id, ["ok"]) == AckSettled("waiter", ["ok"])
    assert session.receive_ack(ack_id, ["again"]) is None
    assert session.receive_ack(99, []) is None


def test_deadlines_on_a_fake_clock() -> None:
    session = connected()
    assert session.next_deadline() is None
    late = session.expect_ack("late", deadline=15.0)
    session.expect_ack("soon", deadline=10.0)
    session.expect_ack("never")
    assert session.next_deadline() == 10.0
    assert session.handle_timeout(now=9.9) == []
    [expired] = session.handle_timeout(now=10.0)
    assert expired.waiter == "soon"
    assert isinstance(expired.outcome, AckTimeout)
    assert session.next_deadline() == 15.0
    assert session.receive_ack(late, [1]) == AckSettled("late", [1])
    assert session.next_deadline() is None  # the answered one's deadline is gone
    assert session.handle_timeout(now=100.0) == []


def test_a_forgotten_ack_neither_settles_nor_expires() -> None:
    session = connected()
    ack_id = session.expect_ack("w", deadline=1.0)
    session.forget_ack(ack_id)
    assert session.next_deadline() is None
    assert session.handle_timeout(now=2.0) == []
    assert session.receive_ack(ack_id, []) is None


def test_close_fails_the_acks_then_reports_the_reason() -> None:
    session = connected()
    session.expect_ack("a", deadline=3.0)
    session.expect_ack("b")
    first, second, last = session.close("client namespace disconnect")
    assert (first.waiter, second.waiter) == ("a", "b")  # type: ignore[attr-defined]
    assert isinstance(first.outcome, ConnectionClosed)  # type: ignore[attr-defined]
    assert last == Disconnected("client namespace disconnect")
    assert session.close("again") == []
    assert session.next_deadline() is None


def test_receive_disconnect_and_disconnect() -> None:
    session = connected("/admin")
    assert session.disconnect() == ["1/admin,"]
    assert session.receive_disconnect() == [Disconnected("client namespace disconnect")]
    assert session.disconnect() == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.binary(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(st.sampled_from(["/", "/admin"]), st.integers(0, 2**53), st.lists(JSON, max_size=3))
def test_the_ack_shortcut_encodes_as_the_general_path(
    namespace: str, ack_id: int, args: list[Any]
) -> None:
    """``send_ack`` without answers kept encodes inline (the echo path); with answers kept
    it goes through ``encode_packet``: both give the same messages."""
    fast = connected(namespace).send_ack(ack_id, args)
    general = connected(namespace, answers=1).send_ack(ack_id, args)
    assert fast == general == encode_packet(Packet(PacketType.ACK, namespace, args, ack_id))


# -- any sequence of what a client and the server do: the session holds -----------------------

ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(
            ["event", "answer", "expect", "ack", "time", "forget", "bye", "kick", "close"]
        ),
        st.integers(0, 5),
        st.sampled_from([["a"], ["a", 1], ["b"]]),
    ),
    max_size=25,
)


def decode_all(parts: list[str | bytes]) -> Packet:
    decoder = Decoder()
    packets = [decoder.receive(part) for part in parts]
    assert packets[-1] is not None
    return packets[-1]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["/", "/chat"]), st.integers(0, 3), st.booleans(), ACTIONS)
def test_any_sequence_settles_each_ack_once_and_disconnects_once(
    namespace: str, answers: int, accept: bool, actions: list[tuple[str, int, list[Any]]]
) -> None:
    session = ServerSession(namespace, answers=answers, ack_ids=itertools.count())
    session.accept() if accept else session.refuse({"message": "no"})
    now = 0.0
    waiting: set[object] = set()  # waiters expected and not settled or forgotten
    ids: dict[int, object] = {}
    settled: list[object] = []
    disconnects = 0

    def take(events: list[Any]) -> None:
        nonlocal disconnects
        for event in events:
            if isinstance(event, AckSettled):
                assert event.waiter in waiting, "settled twice, or never awaited"
                waiting.discard(event.waiter)
                settled.append(event.waiter)
            else:
                assert isinstance(event, Disconnected)
                disconnects += 1

    for action, n, data in actions:
        was = session.state
        if action == "event":
            session.receive_event(n, data)
        elif action == "answer":
            parts = session.send_ack(n, data)
            if parts:
                assert decode_all(parts).id == n
        elif action == "expect" and session.state is not State.DISCONNECTED:
            # (after the close, the server settles the waiter itself: Socket._expect)
            waiter = object()
            ids[session.expect_ack(waiter, deadline=now + n)] = waiter
            waiting.add(waiter)
        elif action == "ack":
            take([e] if (e := session.receive_ack(n, data)) is not None else [])
        elif action == "time":
            now += n
            take(session.handle_timeout(now=now))
        elif action == "forget" and n in ids:
            session.forget_ack(n)
            waiting.discard(ids[n])
        elif action == "bye":
            take(session.receive_disconnect())
        elif action == "kick":
            session.disconnect()
        elif action == "close":
            take(session.close("transport close"))
        if was is State.DISCONNECTED:
            assert session.state is State.DISCONNECTED
        if session.answers is not None:
            assert len(session.answers) <= answers
    take(session.close("transport close"))
    assert not waiting, "an ack awaited was never settled"
    assert disconnects == (1 if accept else 0)  # a refused client was never connected

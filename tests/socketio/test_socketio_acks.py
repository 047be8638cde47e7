"""Ack bookkeeping shared by both sides: ``PendingAcks`` (deadlines in a heap, stale entries
skipped) and ``RecentAnswers`` (the bounded table of answers for retried packets)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from roomcast.socketio.acks import IN_PROGRESS, PendingAcks, RecentAnswers


def test_rearming_an_ack_keeps_only_the_new_deadline() -> None:
    acks: PendingAcks[str] = PendingAcks()
    acks.expect(1, "first", 5.0)
    acks.expect(1, "second", 8.0)  # a retry: same id, new deadline
    assert acks.next_deadline() == 8.0
    assert acks.expired(6.0) == []
    assert acks.expired(8.0) == [(1, "second")]
    assert len(acks) == 0


def test_clear_keeps_the_order_acks_were_asked_for() -> None:
    acks: PendingAcks[str] = PendingAcks()
    for ack_id, waiter in ((3, "c"), (1, "a"), (2, "b")):
        acks.expect(ack_id, waiter, float(ack_id))
    assert acks.clear() == [(3, "c"), (1, "a"), (2, "b")]
    assert acks.next_deadline() is None


@given(
    st.lists(st.tuples(st.integers(0, 20), st.one_of(st.none(), st.floats(0, 100)), st.booleans())),
    st.floats(0, 100),
)
def test_expired_is_exactly_the_overdue_acks(
    steps: list[tuple[int, float | None, bool]], now: float
) -> None:
    acks: PendingAcks[int] = PendingAcks()
    model: dict[int, float | None] = {}
    for ack_id, deadline, answered in steps:
        acks.expect(ack_id, ack_id, deadline)
        model[ack_id] = deadline
        if answered:
            assert acks.pop(ack_id) == ack_id
            del model[ack_id]
    deadlines = [d for d in model.values() if d is not None]
    assert acks.next_deadline() == (min(deadlines) if deadlines else None)
    overdue = sorted(i for i, d in model.items() if d is not None and d <= now)
    assert sorted(i for i, _ in acks.expired(now)) == overdue
    assert sorted(acks) == sorted(set(model) - set(overdue))


def test_recent_answers_replay_and_forget_the_oldest() -> None:
    answers = RecentAnswers(2)
    assert answers.begin(1) is None
    assert answers.begin(1) is IN_PROGRESS
    answers.record(1, ["31[]"])
    assert answers.begin(1) == ["31[]"]
    assert answers.begin(2) is None
    assert answers.begin(3) is None  # 1 is forgotten
    assert len(answers) == 2
    assert answers.begin(1) is None
    assert answers.answered() == {}  # 3 and 1 are in progress, 2 was forgotten


def test_an_answer_recorded_after_its_entry_was_forgotten_is_kept() -> None:
    answers = RecentAnswers(1)
    answers.begin(1)
    answers.begin(2)
    answers.record(1, ["31[]"])
    assert answers.answered() == {1: ["31[]"]}
    assert len(answers) == 1


# -- retries under a new ack id (socket.io-client's ``retries``) ------------------------------


def test_a_retry_while_the_first_is_handled_gets_the_same_answer_under_its_own_id() -> None:
    table = RecentAnswers(8)
    assert table.begin(1, ["say", "hi"]) is None  # run it
    assert table.begin(2, ["say", "hi"]) == IN_PROGRESS  # the client timed out and retried
    assert table.begin(3, ["say", "hi"]) == IN_PROGRESS
    assert table.record(1, ['31["ok"]']) == ['32["ok"]', '33["ok"]']


def test_the_same_event_once_the_first_is_answered_runs_again() -> None:
    table = RecentAnswers(8)
    assert table.begin(1, ["like"]) is None
    assert table.record(1, ["31[]"]) == []
    assert table.begin(2, ["like"]) is None  # a second like, on purpose


def test_after_a_recovery_a_repeat_of_the_last_answered_event_is_its_retry() -> None:
    before = RecentAnswers(8, namespace="/chat")
    assert before.begin(7, ["say", {"text": "hi"}, b"\x01"]) is None
    before.record(7, ['63-/chat,7["ok",{"_placeholder":true,"num":0}]', b"\x02"])
    restored = RecentAnswers(8, before.answered(), namespace="/chat", last=before.last)
    assert restored.begin(9, ["say", {"text": "hi"}, b"\x01"]) == [
        '63-/chat,9["ok",{"_placeholder":true,"num":0}]',
        b"\x02",
    ]
    assert restored.begin(10, ["say", {"text": "hi"}, b"\x01"]) is None  # later: a new one


def test_after_a_recovery_a_different_event_runs() -> None:
    before = RecentAnswers(8)
    before.begin(1, ["say", "hi"])
    before.record(1, ['31["ok"]'])
    restored = RecentAnswers(8, before.answered(), last=before.last)
    assert restored.begin(2, ["say", "bye"]) is None


def test_a_retry_of_an_answer_still_running_in_the_old_session_waits_for_it() -> None:
    before = RecentAnswers(8)
    before.begin(4, ["slow"])
    restored = RecentAnswers(8, before.answered(), last=before.last, in_progress=(4,))
    assert restored.begin(5, ["slow"]) == IN_PROGRESS
    assert restored.record(4, ['34["done"]']) == ['35["done"]']

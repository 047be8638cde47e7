"""Delivery for one namespace (``Outbox``), without a network: what is sent when, which acks
survive a disconnection, how retries go."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from roomcast.client.outbox import Outbox, Parts
from roomcast.exceptions import AckTimeout, ConnectionClosed, InvalidState

from .client_support import WAIT, seconds


class Wire:
    """What the outbox sent, and the outcomes it settled."""

    def __init__(self) -> None:
        self.sent: list[Parts] = []
        self.outcomes: dict[int, list[Any] | BaseException] = {}
        self.settled = asyncio.Event()
        self.changed = asyncio.Event()

    def send(self, parts: Parts) -> None:
        self.sent.append(parts)
        self.changed.set()

    async def until_sent(self, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while len(self.sent) < count:
                self.changed.clear()
                await self.changed.wait()

    def settle(self, ack_id: int) -> Any:
        def settle(outcome: list[Any] | BaseException) -> None:
            assert ack_id not in self.outcomes, "settled twice"
            self.outcomes[ack_id] = outcome
            self.settled.set()

        return settle

    async def outcome(self, ack_id: int) -> list[Any] | BaseException:
        async with asyncio.timeout(WAIT):
            while ack_id not in self.outcomes:
                self.settled.clear()
                await self.settled.wait()
        return self.outcomes[ack_id]


def outbox(wire: Wire, **options: Any) -> Outbox:
    return Outbox("/", wire.send, **options)


async def test_online_posts_go_at_once_offline_ones_wait_in_order() -> None:
    wire = Wire()
    box = outbox(wire)
    box.post(["a"])
    assert wire.sent == []
    box.post(["b", b"\x01"])
    box.went_online()
    assert wire.sent == [["a"], ["b", b"\x01"]]
    box.post(["c"])
    assert wire.sent[-1] == ["c"]


async def test_the_buffer_is_bounded() -> None:
    wire = Wire()
    box = outbox(wire, buffer_size=2)
    box.post(["a"])
    box.post(["b"])
    with pytest.raises(InvalidState, match="full"):
        box.post(["c"])
    box.went_online()
    box.post(["c"])  # online: no bound
    assert wire.sent == [["a"], ["b"], ["c"]]


async def test_ack_settles_once() -> None:
    wire = Wire()
    box = outbox(wire)
    box.went_online()
    ack_id = box.next_id()
    box.post(["x"], ack_id)
    box.expect(ack_id, wire.settle(ack_id), None)
    box.acked(ack_id, [1, 2])
    box.acked(ack_id, [3])  # a second ACK with the same id: nobody waits any more
    assert wire.outcomes == {ack_id: [1, 2]}


async def test_ack_timeout_drops_the_buffered_packet() -> None:
    wire = Wire()
    box = outbox(wire)
    ack_id = box.next_id()
    box.post(["x"], ack_id)
    box.expect(ack_id, wire.settle(ack_id), seconds(0.01))
    assert isinstance(await wire.outcome(ack_id), AckTimeout)
    box.went_online()
    assert wire.sent == []


async def test_disconnection_fails_sent_acks_but_keeps_buffered_ones() -> None:
    wire = Wire()
    box = outbox(wire)
    box.went_online()
    sent = box.next_id()
    box.post(["sent"], sent)
    box.expect(sent, wire.settle(sent), None)
    box.went_offline("transport close")
    buffered = box.next_id()
    box.post(["buffered"], buffered)
    box.expect(buffered, wire.settle(buffered), None)
    box.went_offline("transport close")  # again: the buffered one still waits
    outcome = wire.outcomes[sent]
    assert isinstance(outcome, ConnectionClosed)
    assert outcome.reason == "transport close"
    assert buffered not in wire.outcomes
    box.went_online()
    assert wire.sent[-1] == ["buffered"]
    box.acked(buffered, ["ok"])
    assert wire.outcomes[buffered] == ["ok"]


async def test_retries_resend_the_same_packet_until_acked() -> None:
    wire = Wire()
    box = outbox(wire, retries=2)
    box.went_online()
    first, second = box.next_id(), box.next_id()
    box.enqueue([f"2{first}[]"], first, seconds(0.01), wire.settle(first))
    box.enqueue([f"2{second}[]"], second, None, wire.settle(second))
    assert wire.sent == [[f"2{first}[]"]]  # one at a time
    await wire.until_sent(2)  # the first try timed out
    assert wire.sent == [[f"2{first}[]"], [f"2{first}[]"]]  # same bytes, same id
    box.acked(first, ["ok"])
    assert wire.outcomes[first] == ["ok"]
    assert wire.sent[-1] == [f"2{second}[]"]  # the next one goes
    box.acked(first, ["late"])  # a late ack of an earlier try: ignored
    box.acked(second, [])
    assert wire.outcomes == {first: ["ok"], second: []}


async def test_retries_give_up_after_the_last_try() -> None:
    wire = Wire()
    box = outbox(wire, retries=1)
    box.went_online()
    ack_id = box.next_id()
    box.enqueue(["p"], ack_id, seconds(0.01), wire.settle(ack_id))
    assert isinstance(await wire.outcome(ack_id), AckTimeout)
    assert wire.sent == [["p"], ["p"]]


async def test_retry_head_is_resent_after_reconnection() -> None:
    wire = Wire()
    box = outbox(wire, retries=1)
    box.went_online()
    ack_id = box.next_id()
    box.enqueue(["p"], ack_id, None, wire.settle(ack_id))
    box.went_offline("transport close")
    assert wire.outcomes == {}  # not failed: it goes again
    queued = box.next_id()
    box.enqueue(["q"], queued, None, wire.settle(queued))
    box.went_online()
    assert wire.sent == [["p"], ["p"]]
    box.acked(ack_id, [])
    assert wire.sent == [["p"], ["p"], ["q"]]


async def test_close_fails_everything() -> None:
    wire = Wire()
    box = outbox(wire, retries=3)
    ids = [box.next_id() for _ in range(3)]
    box.enqueue(["a"], ids[0], None, wire.settle(ids[0]))
    box.enqueue(["b"], ids[1], None, wire.settle(ids[1]))
    box.went_online()
    box.went_offline("ping timeout")
    plain = Outbox("/x", wire.send)
    plain.post(["c"], ids[2])
    plain.expect(ids[2], wire.settle(ids[2]), None)
    box.close("io client disconnect")
    plain.close("io client disconnect")
    assert all(isinstance(wire.outcomes[i], ConnectionClosed) for i in ids)
    plain.went_online()
    assert ["c"] not in wire.sent

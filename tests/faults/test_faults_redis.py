"""Faults between two roomcast nodes and their Redis while one broadcasts steadily to an
official client on the other (see ``redis_faults.py``): latency, the subscriber's or the
publisher's link cut, Redis stopped and started again. Each runs its own redis-server."""

from __future__ import annotations

import pytest

from cluster.harness import needs_node, needs_redis_server

from .redis_faults import broadcast_through

pytestmark = [*needs_node, needs_redis_server]


async def test_latency_delays_broadcasts_and_keeps_them_whole_and_in_order() -> None:
    seen = await broadcast_through("delay", duration=1.0, delay=0.2)
    assert seen.lost() == []
    assert seen.duplicates() == 0
    assert seen.in_order()
    assert seen.latency, "no broadcast was timed while the link was slow"
    assert min(seen.latency) >= 0.4  # A -> Redis -> B: two one-way delays
    assert seen.ready_during == {"a": 200, "b": 200}  # slow is not down


async def test_a_cut_of_the_publishers_link_loses_nothing() -> None:
    seen = await broadcast_through("cut-publisher", duration=1.0)
    assert seen.ready_during == {"a": 503, "b": 200}
    assert seen.ready_after == {"a": 200, "b": 200}
    assert seen.lost() == []  # kept in A's buffer meanwhile, sent once it is back
    assert seen.in_order()


async def test_a_cut_of_the_subscribers_link_loses_the_cut_window_only() -> None:
    seen = await broadcast_through("cut-subscriber", duration=1.0)
    assert seen.ready_during == {"a": 200, "b": 503}
    assert seen.ready_after == {"a": 200, "b": 200}
    lost = seen.lost()
    assert lost, "nothing lost: pub/sub does not keep messages, was the link cut?"
    # one gap, within the window: from the cut to B's subscription again
    assert lost == list(range(lost[0], lost[-1] + 1))
    assert seen.sent_during[0] - 5 <= lost[0]  # a few may have been in flight at the cut
    assert lost[-1] < seen.sent_when_back
    assert seen.duplicates() == 0
    assert seen.in_order()


@pytest.mark.parametrize("fault", ["cut-both", "stop"])
async def test_both_nodes_cut_off_lose_nothing_and_come_back_by_themselves(fault: str) -> None:
    seen = await broadcast_through(fault, duration=1.5)  # type: ignore[arg-type]
    assert seen.ready_during == {"a": 503, "b": 503}
    assert seen.adapter_during == {"a": "down", "b": "down"}
    assert seen.ready_after == {"a": 200, "b": 200}
    assert seen.lost() == []  # A buffered them until B had subscribed again
    assert seen.in_order()

"""The server's wall clock steps hours forward or back while it serves (libfaketime on a
server process, see ``clock_jump.py``): heartbeats go on (no client is timed out), offsets
keep their order, every receiver gets every broadcast in order, the history stays whole.
A client away across a jump back recovers; across a jump forward longer than the time its
session had left, it starts a fresh session (``recovered`` false), as in Node."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.conftest import needs_node

from .clock_jump import LIBFAKETIME, jump_clock

pytestmark = [
    *needs_node,
    pytest.mark.skipif(LIBFAKETIME is None, reason="needs libfaketime (apt install faketime)"),
]


@pytest.mark.parametrize("hours", [3, -3], ids=["forward", "back"])
async def test_a_clock_jump_leaves_live_traffic_and_order_alone(hours: int, tmp_path: Path) -> None:
    seen = await jump_clock(hours, tmp_path)
    assert abs(seen.jumped - hours * 3600) < 60, seen.jumped
    assert seen.disconnects == 0
    assert "Traceback" not in seen.output, seen.output
    assert all(count >= 4 for count in seen.pings_after.values()), seen.pings_after
    assert seen.offsets == sorted(seen.offsets)
    assert len(set(seen.offsets)) == len(seen.offsets)
    for id in ("r0", "r1"):
        assert seen.received[id] == list(range(seen.sent))
    assert seen.history == list(range(seen.sent - 1))  # the last one came after the read
    if hours < 0:
        assert seen.recovered is True
        assert seen.missed == []
    else:  # its session expired in wall time: it knows (recovered false), history is whole
        assert seen.recovered is False

"""The SQLite store cannot be written for a while (disk full, read-only) under a steady
broadcast with recovery on (see ``store_faults.py``): live broadcasts still reach everyone,
no connection drops, one warning when it fails and one when it is back, ``/readyz`` says
the store is down meanwhile, and the store is used again by itself afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.conftest import needs_node

from .store_faults import Kind, can_chattr, can_mount, store_fails

pytestmark = needs_node

KINDS = [
    pytest.param("full", marks=pytest.mark.skipif(not can_mount(), reason="needs root and mount")),
    pytest.param(
        "read-only", marks=pytest.mark.skipif(not can_chattr(), reason="needs root and chattr")
    ),
]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_store_that_cannot_be_written_degrades_recovery_only(
    kind: Kind, tmp_path: Path
) -> None:
    seen = await store_fails(kind, tmp_path)
    assert seen.unstored > 0, "the store never failed: nothing proven"
    for id in ("r0", "r1", "r2"):
        assert seen.lost(id) == [], f"{id} lost live broadcasts"
    assert seen.disconnects == 0
    assert seen.ready_during == (503, "down")
    assert seen.ready_after == (200, "ok")
    assert seen.tracebacks == 0, seen.warnings
    assert [w.split(":")[0] for w in seen.warnings] == [
        "store unavailable, recovery degraded",
        "store reachable again, recovery restored",
    ], seen.warnings
    assert seen.fresh_during is True
    assert seen.recovered_after is True
    assert seen.missed_while_away == []

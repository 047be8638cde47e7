"""kill -9 of a worker under ``roomcast serve --workers 2``, recovery on, a steady
broadcast: the worker is started again, its clients (official, unchanged) reconnect and
recover, and nobody misses an acknowledged broadcast (see ``worker_kill.py``)."""

from __future__ import annotations

from pathlib import Path

from workers.conftest import needs_node

from .worker_kill import kill_a_worker

pytestmark = needs_node


async def test_kill_9_of_a_worker_loses_no_acknowledged_broadcast(tmp_path: Path) -> None:
    seen = await kill_a_worker(f"sqlite:///{tmp_path / 'faults.db'}")
    assert seen.exit_code == -9
    assert seen.victims, "nobody was on the killed worker: nothing proven"
    assert all(seen.cut[i] for i in seen.victims), seen.cut
    survivors = set(seen.received) - set(seen.victims)
    assert survivors, "everyone was on the killed worker"
    assert not any(seen.cut[i] for i in survivors), seen.cut
    assert all(seen.recovered.values()), seen.recovered
    assert seen.acked_while_down > 0, "no broadcast while they were away: nothing proven"
    assert seen.missing() == {}
    assert seen.out_of_order() == []

"""The store contract: one set of tests, run over the memory, SQLite and Redis stores.

Redis runs only when a Redis answers on 127.0.0.1:6379 (each test with its own stream and
session keys). Time-based behaviour moves a fake clock; Redis's own key expiry (sessions)
is awaited on the key itself.
"""

from __future__ import annotations

import asyncio

import pytest

from roomcast.store import Retention, SessionRecord, Store, StreamEntry, new_pid

from .conftest import Maker


def datas(entries: list[StreamEntry] | None) -> list[object]:
    assert entries is not None
    return [entry.data for entry in entries]


def offsets(entries: list[StreamEntry]) -> list[str]:
    return [entry.offset for entry in entries]


def session(pid: str, rooms: set[str], namespace: str = "/", **fields: object) -> SessionRecord:
    return SessionRecord(pid, "sid-" + pid[:4], namespace, frozenset(rooms), **fields)  # type: ignore[arg-type]


async def fill(store: Store, n: int, room: str = "r", namespace: str = "/") -> list[str]:
    return list(
        await asyncio.gather(*(store.append(namespace, ["msg", i], [room]) for i in range(n)))
    )


class TestStream:
    async def test_read_since_gives_what_follows_in_order(self, make: Maker) -> None:
        store = await make()
        first = await store.append("/", ["a"])
        rest = [await store.append("/", [name]) for name in "bcd"]
        await store.append("/other", ["elsewhere"])
        entries = await store.read_since("/", first)
        assert datas(entries) == [["b"], ["c"], ["d"]]
        assert entries is not None
        assert offsets(entries) == rest
        assert await store.read_since("/", rest[-1]) == []

    async def test_offsets_of_one_tick_are_distinct_and_ordered(self, make: Maker) -> None:
        store = await make()
        first = await store.append("/", ["start"])
        given = await asyncio.gather(*(store.append("/", ["n", i]) for i in range(20)))
        entries = await store.read_since("/", first)
        assert entries is not None
        assert offsets(entries) == list(given)
        assert datas(entries) == [["n", i] for i in range(20)]

    async def test_entry_keeps_rooms_namespace_and_time(self, make: Maker) -> None:
        store = await make()
        first = await store.append("/chat", ["x"])
        await store.append("/chat", ["y"], ["a", "b"], ["c"])
        (entry,) = await store.read_since("/chat", first) or []
        assert entry.namespace == "/chat"
        assert entry.rooms == {"a", "b"}
        assert entry.except_rooms == {"c"}
        assert abs(entry.time - make.clock.now) < 60

    @pytest.mark.parametrize(
        "bad",
        ["", "abc", "-1", " 1", "1 ", "1_0", "\u0663", "9" * 5000, "1-", "-", "+", "(1", "1.5"],
    )
    async def test_malformed_offset_is_unknown(self, make: Maker, bad: str) -> None:
        store = await make()
        await store.append("/", ["a"])
        assert await store.read_since("/", bad) is None
        assert await store.history("/", "r", before=bad) == []
        assert await store.history("/", "r", after=bad) == []

    async def test_forged_offset_is_unknown(self, make: Maker) -> None:
        store = await make()
        offset = await store.append("/", ["a"])
        assert await store.read_since("/", make.future_offset(offset)) is None

    async def test_bytes_round_trip(self, make: Maker) -> None:
        store = await make()
        first = await store.append("/", ["start"])
        data = ["file", b"\x00\xff", {"nested": [b"abc", {"deep": b""}], "n": 1}, "text"]
        await store.append("/", data, ["r"])
        assert datas(await store.read_since("/", first)) == [data]
        assert datas(await store.history("/", "r")) == [data]

    async def test_appended_data_is_a_snapshot(self, make: Maker) -> None:
        store = await make()
        first = await store.append("/", ["start"])
        data: list[object] = ["event", 1]
        await store.append("/", data)
        data.append("offset appended by the caller")
        assert datas(await store.read_since("/", first)) == [["event", 1]]

    async def test_durable(self, make: Maker) -> None:
        store = await make()
        assert store.durable is (make.kind != "memory")


class TestRetention:
    async def test_count_keeps_the_newest(self, make: Maker) -> None:
        store = await make(retention=Retention(max_count=5))
        given = await fill(store, 20)
        await store.trim()
        assert datas(await store.history("/", "r", limit=50)) == [["msg", i] for i in range(15, 20)]
        assert await store.read_since("/", given[0]) is None
        assert await store.read_since("/", given[9]) is None
        assert datas(await store.read_since("/", given[15])) == [["msg", i] for i in range(16, 20)]

    async def test_age_drops_old_entries(self, make: Maker) -> None:
        store = await make(retention=Retention(max_count=None, max_age=60))
        before = await store.append("/", ["start"], ["other"])
        await store.append("/", ["old"], ["r"])
        make.clock.advance(61)
        await store.append("/", ["new"], ["r"])
        assert datas(await store.history("/", "r")) == [["new"]]
        entries = await store.read_since("/", before)
        assert entries is None or datas(entries) == [["new"]]

    async def test_room_override_age(self, make: Maker) -> None:
        store = await make(rooms={"typing:*": Retention(max_age=10)})
        first = await store.append("/", ["start"])
        await store.append("/", ["typing"], ["typing:1"])
        await store.append("/", ["said"], ["chat:1"])
        assert datas(await store.history("/", "typing:1")) == [["typing"]]
        make.clock.advance(11)
        assert await store.history("/", "typing:1") == []
        assert datas(await store.history("/", "chat:1")) == [["said"]]
        # the offset stays known: what expired on purpose is simply not replayed
        assert datas(await store.read_since("/", first)) == [["said"]]

    async def test_room_override_count(self, make: Maker) -> None:
        if make.kind == "redis":
            pytest.skip("the Redis store applies room overrides' ages only")
        store = await make(rooms={"chat:*": Retention(max_count=3)})
        await fill(store, 5, "chat:1")
        await fill(store, 5, "chat:2")
        await fill(store, 5, "lobby")
        assert datas(await store.history("/", "chat:1")) == [["msg", i] for i in (2, 3, 4)]
        assert datas(await store.history("/", "chat:2")) == [["msg", i] for i in (2, 3, 4)]
        assert len(await store.history("/", "lobby")) == 5


class TestHistory:
    async def test_pages_upwards_then_catches_up(self, make: Maker) -> None:
        store = await make()
        sent = []
        for i in range(23):
            sent.append(await store.append("/", ["msg", i], ["r"]))
            await store.append("/", ["noise", i], ["other"])
            await store.append("/", ["broadcast", i])
        await store.append("/elsewhere", ["msg", "x"], ["r"])
        page = await store.history("/", "r", limit=10)
        assert datas(page) == [["msg", i] for i in range(13, 23)]
        seen = list(page)
        while True:
            older = await store.history("/", "r", limit=10, before=seen[0].offset)
            if not older:
                break
            seen[:0] = older
        assert offsets(seen) == sent  # no gap, no duplicate
        live = [await store.append("/", ["live", i], ["r"]) for i in range(3)]
        caught = await store.history("/", "r", limit=2, after=page[-1].offset)
        caught += await store.history("/", "r", limit=2, after=caught[-1].offset)
        assert offsets(caught) == live
        assert await store.history("/", "r", after=live[-1]) == []

    async def test_between_bounds(self, make: Maker) -> None:
        store = await make()
        given = await fill(store, 6)
        between = await store.history("/", "r", after=given[0], before=given[4])
        assert offsets(between) == given[1:4]
        assert offsets(await store.history("/", "r", limit=2, after=given[0])) == given[1:3]

    async def test_entry_in_several_rooms_is_in_each(self, make: Maker) -> None:
        store = await make()
        await store.append("/", ["both"], ["a", "b"])
        assert datas(await store.history("/", "a")) == [["both"]]
        assert datas(await store.history("/", "b")) == [["both"]]
        assert await store.history("/", "c") == []


class TestSessions:
    async def test_restore_gives_the_session_and_what_it_missed(self, make: Maker) -> None:
        store = await make()
        pid = new_pid()
        record = session(pid, {"sid-x", "a"}, data={"user": "ann", "blob": b"\x01"})
        record = SessionRecord(
            pid, "sid-x", "/", record.rooms, record.data, {"acks": {"3": ["ok", b"\x02"]}}
        )
        offset = await store.append("/", ["before"])
        await store.persist_session(record, ttl=120)
        await store.append("/", ["missed"], ["a"])
        restored = await store.restore_session("/", pid, offset)
        assert restored is not None
        assert restored.session == record
        assert datas(restored.missed) == [["missed"]]

    async def test_a_pid_is_used_once(self, make: Maker) -> None:
        store = await make()
        pid = new_pid()
        offset = await store.append("/", ["x"])
        await store.persist_session(session(pid, {"a"}), ttl=120)
        results = await asyncio.gather(
            store.restore_session("/", pid, offset), store.restore_session("/", pid, offset)
        )
        assert sum(result is not None for result in results) == 1
        assert await store.restore_session("/", pid, offset) is None

    async def test_unknown_pid_or_offset(self, make: Maker) -> None:
        store = await make()
        offset = await store.append("/", ["x"])
        assert await store.restore_session("/", new_pid(), offset) is None
        pid = new_pid()
        await store.persist_session(session(pid, {"a"}), ttl=120)
        assert await store.restore_session("/", pid, "forged") is None
        assert await store.restore_session("/", pid, offset) is None  # taken by the try

    async def test_other_namespace_does_not_restore(self, make: Maker) -> None:
        store = await make()
        offset = await store.append("/admin", ["x"])
        pid = new_pid()
        await store.persist_session(session(pid, {"a"}, namespace="/admin"), ttl=120)
        assert await store.restore_session("/", pid, offset) is None

    async def test_expired_session(self, make: Maker) -> None:
        store = await make()
        offset = await store.append("/", ["x"])
        pid = new_pid()
        await store.persist_session(session(pid, {"a"}), ttl=0.05)
        make.clock.advance(1)
        await make.session_gone(pid)
        assert await store.restore_session("/", pid, offset) is None

    async def test_persist_again_replaces(self, make: Maker) -> None:
        store = await make()
        offset = await store.append("/", ["x"])
        pid = new_pid()
        await store.persist_session(session(pid, {"a"}), ttl=120)
        await store.persist_session(session(pid, {"b"}), ttl=120)
        restored = await store.restore_session("/", pid, offset)
        assert restored is not None
        assert restored.session.rooms == {"b"}

    async def test_missed_entries_follow_nodes_rule(self, make: Maker) -> None:
        store = await make()
        offset = await store.append("/", ["start"])
        pid = new_pid()
        await store.persist_session(session(pid, {"me", "a"}), ttl=120)
        cases = [
            ("everyone", (), ()),
            ("to a", ("a",), ()),
            ("to b", ("b",), ()),
            ("to a or b", ("a", "b"), ()),
            ("to a except c", ("a",), ("c",)),
            ("to a except a", ("a",), ("a",)),
            ("everyone except me", (), ("me",)),
            ("everyone except c", (), ("c",)),
            ("to me", ("me",), ()),
        ]
        for name, rooms, except_rooms in cases:
            await store.append("/", [name], rooms, except_rooms)
        await store.append("/other", ["other namespace"])
        restored = await store.restore_session("/", pid, offset)
        assert restored is not None
        assert datas(restored.missed) == [
            ["everyone"],
            ["to a"],
            ["to a or b"],
            ["to a except c"],
            ["everyone except c"],
            ["to me"],
        ]

"""What only the Redis store does: the layout of Node's redis-streams adapter (both ways),
and an unreachable Redis (StoreUnavailable, then back by itself)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import msgpack
import pytest
from redis.asyncio import Redis

from cluster.harness import REDIS_URL, PrivateRedis, needs_redis, needs_redis_server, unique_key
from roomcast.exceptions import StoreUnavailable
from roomcast.store import SessionRecord
from roomcast.store.redis import RedisStore


@pytest.fixture
async def raw() -> AsyncIterator[tuple[Redis, str]]:
    key = unique_key()
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    yield client, key
    keys = [k async for k in client.scan_iter(match=f"{key}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def store(raw: tuple[Redis, str]) -> AsyncIterator[RedisStore]:
    _, key = raw
    store = RedisStore(REDIS_URL, stream=key, session_prefix=f"{key}:session:", uid="py-node")
    await store.start()
    yield store
    await store.aclose()


def unpack(text: str) -> object:
    return msgpack.unpackb(base64.b64decode(text), raw=False)


@needs_redis
class TestNodeLayout:
    async def test_entries(self, raw: tuple[Redis, str], store: RedisStore) -> None:
        client, key = raw
        plain = await store.append("/chat", ["msg", {"a": 1}], ["r1"], ["r2"])
        binary = await store.append("/chat", ["file", b"\x00\x01"])
        (id1, fields1), (id2, fields2) = await client.xrange(key)
        assert (id1, id2) == (plain, binary)
        assert {k: fields1[k] for k in ("uid", "nsp", "type")} == {
            "uid": "py-node",
            "nsp": "/chat",
            "type": "3",
        }
        assert json.loads(fields1["data"]) == {
            "packet": {"type": 2, "data": ["msg", {"a": 1}], "nsp": "/chat"},
            "opts": {"rooms": ["r1"], "except": ["r2"], "flags": {}},
        }
        assert not fields2["data"].startswith("{")
        assert unpack(fields2["data"]) == {
            "packet": {"type": 2, "data": ["file", b"\x00\x01"], "nsp": "/chat"},
            "opts": {"rooms": [], "except": [], "flags": {}},
        }

    async def test_session(self, raw: tuple[Redis, str], store: RedisStore) -> None:
        client, key = raw
        record = SessionRecord("pid1", "sid1", "/", frozenset({"sid1", "a"}), {"u": 1})
        await store.persist_session(record, ttl=60)
        value = await client.get(f"{key}:session:pid1")
        assert value is not None
        assert unpack(value) == {
            "sid": "sid1",
            "pid": "pid1",
            "rooms": ["a", "sid1"],
            "data": {"u": 1},
            "nsp": "/",
            "extra": {},
        }
        assert 0 < await client.pttl(f"{key}:session:pid1") <= 60_000

    async def test_what_node_wrote_is_recovered(
        self, raw: tuple[Redis, str], store: RedisStore
    ) -> None:
        client, key = raw

        async def node_writes(type_: str, data: object, nsp: str = "/") -> str:
            fields = {"uid": "node-uid", "nsp": nsp, "type": type_}
            if data is not None:
                fields["data"] = json.dumps(data)
            return str(await client.xadd(key, fields))  # type: ignore[arg-type]

        def broadcast(args: list[object], rooms: list[str], **more: object) -> dict[str, object]:
            return {
                "packet": {"type": 2, "data": args, "nsp": "/"},
                "opts": {"rooms": rooms, "except": [], "flags": more.pop("flags", {})},
                **more,
            }

        start = await node_writes("3", broadcast(["first"], []))
        await node_writes("10", None)  # a heartbeat
        await node_writes("3", broadcast(["to a"], ["a"]))
        await node_writes("3", broadcast(["to b"], ["b"]))
        await node_writes("3", broadcast(["with ack"], [], requestId="42"))
        await node_writes("3", broadcast(["volatile"], [], flags={"volatile": True}))
        await node_writes("3", broadcast(["other namespace"], []), nsp="/admin")
        await node_writes("4", {"opts": {"rooms": [], "except": []}, "rooms": ["x"]})
        session = {"sid": "node-sid", "pid": "node-pid", "rooms": ["node-sid", "a"], "data": 7}
        packed = base64.b64encode(msgpack.packb(session)).decode()
        await client.set(f"{key}:session:node-pid", packed, px=60_000)
        restored = await store.restore_session("/", "node-pid", start)
        assert restored is not None
        assert restored.session == SessionRecord(
            "node-pid", "node-sid", "/", frozenset({"node-sid", "a"}), 7
        )
        assert [entry.data for entry in restored.missed] == [["to a"]]
        history = await store.history("/", "a")
        assert [entry.data for entry in history] == [["to a"]]


@needs_redis_server
async def test_unreachable_then_back() -> None:
    redis = PrivateRedis()  # not started yet: nothing listens on its port
    store = RedisStore(redis.url, stream="s", connect_timeout=1.0)
    try:
        with pytest.raises(StoreUnavailable):
            await store.start()
        with pytest.raises(StoreUnavailable):
            await store.append("/", ["lost"])
        await redis.start()
        first = await store.append("/", ["one"])  # the same store, no restart
        await redis.stop()  # every connection drops
        with pytest.raises(StoreUnavailable):
            await store.append("/", ["during"])
        await redis.start()
        second = await store.append("/", ["two"])
        assert second != first
        assert store.statistics().failures >= 2
    finally:
        await store.aclose()
        await redis.stop()

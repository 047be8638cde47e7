"""``roomcast chat --redis``: another Python process notifies users through
``roomcast.Emitter``, stored once however many servers hear it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

import roomcast
from cluster.harness import REDIS_URL, needs_redis, unique_key
from integration.support import NodeClient

from .support import (
    NOTIFY_TOKEN,
    Api,
    ChatServer,
    Tabs,
    needs_node,
    needs_postgres,
    postgres_schema,
)

pytestmark = [*needs_node, needs_redis]
TABS = 3


async def forget(key: str) -> None:
    """Delete what the service kept in Redis under channel prefix ``key``."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        names = [name async for name in client.scan_iter(match=f"{key}-chat*")]
        if names:
            await client.delete(*names)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_node(tmp_path: Path) -> AsyncIterator[tuple[str, Api, Tabs]]:
    key = unique_key()
    args = ["--notify-token", NOTIFY_TOKEN, "--workers", "2", "--redis", REDIS_URL]
    chat = await ChatServer(tmp_path, [*args, "--redis-key", key]).start()
    node = await NodeClient.start(chat.url)
    try:
        async with aiohttp.ClientSession() as http:
            yield key, Api(http, chat), Tabs(node)
    finally:
        await node.aclose()
        await chat.stop()
        await forget(key)


async def test_an_emitter_notifies_once_and_it_is_kept(
    redis_node: tuple[str, Api, Tabs],
) -> None:
    key, api, tabs = redis_node
    ada = await api.signup("ada")
    bob = await api.signup("bob")
    for i in range(TABS):
        await tabs.open(f"ada{i}", ada)
    async with roomcast.Emitter(REDIS_URL, key=key) as emitter:
        note = {"key": "build-1", "user": "ada", "title": "Build done", "body": "green"}
        await emitter.server_side_emit("notify", note)
        await emitter.server_side_emit("notify", note)  # sent again: kept once
        await emitter.server_side_emit("notify", {**note, "key": "b-1", "user": "bob"})
        await emitter.server_side_emit("notify", {"user": "ada", "title": "no key"})  # refused
        # straight to the tabs, not stored
        await emitter.to("user-1").emit("notification", {"title": "live only"})
    for i in range(TABS):
        await tabs.event(f"ada{i}", "notification", title="Build done")
        await tabs.event(f"ada{i}", "notification", title="live only")
    status, last = await api.notify({"user": "ada", "title": "after"})
    assert status == 201
    for i in range(TABS):
        await tabs.event(f"ada{i}", "notification", id=last["notification"]["id"])
        titles = sorted(n["title"] for n in tabs.events(f"ada{i}", "notification"))
        assert titles == ["Build done", "after", "live only"]
    me = await api.request("GET", "/api/me", token=ada)
    assert me[1]["notifications"] == {"unread": 2}
    await tabs.open("bob", bob)  # away when it was sent: it waited
    listed = await tabs.ok("bob", "notifications", {})
    assert [n["title"] for n in listed["items"]] == ["Build done"]


@pytest.fixture
async def two_nodes(tmp_path: Path) -> AsyncIterator[tuple[Api, Tabs, Tabs]]:
    """Two nodes (own data folders) sharing Redis, PostgreSQL and the secret."""
    async with postgres_schema() as store, _two_nodes(tmp_path, store) as nodes:
        yield nodes


@contextlib.asynccontextmanager
async def _two_nodes(tmp_path: Path, store: str) -> AsyncIterator[tuple[Api, Tabs, Tabs]]:
    key = unique_key()
    args = ["--store", store, "--notify-token", NOTIFY_TOKEN, "--redis", REDIS_URL]
    env = {"ROOMCAST_CHAT_SECRET": "shared-" + key}
    nodes, clients = [], []
    try:
        for name in ("a", "b"):
            folder = tmp_path / name
            folder.mkdir()
            chat = ChatServer(folder, [*args, "--redis-key", key])
            nodes.append(await chat.start(env))
            clients.append(await NodeClient.start(chat.url))
        async with aiohttp.ClientSession() as http:
            yield Api(http, nodes[1]), Tabs(clients[0]), Tabs(clients[1])
    finally:
        for client in clients:
            await client.aclose()
        for chat in nodes:
            await chat.stop()
        await forget(key)


@needs_postgres
async def test_two_nodes_serve_one_chat(two_nodes: tuple[Api, Tabs, Tabs]) -> None:
    api_b, on_a, on_b = two_nodes
    await on_a.open("ada", await api_b.signup("ada"))  # a token from node b works on a
    await on_b.open("bob", await api_b.signup("bob"))
    ada = (await on_a.ok("ada", "me"))["user"]
    bob = (await on_b.ok("bob", "me"))["user"]
    room = (await on_a.ok("ada", "create-room", {"name": "lobby"}))["id"]
    joined = await on_b.ok("bob", "join-room", {"room": room})
    assert joined["online"] == [ada, bob]
    await on_a.event("ada", "presence", room=room, online=[ada, bob])

    sent = await on_a.ok("ada", "send-message", {"room": room, "text": "from node a"})
    await on_b.event("bob", "message", id=sent["id"])
    history = await on_b.ok("bob", "history", {"room": room})
    assert [m["id"] for m in history["messages"]] == [sent["id"]]  # one stream for both
    await on_b.node.emit("bob", "typing", {"room": room})
    await on_a.event("ada", "typing", user=bob, typing=True)
    status, note = await api_b.notify({"user": "ada", "title": "via node b"})
    assert status == 201
    await on_a.event("ada", "notification", id=note["notification"]["id"])

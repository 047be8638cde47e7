"""``roomcast chat --redis``: another Python process notifies users through
``roomcast.Emitter``, stored once however many servers hear it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

import roomcast
from cluster.harness import REDIS_URL, needs_redis, unique_key
from integration.support import NodeClient

from .support import NOTIFY_TOKEN, Api, ChatServer, Tabs, needs_node

pytestmark = [*needs_node, needs_redis]
TABS = 3


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

"""``roomcast chat --workers 2``: tabs spread over two processes see one service
(messages, presence, typing, notifications, history) as with one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from integration.support import NodeClient

from .support import NOTIFY_TOKEN, Api, ChatServer, Tabs, needs_node

pytestmark = needs_node
TABS = 4  # per user: with two workers, each user's tabs land on both, as good as surely


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[ChatServer, Api, Tabs]]:
    chat = await ChatServer(tmp_path, ["--notify-token", NOTIFY_TOKEN, "--workers", "2"]).start()
    node = await NodeClient.start(chat.url)
    try:
        async with aiohttp.ClientSession() as http:
            yield chat, Api(http, chat), Tabs(node)
    finally:
        await node.aclose()
        await chat.stop()


async def test_one_service_across_two_workers(cluster: tuple[ChatServer, Api, Tabs]) -> None:
    server, api, tabs = cluster
    assert "2 workers" in server.log()
    tokens = {name: await api.signup(name) for name in ("ada", "bob")}
    for name, token in tokens.items():
        for i in range(TABS):
            await tabs.open(f"{name}{i}", token)
    ada = (await tabs.ok("ada0", "me"))["user"]
    bob = (await tabs.ok("bob0", "me"))["user"]
    room = (await tabs.ok("ada0", "create-room", {"name": "lobby"}))["id"]
    joined = await tabs.ok("bob0", "join-room", {"room": room})
    assert joined["online"] == [ada, bob]  # fetched from both workers
    for i in range(TABS):
        await tabs.event(f"ada{i}", "presence", room=room, online=[ada, bob])

    sent = await tabs.ok("bob1", "send-message", {"room": room, "text": "across"})
    for name in ("ada", "bob"):
        for i in range(TABS):
            await tabs.event(f"{name}{i}", "message", id=sent["id"])

    await tabs.node.emit("bob2", "typing", {"room": room})
    for i in range(TABS):
        await tabs.event(f"ada{i}", "typing", user=bob, typing=True)
    for i in range(TABS):  # expired by the worker of bob2, heard on both
        await tabs.event(f"ada{i}", "typing", user=bob, typing=False)

    status, note = await api.notify({"user": "ada", "title": "to every tab"})
    assert status == 201
    for i in range(TABS):
        await tabs.event(f"ada{i}", "notification", id=note["notification"]["id"])

    for i in range(TABS):  # ada's tabs leave: bob's tabs see her go, whichever worker
        await tabs.node.disconnect(f"ada{i}")
    for i in range(TABS):
        await tabs.event(f"bob{i}", "presence", room=room, online=[bob])
    history = await tabs.ok("bob3", "history", {"room": room})
    assert [m["text"] for m in history["messages"]] == ["across"]

"""A restart keeps everything: accounts, sessions, rooms, history; connected tabs come back
by themselves and miss nothing."""

from __future__ import annotations

from .support import PASSWORD, Api, ChatServer, Tabs, needs_node

pytestmark = needs_node


async def test_a_restart_keeps_the_data_and_the_tabs(
    server: ChatServer, api: Api, tabs: Tabs
) -> None:
    ada = await api.signup("ada")
    bob = await api.signup("bob")
    await tabs.open("ada", ada)
    room = (await tabs.ok("ada", "create-room", {"name": "lobby"}))["id"]
    await tabs.open("bob", bob, reconnection=True)
    await tabs.ok("bob", "join-room", {"room": room})
    before = await tabs.ok("ada", "send-message", {"room": room, "text": "before"})
    await tabs.event("bob", "message", id=before["id"])

    await server.stop()
    await tabs.node.wait(type="disconnect", id="bob")
    await server.start()

    back = await tabs.node.wait(type="connect", id="bob", count=2)
    assert back["recovered"] is True  # same session: rooms and all
    await tabs.open("ada-again", ada)  # the old token still holds
    after = await tabs.ok("ada-again", "send-message", {"room": room, "text": "after"})
    await tabs.event("bob", "message", id=after["id"])
    assert [m["id"] for m in tabs.events("bob", "message")] == [before["id"], after["id"]]
    history = (await tabs.ok("bob", "history", {"room": room}))["messages"]
    assert [m["text"] for m in history] == ["before", "after"]
    status, login = await api.request("POST", "/api/login", {"name": "bob", "password": PASSWORD})
    assert status == 200
    assert login["user"]["name"] == "bob"

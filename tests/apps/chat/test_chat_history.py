"""History: pages upwards through the room-history API, messages as they are now, no gap
or duplicate between the history and the live messages after it, and a message sent again
with its key kept once."""

from __future__ import annotations

import time
from typing import Any

from roomcast.apps.chat.sqlite_storage import SqliteChatStorage
from roomcast.apps.chat.storage import ChatStorage

from .support import Api, ChatServer, Tabs, needs_node

pytestmark = needs_node


async def test_paging_upwards_shows_messages_as_they_are_now(api: Api, tabs: Tabs) -> None:
    ada = await api.signup("ada")
    await tabs.open("ada", ada)
    await tabs.open("ada2", ada)  # two tabs: each socket has its own rate limit
    await tabs.open("bob", await api.signup("bob"))
    room = (await tabs.ok("ada", "create-room", {"name": "lobby"}))["id"]
    ids = []
    for i in range(12):
        tab = ("ada", "ada2")[i % 2]
        ids.append((await tabs.ok(tab, "send-message", {"room": room, "text": f"m{i}"}))["id"])
    await tabs.ok("ada", "edit-message", {"id": ids[3], "text": "m3 (edited)"})
    await tabs.ok("ada", "delete-message", {"id": ids[5]})

    joined = await tabs.ok("bob", "join-room", {"room": room})
    expected = [f"m{i}" for i in range(12)]
    expected[3:6] = ["m3 (edited)", "m4", ""]
    assert [m["text"] for m in joined["history"]["messages"]] == expected
    page = await tabs.ok("bob", "history", {"room": room, "limit": 5})
    assert [m["id"] for m in page["messages"]] == ids[7:]
    assert page["more"] is True
    page2 = await tabs.ok("bob", "history", {"room": room, "limit": 5, "before": page["before"]})
    assert [m["id"] for m in page2["messages"]] == ids[2:7]
    texts = [(m["text"], m["deleted"]) for m in page2["messages"]]
    assert texts == [
        ("m2", False),
        ("m3 (edited)", False),
        ("m4", False),
        ("", True),
        ("m6", False),
    ]
    assert page2["messages"][1]["edited"] is not None
    page3 = await tabs.ok("bob", "history", {"room": room, "limit": 5, "before": page2["before"]})
    assert [m["id"] for m in page3["messages"]] == ids[:2]
    assert (page3["more"], page3["before"]) == (False, None)
    offsets = [m["offset"] for p in (page3, page2, page) for m in p["messages"]]
    assert len(set(offsets)) == 12


async def test_a_new_tab_gets_the_history_then_the_live_messages(api: Api, tabs: Tabs) -> None:
    ada = await api.signup("ada")
    bob = await api.signup("bob")
    await tabs.open("ada", ada)
    room = (await tabs.ok("ada", "create-room", {"name": "lobby"}))["id"]
    await tabs.open("bob", bob)
    await tabs.ok("bob", "join-room", {"room": room})
    first = await tabs.ok("ada", "send-message", {"room": room, "text": "before"})
    await tabs.node.disconnect("bob")
    missed = await tabs.ok("ada", "send-message", {"room": room, "text": "while away"})

    await tabs.open("bob-again", bob)  # a reload: a new connection
    opened = await tabs.ok("bob-again", "join-room", {"room": room})
    assert opened["room"]["unread"] == 2
    history = opened["history"]["messages"]
    assert [m["id"] for m in history] == [first["id"], missed["id"]]
    live = await tabs.ok("ada", "send-message", {"room": room, "text": "live"})
    await tabs.event("bob-again", "message", id=live["id"])
    seen = [m["id"] for m in tabs.events("bob-again", "message")]
    assert seen == [live["id"]]  # what the history gave is not sent again


async def test_a_dropped_connection_recovers_what_it_missed(api: Api, tabs: Tabs) -> None:
    ada = await api.signup("ada")
    bob = await api.signup("bob")
    await tabs.open("ada", ada)
    room = (await tabs.ok("ada", "create-room", {"name": "lobby"}))["id"]
    await tabs.open("bob", bob, reconnection=True)
    await tabs.ok("bob", "join-room", {"room": room})
    await tabs.node.cut("bob", pause=True)
    await tabs.node.wait(type="disconnect", id="bob")
    sent: list[Any] = []
    for text in ("one", "two"):
        sent.append(await tabs.ok("ada", "send-message", {"room": room, "text": text}))
    await tabs.node.resume("bob")
    back = await tabs.node.wait(type="connect", id="bob", count=2)
    assert back["recovered"] is True
    after = await tabs.ok("ada", "send-message", {"room": room, "text": "three"})
    await tabs.event("bob", "message", id=after["id"])
    ids = [m["id"] for m in tabs.events("bob", "message")]
    assert ids == [s["id"] for s in sent] + [after["id"]]


async def test_a_message_sent_again_with_its_key_is_kept_and_shown_once(
    api: Api, tabs: Tabs
) -> None:
    ada = await api.signup("ada")
    await tabs.open("ada", ada)
    await tabs.open("ada-reloaded", ada)  # the page again, after its answer was lost
    await tabs.open("bob", await api.signup("bob"))
    room = (await tabs.ok("ada", "create-room", {"name": "lobby"}))["id"]
    await tabs.ok("bob", "join-room", {"room": room})
    once = {"room": room, "text": "once", "key": "3f2a9c"}
    first = await tabs.ok("ada", "send-message", once)
    again = await tabs.ok("ada-reloaded", "send-message", once)
    assert again == first  # the same answer: id, offset, time
    after = await tabs.ok("ada", "send-message", {"room": room, "text": "after"})
    await tabs.event("bob", "message", id=after["id"])
    assert [m["id"] for m in tabs.events("bob", "message")] == [first["id"], after["id"]]
    history = (await tabs.ok("bob", "history", {"room": room}))["messages"]
    assert [m["text"] for m in history] == ["once", "after"]

    mine = await tabs.ok("bob", "send-message", {**once, "text": "bob's"})  # keys are per sender
    assert mine["id"] not in (first["id"], after["id"])
    refused = await tabs.call("bob", "send-message", {**once, "key": "not a key"})
    assert refused["_rc_error"]["code"] == "validation_failed"


async def test_a_keyed_message_stored_but_never_sent_is_sent_when_sent_again(
    server: ChatServer, api: Api, tabs: Tabs
) -> None:
    """The server stopped between storing a message and broadcasting it: when the page
    sends it again, it is broadcast then (once)."""
    ada = await api.signup("ada")
    await tabs.open("ada", ada)
    await tabs.open("bob", await api.signup("bob"))
    room = (await tabs.ok("ada", "create-room", {"name": "lobby"}))["id"]
    await tabs.ok("bob", "join-room", {"room": room})
    ada_id = (await tabs.ok("ada", "me"))["user"]["id"]
    storage = storage_of(server)
    try:
        stored = await storage.post_message(room, ada_id, "stored", time.time(), key="k-9")
    finally:
        await storage.aclose()
    assert stored is not None

    sent = {"room": room, "text": "stored", "key": "k-9"}
    answer = await tabs.ok("ada", "send-message", sent)
    assert answer["id"] == stored.message.id
    assert answer["offset"] is not None
    await tabs.event("bob", "message", id=answer["id"])
    assert await tabs.ok("ada", "send-message", sent) == answer  # and not broadcast again
    after = await tabs.ok("ada", "send-message", {"room": room, "text": "after"})
    await tabs.event("bob", "message", id=after["id"])
    assert [m["id"] for m in tabs.events("bob", "message")] == [answer["id"], after["id"]]


def storage_of(server: ChatServer) -> ChatStorage:
    """The storage of a running server, opened beside it."""
    if "--store" in server.args:
        from roomcast.apps.chat.postgres_storage import PostgresChatStorage

        return PostgresChatStorage(server.args[server.args.index("--store") + 1])
    return SqliteChatStorage(server.folder / "roomcast-data" / "chat.db")
